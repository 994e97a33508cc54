"""Gradients through the Warp <-> JAX bridge against central differences (fp64, random directions).

A 50-step rollout loss is differentiated with respect to Young's modulus per element, density,
initial displacement and velocity, a load and the Dirichlet values, for the implicit schemes
(linear and neo-Hookean) and the explicit one; relative error <= 1e-4.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learnsim.engine.bridge import rollout as bridge
from learnsim.engine.bridge.operators import Problem, internal_force, lame_per_point, per_point, solve_mass
from learnsim.engine.fem import (
    LinearElastic,
    NeoHookean,
    assemble_boundary_value,
    boundary_sides,
    box_mesh,
    discretize,
    make_dirichlet,
)

STEPS = 50
PRECONDITIONER = "ic0"
CASES = {  # name: (model, scheme, mass, dt, load scale)
    "linear-newmark": ("linear", "newmark", "consistent", 0.02, 1.0),
    "neo-hookean-implicit-euler": ("neo-hookean", "implicit-euler", "consistent", 0.02, 0.2),
    "linear-explicit": ("linear", "explicit", "lumped", 0.002, 1.0),
}


def make_loss(model, scheme, mass, dt, load_scale):
    disc = discretize(box_mesh([4.0, 0.5], [8, 2], "quad"), order=1, components=2)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, 0.0)])
    sides, _ = boundary_sides(disc, lambda c: c[:, 0] > 4.0 - 1e-9)
    unit_load = jnp.asarray(assemble_boundary_value(disc, sides, [0.0, -1.0]).numpy())
    # tiny systems: IC(0) is cheaper than building an AMG hierarchy at every Newton iteration
    # the law's constants are not used: its parameters come per point (lame below)
    law = NeoHookean(1.0, 0.3) if model == "neo-hookean" else LinearElastic(1.0, 0.3)
    problem = Problem(disc, law, bc.mask, mass=mass, preconditioner=PRECONDITIONER, tol=1e-13)
    X = disc.node_positions
    tip = jnp.asarray(np.isclose(X[:, 0], 4.0))
    ramp = jnp.linspace(0.0, 1.0, STEPS + 1)

    def loss(p):
        lame = lame_per_point(problem, p["E"], 0.3)
        density = per_point(problem, p["density"])
        state = bridge.initial_state(problem, p["u0"], p["v0"], 0.0 * p["load"], p["g"], lame, density)
        final, tip_y = bridge.rollout(
            problem, scheme, dt, STEPS, state, lame, density, p["load"], ramp, p["g"],
            observe=lambda s: jnp.sum(jnp.where(tip, s.u[:, 1], 0.0)), segment=25,
        )  # fmt: skip
        return jnp.sum(tip_y**2) + jnp.sum(final.v**2)

    rng = np.random.default_rng(0)
    params = {
        "E": jnp.full(disc.mesh.n_cells, 1000.0) * (1.0 + 0.1 * rng.random(disc.mesh.n_cells)),
        "density": jnp.asarray(1.0),
        "u0": jnp.zeros(problem.shape),
        "v0": jnp.asarray(np.stack([0.0 * X[:, 0], 0.05 * (X[:, 0] / 4.0) ** 2], axis=1)),
        "load": load_scale * unit_load,
        "g": jnp.zeros(problem.shape),
    }
    return loss, params, problem


def directional_check(loss, params, key, gradient, rng, free, rel_step=1e-4):
    direction = rng.standard_normal(np.shape(params[key]))
    if key == "g":  # only the constrained dofs carry Dirichlet values
        direction = direction * ~free
    scale = max(float(jnp.max(jnp.abs(params[key]))), 1e-2)
    h = rel_step * scale
    plus = dict(params, **{key: params[key] + h * direction})
    minus = dict(params, **{key: params[key] - h * direction})
    fd = float(loss(plus) - loss(minus)) / (2 * h)
    ad = float(jnp.sum(gradient[key] * direction))
    return fd, ad


@pytest.mark.parametrize("case", list(CASES))
def test_rollout_gradients_match_central_differences(case):
    loss, params, problem = make_loss(*CASES[case])
    gradient = jax.grad(loss)(params)
    rng = np.random.default_rng(1)
    keys = ["E", "density", "u0", "v0", "load", "g"] if case != "neo-hookean-implicit-euler" else ["E", "v0", "load"]
    for key in keys:
        fd, ad = directional_check(loss, params, key, gradient, rng, problem.free)
        assert abs(fd - ad) <= 1e-4 * max(abs(fd), 1e-12), f"{case} d/d{key}: adjoint {ad:.10g}, central {fd:.10g}"


def test_jit_of_the_whole_loss():
    loss, params, _ = make_loss(*CASES["linear-newmark"])
    eager_value, eager_grad = jax.value_and_grad(loss)(params)
    value, grad = jax.jit(jax.value_and_grad(loss))(params)
    assert float(value) == pytest.approx(float(eager_value), rel=1e-12)
    for key in params:
        assert np.allclose(grad[key], eager_grad[key], rtol=1e-9, atol=1e-14), key


def test_explicit_pieces_have_exact_vjps():
    """internal_force and solve_mass: <w, J v> = <J^T w, v> against jax.jvp-free central differences."""
    _, params, problem = make_loss(*CASES["linear-explicit"])
    rng = np.random.default_rng(2)
    lame = lame_per_point(problem, params["E"], 0.3)
    u = jnp.asarray(rng.standard_normal(problem.shape))
    w = jnp.asarray(rng.standard_normal(problem.shape))
    for fn, args in [(internal_force, (u, lame)), (solve_mass, (u, per_point(problem, 1.3)))]:
        out, vjp = jax.vjp(lambda *a, fn=fn: fn(problem, *a), *args)
        cotangents = vjp(w)
        for i, arg in enumerate(args):
            d = jnp.asarray(rng.standard_normal(np.shape(arg)))
            h = 1e-6 * max(float(jnp.max(jnp.abs(arg))), 1.0)
            a_plus = list(args)
            a_minus = list(args)
            a_plus[i], a_minus[i] = arg + h * d, arg - h * d
            fd = float(jnp.sum(w * (fn(problem, *a_plus) - fn(problem, *a_minus)))) / (2 * h)
            ad = float(jnp.sum(cotangents[i] * d))
            assert abs(fd - ad) <= 1e-6 * max(abs(fd), 1e-12), f"{fn.__name__} arg {i}: {ad} vs {fd}"
