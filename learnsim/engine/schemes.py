"""The arithmetic of the time-stepping schemes: the state, the implicit equation's terms, the updates.

Every implicit scheme solves R(u) = alpha M (u - u_pred) + f_int(u) - f = 0 (see
:mod:`learnsim.engine.integrate`, which re-exports these names); this module gives ``alpha`` and
``u_pred`` from the previous state and the new rates from the solution. The functions are plain
arithmetic on the body's ``second_order`` and ``free`` attributes, so the same code advances numpy
states in the engine and JAX states in the bridge.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from learnsim.core.errors import InputError
from learnsim.engine.numerics import HUGE


@dataclass(frozen=True)
class State:
    """u: displacement (m) or temperature (K); v: its rate; a: acceleration (zero for diffusion); t: time (s)."""

    u: np.ndarray
    v: np.ndarray
    a: np.ndarray
    t: float = 0.0
    history: object = None
    """The material's internal variables per point (laws with history, e.g. J2), consistent with u."""


def implicit_alpha(second_order: bool, dt: float, scheme: str) -> float:
    """``alpha`` of the implicit equation: 1/dt^2 (implicit Euler) or 4/dt^2 (Newmark) for
    elastodynamics, 1/dt or 2/dt (Crank-Nicolson) for heat.

    Raises:
        InputError: ``dt`` so small that alpha overflows double precision (about 1.5e-154 s for
            elastodynamics, 1e-308 s for heat), naming [time].dt and the smallest step allowed.
    """
    c = 1.0 if scheme == "implicit-euler" else (4.0 if second_order else 2.0)
    if not isinstance(dt, numbers.Real):  # a traced value in the bridge: no check
        return c / dt**2 if second_order else c / dt
    power = 2 if second_order else 1
    scaled = dt**power  # underflows to 0.0 for dt below about 1.5e-162 s (second order)
    alpha = c / scaled if scaled != 0.0 else math.inf
    if not math.isfinite(alpha):
        smallest = math.sqrt(c / HUGE) if second_order else c / HUGE
        formula = f"{c:g}/dt^2" if second_order else f"{c:g}/dt"
        raise InputError(
            f"[time].dt = {dt:g} s is too small for the {scheme} integrator: {formula} overflows double "
            f"precision (dt must be at least {smallest:.2g} s)"
        )
    return alpha


def implicit_terms(body, state: State, dt: float, scheme: str) -> tuple[float, np.ndarray]:
    """(alpha, u_pred) of R(u) = alpha M (u - u_pred) + f_int(u) - f for ``scheme``."""
    u, v, a = state.u, state.v, state.a
    alpha = implicit_alpha(body.second_order, dt, scheme)
    if body.second_order:
        if scheme == "implicit-euler":
            return alpha, u + dt * v
        return alpha, u + dt * v + 0.25 * dt**2 * a
    if scheme == "implicit-euler":
        return alpha, u
    return alpha, u + 0.5 * dt * v


def update(body, state: State, u_new: np.ndarray, dt: float, scheme: str, alpha: float, u_pred) -> State:
    """New rates from the solved u (Dirichlet dofs keep zero rates)."""
    free = body.free
    if body.second_order:
        if scheme == "implicit-euler":
            v_new = (u_new - state.u) / dt
            a_new = (v_new - state.v) / dt
        else:
            a_new = alpha * (u_new - u_pred)
            v_new = state.v + 0.5 * dt * (state.a + a_new)
        return State(u=u_new, v=v_new * free, a=a_new * free, t=state.t + dt)
    v_new = alpha * (u_new - u_pred) if scheme == "newmark" else (u_new - state.u) / dt
    return State(u=u_new, v=v_new * free, a=state.a, t=state.t + dt)


def explicit_update(body, state: State, rate, dt: float) -> State:
    """Symplectic Euler from the rate M^-1 (f - f_int(u)): velocity first, then position.

    Plain arithmetic, so the same code advances numpy states here and JAX states in the bridge.
    """
    free = body.free
    if body.second_order:
        v_new = (state.v + dt * rate) * free
        return State(u=state.u + dt * v_new, v=v_new, a=rate * free, t=state.t + dt)
    return State(u=state.u + dt * rate * free, v=rate * free, a=state.a, t=state.t + dt)
