"""Materials as objects: the one constitutive seam that statics, time stepping, the adjoint and the JAX
bridge all take.

A material gives, for a discretisation and its per-point parameters (an array over quadrature
points, ``parameters(disc)`` by default):

- ``internal_force(disc, u, parameters)``: the nodal internal force f_int(u) (a Warp array; recorded
  on a ``wp.Tape``, so the adjoint differentiates it with respect to u and the parameters);
- ``tangent(disc, u, parameters)``: d f_int / d u at u (a BSR matrix; the stiffness of a linear law);
- ``energy(disc, u, parameters)``: the stored energy (J), where one exists;
- ``von_mises(disc, u, parameters)``: the von Mises stress at every quadrature point (Pa);
- ``linear`` (a constant tangent: one linear solve, matrices reused) and ``second_order``
  (elastodynamics: M u'' + f_int = f; False for heat conduction: C T' + K T = f);
- for a law with internal variables (``history_size`` > 0, e.g. :class:`J2Plasticity`): the history
  per point, ``initial_history(disc)``, passed as ``history`` to the methods above (the state of the
  last converged step), and ``updated_history(disc, u, parameters, history)`` once a step converges.
  Laws without history take ``history=None`` and ignore it.

Laws: :class:`LinearElastic` (Hooke, small strain), :class:`NeoHookean` and the other finite-strain
laws (their point functions in :mod:`learnsim.engine.fem.laws`, their integrands built by
:func:`~learnsim.engine.fem.forms.solid_forms`), :class:`J2Plasticity` (its return mapping in
:mod:`learnsim.engine.fem.plasticity`), and :class:`Conduction` for the heat equation.
:data:`LAWS` maps the names a scene uses to the classes. Units follow the inputs (E in Pa gives
stresses in Pa); 2D is plane strain unless the linear law is asked for plane stress.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import warp as wp
import warp.fem as fem
from warp.sparse import BsrMatrix

from learnsim.core.errors import InputError
from learnsim.engine.fem import forms, laws, plasticity
from learnsim.engine.fem.assembly import (
    assemble_diffusion,
    assemble_linear_elasticity,
    evaluate_at_points,
    make_field,
)
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.tangents import tabulated_tangent
from learnsim.engine.numerics import check_matrix


class Material:
    """The interface of every law (see the module docstring); subclasses fill it in."""

    linear: ClassVar[bool] = False
    second_order: ClassVar[bool] = True
    parameter_dtype: ClassVar[type] = wp.vec2d
    parameter_shape: ClassVar[tuple[int, ...]] = (2,)
    tape_differentiable: ClassVar[bool] = True
    """Whether a ``wp.Tape`` over ``internal_force`` gives its derivatives (a law in Warp); a law
    evaluated elsewhere (JAX) gives its parameters' gradients itself."""
    history_size: ClassVar[int] = 0
    """Internal variables per quadrature point (0: none; the stress is a function of u alone)."""
    potential: ClassVar[bool] = True
    """Whether ``energy`` is a potential of the internal force (Newton's line search then uses it)."""

    def initial_history(self, disc: Discretization) -> wp.array | None:
        """The internal variables of the undeformed, virgin state (None without history)."""
        return None

    def updated_history(self, disc: Discretization, u: wp.array, parameters: wp.array, history):
        """The internal variables after a step converged at ``u`` from ``history``."""
        return history

    def internal_variables(self, disc: Discretization, history) -> dict[str, np.ndarray]:
        """Named scalar internal variables per quadrature point, for output."""
        return {}

    def point_parameters(self, dim: int) -> np.ndarray:
        """The parameters of one quadrature point, ``parameter_shape``."""
        raise NotImplementedError

    def parameters(self, disc: Discretization, values=None) -> wp.array:
        """Per-point parameters as a Warp array: ``values`` (constant, per cell or per point) or the law's own."""
        values = self.point_parameters(disc.dim) if values is None else values
        return wp.array(disc.per_point(values, self.parameter_shape), dtype=self.parameter_dtype, device=disc.device)

    def internal_force(self, disc, u: wp.array, parameters: wp.array, out: wp.array | None = None,
                       history=None) -> wp.array:  # fmt: skip
        raise NotImplementedError

    def tangent(self, disc, u: wp.array, parameters: wp.array, history=None) -> BsrMatrix:
        raise NotImplementedError

    def energy(self, disc, u: wp.array, parameters: wp.array, history=None) -> float:
        """Stored energy (J); linear laws: 1/2 u . f_int(u)."""
        return 0.5 * float(np.sum(u.numpy() * self.internal_force(disc, u, parameters).numpy()))

    def von_mises(self, disc, u: wp.array, parameters: wp.array, history=None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no von Mises stress")


def _young_poisson(E: float, nu: float) -> None:
    if not (math.isfinite(E) and E > 0.0):
        raise InputError(f"material: E = {E} must be a positive finite number")
    if E < sys.float_info.min:
        # A subnormal modulus has already lost its significant digits (1e-320 keeps three), and the
        # stiffness built from it underflows: its reciprocal, which every solver forms, overflows.
        raise InputError(
            f"material: E = {E} is below {sys.float_info.min:.3g}, the smallest normal double: "
            "the stiffness would underflow"
        )
    if not math.isfinite(nu) or nu >= 0.5 or nu <= -1.0:
        raise InputError(f"material: nu = {nu} must be in (-1, 0.5)")


def lame_from_young_poisson(E: float, nu: float) -> tuple[float, float]:
    """(lambda, mu) in Pa from Young's modulus E (Pa) and Poisson ratio nu."""
    return E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), E / (2.0 * (1.0 + nu))


