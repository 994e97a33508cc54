"""Past an indefinite tangent: the linear solve falls back from PCG to LU or MINRES, an implicit step that
Newton cannot solve is cut in halves, a static load increment is bisected.

The indefinite system is the engine's own: the P1 Laplacian K of the unit square (8 x 8 cells, u = 0 on
its boundary) shifted by -c M with c = 2.5 pi^2, between its first two eigenvalues (2 pi^2 and 5 pi^2 in
the continuum): one negative eigenvalue, so CG meets p.Ap <= 0.
"""

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from warp.sparse import bsr_axpy

import learnsim.engine.solvers.indefinite as indefinite
import learnsim.engine.step_cutting as step_cutting
from learnsim.core.errors import EngineError, SolverNotConverged
from learnsim.core.mesh import box_mesh
from learnsim.engine.fem.assembly import assemble_diffusion, assemble_mass, assemble_source
from learnsim.engine.fem.boundary import apply_dirichlet, make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import NeoHookean
from learnsim.engine.fem.statics import solve_linear_system, solve_nonlinear_static
from learnsim.engine.integrate import initial_state, make_body, step
from learnsim.engine.solvers import bsr_to_csr
from learnsim.engine.solvers.newton import NewtonReport
from learnsim.engine.step_cutting import step_with_cuts

TOL = 1e-10


def _shifted_laplacian():
    """(disc, A projected, b): K - 2.5 pi^2 M with homogeneous Dirichlet conditions, b a unit source."""
    disc = discretize(box_mesh([1.0, 1.0], [8, 8], "tri"), 1, device="cpu")
    A = assemble_diffusion(disc, 1.0)
    bsr_axpy(assemble_mass(disc, 1.0), A, alpha=-2.5 * np.pi**2, beta=1.0, topology="masked")
    b = assemble_source(disc, np.ones(disc.quadrature_points.shape[0]))
    x = disc.node_positions
    boundary = (np.abs(x - 0.5) > 0.5 - 1e-9).any(axis=1)
    apply_dirichlet(A, b, disc, make_dirichlet(disc, [(boundary, None, np.zeros(1))]))
    return disc, A, b


def test_the_shifted_laplacian_is_indefinite():
    _, A, _ = _shifted_laplacian()
    eigenvalues = np.linalg.eigvalsh(bsr_to_csr(A).toarray())
    # one negative eigenvalue, and none near zero (those of the pencil K - c M scale with h^2 = 1/64)
    assert (eigenvalues < 0).sum() == 1 and np.abs(eigenvalues).min() > 1e-3


@pytest.mark.parametrize(("max_direct", "solver"), [(indefinite.DIRECT_MAX_DOFS, "direct-lu"), (0, "minres")])
def test_pcg_breakdown_falls_back_to_an_indefinite_solver(monkeypatch, max_direct, solver):
    monkeypatch.setattr(indefinite, "DIRECT_MAX_DOFS", max_direct)
    disc, A, b = _shifted_laplacian()
    seen = []
    result = solve_linear_system(disc, A, b, "amg", TOL, None, on_system=seen.append)
    reference = spla.spsolve(bsr_to_csr(A).tocsc(), b.numpy())
    x = result.x.numpy()
    assert result.solver == solver and "non-positive curvature" in result.breakdown
    assert result.converged and result.residuals.shape == (result.iterations + 1,)
    assert result.residuals[-1] <= (TOL if solver == "direct-lu" else 10 * TOL)
    np.testing.assert_allclose(x, reference, rtol=0, atol=1e-7 * np.abs(reference).max())
    assert len(seen) == 1 and np.array_equal(seen[0].solution, x)  # the callback sees the fallback's solution


def test_pcg_at_its_iteration_limit_is_not_masked():
    """Only a breakdown on curvature falls back: an SPD system that needs more iterations still raises."""
    disc = discretize(box_mesh([1.0, 1.0], [8, 8], "tri"), 1, device="cpu")
    A, b = assemble_diffusion(disc, 1.0), assemble_source(disc, np.ones(disc.quadrature_points.shape[0]))
    boundary = (np.abs(disc.node_positions - 0.5) > 0.5 - 1e-9).any(axis=1)
    apply_dirichlet(A, b, disc, make_dirichlet(disc, [(boundary, None, np.zeros(1))]))
    with pytest.raises(SolverNotConverged, match="did not converge"):
        solve_linear_system(disc, A, b, "jacobi", TOL, 2)


