"""WCSPH rollouts as a differentiable JAX function.

``rollout(problem, positions, velocities, viscosity, steps, dt)`` runs ``steps`` fixed steps of
``dt`` from a fluid at rest density and returns the final positions, velocities and densities.
It is a ``jax.custom_vjp`` whose two passes call the Warp engine through ``jax.pure_callback``
(``vmap_method="sequential"``), so it composes with ``jit``, ``grad`` and ``vmap``:

- forward: the engine's steps, no tape;
- backward: the forward is run again, keeping the state every ``problem.segment`` steps (the
  engine allocates new arrays at each step, so a checkpoint is a reference, not a copy); then,
  from the last segment to the first, the segment is recomputed from its checkpoint on a
  ``wp.Tape`` (its start state copied into fresh arrays with gradients), the adjoint of its end
  state is seeded and the tape replayed backwards, giving the adjoint of its start state.
  Gradient memory is one checkpoint per segment plus one segment's tape, instead of every step.

The neighbour sets are held fixed by the tape (they are piecewise constant in the positions), so
the derivative is exact for the discrete rollout; the time step is fixed, not adaptive, and must
not exceed the stable step of the initial state (``wcsph.stable_time_step``).
"""

from __future__ import annotations

import functools
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import warp as wp

from learnsim.core.errors import InputError
from learnsim.engine.sph import wcsph
from learnsim.engine.sph.particles import ParticleState, as_vec3

# arrays of a WCSPH ParticleState that carry an adjoint from one segment to the one before it
_CARRIED = (
    "positions",
    "velocities",
    "accelerations",
    "densities",
    "pressures",
    "wall_positions",
    "wall_pressures",
    "wall_densities",
)


class SPHProblem:
    """What stays fixed while the differentiated inputs change: fluid parameters, walls, device.

    Hashable by identity, so it is a static argument of ``rollout``.

    Args:
        params: the fluid; ``params.viscosity`` is ignored (the viscosity is an input of ``rollout``).
        wall_positions: (n_wall, dim) wall particle positions (m).
        wall_velocities: (n_wall, dim) constant wall velocities (m/s), zero by default.
        segment: steps per checkpointed segment in the backward pass; None keeps the whole rollout
            on one tape (fastest; memory grows with the number of steps).
        device: Warp device.
    """

    def __init__(self, params: wcsph.WCSPH, wall_positions, wall_velocities=None, segment: int | None = None,
                 device=None):  # fmt: skip
        if segment is not None and not (isinstance(segment, int) and segment > 0):
            raise InputError(f"sph rollout: segment = {segment} must be a positive number of steps")
        self.params = params
        self.wall_positions = np.asarray(wall_positions, dtype=np.float64)
        self.wall_velocities = None if wall_velocities is None else np.asarray(wall_velocities, dtype=np.float64)
        self.segment = segment
        self.device = device

    def initial_state(self, positions, velocities, nu: wp.array, requires_grad: bool = False) -> ParticleState:
        """The engine state at rest density for (n, dim) positions (m) and velocities (m/s)."""
        return wcsph.make_state(
            self.params, positions, self.wall_positions, velocities=velocities,
            wall_velocities=self.wall_velocities, device=self.device, requires_grad=requires_grad, viscosity=nu,
        )  # fmt: skip


def _viscosity(problem: SPHProblem, viscosity, requires_grad: bool = False) -> wp.array:
    value = float(np.asarray(viscosity).reshape(()))
    if not (np.isfinite(value) and value >= 0.0):
        raise InputError(f"sph rollout: viscosity = {value} must be a non-negative number (m^2/s)")
    return wp.array([value], dtype=wp.float64, device=problem.device, requires_grad=requires_grad)


def _check_step(problem: SPHProblem, state: ParticleState, nu: wp.array, steps: int, dt: float) -> None:
    if not (isinstance(steps, int) and steps >= 0):
        raise InputError(f"sph rollout: steps = {steps} must be a non-negative integer")
    stable = wcsph.stable_time_step(replace(problem.params, viscosity=float(nu.numpy()[0])), state)
    if not (dt > 0.0 and dt <= stable * (1.0 + 1e-12)):
        raise InputError(f"sph rollout: dt = {dt:.3e} s must be in (0, {stable:.3e}] (the stable step at the start)")


def _outputs(problem: SPHProblem, state: ParticleState):
    dim = problem.params.dim
    return (
        state.positions.numpy()[:, :dim].copy(),
        state.velocities.numpy()[:, :dim].copy(),
        state.densities.numpy().copy(),
    )


def rollout_forward(problem: SPHProblem, positions, velocities, viscosity, steps: int, dt: float):
    """Final (positions (n, dim), velocities (n, dim), densities (n,)) after ``steps`` steps of ``dt`` s, NumPy."""
    nu = _viscosity(problem, viscosity)
    state = problem.initial_state(positions, velocities, nu)
    _check_step(problem, state, nu, steps, dt)
    for _ in range(steps):
        state = _step(problem, state, dt, nu)
    return _outputs(problem, state)


def _step(problem: SPHProblem, state: ParticleState, dt: float, nu: wp.array) -> ParticleState:
    # a fixed dt, checked once at the start (VALIDATION S8), so a differentiated rollout is one function
    return wcsph.step(problem.params, state, dt, viscosity=nu, check_stability=False)