def _test(disc: Discretization):
    return fem.make_test(disc.space, domain=disc.cells)


@dataclass(frozen=True)
class LinearElastic(Material):
    """Isotropic Hooke law, small strain. E: Young's modulus (Pa); nu: Poisson ratio in (-1, 0.5).
    Parameters per point: (lambda, mu) in Pa (plane stress: the effective lambda)."""

    E: float
    nu: float
    plane: str = "strain"  # 2D only: "strain" | "stress"
    linear: ClassVar[bool] = True

    def __post_init__(self):
        _young_poisson(self.E, self.nu)
        if self.plane not in ("strain", "stress"):
            raise InputError(f"material: plane = '{self.plane}' must be 'strain' or 'stress'")

    def lame(self, dim: int) -> tuple[float, float]:
        """Effective (lambda, mu) in Pa for a problem of dimension ``dim``."""
        lam, mu = lame_from_young_poisson(self.E, self.nu)
        if dim == 2 and self.plane == "stress":
            lam = 2.0 * lam * mu / (lam + 2.0 * mu)
        return lam, mu

    def point_parameters(self, dim: int) -> np.ndarray:
        return np.asarray(self.lame(dim), dtype=np.float64)

    def out_of_plane_lambda(self, dim: int) -> float:
        """Coefficient c of sigma_zz = c tr(eps) in 2D (plane strain: lambda; plane stress: 0)."""
        return lame_from_young_poisson(self.E, self.nu)[0] if dim == 2 and self.plane == "strain" else 0.0

    def internal_force(self, disc, u, parameters, out=None, history=None):
        # the bilinear stiffness form with the discrete field u in the trial slot: K u without assembling K
        fields = {"u": make_field(disc, u), "v": _test(disc)}
        return fem.integrate(forms.linear_elasticity_form, quadrature=disc.quadrature, fields=fields,
                             values={"lame": parameters}, output=out, output_dtype=disc.value_type)  # fmt: skip

    def tangent(self, disc, u, parameters, history=None):
        return assemble_linear_elasticity(disc, parameters.numpy())

    def von_mises(self, disc, u, parameters, history=None):
        values = {"lame": parameters, "out_of_plane_lambda": self.out_of_plane_lambda(disc.dim)}
        return evaluate_at_points(disc, forms.linear_von_mises, {"u": make_field(disc, u)}, values)


