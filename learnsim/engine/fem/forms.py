"""Weak forms as warp.fem integrands, shared by 2D and 3D and by scalar and vector fields.

Per-point coefficients arrive as arrays indexed by ``s.qp_index`` (see
``Discretization``); vector-valued data travel as ``array2d`` rows and are turned into the
field's value type by the ``row_as`` overloads, because integrand value arguments cannot
be generic. :func:`solid_forms` builds the forms of a finite-strain law from its point
functions (one set of integrands per law, all of the same shape).
"""

import functools
from typing import NamedTuple

import warp as wp
import warp.fem as fem

from learnsim.engine.fem.laws import hooke_stress, identity_like, von_mises


@wp.func
def row_as(like: wp.float64, rows: wp.array2d(dtype=wp.float64), i: int):
    return rows[i, 0]


@wp.func
def row_as(like: wp.vec2d, rows: wp.array2d(dtype=wp.float64), i: int):  # noqa: F811 (Warp overload)
    return wp.vec2d(rows[i, 0], rows[i, 1])


@wp.func
def row_as(like: wp.vec3d, rows: wp.array2d(dtype=wp.float64), i: int):  # noqa: F811
    return wp.vec3d(rows[i, 0], rows[i, 1], rows[i, 2])


@wp.func
def tensor_as(like: wp.mat22d, rows: wp.array3d(dtype=wp.float64), i: int):
    return wp.mat22d(rows[i, 0, 0], rows[i, 0, 1], rows[i, 1, 0], rows[i, 1, 1])


@wp.func
def tensor_as(like: wp.mat33d, rows: wp.array3d(dtype=wp.float64), i: int):  # noqa: F811
    return wp.mat33d(
        rows[i, 0, 0], rows[i, 0, 1], rows[i, 0, 2],
        rows[i, 1, 0], rows[i, 1, 1], rows[i, 1, 2],
        rows[i, 2, 0], rows[i, 2, 1], rows[i, 2, 2],
    )  # fmt: skip


@wp.func
def inner(a: wp.float64, b: wp.float64):
    return a * b


@wp.func
def inner(a: wp.vec2d, b: wp.vec2d):  # noqa: F811
    return wp.dot(a, b)


@wp.func
def inner(a: wp.vec3d, b: wp.vec3d):  # noqa: F811
    return wp.dot(a, b)


@wp.func
def one_like(a: wp.float64):
    return wp.float64(1.0)


@wp.func
def one_like(a: wp.vec2d):  # noqa: F811
    return wp.vec2d(wp.float64(1.0), wp.float64(1.0))


@wp.func
def one_like(a: wp.vec3d):  # noqa: F811
    return wp.vec3d(wp.float64(1.0), wp.float64(1.0), wp.float64(1.0))


# --- bilinear forms -------------------------------------------------------------------


@fem.integrand
def diffusion_form(s: fem.Sample, u: fem.Field, v: fem.Field, conductivity: wp.array(dtype=wp.float64)):
    """k grad u . grad v, with k (W/m/K) given per quadrature point."""
    return conductivity[s.qp_index] * wp.dot(fem.grad(u, s), fem.grad(v, s))


@fem.integrand
def linear_elasticity_form(s: fem.Sample, u: fem.Field, v: fem.Field, lame: wp.array(dtype=wp.vec2d)):
    """sigma(u) : grad v, with (lambda, mu) in Pa per quadrature point."""
    return wp.ddot(fem.grad(v, s), hooke_stress(fem.grad(u, s), lame[s.qp_index]))


@fem.integrand
def mass_form(s: fem.Sample, u: fem.Field, v: fem.Field, density: wp.array(dtype=wp.float64)):
    """rho u . v (consistent mass), rho in kg/m^3 per quadrature point."""
    return density[s.qp_index] * inner(u(s), v(s))


# --- linear forms ---------------------------------------------------------------------


@fem.integrand
def source_form(s: fem.Sample, v: fem.Field, values: wp.array2d(dtype=wp.float64)):
    """f . v with f per quadrature point: body force (N/m^3) or heat source (W/m^3)."""
    return inner(v(s), row_as(v(s), values, s.qp_index))