def rollout_vjp(problem: SPHProblem, positions, velocities, viscosity, steps: int, dt: float,
                positions_bar, velocities_bar, densities_bar):  # fmt: skip
    """Cotangents (positions (n, dim), velocities (n, dim), viscosity ()) of ``rollout_forward``'s
    inputs, given the cotangents of its outputs; NumPy, float64."""
    dim = problem.params.dim
    nu = _viscosity(problem, viscosity)
    state = problem.initial_state(positions, velocities, nu)
    _check_step(problem, state, nu, steps, dt)
    segment = problem.segment or max(steps, 1)
    starts = list(range(0, steps, segment)) or [0]
    checkpoints = {0: None}
    for k in range(steps):
        state = _step(problem, state, dt, nu)
        if k + 1 in starts:
            checkpoints[k + 1] = state
    device = problem.device
    adjoint = {
        "positions": wp.array(as_vec3(positions_bar), dtype=wp.vec3d, device=device),
        "velocities": wp.array(as_vec3(velocities_bar), dtype=wp.vec3d, device=device),
        "densities": wp.array(np.asarray(densities_bar, dtype=np.float64), dtype=wp.float64, device=device),
    }
    nu_bar = 0.0
    for start in reversed(starts):
        nu_k = _viscosity(problem, viscosity, requires_grad=True)
        tape = wp.Tape()
        with tape:
            if start == 0:
                first = problem.initial_state(positions, velocities, nu_k, requires_grad=True)
            else:
                first = _copy_with_gradients(checkpoints[start])
            state = first
            for _ in range(start, min(start + segment, steps)):
                state = _step(problem, state, dt, nu_k)
        tape.backward(grads={getattr(state, name): value for name, value in adjoint.items()})
        adjoint = {name: wp.clone(getattr(first, name).grad) for name in _CARRIED}
        nu_bar += float(nu_k.grad.numpy()[0])
        tape.reset()
    return (
        adjoint["positions"].numpy()[:, :dim].copy(),
        adjoint["velocities"].numpy()[:, :dim].copy(),
        np.float64(nu_bar),
    )


def _copy_with_gradients(state: ParticleState) -> ParticleState:
    return replace(state, **{name: wp.clone(getattr(state, name), requires_grad=True) for name in _CARRIED})


# --- JAX ----------------------------------------------------------------------------------


def _callback(fn, shapes, *args):
    return jax.pure_callback(fn, shapes, *args, vmap_method="sequential")


def _shapes(positions, velocities, viscosity):
    dtype = jnp.result_type(positions)
    n = jnp.shape(positions)[0]
    return (
        jax.ShapeDtypeStruct(jnp.shape(positions), dtype),
        jax.ShapeDtypeStruct(jnp.shape(velocities), dtype),
        jax.ShapeDtypeStruct((n,), dtype),
    )


def rollout(problem: SPHProblem, positions, velocities, viscosity, steps: int, dt: float):
    """WCSPH rollout from rest density, differentiable in positions, velocities and viscosity.

    Args:
        problem: fluid parameters and walls (static).
        positions, velocities: (n, dim) initial fluid positions (m) and velocities (m/s).
        viscosity: () kinematic viscosity nu (m^2/s) of the laminar term.
        steps: number of steps (static int).
        dt: fixed time step (s, static float), at most the stable step of the initial state
            (``wcsph.stable_time_step``): else InputError, raised directly on concrete inputs and
            inside a ``JaxRuntimeError`` (same message) under ``jit`` or ``grad``.

    Returns:
        (positions (n, dim), velocities (n, dim), densities (n,)) after ``steps`` steps, in the dtype of
        ``positions`` (float64 with ``jax_enable_x64``; the engine always computes in float64).
    """
    if not any(isinstance(a, jax.core.Tracer) for a in (positions, velocities, viscosity)):
        check_time_step(problem, positions, velocities, viscosity, steps, dt)
    return _rollout(problem, positions, velocities, viscosity, steps, dt)


def check_time_step(problem: SPHProblem, positions, velocities, viscosity, steps: int, dt: float) -> None:
    """Raise InputError unless 0 < dt <= the stable step of the initial state and steps >= 0."""
    nu = _viscosity(problem, viscosity)
    x, v = (np.asarray(a, dtype=np.float64) for a in (positions, velocities))
    _check_step(problem, problem.initial_state(x, v, nu), nu, steps, dt)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 4, 5))
def _rollout(problem, positions, velocities, viscosity, steps, dt):
    return _rollout_forward(problem, positions, velocities, viscosity, steps, dt)


def _rollout_forward(problem, positions, velocities, viscosity, steps, dt):
    dtype = jnp.result_type(positions)

    def run(x, v, nu):
        out = rollout_forward(problem, np.asarray(x, np.float64), np.asarray(v, np.float64), nu, steps, dt)
        return tuple(o.astype(dtype) for o in out)

    return _callback(run, _shapes(positions, velocities, viscosity), positions, velocities, viscosity)


def _rollout_fwd(problem, positions, velocities, viscosity, steps, dt):
    out = _rollout_forward(problem, positions, velocities, viscosity, steps, dt)
    return out, (positions, velocities, viscosity)


def _rollout_bwd(problem, steps, dt, residuals, cotangents):
    positions, velocities, viscosity = residuals
    dtype = jnp.result_type(positions)

    def run(x, v, nu, x_bar, v_bar, rho_bar):
        f64 = lambda a: np.asarray(a, np.float64)
        out = rollout_vjp(problem, f64(x), f64(v), nu, steps, dt, f64(x_bar), f64(v_bar), f64(rho_bar))
        return tuple(np.asarray(o, dtype) for o in out)

    shapes = (
        jax.ShapeDtypeStruct(jnp.shape(positions), dtype),
        jax.ShapeDtypeStruct(jnp.shape(velocities), dtype),
        jax.ShapeDtypeStruct(jnp.shape(viscosity), dtype),
    )
    return _callback(run, shapes, positions, velocities, viscosity, *cotangents)


_rollout.defvjp(_rollout_fwd, _rollout_bwd)
