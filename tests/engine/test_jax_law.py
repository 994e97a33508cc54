"""A law written in JAX is a first-class material: a neo-Hookean in jax.numpy matches the built-in one in
statics, Newmark and explicit dynamics (2D and 3D), and its parameters' gradients through the bridge
match central differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learnsim.engine import integrate
from learnsim.engine.bridge import rollout as bridge
from learnsim.engine.bridge.jax_law import JaxLaw
from learnsim.engine.bridge.operators import Problem, per_point, solve_static
from learnsim.engine.fem import (
    NeoHookean,
    assemble_boundary_value,
    boundary_sides,
    box_mesh,
    discretize,
    lame_from_young_poisson,
    make_dirichlet,
)
from learnsim.engine.fem.statics import solve_nonlinear_static

E, NU = 200.0, 0.3
LAM, MU = lame_from_young_poisson(E, NU)


def neo_hookean(F, params):
    """P = mu (F - F^-T) + lambda ln(J) F^-T, written in jax.numpy."""
    F_inv_t = jnp.linalg.inv(F).T
    return params["mu"] * (F - F_inv_t) + params["lam"] * jnp.log(jnp.linalg.det(F)) * F_inv_t


def neo_hookean_energy(F, params):
    log_j = jnp.log(jnp.linalg.det(F))
    i1 = jnp.sum(F * F) + (3 - F.shape[0])
    return 0.5 * params["mu"] * (i1 - 3.0) - params["mu"] * log_j + 0.5 * params["lam"] * log_j**2


PARAMS = {"lam": LAM, "mu": MU}
JAX_NH = JaxLaw(neo_hookean, PARAMS, energy=neo_hookean_energy)


def _block(dim: int):
    cells, element, order = ([3, 2], "quad", 2) if dim == 2 else ([2, 2, 2], "hex", 1)
    disc = discretize(box_mesh([2.0, 1.0, 1.0][:dim], cells, element), order=order, components=dim)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, 0.0)])
    sides, _ = boundary_sides(disc, lambda c: c[:, 0] > 2.0 - 1e-9)
    load = assemble_boundary_value(disc, sides, [0.0, -8.0, 3.0][:dim])
    return disc, bc, load


def _close(a, b, rtol=1e-10):
    assert np.abs(a - b).max() <= rtol * np.abs(b).max()


@pytest.mark.parametrize("dim", [2, 3])
def test_statics_match_the_builtin_neo_hookean(dim):
    disc, bc, load = _block(dim)
    solutions = [
        solve_nonlinear_static(disc, law, None, disc.nodal(load.numpy()), bc, "amg", tol=1e-13, newton_tol=1e-12).u
        for law in (NeoHookean(E, NU), JAX_NH)
    ]
    assert np.abs(solutions[1]).max() > 0.05  # a large deformation, not the linear regime
    _close(solutions[0], solutions[1])


@pytest.mark.parametrize("scheme", ["newmark", "explicit"])
def test_dynamics_match_the_builtin_neo_hookean(scheme):
    disc, bc, load = _block(2)
    dt, steps = (0.02, 5) if scheme == "newmark" else (2e-4, 20)
    finals = []
    for law in (NeoHookean(E, NU), JAX_NH):
        mass = "consistent" if scheme == "newmark" else "lumped"
        body = integrate.make_body(disc, law, 1.0, bc, mass, preconditioner="amg", tol=1e-13, newton_tol=1e-12)
        f = load.numpy()
        state = integrate.initial_state(body, np.zeros_like(f), np.zeros_like(f), f)
        for _ in range(steps):
            state = integrate.step(body, state, dt, scheme, f, f)
        finals.append(state)
    _close(finals[0].u, finals[1].u)
    _close(finals[0].v, finals[1].v)


def test_parameter_gradients_through_the_bridge_match_finite_differences():
    disc, bc, load = _block(2)
    problem = Problem(disc, JAX_NH, bc.mask, preconditioner="amg", tol=1e-13, newton_tol=1e-12)
    f, g = jnp.asarray(load.numpy()), jnp.zeros(problem.shape)
    weights = jnp.asarray(np.random.default_rng(0).standard_normal(problem.shape))

    def loss(params):
        return jnp.sum(weights * solve_static(problem, f, g, params))

    params = {"lam": jnp.asarray(LAM), "mu": jnp.asarray(MU)}
    gradient = jax.grad(loss)(params)
    for name in params:
        h = 1e-5 * float(params[name])
        up, down = dict(params, **{name: params[name] + h}), dict(params, **{name: params[name] - h})
        central = (loss(up) - loss(down)) / (2 * h)
        assert float(gradient[name]) == pytest.approx(float(central), rel=1e-6)
    # and they equal the built-in law's gradient with respect to its Lame parameters
    builtin = Problem(disc, NeoHookean(E, NU), bc.mask, preconditioner="amg", tol=1e-13, newton_tol=1e-12)
    lame_loss = lambda lame: jnp.sum(weights * solve_static(builtin, f, g, per_point(builtin, lame)))  # noqa: E731
    lame_gradient = jax.grad(lame_loss)(jnp.asarray([LAM, MU]))
    np.testing.assert_allclose([gradient["lam"], gradient["mu"]], lame_gradient, rtol=1e-8)


def test_an_explicit_rollout_differentiates_through_the_jax_law():
    disc, bc, load = _block(2)
    problem = Problem(disc, JAX_NH, bc.mask, mass="lumped", preconditioner="amg", tol=1e-13)
    f, g = jnp.asarray(load.numpy()), jnp.zeros(problem.shape)
    density = per_point(problem, 1.0)

    def loss(mu):
        params = {"lam": jnp.asarray(LAM), "mu": mu}
        state = bridge.initial_state(problem, jnp.zeros_like(f), jnp.zeros_like(f), f, g, params, density)
        final, _ = bridge.rollout(problem, "explicit", 2e-4, 10, state, params, density, f, jnp.ones(11), g,
                                  segment=5)  # fmt: skip
        return jnp.sum(final.u[:, 1])

    mu, h = jnp.asarray(MU), 1e-4 * MU
    assert float(jax.grad(loss)(mu)) == pytest.approx(float((loss(mu + h) - loss(mu - h)) / (2 * h)), rel=1e-6)