class SolidLaw(Material):
    """A finite-strain law given by its point functions; ``FORMS`` holds its integrands."""

    FORMS: ClassVar[forms.SolidForms]

    def internal_force(self, disc, u, parameters, out=None, history=None):
        fields = {"u_cur": make_field(disc, u), "v": _test(disc)}
        return fem.integrate(self.FORMS.residual, quadrature=disc.quadrature, fields=fields,
                             values={"params": parameters}, output=out, output_dtype=disc.value_type)  # fmt: skip

    def tangent(self, disc, u, parameters, history=None):
        K = tabulated_tangent(disc, u, parameters, self.FORMS.stress_delta, self.parameter_dtype)
        return check_matrix(K, "tangent stiffness", "the material parameters and the deformation")

    def energy(self, disc, u, parameters, history=None):
        fields = {"u_cur": make_field(disc, u)}
        return float(fem.integrate(self.FORMS.energy, quadrature=disc.quadrature, fields=fields,
                                   values={"params": parameters}, output_dtype=wp.float64))  # fmt: skip

    def von_mises(self, disc, u, parameters, history=None):
        return evaluate_at_points(disc, self.FORMS.von_mises, {"u": make_field(disc, u)}, {"params": parameters})


@dataclass(frozen=True)
class NeoHookean(SolidLaw):
    """Compressible neo-Hookean, W = mu/2 (I1 - 3) - mu ln J + lambda/2 (ln J)^2 (in 2D plane strain,
    F_zz = 1, so I1 = tr(F^T F) + 1). Parameters per point: (lambda, mu) in Pa."""

    E: float
    nu: float
    FORMS: ClassVar[forms.SolidForms] = forms.solid_forms(
        laws.neo_hookean_stress, laws.neo_hookean_stress_delta, laws.neo_hookean_energy, laws.neo_hookean_sigma_zz
    )

    def __post_init__(self):
        _young_poisson(self.E, self.nu)

    def lame(self, dim: int) -> tuple[float, float]:
        return lame_from_young_poisson(self.E, self.nu)

    def point_parameters(self, dim: int) -> np.ndarray:
        return np.asarray(self.lame(dim), dtype=np.float64)


@dataclass(frozen=True)
class SaintVenantKirchhoff(SolidLaw):
    """St. Venant-Kirchhoff: S = lambda tr(E) I + 2 mu E with the Green strain E = (F^T F - I) / 2, W =
    lambda/2 (tr E)^2 + mu E : E (2D plane strain). Hooke's law for large rotations, small strains;
    it softens and loses stability in strong compression. Parameters per point: (lambda, mu) in Pa."""

    E: float
    nu: float
    FORMS: ClassVar[forms.SolidForms] = forms.solid_forms(
        laws.svk_stress, laws.svk_stress_delta, laws.svk_energy, laws.svk_sigma_zz
    )

    def __post_init__(self):
        _young_poisson(self.E, self.nu)

    def point_parameters(self, dim: int) -> np.ndarray:
        return np.asarray(lame_from_young_poisson(self.E, self.nu), dtype=np.float64)


