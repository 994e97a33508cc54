"""Differentiable time steps and rollouts in JAX, on the engine's primitives.

The scheme formulas are the engine's own (``integrate.implicit_terms``, ``update``,
``explicit_update``: plain arithmetic that runs on numpy or JAX arrays); only the solves cross
into Warp, through the custom-VJP primitives of ``operators``. A rollout is a ``lax.scan`` over
segments of ``segment`` steps, each segment under ``jax.checkpoint``: the backward pass keeps one
state per segment and recomputes the steps inside it, so gradient memory grows with
n_steps / segment + segment instead of n_steps.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from learnsim.engine import integrate
from learnsim.engine.bridge.operators import Problem, internal_force, solve_implicit, solve_mass
from learnsim.engine.integrate import State

jax.tree_util.register_dataclass(State, data_fields=["u", "v", "a", "t"], meta_fields=[], drop_fields=["history"])


def initial_state(problem: Problem, u0, v0, f0, g, coefficient, density) -> State:
    """State at t = 0 with a0 = M^-1 (f0 - f_int(u0)) (heat: the temperature rate), differentiable."""
    free = jnp.asarray(problem.free)
    u0 = jnp.where(free, u0, g)
    rate = solve_mass(problem, f0 - internal_force(problem, u0, coefficient), density)
    if problem.second_order:
        return State(u=u0, v=v0 * free, a=rate, t=jnp.zeros((), dtype=u0.dtype))
    return State(u=u0, v=rate, a=jnp.zeros_like(u0), t=jnp.zeros((), dtype=u0.dtype))


def step(problem: Problem, scheme: str, dt: float, state: State, f_old, f_new, g, coefficient, density) -> State:
    """One step of ``scheme`` ("explicit" | "implicit-euler" | "newmark"); f_old, f_new: loads at t, t + dt."""
    if scheme == "explicit":
        rate = solve_mass(problem, f_old - internal_force(problem, state.u, coefficient), density)
        return integrate.explicit_update(problem, state, rate, dt)
    alpha, u_pred = integrate.implicit_terms(problem, state, dt, scheme)
    u_new = solve_implicit(problem, alpha, u_pred, f_new, g, coefficient, density)
    return integrate.update(problem, state, u_new, dt, scheme, alpha, u_pred)


def rollout(
    problem: Problem,
    scheme: str,
    dt: float,
    n_steps: int,
    state: State,
    coefficient,
    density,
    load,
    ramp,
    g,
    observe: Callable[[State], object] | None = None,
    segment: int = 25,
):
    """Advance ``state`` by ``n_steps`` steps of ``dt`` and return (final state, observations).

    Args:
        load: nodal load vector, shape like u; the load at step k is ``ramp[k] * load``.
        ramp: (n_steps + 1,) load factors at t = k dt.
        g: Dirichlet values, shape like u (only constrained dofs matter).
        observe: state -> pytree recorded after every step (stacked along a leading axis of n_steps);
            None records nothing.
        segment: steps per checkpointed segment (n_steps must be a multiple of it).
    """
    if n_steps % segment != 0:
        raise ValueError(f"n_steps = {n_steps} must be a multiple of segment = {segment}")
    ramp = jnp.asarray(ramp)
    observe = observe if observe is not None else (lambda s: ())

    def one_step(carry, k):
        new = step(problem, scheme, dt, carry, ramp[k] * load, ramp[k + 1] * load, g, coefficient, density)
        return new, observe(new)

    @jax.checkpoint
    def run_segment(carry, start):
        return jax.lax.scan(one_step, carry, start + jnp.arange(segment))

    starts = jnp.arange(0, n_steps, segment)
    final, observations = jax.lax.scan(run_segment, state, starts)
    observations = jax.tree_util.tree_map(lambda x: x.reshape(n_steps, *x.shape[2:]), observations)
    return final, observations