def _block(newton_max_iters: int = 30):
    """A neo-Hookean block 1 x 1 (Q2 2 x 2, E = 100, nu = 0.3, rho = 1) clamped at y = 0."""
    disc = discretize(box_mesh([1.0, 1.0], [2, 2], "quad"), 2, components=2, device="cpu")
    bc = make_dirichlet(disc, [(disc.node_positions[:, 1] < 1e-9, None, np.zeros(2))])
    return make_body(disc, NeoHookean(100.0, 0.3), 1.0, bc, "consistent", tol=1e-12, newton_tol=1e-10,
                     newton_max_iters=newton_max_iters)  # fmt: skip


def _smooth_load(body):
    """A sideways load on the top nodes ramped by smoothstep over 0.1 s (not linear in t: a sub-step
    with the load interpolated from the step's ends would differ)."""
    top = body.disc.node_positions[:, 1] > 1 - 1e-9
    vector = np.zeros((body.disc.n_nodes, 2))
    vector[top, 0] = 5.0

    def load(t):
        s = min(t / 0.1, 1.0)
        return s * s * (3.0 - 2.0 * s) * vector

    return load


def test_a_failed_step_is_taken_as_two_half_steps(monkeypatch):
    body = _block()
    load = _smooth_load(body)
    zero = np.zeros((body.disc.n_nodes, 2))
    state = initial_state(body, zero, zero, load(0.0))
    dt = 0.04

    def step_failing_at_full_dt(body, state, h, *args):
        if h == dt:
            raise EngineError("implicit step: Newton did not converge (made up)")
        return step(body, state, h, *args)

    monkeypatch.setattr(step_cutting, "step", step_failing_at_full_dt)
    report = NewtonReport()
    cut, cuts = step_with_cuts(body, state, 0.0, dt, "newmark", load, report=report)
    half = step(body, state, dt / 2, "newmark", load(0.0), load(dt / 2))
    two_halves = step(body, half, dt / 2, "newmark", load(dt / 2), load(dt))
    assert cuts == 1 and cut.t == pytest.approx(dt) and len(report.solves) > 0
    scale = np.abs(two_halves.u).max()
    assert scale > 1e-3  # it moved
    # equal to round-off (two identical steps differ by 1e-18 here: AMG's setup is not bitwise repeatable)
    np.testing.assert_allclose(cut.u, two_halves.u, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(cut.v, two_halves.v, rtol=0, atol=1e-12 * np.abs(two_halves.v).max())
    # and not what a load interpolated linearly between the step's ends would give
    linear = step(body, state, dt / 2, "newmark", load(0.0), 0.5 * (load(0.0) + load(dt)))
    assert np.abs(step(body, linear, dt / 2, "newmark", 0.5 * (load(0.0) + load(dt)), load(dt)).u - cut.u).max() > (
        1e-6 * scale
    )


def test_a_step_that_fails_at_every_cut_names_the_smallest(monkeypatch):
    body = _block()
    load = _smooth_load(body)
    zero = np.zeros((body.disc.n_nodes, 2))
    state = initial_state(body, zero, zero, load(0.0))
    calls = []

    def always_failing(body, state, h, *args):
        calls.append(h)
        raise EngineError("implicit step: Newton did not converge, relative residual 1.000e-01 after 30 iterations")

    monkeypatch.setattr(step_cutting, "step", always_failing)
    with pytest.raises(EngineError, match=r"after 30 iterations; the step cut down to dt = 0.0025 s still fails"):
        step_with_cuts(body, state, 0.0, 0.04, "newmark", load)
    assert calls == [0.04, 0.02, 0.01, 0.005, 0.0025]  # depth first: the first half fails first
    with pytest.raises(EngineError, match="made up"):  # explicit steps are never cut
        monkeypatch.setattr(step_cutting, "step", lambda *a: (_ for _ in ()).throw(EngineError("made up")))
        step_with_cuts(body, state, 0.0, 0.04, "explicit", load)


ITERS = 6


def test_a_static_load_step_that_fails_is_bisected():
    """Newton limited to ITERS iterations cannot take the whole load at once; bisected it can, and lands on the
    equilibrium that 8 load steps reach."""
    body = _block()
    disc, law = body.disc, body.material
    top = disc.node_positions[:, 1] > 1 - 1e-9
    f = np.zeros((disc.n_nodes, 2))
    f[top] = [10.0, -10.0]
    args = (disc, law, None, disc.nodal(f), body.bc, "amg", 1e-12, None, 1e-10)
    with pytest.raises(EngineError, match="load step 1/1"):
        solve_nonlinear_static(*args, newton_max_iters=ITERS, max_load_cuts=0)
    bisected = solve_nonlinear_static(*args, newton_max_iters=ITERS)
    reference = solve_nonlinear_static(*args, newton_max_iters=30, load_steps=8)
    assert bisected.load_cuts >= 1
    np.testing.assert_allclose(bisected.u, reference.u, rtol=0, atol=1e-8 * np.abs(reference.u).max())