@dataclass(frozen=True)
class MooneyRivlin(SolidLaw):
    """Compressible Mooney-Rivlin, W = C10 (I1 - 3) + C01 (I2 - 3) - 2 (C10 + 2 C01) ln J + lambda/2 (ln J)^2
    (2D plane strain). C10, C01 (Pa): the small-strain shear modulus is mu = 2 (C10 + C01); K (Pa): the
    small-strain bulk modulus, lambda = K - 2 mu / 3. C01 = 0 is the neo-Hookean law with mu = 2 C10.
    Parameters per point: (C10, C01, lambda)."""

    C10: float
    C01: float
    K: float
    parameter_dtype: ClassVar[type] = wp.vec3d
    parameter_shape: ClassVar[tuple[int, ...]] = (3,)
    FORMS: ClassVar[forms.SolidForms] = forms.solid_forms(
        laws.mooney_rivlin_stress, laws.mooney_rivlin_stress_delta, laws.mooney_rivlin_energy,
        laws.mooney_rivlin_sigma_zz, parameter_dtype=wp.vec3d,
    )  # fmt: skip

    def __post_init__(self):
        for name in ("C10", "C01", "K"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InputError(f"material: {name} = {value} must be a non-negative finite number")
        if not self.C10 + self.C01 > 0.0 or not self.K > 0.0:
            raise InputError(f"material: C10 + C01 = {self.C10 + self.C01} and K = {self.K} must be positive")

    def point_parameters(self, dim: int) -> np.ndarray:
        mu = 2.0 * (self.C10 + self.C01)
        return np.asarray([self.C10, self.C01, self.K - 2.0 * mu / 3.0], dtype=np.float64)


@dataclass(frozen=True)
class J2Plasticity(Material):
    """J2 (von Mises) elastoplasticity, small strain, linear isotropic and kinematic hardening (see
    :mod:`learnsim.engine.fem.plasticity`). E (Pa), nu; sigma_y: the initial yield stress (Pa);
    hardening, kinematic_hardening: the plastic moduli H, H_kin (Pa, d sigma / d eps_p = H + H_kin in
    a uniaxial test; 0: perfectly plastic). 2D is plane strain. Parameters per point: (lambda, mu,
    sigma_y, H, H_kin); history per point: equivalent plastic strain, plastic strain, back stress.
    There is no potential (the line search judges by the residual); ``energy`` is the stored elastic
    energy."""

    E: float
    nu: float
    sigma_y: float
    hardening: float = 0.0
    kinematic_hardening: float = 0.0
    parameter_dtype: ClassVar[type] = plasticity.vec5d
    parameter_shape: ClassVar[tuple[int, ...]] = (5,)
    history_size: ClassVar[int] = plasticity.HISTORY_SIZE
    potential: ClassVar[bool] = False

    def __post_init__(self):
        _young_poisson(self.E, self.nu)
        if not (math.isfinite(self.sigma_y) and self.sigma_y > 0.0):
            raise InputError(f"material: sigma_y = {self.sigma_y} must be a positive finite number")
        for name in ("hardening", "kinematic_hardening"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InputError(f"material: {name} = {value} must be a non-negative finite number")

    def point_parameters(self, dim: int) -> np.ndarray:
        lam, mu = lame_from_young_poisson(self.E, self.nu)
        return np.asarray([lam, mu, self.sigma_y, self.hardening, self.kinematic_hardening], dtype=np.float64)

    def initial_history(self, disc):
        n_qp = disc.quadrature.total_point_count()
        return wp.zeros(n_qp, dtype=plasticity.vec13d, device=disc.device)

    def _points(self, disc, u, parameters, history) -> dict[str, wp.array]:
        """The return mapping at every point from ``history`` (virgin if None), at displacement u."""
        matrix = wp.mat22d if disc.dim == 2 else wp.mat33d
        n_qp, d2 = disc.quadrature.total_point_count(), disc.dim * disc.dim
        history = self.initial_history(disc) if history is None else history
        grad_u = wp.empty(n_qp, dtype=matrix, device=disc.device)
        fem.interpolate(forms.field_gradient, dest=grad_u, at=disc.quadrature, fields={"u": make_field(disc, u)})
        out = {
            "stress": wp.empty(n_qp, dtype=matrix, device=disc.device),
            "tangents": wp.empty((n_qp, d2, d2), dtype=wp.float64, device=disc.device),
            "history": wp.empty_like(history),
            "von_mises": wp.empty(n_qp, dtype=wp.float64, device=disc.device),
            "energy": wp.empty(n_qp, dtype=wp.float64, device=disc.device),
        }
        wp.launch(plasticity.point_kernel(matrix, disc.dim), dim=n_qp, inputs=[grad_u, parameters, history],
                  outputs=list(out.values()), device=disc.device)  # fmt: skip
        return out

    def internal_force(self, disc, u, parameters, out=None, history=None):
        stress = self._points(disc, u, parameters, history)["stress"]
        matrix = wp.mat22d if disc.dim == 2 else wp.mat33d
        return fem.integrate(plasticity.stress_form(matrix, disc.dim), quadrature=disc.quadrature,
                             fields={"v": _test(disc)}, values={"stress": stress}, output=out,
                             output_dtype=disc.value_type)  # fmt: skip

    def tangent(self, disc, u, parameters, history=None):
        tangents = self._points(disc, u, parameters, history)["tangents"]
        fields = {"u": fem.make_trial(disc.space, domain=disc.cells), "v": _test(disc)}
        K = fem.integrate(forms.tabulated_tangent_form, quadrature=disc.quadrature, fields=fields,
                          values={"tangents": tangents}, output_dtype=wp.float64)  # fmt: skip
        return check_matrix(K, "consistent tangent stiffness", "the material parameters and the deformation")

    def energy(self, disc, u, parameters, history=None):
        density = self._points(disc, u, parameters, history)["energy"].numpy()
        return float(np.sum(disc.quadrature_weights * density))

    def von_mises(self, disc, u, parameters, history=None):
        return self._points(disc, u, parameters, history)["von_mises"].numpy()

    def updated_history(self, disc, u, parameters, history):
        return self._points(disc, u, parameters, history)["history"]

    def internal_variables(self, disc, history):
        alpha = np.zeros(disc.quadrature.total_point_count()) if history is None else history.numpy()[:, 0]
        return {"equivalent_plastic_strain": alpha}


@dataclass(frozen=True)
class Conduction(Material):
    """Heat conduction, -div(k grad T) (``second_order`` False: C T' + K T = f). Parameters per point:
    the conductivity k (W/m/K)."""

    conductivity: float = 1.0
    linear: ClassVar[bool] = True
    second_order: ClassVar[bool] = False
    parameter_dtype: ClassVar[type] = wp.float64
    parameter_shape: ClassVar[tuple[int, ...]] = ()

    def point_parameters(self, dim: int) -> np.ndarray:
        return np.asarray(self.conductivity, dtype=np.float64)

    def internal_force(self, disc, u, parameters, out=None, history=None):
        fields = {"u": make_field(disc, u), "v": _test(disc)}
        return fem.integrate(forms.diffusion_form, quadrature=disc.quadrature, fields=fields,
                             values={"conductivity": parameters}, output=out, output_dtype=disc.value_type)  # fmt: skip

    def tangent(self, disc, u, parameters, history=None):
        return assemble_diffusion(disc, parameters.numpy())


LAWS: dict[str, type[Material]] = {
    "linear": LinearElastic,
    "neo-hookean": NeoHookean,
    "saint-venant-kirchhoff": SaintVenantKirchhoff,
    "mooney-rivlin": MooneyRivlin,
    "j2": J2Plasticity,
}
"""The solid laws by the name a scene gives them (``[material] model``)."""


def first_piola(material: SolidLaw, F, device=None) -> np.ndarray:
    """First Piola-Kirchhoff stress (Pa) of deformation gradients F ((n, d, d) or one (d, d)) -> (n, d, d), at the
    material's own parameters."""
    F = np.ascontiguousarray(F, dtype=np.float64)
    dim = F.shape[-1]
    matrix = wp.mat22d if dim == 2 else wp.mat33d
    F_wp = wp.array(F.reshape(-1, dim, dim), dtype=matrix, device=device)
    P = wp.empty_like(F_wp)
    params = wp.array([material.point_parameters(dim)], dtype=material.parameter_dtype, device=device)
    kernel = forms.point_stress_kernel(type(material).FORMS.stress, matrix, material.parameter_dtype)
    wp.launch(kernel, dim=len(F_wp), inputs=[F_wp, params], outputs=[P], device=device)
    return P.numpy()
