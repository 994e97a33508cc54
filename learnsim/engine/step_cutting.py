"""Implicit time steps that cut themselves in half when Newton fails.

A step that Newton cannot solve (no acceptable line-search step, no convergence, a linear solve
that fails) is often solvable in two: the predictor lands closer to the solution and the
inertia term ``alpha M`` (which grows as 1/dt^2) makes the tangent better conditioned, or
positive definite again past a limit point. The halves are taken with the loads at their own
times, so a nonlinear ramp is followed exactly, and are cut again, down to ``dt / 2**max_cuts``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from learnsim.core.errors import EngineError
from learnsim.core.systems import SystemCallback
from learnsim.engine.integrate import Body, State, step
from learnsim.engine.solvers.newton import NewtonReport

MAX_CUTS = 4
"""Default depth of halving: the smallest sub-step is dt / 16."""


def step_with_cuts(
    body: Body,
    state: State,
    t: float,
    dt: float,
    scheme: str,
    load: Callable[[float], np.ndarray],
    max_cuts: int = MAX_CUTS,
    dt_limit: float | None = None,
    report: NewtonReport | None = None,
    on_system: SystemCallback | None = None,
) -> tuple[State, int]:
    """Advance ``state`` from time ``t`` (s) by ``dt`` with :func:`~learnsim.engine.integrate.step`,
    halving the step recursively when it raises EngineError (implicit schemes only).

    ``load(t)`` is the external load at time t, shaped like ``state.u``. ``report`` collects the
    Newton iterations and solves of every attempt, failed ones included (they are work done).

    Returns:
        (the state at t + dt, how many steps were cut in two).

    Raises:
        EngineError: the step still fails at ``dt / 2**max_cuts``: the error of that sub-step, with
            its size and time added; explicit steps and InputError are never cut.
    """
    try:
        return step(body, state, dt, scheme, load(t), load(t + dt), dt_limit, report, on_system), 0
    except EngineError as err:
        if scheme == "explicit":
            raise
        if max_cuts == 0:
            raise EngineError(f"{err}; the step cut down to dt = {dt:.4g} s still fails (at t = {t:.6g} s)") from err
    half = 0.5 * dt
    middle, cuts_first = step_with_cuts(body, state, t, half, scheme, load, max_cuts - 1, dt_limit, report, on_system)
    end, cuts_second = step_with_cuts(body, middle, t + half, half, scheme, load, max_cuts - 1, dt_limit, report,
                                      on_system)  # fmt: skip
    return end, 1 + cuts_first + cuts_second
