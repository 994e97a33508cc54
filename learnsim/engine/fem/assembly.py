"""Matrices and load vectors: one ``fem.integrate`` call each.

Coefficients are given per quadrature point (see ``Discretization.per_point``), so a
constant, a per-cell field or a pointwise expression all reach the same integrand.
Each result is checked (:mod:`learnsim.engine.numerics`): a matrix or a load that overflowed
or underflowed double precision raises an EngineError naming it, before any solver sees it.
"""

from __future__ import annotations

import numpy as np
import warp as wp
import warp.fem as fem
from warp.sparse import BsrMatrix

from learnsim.engine.fem import forms
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.numerics import check_matrix, check_vector

LOAD_HINT = "the [[load]] values and the mesh size"


def _scalars(disc: Discretization, values) -> wp.array:
    return wp.array(disc.per_point(values), dtype=wp.float64, device=disc.device)


def lame_per_point(disc: Discretization, lame) -> wp.array:
    """(lambda, mu) in Pa, constant (2,), per cell or per point, as a vec2d array over quadrature points."""
    return wp.array(disc.per_point(lame, (2,)), dtype=wp.vec2d, device=disc.device)


def _test_trial(disc: Discretization, domain=None):
    domain = disc.cells if domain is None else domain
    return fem.make_test(disc.space, domain=domain), fem.make_trial(disc.space, domain=domain)


def assemble_diffusion(disc: Discretization, conductivity) -> BsrMatrix:
    """Stiffness of -div(k grad T); ``conductivity`` (W/m/K): constant, per cell or per point."""
    v, u = _test_trial(disc)
    K = fem.integrate(
        forms.diffusion_form,
        quadrature=disc.quadrature,
        fields={"u": u, "v": v},
        values={"conductivity": _scalars(disc, conductivity)},
        output_dtype=wp.float64,
    )
    return check_matrix(K, "conduction matrix", "[material].conductivity and the mesh size")


def assemble_linear_elasticity(disc: Discretization, lame) -> BsrMatrix:
    """Stiffness of linear elasticity; ``lame`` = (lambda, mu) in Pa: constant, per cell or per point."""
    v, u = _test_trial(disc)
    K = fem.integrate(
        forms.linear_elasticity_form,
        quadrature=disc.quadrature,
        fields={"u": u, "v": v},
        values={"lame": lame_per_point(disc, lame)},
        output_dtype=wp.float64,
    )
    return check_matrix(K, "stiffness matrix", "[material].E and the mesh size")


def assemble_mass(disc: Discretization, density) -> BsrMatrix:
    """Consistent mass matrix; ``density`` in kg/m^3 (or the heat capacity rho c, J/m^3/K)."""
    v, u = _test_trial(disc)
    M = fem.integrate(
        forms.mass_form,
        quadrature=disc.quadrature,
        fields={"u": u, "v": v},
        values={"density": _scalars(disc, density)},
        output_dtype=wp.float64,
    )
    return check_matrix(M, "mass matrix", "[material].density or heat_capacity and the mesh size")


def assemble_source(disc: Discretization, values) -> wp.array:
    """Load vector of a volume source: body force (N/m^3, ``dim`` components) or heat (W/m^3).

    ``values``: constant (components,), per cell (n_cells, components) or per point (n_qp, components).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1 and values.shape[0] != disc.components:
        values = values[:, None]  # one scalar per cell or point
    rows = disc.per_point(values if values.ndim else values.reshape(1), (disc.components,))
    f = fem.integrate(
        forms.source_form,
        quadrature=disc.quadrature,
        fields={"v": fem.make_test(disc.space, domain=disc.cells)},
        values={"values": wp.array(rows, dtype=wp.float64, device=disc.device)},
        output_dtype=disc.value_type,
    )
    return check_vector(f, "load vector", LOAD_HINT)


def assemble_boundary_value(disc: Discretization, sides: fem.GeometryDomain, value) -> wp.array:
    """Load vector of a uniform traction (N/m^2, vector) or inward heat flux (W/m^2) on ``sides``."""
    row = np.asarray(value, dtype=np.float64).reshape(1, disc.components)
    f = fem.integrate(
        forms.boundary_value_form,
        fields={"v": fem.make_test(disc.space, domain=sides)},
        values={"value": wp.array(row, dtype=wp.float64, device=disc.device)},
        output_dtype=disc.value_type,
    )
    return check_vector(f, "load vector", LOAD_HINT)


def assemble_pressure(disc: Discretization, sides: fem.GeometryDomain, pressure: float) -> wp.array:
    """Load vector of a pressure (Pa) against the outward normal of ``sides`` (dead load)."""
    f = fem.integrate(
        forms.pressure_form,
        fields={"v": fem.make_test(disc.space, domain=sides)},
        values={"pressure": float(pressure)},
        output_dtype=disc.value_type,
    )
    return check_vector(f, "load vector", LOAD_HINT)


def evaluate_at_points(disc: Discretization, integrand, fields: dict, values: dict, dtype=wp.float64) -> np.ndarray:
    """Evaluate a point integrand at every quadrature point; returns (n_qp, ...) numpy."""
    out = wp.zeros(disc.quadrature.total_point_count(), dtype=dtype, device=disc.device)
    fem.interpolate(integrand, dest=out, at=disc.quadrature, fields=fields, values=values)
    return out.numpy()


def make_field(disc: Discretization, dof_values: wp.array) -> fem.DiscreteField:
    """A discrete field of ``disc.space`` sharing ``dof_values`` (no copy)."""
    field = disc.space.make_field()
    field.dof_values = dof_values
    return field


def displacement_gradients(disc: Discretization, u) -> np.ndarray:
    """grad u at every quadrature point, (n_qp, dim, dim) for a vector field u (n_nodes, dim)."""
    grad_type = wp.types.matrix((disc.dim, disc.dim), wp.float64)
    field = make_field(disc, disc.nodal(u))
    return evaluate_at_points(disc, forms.field_gradient, {"u": field}, {}, dtype=grad_type)


def assemble_stress_divergence(disc: Discretization, stress) -> np.ndarray:
    """Nodal internal forces f_a = sum_q w_q P_q : grad N_a(x_q) of a stress P (Pa) per quadrature
    point, (n_qp, dim, dim): the transpose of ``displacement_gradients`` weighted by the quadrature."""
    stress = wp.array(np.ascontiguousarray(stress, dtype=np.float64), dtype=wp.float64, device=disc.device)
    return fem.integrate(
        forms.stress_divergence_form,
        quadrature=disc.quadrature,
        fields={"v": fem.make_test(disc.space, domain=disc.cells)},
        values={"stress": stress},
        output_dtype=disc.value_type,
    ).numpy()
