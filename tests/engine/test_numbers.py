"""Numbers of absurd magnitude (issue 11): what overflows or underflows double precision is reported
as one clear error where it is assembled, what can be computed exactly is, and nothing warns."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import warp as wp

from learnsim.core.errors import EngineError, InputError, SolverBreakdown
from learnsim.core.mesh import box_mesh, make_mesh
from learnsim.engine.fem.assembly import (
    assemble_boundary_value,
    assemble_diffusion,
    assemble_linear_elasticity,
    assemble_mass,
)
from learnsim.engine.fem.boundary import boundary_sides, make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import Conduction, LinearElastic
from learnsim.engine.fem.statics import check_constrained_parts, solve_linear_static
from learnsim.engine.integrate import implicit_alpha, initial_state, make_body, step
from learnsim.engine.numerics import NORM_LIMIT, TINY, check_matrix, check_vector, power_of_two_scale, safe_norm
from learnsim.engine.solvers import AMGPreconditioner, csr_to_bsr, make_preconditioner, pcg

DEVICE = "cpu"
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # a warning is a second stderr line


def _beam(cells=(4, 1), order=2):
    """2D cantilever 4 x 1 (plane strain), clamped at x = 0."""
    disc = discretize(box_mesh([4.0, 1.0], list(cells), "quad"), order, components=2, device=DEVICE)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, np.zeros(2))])
    return disc, bc


def _tip_load(disc, value=(0.0, -1.0)):
    sides, _ = boundary_sides(disc, lambda c: c[:, 0] > 4.0 - 1e-9)
    return assemble_boundary_value(disc, sides, value)


def _solve_beam(E: float, preconditioner: str) -> np.ndarray:
    disc, bc = _beam()
    K = assemble_linear_elasticity(disc, LinearElastic(E, 0.3).lame(2))
    return solve_linear_static(disc, K, _tip_load(disc), bc, preconditioner, tol=1e-12).u


# --- the checks themselves ---------------------------------------------------------------


def test_power_of_two_scale_is_even_and_brings_the_value_into_one_to_four():
    for value in (1e-320, 3e-200, 0.3, 1.0, 2.0, 3.99, 4.0, 1e300, 1.7e308):
        k = power_of_two_scale(value)
        assert k % 2 == 0
        assert 1.0 <= math.ldexp(value, k) < 4.0


def test_safe_norm_does_not_overflow_or_underflow():
    assert safe_norm(np.array([3e200, 4e200])) == pytest.approx(5e200)
    assert safe_norm(np.array([3e-200, 4e-200])) == pytest.approx(5e-200)
    assert safe_norm(np.zeros(3)) == 0.0


def test_assembled_stiffness_that_overflows_names_the_modulus():
    disc, _ = _beam()
    with pytest.raises(
        EngineError, match=r"stiffness matrix has \d+ non-finite entries \(overflow: check \[material\]\.E"
    ):
        assemble_linear_elasticity(disc, (1e308, 1e308))


def test_subnormal_diagonal_is_an_underflow():
    disc, _ = _beam()
    with pytest.raises(EngineError, match=r"mass matrix has \d+ diagonal entries as small as .* smallest normal"):
        assemble_mass(disc, 1e-310)
    zero = csr_to_bsr(sp.csr_matrix((2, 2)), device=DEVICE)
    with pytest.raises(EngineError, match="has a zero diagonal"):
        check_matrix(zero, "matrix", "it")


def test_load_vector_too_large_for_its_square():
    disc, _ = _beam()
    with pytest.raises(EngineError, match=r"load vector is too large .* its norm .* is above 1\.34e\+154"):
        _tip_load(disc, (0.0, -1e308))
    with pytest.raises(EngineError, match=r"load vector has 1 non-finite entries \(overflow"):
        check_vector(np.array([1.0, np.inf]), "load vector", "the loads")
    check_vector(np.array([NORM_LIMIT / 2]), "load vector", "the loads")  # large but usable


def test_subnormal_modulus_is_refused_as_input():
    with pytest.raises(InputError, match=r"E = 1e-320 is below 2\.23e-308, the smallest normal double"):
        LinearElastic(1e-320, 0.0)
    LinearElastic(TINY, 0.0)


# --- what can be computed exactly is --------------------------------------------------------


@pytest.mark.parametrize("preconditioner", ["amg", "ic0", "jacobi", "none"])
def test_extreme_modulus_solves_like_a_unit_one(preconditioner):
    """u scales as 1/E: E = 1e300 gives 1e-300 times the E = 1 solution (AMG builds on 2^k A, exactly)."""
    reference = _solve_beam(1.0, preconditioner)
    huge = _solve_beam(1e300, preconditioner)
    np.testing.assert_allclose(huge * 1e300, reference, rtol=1e-9, atol=1e-12 * np.abs(reference).max())


@pytest.mark.parametrize("E", [1000.0, 1e300])
def test_amg_and_jacobi_rescale_only_far_from_one(E):
    """A usual matrix is left as it is; at E = 1e300 the hierarchy is built on 2^k K and applied exactly
    2^k times its cycle."""
    disc, _ = _beam()
    K = assemble_linear_elasticity(disc, LinearElastic(E, 0.3).lame(2))
    amg, jacobi = make_preconditioner("amg", K), make_preconditioner("jacobi", K)
    assert isinstance(amg, AMGPreconditioner)
    assert (amg.scale_exponent == 0) == (E == 1000.0) and jacobi.scale_exponent == amg.scale_exponent
    x = wp.array(np.linspace(-1.0, 1.0, disc.n_nodes * 2).reshape(-1, 2), dtype=wp.vec2d, device=DEVICE)
    z = wp.zeros_like(x)
    amg.apply(x, x, z, 1.0, 0.0)
    cycle = amg.hierarchy.aspreconditioner(cycle="V").matvec(x.numpy().reshape(-1))
    np.testing.assert_array_equal(z.numpy().reshape(-1), np.ldexp(cycle, amg.scale_exponent))
    assert np.all(np.isfinite(z.numpy())) and np.abs(z.numpy()).max() > 0.0


def test_amg_failure_is_an_engine_error_not_a_value_error():
    A = sp.csr_matrix(np.array([[4.0, -1.0], [-1.0, np.inf]]))
    with pytest.raises(EngineError, match="AMG"):
        make_preconditioner("amg", csr_to_bsr(A, device=DEVICE))


@pytest.mark.parametrize("magnitude", [1e-170, 1e200])
def test_pcg_solves_a_right_hand_side_whose_square_overflows_or_underflows(magnitude):
    """b . b underflows to zero at 1e-170 (x = 0 was returned) and overflows at 1e200 (ValueError)."""
    A = sp.diags([2.0, 3.0, 4.0]).tocsr() + sp.csr_matrix(np.array([[0, -1, 0], [-1, 0, -1], [0, -1, 0.0]]))
    b = np.array([1.0, -2.0, 0.5])
    expected = np.linalg.solve(A.toarray(), b)
    result = pcg(csr_to_bsr(A, device=DEVICE), wp.array(magnitude * b, dtype=wp.float64, device=DEVICE), tol=1e-12)
    assert result.converged and result.iterations >= 1
    np.testing.assert_allclose(result.x.numpy() / magnitude, expected, rtol=1e-10)


def test_pcg_reports_a_non_finite_right_hand_side_as_a_breakdown():
    A = csr_to_bsr(sp.identity(2, format="csr"), device=DEVICE)
    with pytest.raises(SolverBreakdown, match="right-hand side b has 1 non-finite entries"):
        pcg(A, wp.array([1.0, np.nan], dtype=wp.float64, device=DEVICE))


# --- time steps --------------------------------------------------------------------------------


def test_alpha_is_unchanged_for_usual_steps():
    assert implicit_alpha(True, 0.15, "newmark") == 4.0 / 0.15**2
    assert implicit_alpha(True, 0.15, "implicit-euler") == 1.0 / 0.15**2
    assert implicit_alpha(False, 0.01, "newmark") == 2.0 / 0.01
    assert implicit_alpha(False, 1e-300, "implicit-euler") == 1.0 / 1e-300


@pytest.mark.parametrize("dt", [1e-300, 1e-160])  # dt^2 underflows to zero; 4 / dt^2 overflows
def test_tiny_step_of_elastodynamics_names_the_time_step(dt):
    disc, bc = _beam(order=1)
    body = make_body(disc, LinearElastic(1000.0, 0.3), 1.0, bc)
    zero = np.zeros((disc.n_nodes, 2))
    state = initial_state(body, zero, zero, zero)
    with pytest.raises(
        InputError, match=r"\[time\]\.dt = 1e-[0-9]+ s is too small for the newmark .* at least 1\.5e-154 s"
    ):
        step(body, state, dt, "newmark", zero, zero)


@pytest.mark.parametrize("scheme", ["implicit-euler", "newmark"])
def test_heat_step_of_1e_300_s_is_computed_and_changes_nothing(scheme):
    """1 / dt = 1e300 is finite; the projected right-hand side (about 1e297) is solved as 2^-k b."""
    disc = discretize(box_mesh([1.0, 1.0], [4, 4], "quad"), 1, components=1, device=DEVICE)
    x = disc.node_positions[:, 0]
    bc = make_dirichlet(disc, [(x < 1e-9, None, np.array([0.0])), (x > 1 - 1e-9, None, np.array([1.0]))])
    body = make_body(disc, Conduction(1.0), 1.0, bc, preconditioner="amg")
    u0 = x.copy()  # the steady state: no change at any step
    state = initial_state(body, u0, np.zeros_like(u0), np.zeros_like(u0))
    new = step(body, state, 1e-300, scheme, np.zeros_like(u0), np.zeros_like(u0))
    np.testing.assert_allclose(new.u, u0, atol=1e-12)
    assert new.t == 1e-300


# --- meshes ---------------------------------------------------------------------------------------


def test_mesh_check_does_not_overflow_on_huge_coordinates():
    mesh = box_mesh([1e200, 1e200], [2, 2], "quad")  # extent^2 overflowed: every cell was "degenerate"
    assert mesh.n_cells == 4
    with pytest.raises(InputError, match=r"degenerate hex element 0 \(80 bad cells; .*mesh proportions"):
        box_mesh([1e308, 1.0, 1.0], [20, 2, 2], "hex")
    with pytest.raises(InputError, match="degenerate tri element 0"):
        make_mesh(np.ones((3, 2)), [[0, 1, 2]], "tri")  # every point the same


def test_floating_part_without_dirichlet_condition_is_named():
    square = box_mesh([1.0, 1.0], [2, 2], "tri")
    n = square.n_points
    points = np.vstack([square.points, [[3.0, 0.0], [4.0, 0.0], [3.0, 1.0]]])
    cells = np.vstack([square.cells, [[n, n + 1, n + 2]]])
    disc = discretize(make_mesh(points, cells, "tri"), 1, components=1, device=DEVICE)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, np.array([0.0]))])
    K = assemble_diffusion(disc, 1.0)
    with pytest.raises(InputError, match=r"2 disconnected parts, 1 with no Dirichlet condition \(3 nodes around"):
        check_constrained_parts(disc, K, bc)
    held = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, np.array([0.0])),
                                 (disc.node_positions[:, 0] > 3.5, None, np.array([1.0]))])  # fmt: skip
    check_constrained_parts(disc, K, held)
