"""S8 (VALIDATION.md) for SPH: a WCSPH rollout differentiated through the JAX bridge.

The loss (weighted final positions, kinetic energy and weighted final densities after 60 steps in
2D, 50 in 3D) is differentiated with respect to the initial positions, the initial velocities and
the viscosity; each derivative along a random direction is compared with central differences of
the forward rollout (fp64): relative error <= 1e-6 asserted (VALIDATION.md asks 1e-3), ~1e-9 measured.
"""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learnsim.core.errors import InputError
from learnsim.engine.bridge.sph import SPHProblem, rollout
from learnsim.engine.sph import wcsph

G = 9.81
EPS = 1e-6


def grid_points(counts, dx, offset=None) -> np.ndarray:
    """Cell-centred lattice of prod(counts) points with spacing dx, shifted by ``offset`` cells."""
    offset = np.zeros(len(counts)) if offset is None else np.asarray(offset, dtype=float)
    cells = np.array(list(itertools.product(*(range(n) for n in counts))), dtype=float)
    return (cells + 0.5 + offset) * dx


def make_case(dim: int):
    """A small block of fluid (jittered positions, random velocities) on a floor between two side walls.

    2D: 6 x 5 particles in a tank 8 dx wide; 3D: 4 x 3 x 3 particles in a tank 6 dx wide, open in z.
    """
    dx = 0.1
    gravity = (0.0, -G, 0.0)[:dim]
    params = wcsph.WCSPH(dim=dim, spacing=dx, sound_speed=20.0, gravity=gravity, artificial_viscosity=0.05)
    layers = int(np.ceil(params.radius / dx))
    block, width, depth = ((6, 5), 8, ()) if dim == 2 else ((4, 3, 3), 6, (3,))
    cells = grid_points((width + 2 * layers, 8 + layers, *depth), dx, (-layers, -layers, 0)[:dim])
    inside = (cells[:, 0] > 0.0) & (cells[:, 0] < width * dx) & (cells[:, 1] > 0.0)
    rng = np.random.default_rng(dim)
    x = grid_points(block, dx) + 0.05 * dx * rng.standard_normal((np.prod(block), dim))
    v = 0.3 * rng.standard_normal(x.shape)
    return SPHProblem(params, cells[~inside]), jnp.asarray(x), jnp.asarray(v), rng


def stable_dt(problem: SPHProblem, x, v, nu: float) -> float:
    """The engine's stable step (s) of the initial state with viscosity nu."""
    params = dataclasses.replace(problem.params, viscosity=nu)
    return wcsph.stable_time_step(
        params, wcsph.make_state(params, np.asarray(x), problem.wall_positions, np.asarray(v))
    )


@pytest.mark.parametrize("dim, steps", [(2, 60), (3, 50)])
def test_rollout_gradients_match_central_differences_s8(dim, steps):
    problem, x, v, rng = make_case(dim)
    nu = jnp.asarray(0.02)
    dt = 0.5 * stable_dt(problem, x, v, float(nu))
    weights = rng.standard_normal(x.shape), rng.standard_normal(x.shape[0])

    def loss(x, v, nu):
        xf, vf, rho = rollout(problem, x, v, nu, steps, dt)
        kinetic = 0.5 * problem.params.mass * jnp.sum(vf**2)
        return jnp.sum(weights[0] * xf) + kinetic + jnp.sum(weights[1] * (rho / problem.params.rest_density - 1.0))

    value, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(x, v, nu)
    assert float(value) == pytest.approx(float(loss(x, v, nu)), rel=1e-14)
    directions = rng.standard_normal(x.shape), rng.standard_normal(v.shape), 1.0
    errors = []
    for k, (name, direction) in enumerate(zip(("positions", "velocities", "viscosity"), directions, strict=True)):
        plus, minus = (
            [a + sign * EPS * direction if i == k else a for i, a in enumerate((x, v, nu))] for sign in (1, -1)
        )
        central = (loss(*plus) - loss(*minus)) / (2.0 * EPS)
        derivative = jnp.sum(grads[k] * direction)
        error = abs(float(derivative - central)) / abs(float(central))
        errors.append(error)
        print(f"S8 {dim}D {name}: bridge {float(derivative):.10e}, central {float(central):.10e}, rel {error:.1e}")
    assert max(errors) <= 1e-6  # S8 asks 1e-3; fp64 gives ~1e-9


def test_checkpointed_backward_equals_one_tape():
    """Segments of 7 steps (recomputed in the backward pass) give the one-tape gradient to round-off."""
    problem, x, v, rng = make_case(2)
    segmented = SPHProblem(problem.params, problem.wall_positions, segment=7)
    dt = 0.5 * stable_dt(problem, x, v, 0.02)
    weights = rng.standard_normal(x.shape)

    def loss(problem):
        return lambda x, v, nu: jnp.sum(weights * rollout(problem, x, v, nu, 30, dt)[0])

    whole = jax.grad(loss(problem), argnums=(0, 1, 2))(x, v, 0.02)
    pieces = jax.grad(loss(segmented), argnums=(0, 1, 2))(x, v, 0.02)
    for a, b in zip(whole, pieces, strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-10, atol=1e-12)


def test_vmap_and_bad_input():
    problem, x, v, _ = make_case(2)
    dt = 0.5 * stable_dt(problem, x, v, 0.02)
    batched = jax.vmap(lambda nu: rollout(problem, x, v, nu, 5, dt)[1])(jnp.array([0.0, 0.05]))
    for nu, result in zip((0.0, 0.05), batched, strict=True):
        np.testing.assert_allclose(np.asarray(result), np.asarray(rollout(problem, x, v, nu, 5, dt)[1]), rtol=1e-13)
    with pytest.raises(InputError, match=r"dt = .* must be in \(0, .*the stable step at the start"):
        rollout(problem, x, v, 0.02, 5, 4.0 * dt)
    with pytest.raises(jax.errors.JaxRuntimeError, match="stable step at the start"):  # traced: raised in the callback
        jax.block_until_ready(jax.jit(lambda x: rollout(problem, x, v, 0.02, 5, 4.0 * dt))(x))
    with pytest.raises(InputError, match="viscosity = -1"):
        rollout(problem, x, v, -1.0, 5, dt)
    with pytest.raises(InputError, match="segment = 0"):
        SPHProblem(problem.params, problem.wall_positions, segment=0)
