"""F10: adjoint exactness on the linear elastic cantilever (10 x 1 x 1, Q2 hexes 20x2x2).

The tip deflection is proportional to P / E, so d(tip)/dE = -tip/E and d(tip)/dP = tip/P
exactly: the adjoint gradients must match to 1e-6 relative (fp64) and central differences to
1e-5. Also: the adjoint of the solve is a solve with the transposed (projected) matrix.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla

from learnsim.engine.bridge.operators import Problem, lame_per_point, solve_static
from learnsim.engine.fem import (
    LinearElastic,
    apply_dirichlet,
    assemble_boundary_value,
    assemble_linear_elasticity,
    boundary_sides,
    box_mesh,
    discretize,
    make_dirichlet,
)
from learnsim.engine.solvers import bsr_to_csr


@pytest.fixture(scope="module")
def cantilever():
    disc = discretize(box_mesh([10.0, 1.0, 1.0], [20, 2, 2], "hex"), order=2, components=3)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, 0.0)])
    sides, _ = boundary_sides(disc, lambda c: c[:, 0] > 10.0 - 1e-9)
    unit_load = jnp.asarray(assemble_boundary_value(disc, sides, [0.0, -1.0, 0.0]).numpy())
    problem = Problem(disc, LinearElastic(1.0, 0.3), bc.mask, tol=1e-13)
    tip = jnp.asarray(np.isclose(disc.node_positions[:, 0], 10.0))

    def tip_deflection(E, P):
        u = solve_static(problem, P * unit_load, jnp.zeros(problem.shape), lame_per_point(problem, E, 0.0))
        return -jnp.sum(jnp.where(tip, u[:, 1], 0.0)) / jnp.sum(tip)

    return problem, bc, unit_load, tip_deflection


def test_gradients_are_exact(cantilever):
    _, _, _, tip_deflection = cantilever
    E, P = 1000.0, 1.0
    tip, d_E, d_P = map(float, jax.tree_util.tree_leaves(jax.value_and_grad(tip_deflection, argnums=(0, 1))(E, P)))
    assert tip == pytest.approx(4.024, rel=5e-3)
    assert d_E == pytest.approx(-tip / E, rel=1e-6)
    assert d_P == pytest.approx(tip / P, rel=1e-6)
    # central differences (steps large enough that the solver tolerance does not show)
    for index, (x, h) in enumerate([(E, 1e-3 * E), (P, 1e-3 * P)]):
        args_plus, args_minus = [E, P], [E, P]
        args_plus[index], args_minus[index] = x + h, x - h
        fd = float(tip_deflection(*args_plus) - tip_deflection(*args_minus)) / (2 * h)
        assert fd == pytest.approx((d_E, d_P)[index], rel=1e-5)


def test_jit_gives_the_same_gradient(cantilever):
    _, _, _, tip_deflection = cantilever
    eager = jax.grad(tip_deflection, argnums=(0, 1))(1000.0, 1.0)
    jitted = jax.jit(jax.grad(tip_deflection, argnums=(0, 1)))(1000.0, 1.0)
    assert np.allclose(eager, jitted, rtol=1e-10)


def test_adjoint_of_the_solve_is_a_transposed_solve(cantilever):
    problem, bc, unit_load, _ = cantilever
    disc = problem.disc
    lame = lame_per_point(problem, 1000.0, 0.0)
    w = jnp.asarray(np.random.default_rng(0).standard_normal(problem.shape))
    _, vjp = jax.vjp(lambda f: solve_static(problem, f, jnp.zeros(problem.shape), lame), unit_load)
    (f_bar,) = vjp(w)
    # reference: the projected matrix from the engine, transposed, solved by scipy
    K = assemble_linear_elasticity(disc, (0.0, 500.0))
    apply_dirichlet(K, disc.zeros(), disc, bc, homogeneous=True)
    A = bsr_to_csr(K)
    free = ~bc.mask.ravel()
    expected = spla.spsolve(A.T.tocsc(), np.asarray(w).ravel() * free)
    assert np.abs(np.asarray(f_bar).ravel() - expected).max() <= 1e-8 * np.abs(expected).max()


def test_vmap_over_load_cases(cantilever):
    """Batched solves (one engine call per batch element): the tip scales with the load."""
    _, _, _, tip_deflection = cantilever
    tips = jax.vmap(lambda P: tip_deflection(1000.0, P))(jnp.array([1.0, 2.5]))
    assert np.allclose(tips, [float(tip_deflection(1000.0, 1.0)), 2.5 * float(tip_deflection(1000.0, 1.0))], rtol=1e-9)
