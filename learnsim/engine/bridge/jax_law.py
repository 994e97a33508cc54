"""A constitutive law written in JAX as a material of the engine: P = stress(F, params).

``JaxLaw(stress, params)`` takes the first Piola-Kirchhoff stress of one deformation gradient
(``(d, d) -> (d, d)``, jax.numpy) and its parameters (any pytree). On the engine side it is a
:class:`~learnsim.engine.fem.materials.Material` like the built-in laws: statics, implicit and
explicit dynamics, in 2D and 3D. At every quadrature point the engine evaluates F = I + grad u
(Warp), the stress and the tangent dP/dF (``jax.jacfwd``, vmapped and jitted), and assembles the
internal force (``P : grad v``) and the tangent matrix (``(dP/dF : grad du) : grad v``) with
warp.fem. Newton therefore uses the law's exact tangent.

Through the bridge (:mod:`learnsim.engine.bridge.operators`, a ``Problem`` whose material is a
JaxLaw and whose ``coefficient`` is the params pytree), gradients of any loss with respect to the
params come from JAX: the adjoint solve gives lambda, and params_bar = -d/dparams [sum_q w_q
P(F_q; params) : grad lambda_q] by ``jax.vjp``. Computations are float64 when ``jax_enable_x64``
is on (else the law runs in float32 and the engine's checks are looser than its own solves).

In 2D the law is plane strain and the out-of-plane stress is not known to the engine: the von
Mises stress it reports takes sigma_zz = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import warp as wp
import warp.fem as fem

from learnsim.engine.fem import forms
from learnsim.engine.fem.assembly import assemble_stress_divergence, displacement_gradients
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.materials import Material
from learnsim.engine.numerics import check_matrix


class JaxLaw(Material):
    """P = stress(F, params) in JAX (see the module docstring); ``energy(F, params)`` optional (J/m^3)."""

    parameter_dtype = wp.float64
    parameter_shape = ()
    tape_differentiable = False  # its parameters' gradients come from JAX, in the bridge

    def __init__(self, stress: Callable, params, energy: Callable | None = None):
        self.stress, self.params, self.energy_density = stress, params, energy
        self._stresses = jax.jit(jax.vmap(stress, in_axes=(0, None)))
        self._tangents = jax.jit(jax.vmap(jax.jacfwd(stress), in_axes=(0, None)))
        self._energies = None if energy is None else jax.jit(jax.vmap(energy, in_axes=(0, None)))

    def with_params(self, params) -> JaxLaw:
        """The same law with other parameters (its compiled functions are shared)."""
        law = object.__new__(JaxLaw)
        law.__dict__.update(self.__dict__)
        law.params = params
        return law

    def point_parameters(self, dim: int) -> np.ndarray:
        return np.zeros(())  # the engine's per-point array is unused: the params are the law's own

    def deformation_gradients(self, disc: Discretization, u: wp.array) -> np.ndarray:
        """F = I + grad u at every quadrature point, (n_qp, d, d)."""
        return np.eye(disc.dim) + displacement_gradients(disc, u.numpy())

    def first_piola(self, F: np.ndarray) -> np.ndarray:
        return np.asarray(self._stresses(jnp.asarray(F), self.params), dtype=np.float64)

    def internal_force(self, disc, u, parameters, out=None, history=None):
        result = disc.nodal(assemble_stress_divergence(disc, self.first_piola(self.deformation_gradients(disc, u))))
        if out is not None:
            wp.copy(out, result)
            return out
        return result

    def tangent(self, disc, u, parameters, history=None):
        F = jnp.asarray(self.deformation_gradients(disc, u))
        d = disc.dim
        C = np.asarray(self._tangents(F, self.params), dtype=np.float64).reshape(-1, d * d, d * d)
        fields = {"u": fem.make_trial(disc.space, domain=disc.cells), "v": fem.make_test(disc.space, domain=disc.cells)}
        K = fem.integrate(
            forms.tabulated_tangent_form, quadrature=disc.quadrature, fields=fields,
            values={"tangents": wp.array(C, dtype=wp.float64, device=disc.device)}, output_dtype=wp.float64,
        )  # fmt: skip
        return check_matrix(K, "tangent stiffness of the JAX law", "the law and its parameters")

    def energy(self, disc, u, parameters, history=None):
        """Stored energy (J) when the law has an energy density; NaN otherwise (Newton then judges
        its line search by the residual alone)."""
        if self._energies is None:
            return math.nan
        W = np.asarray(self._energies(jnp.asarray(self.deformation_gradients(disc, u)), self.params))
        return float(np.sum(disc.quadrature_weights * W))

    def von_mises(self, disc, u, parameters, history=None):
        F = self.deformation_gradients(disc, u)
        P = self.first_piola(F)
        J = np.linalg.det(F)
        sigma = np.einsum("qij,qkj->qik", P, F) / J[:, None, None]
        if disc.dim == 2:  # plane strain with sigma_zz unknown to the engine: taken as 0
            sigma = np.pad(sigma, ((0, 0), (0, 1), (0, 1)))
        deviator = sigma - np.trace(sigma, axis1=1, axis2=2)[:, None, None] * np.eye(3) / 3.0
        symmetric = 0.5 * (deviator + np.transpose(deviator, (0, 2, 1)))
        return np.sqrt(1.5 * np.sum(symmetric * symmetric, axis=(1, 2)))
