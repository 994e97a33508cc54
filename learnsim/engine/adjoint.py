"""Adjoint of ``integrate.solve_implicit`` (implicit function theorem), in Warp.

u solves R(u) = alpha M(rho) (u - u_pred) + f_int(u; c) - f = 0 on free dofs, u = g on
constrained dofs. For a cotangent u_bar:

    J lambda = u_bar on free dofs, lambda = 0 on constrained dofs   (J = alpha M + K_T(u), symmetric)
    f_bar      = lambda
    u_pred_bar = alpha M lambda
    c_bar      = -(d f_int / d c)^T lambda  (c: the material's parameters; wp.Tape over the matrix-free f_int)
    rho_bar    = -alpha (d (M(rho) d) / d rho)^T lambda, d = u - u_pred   (wp.Tape over the mass)
    g_bar      = u_bar - (J lambda) on constrained dofs

The Krylov iterations are never differentiated: the adjoint is one more solve with the same
(projected, SPD) matrix and the same kind of preconditioner.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, replace

import numpy as np
import warp as wp
import warp.fem as fem

from learnsim.core.errors import EngineError
from learnsim.engine.fem import forms
from learnsim.engine.fem.boundary import apply_dirichlet
from learnsim.engine.fem.statics import solve_linear_system
from learnsim.engine.integrate import (
    Body,
    _linear_system,
    apply_mass,
    inertia_force,
    internal_force,
    lumped_mass_is_hrz,
    step_preconditioner,
    system_matrix,
)
from learnsim.engine.solvers import bsr_to_csr


@contextlib.contextmanager
def _backward_warnings_silenced():
    """warp.fem records index-only kernels (space restrictions) built without adjoints; they carry
    no derivative, and Warp's warning about them on every backward pass is noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Running the tape backwards may produce incorrect gradients")
        yield


@dataclass(frozen=True)
class ImplicitCotangents:
    """Cotangents of the inputs of ``solve_implicit`` (numpy, shaped like the inputs)."""

    u_pred: np.ndarray
    f: np.ndarray
    dirichlet_values: np.ndarray
    parameters: np.ndarray
    density: np.ndarray


def adjoint_solve(body: Body, alpha: float, u: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """lambda with J(u) lambda = rhs on free dofs and lambda = 0 on constrained dofs."""
    disc = body.disc
    rhs = disc.nodal(rhs * body.free)
    if not body.material.linear:
        A = system_matrix(body, alpha, u)
        apply_dirichlet(A, disc.zeros(), disc, body.bc, homogeneous=True)
        preconditioner = step_preconditioner(body)  # the forward step's, built on a nearby tangent
    else:
        _, A, preconditioner = _linear_system(body, alpha)
    return solve_linear_system(disc, A, rhs, preconditioner, body.tol, body.max_iters).x.numpy()


def internal_force_vjp(body: Body, u: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K_T(u)^T w, (d f_int / d parameters)^T w) for nodal weights w, by wp.Tape."""
    disc = body.disc
    u_wp = wp.array(u, dtype=disc.value_type, device=disc.device, requires_grad=True)
    parameters = wp.clone(body.parameters, requires_grad=True)
    # the output must require grad too, or the tape has nothing to seed
    out = wp.zeros(disc.n_nodes, dtype=disc.value_type, device=disc.device, requires_grad=True)
    tape = wp.Tape()
    with tape:
        internal_force(replace(body, parameters=parameters), u_wp, out=out)
    with _backward_warnings_silenced():
        tape.backward(grads={out: disc.nodal(weights)})
    # .numpy() is a view of Warp memory on CPU: copy before the arrays go away
    return u_wp.grad.numpy().copy(), parameters.grad.numpy().copy()


def mass_vjp(body: Body, a: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(d (M(rho) a) / d rho)^T w per quadrature point, by wp.Tape (consistent or row-sum lumped mass)."""
    disc = body.disc
    if body.mass == "lumped" and lumped_mass_is_hrz(body):
        raise EngineError(
            "density gradients with HRZ-lumped masses (row sums not positive, e.g. P2 tets) are not "
            'implemented: use mass = "consistent"'
        )
    density = wp.clone(body.density, requires_grad=True)
    out = wp.zeros(disc.n_nodes, dtype=disc.value_type, device=disc.device, requires_grad=True)
    tape = wp.Tape()
    with tape:
        if body.mass == "consistent":
            inertia_force(replace(body, density=density), disc.nodal(a), out=out)
            seed = weights
        else:
            fem.integrate(
                forms.lumped_mass_form,
                quadrature=disc.quadrature,
                fields={"v": fem.make_test(disc.space, domain=disc.cells)},
                values={"density": density},
                output=out,
                output_dtype=disc.value_type,
            )
            seed = weights * a  # M a = m(rho) * a, componentwise
    with _backward_warnings_silenced():
        tape.backward(grads={out: disc.nodal(seed)})
    return density.grad.numpy().copy()


def solve_implicit_vjp(
    body: Body, alpha: float, u: np.ndarray, u_pred: np.ndarray, u_bar: np.ndarray
) -> ImplicitCotangents:
    """Cotangents of (u_pred, f, g, parameters, density) given the solution u and its cotangent."""
    free = body.free
    lam = adjoint_solve(body, alpha, u, u_bar)
    if body.material.tape_differentiable:
        k_lam, parameters_bar = internal_force_vjp(body, u, lam)
    else:  # K_T is symmetric; the parameters' cotangent is the caller's (JAX) business
        k_lam = (bsr_to_csr(system_matrix(body, 0.0, u)) @ lam.ravel()).reshape(lam.shape)
        parameters_bar = np.zeros(body.parameters.shape)
    m_lam = apply_mass(body, lam) if alpha != 0.0 else np.zeros_like(lam)
    density_bar = -alpha * mass_vjp(body, u - u_pred, lam) if alpha != 0.0 else np.zeros(body.density.shape)
    return ImplicitCotangents(
        u_pred=alpha * m_lam,
        f=lam,
        dirichlet_values=np.where(free, 0.0, u_bar - (alpha * m_lam + k_lam)),
        parameters=-parameters_bar,
        density=density_bar,
    )