@fem.integrand
def boundary_value_form(s: fem.Sample, domain: fem.Domain, v: fem.Field, value: wp.array2d(dtype=wp.float64)):
    """t . v on boundary sides with a uniform t: traction (N/m^2) or inward heat flux (W/m^2)."""
    return inner(v(s), row_as(v(s), value, 0))


@fem.integrand
def pressure_form(s: fem.Sample, domain: fem.Domain, v: fem.Field, pressure: wp.float64):
    """-p n . v: a pressure p (Pa) pushing against the outward normal n (reference configuration)."""
    return -pressure * wp.dot(v(s), fem.normal(domain, s))


@fem.integrand
def stress_divergence_form(s: fem.Sample, v: fem.Field, stress: wp.array3d(dtype=wp.float64)):
    """P : grad v with a first Piola-Kirchhoff stress P (Pa) given per quadrature point (n_qp, d, d)."""
    grad_v = fem.grad(v, s)
    return wp.ddot(grad_v, tensor_as(grad_v, stress, s.qp_index))


@fem.integrand
def lumped_mass_form(s: fem.Sample, v: fem.Field, density: wp.array(dtype=wp.float64)):
    """Row sums of the consistent mass, rho N_i (every component of a vector test gets the same)."""
    return density[s.qp_index] * inner(v(s), one_like(v(s)))


@fem.integrand
def linear_elasticity_energy_form(s: fem.Sample, u_cur: fem.Field, lame: wp.array(dtype=wp.vec2d)):
    """Strain energy density 1/2 sigma : eps (J/m^3)."""
    grad_u = fem.grad(u_cur, s)
    return wp.float64(0.5) * wp.ddot(grad_u, hooke_stress(grad_u, lame[s.qp_index]))


# --- scalar integrals and point values --------------------------------------------------


@fem.integrand
def linear_von_mises(s: fem.Sample, u: fem.Field, lame: wp.array(dtype=wp.vec2d), out_of_plane_lambda: wp.float64):
    """Von Mises stress (Pa) of the Hooke stress; in 2D sigma_zz = c tr(eps) (c = lambda or 0)."""
    grad_u = fem.grad(u, s)
    sigma = hooke_stress(grad_u, lame[s.qp_index])
    return von_mises(sigma, out_of_plane_lambda * wp.trace(grad_u))


@fem.integrand
def field_value(s: fem.Sample, u: fem.Field):
    return u(s)


@fem.integrand
def field_gradient(s: fem.Sample, u: fem.Field):
    return fem.grad(u, s)


# --- a tangent given per point (a law evaluated outside Warp, e.g. in JAX) ---------------------


@wp.func
def _contract(C: wp.array3d(dtype=wp.float64), q: int, dH: wp.mat22d, row: int):
    """(C : dH)_row with C[q] the (d^2, d^2) table of dP_row / dH_kl, row-major."""
    s = wp.float64(0.0)
    for k in range(2):
        for m in range(2):
            s += C[q, row, k * 2 + m] * dH[k, m]
    return s


@wp.func
def _contract(C: wp.array3d(dtype=wp.float64), q: int, dH: wp.mat33d, row: int):  # noqa: F811
    s = wp.float64(0.0)
    for k in range(3):
        for m in range(3):
            s += C[q, row, k * 3 + m] * dH[k, m]
    return s


@wp.func
def tabulated_delta(C: wp.array3d(dtype=wp.float64), q: int, dH: wp.mat22d):
    return wp.mat22d(_contract(C, q, dH, 0), _contract(C, q, dH, 1), _contract(C, q, dH, 2), _contract(C, q, dH, 3))


@wp.func
def tabulated_delta(C: wp.array3d(dtype=wp.float64), q: int, dH: wp.mat33d):  # noqa: F811
    return wp.mat33d(
        _contract(C, q, dH, 0), _contract(C, q, dH, 1), _contract(C, q, dH, 2),
        _contract(C, q, dH, 3), _contract(C, q, dH, 4), _contract(C, q, dH, 5),
        _contract(C, q, dH, 6), _contract(C, q, dH, 7), _contract(C, q, dH, 8),
    )  # fmt: skip


@fem.integrand
def tabulated_tangent_form(s: fem.Sample, u: fem.Field, v: fem.Field, tangents: wp.array3d(dtype=wp.float64)):
    """(dP/dF : grad u) : grad v with dP/dF given per quadrature point, (n_qp, d^2, d^2) row-major."""
    return wp.ddot(fem.grad(v, s), tabulated_delta(tangents, s.qp_index, fem.grad(u, s)))


# --- the forms of a finite-strain law ---------------------------------------------------


class SolidForms(NamedTuple):
    """The integrands of one finite-strain law; ``params`` is its per-point parameter array."""

    residual: object  # P(F) : grad v at u_cur (internal virtual work)
    energy: object  # W(F) (J/m^3)
    von_mises: object  # von Mises of the Cauchy stress (Pa)
    stress: object  # the point function P(F, p) itself
    stress_delta: object  # and dP(F)[dF] (the tangent: see learnsim.engine.fem.tangents)


def solid_forms(stress, stress_delta, energy, sigma_zz, parameter_dtype=wp.vec2d) -> SolidForms:
    """Integrands of the law given by its Warp point functions of ``F = I + grad u`` and the
    parameters ``p`` of a point: ``stress(F, p)`` (first Piola-Kirchhoff, Pa), ``stress_delta(F, dF, p)``
    (its derivative in the direction dF), ``energy(F, p)`` (J/m^3) and ``sigma_zz(F, p)`` (the Cauchy
    out-of-plane normal stress of 2D plane strain, Pa; not used in 3D)."""

    def residual(s: fem.Sample, u_cur: fem.Field, v: fem.Field, params: wp.array(dtype=parameter_dtype)):
        grad_cur = fem.grad(u_cur, s)
        F = identity_like(grad_cur) + grad_cur
        return wp.ddot(fem.grad(v, s), stress(F, params[s.qp_index]))

    def stored_energy(s: fem.Sample, u_cur: fem.Field, params: wp.array(dtype=parameter_dtype)):
        grad_cur = fem.grad(u_cur, s)
        return energy(identity_like(grad_cur) + grad_cur, params[s.qp_index])

    def cauchy_von_mises(s: fem.Sample, u: fem.Field, params: wp.array(dtype=parameter_dtype)):
        grad_u = fem.grad(u, s)
        F = identity_like(grad_u) + grad_u
        J = wp.determinant(F)
        sigma = stress(F, params[s.qp_index]) * wp.transpose(F) / J
        return von_mises(sigma, sigma_zz(F, params[s.qp_index]))

    # One set of integrands per law: warp.fem keys an integrand by its qualified name, which closures share.
    name = stress.key
    forms = [named_integrand(fn, f"{name}_{fn.__name__}") for fn in (residual, stored_energy, cauchy_von_mises)]
    return SolidForms(*forms, stress, stress_delta)


def named_integrand(func, name: str):
    """``func`` renamed ``name`` (unique per law), as a warp.fem integrand."""
    func.__name__ = func.__qualname__ = name
    return fem.integrand(func)


@functools.cache
def point_stress_kernel(stress, matrix, parameter_dtype):
    """A kernel P[i] = stress(F[i], params[0]) over an array of deformation gradients (one per law and dimension).

    Kernels and integrands built here see their closure variables in annotations: this module must not
    use ``from __future__ import annotations`` (Warp would look the names up among the module's globals).
    """

    def point_stress(F: wp.array(dtype=matrix), params: wp.array(dtype=parameter_dtype), P: wp.array(dtype=matrix)):
        i = wp.tid()
        P[i] = stress(F[i], params[0])

    point_stress.__name__ = point_stress.__qualname__ = f"{stress.key}_point_stress_{matrix.__name__}"
    return wp.kernel(point_stress)
