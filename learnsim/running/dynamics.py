"""Time-dependent scenes: from a checked :class:`Scene` to a :class:`TimeProblem`, and its rollout.

``make_time_problem`` turns the scene's material, loads, ``[time]`` and ``[initial]`` into
engine values (a :class:`~learnsim.engine.integrate.Body`, the load vectors with their
ramps, the initial :class:`~learnsim.engine.integrate.State`) and checks what can only be
checked on the mesh: a finite initial field, and for the explicit integrator a time step
below the stability limit. ``simulate`` then steps and yields the states to output. Neither
prints nor writes: progress goes to a callback, frames to the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from learnsim.core.errors import EngineError, InputError
from learnsim.core.expression import Expression
from learnsim.core.systems import SystemCallback
from learnsim.engine.fem.boundary import Dirichlet
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.materials import Material
from learnsim.engine.integrate import Body, State, implicit_alpha, initial_state, make_body, stable_time_step
from learnsim.engine.solvers.newton import NewtonReport
from learnsim.engine.step_cutting import step_with_cuts
from learnsim.running.models import engine_preconditioner
from learnsim.scenes.scene import Scene

Progress = Callable[[int, int, float], None]
"""progress(step, steps, time in s), called after each step."""


@dataclass(frozen=True, eq=False)
class TimedLoad:
    """One load: its vector assembled once at the value given in the scene, and its ramp.

    Attributes:
        vector: nodal load, (n_nodes,) or (n_nodes, dim): N for forces, W for heat.
        ramp: "constant" | "linear" | "smooth" | "sine" (see :func:`ramp_factor`).
        ramp_time: s; None for "constant".
    """

    vector: np.ndarray
    ramp: str = "constant"
    ramp_time: float | None = None

    def at(self, t: float) -> np.ndarray:
        return ramp_factor(self.ramp, self.ramp_time, t) * self.vector


def ramp_factor(ramp: str, ramp_time: float | None, t: float) -> float:
    """Scale of a load at time ``t`` (s): 1, min(t/T, 1), smoothstep(min(t/T, 1)) or sin(2 pi t/T)."""
    if ramp == "constant":
        return 1.0
    if ramp == "sine":
        return math.sin(2.0 * math.pi * t / ramp_time)
    s = min(max(t / ramp_time, 0.0), 1.0)
    if ramp == "linear":
        return s
    if ramp == "smooth":
        return s * s * (3.0 - 2.0 * s)
    raise ValueError(f"unknown ramp {ramp!r}")


def external_load(loads: Sequence[TimedLoad], t: float, like: np.ndarray) -> np.ndarray:
    """Sum of the loads at time ``t``, an array shaped like ``like``."""
    total = np.zeros_like(like)
    for load in loads:
        total += load.at(t)
    return total


@dataclass(frozen=True, eq=False)
class TimeProblem:
    """Everything a rollout needs.

    Attributes:
        body: the engine's fixed data (discretisation, coefficients, mass, Dirichlet values).
        loads: external loads with their ramps.
        initial: the state at t = 0.
        dt: time step (s); steps: number of steps; every: output every ``every`` steps.
        integrator: "explicit" | "implicit-euler" | "newmark".
        dt_limit: explicit only: the estimated stability limit (s); None otherwise.
        on_system: called with every linear system a step solves, or None.
    """

    body: Body
    loads: tuple[TimedLoad, ...]
    initial: State
    dt: float
    steps: int
    every: int
    integrator: str
    dt_limit: float | None = None
    on_system: SystemCallback | None = None

    def is_output_step(self, k: int) -> bool:
        """Whether step ``k`` is written: 0, every, 2 every, ..., and the last."""
        return k % self.every == 0 or k == self.steps  # tested per step: no set of frame indices is built


@dataclass
class StepStats:
    """Work done by a rollout: steps taken, linear solves and their CG iterations, Newton iterations.

    Attributes (besides the counts their names say):
        indefinite_solves: solver name -> how many solves PCG broke down on (non-positive curvature,
            an indefinite tangent) and that solver finished (see ``SolveResult.solver``).
        step_cuts: how many steps were cut in two after Newton failed (see
            :func:`~learnsim.engine.step_cutting.step_with_cuts`).
    """

    steps: int = 0
    linear_solves: int = 0
    linear_iterations: int = 0
    newton_iterations: int = 0
    max_newton_iterations: int = 0
    indefinite_solves: dict[str, int] = field(default_factory=dict)
    step_cuts: int = 0

    def add(self, report: NewtonReport, nonlinear: bool, cuts: int = 0) -> None:
        self.steps += 1
        self.step_cuts += cuts
        self.linear_solves += len(report.solves)
        self.linear_iterations += sum(s.iterations for s in report.solves)
        for solve in report.solves:
            if solve.breakdown is not None:
                self.indefinite_solves[solve.solver] = self.indefinite_solves.get(solve.solver, 0) + 1
        if nonlinear:
            self.newton_iterations += len(report.solves)
            self.max_newton_iterations = max(self.max_newton_iterations, len(report.solves))


def make_time_problem(
    scene: Scene,
    disc: Discretization,
    bc: Dirichlet,
    loads: Sequence[TimedLoad],
    coefficient,
    material: Material,
    on_system: SystemCallback | None = None,
    preconditioner=None,
) -> TimeProblem:
    """The rollout of a time-dependent ``scene``, checked before anything runs.

    Args:
        disc, bc: the scene's discretisation and Dirichlet values.
        loads: the scene's loads, assembled (at their given values) in the scene's order.
        coefficient: the material's parameters (e.g. (lambda, mu) in Pa, or the conductivity in
            W/m/K): a constant or per quadrature point.
        material: the law (:class:`~learnsim.engine.fem.materials.Conduction` for diffusion).
        on_system: called with every linear system the rollout solves (kept in the problem).
        preconditioner: the engine's preconditioner (a name or a factory); None: the scene's.

    Raises:
        InputError: an initial field that is not finite at some node, or an explicit time
            step above the stability limit (the message gives the limit).
    """
    time, solver = scene.time, scene.solver
    elasticity = scene.kind == "elasticity"
    density = scene.material.density if elasticity else scene.material.heat_capacity
    if preconditioner is None:
        preconditioner = engine_preconditioner(solver.preconditioner)
    body = make_body(
        disc, material, density, bc, time.mass, parameters=coefficient, preconditioner=preconditioner, tol=solver.tol,
        max_iters=solver.max_iters, newton_tol=solver.newton_tol, newton_max_iters=solver.newton_max_iters,
    )  # fmt: skip
    dt_limit = None
    if time.integrator != "explicit":
        try:  # a step whose 1/dt^2 overflows: refused now, naming the file, not at the first step
            implicit_alpha(body.second_order, time.dt, time.integrator)
        except InputError as err:
            raise InputError(f"{scene.source}: {err}") from None
    if time.integrator == "explicit":
        dt_limit = stable_time_step(body)
        if time.dt > dt_limit:
            raise InputError(
                f"{scene.source}: [time].dt = {time.dt:g} s is above the explicit stability limit {dt_limit:.3g} s "
                f"({time.mass} mass, {disc.n_dofs} dofs): use dt <= {dt_limit:.3g} s or "
                'integrator = "newmark" (unconditionally stable)'
            )
    u0, v0 = _initial_fields(scene, disc)
    loads = tuple(loads)
    state = initial_state(body, u0, v0, external_load(loads, 0.0, u0), t0=0.0, on_system=on_system)
    return TimeProblem(
        body, loads, state, time.dt, time.steps, scene.output.every, time.integrator, dt_limit, on_system
    )


def simulate(
    problem: TimeProblem, progress: Progress | None = None, stats: StepStats | None = None
) -> Iterator[tuple[int, float, State]]:
    """Step ``problem`` and yield ``(step, time in s, state)`` for each output step.

    The first yield is the initial state (step 0), the last the final one. Times are
    ``step * dt``, exact multiples rather than sums of steps. ``stats`` (if given) is
    updated as the rollout goes.

    An implicit step that Newton cannot solve is cut in halves, down to dt / 16
    (:func:`~learnsim.engine.step_cutting.step_with_cuts`, loads at the sub-steps' own times).

    Raises:
        EngineError: a step that still fails at dt / 16 (a solve or a Newton iteration that does
            not converge), or a state that is no longer finite (an unstable explicit step); the
            message starts with the step and its time.
    """
    body, dt = problem.body, problem.dt
    nonlinear = not body.material.linear
    state = problem.initial
    yield 0, 0.0, state
    like = state.u

    def load(time: float) -> np.ndarray:
        return external_load(problem.loads, time, like)

    for k in range(1, problem.steps + 1):
        t = k * dt
        report = NewtonReport()
        try:
            state, cuts = step_with_cuts(
                body, state, (k - 1) * dt, dt, problem.integrator, load, dt_limit=problem.dt_limit, report=report,
                on_system=problem.on_system,
            )  # fmt: skip
        except EngineError as err:
            raise EngineError(f"step {k} (t = {t:g} s): {err}") from err
        if not (np.all(np.isfinite(state.u)) and np.all(np.isfinite(state.v))):
            raise EngineError(
                f"step {k} (t = {t:g} s): the state is no longer finite; {problem.integrator} is unstable at "
                f"dt = {dt:g} s" + ("" if problem.dt_limit is None else f" (estimated limit {problem.dt_limit:.3g} s)")
            )
        if stats is not None:
            stats.add(report, nonlinear, cuts)
        if progress is not None:
            progress(k, problem.steps, t)
        if problem.is_output_step(k):
            yield k, t, state


def initial_value(scene: Scene, key: str, value: float | Expression, points: np.ndarray) -> np.ndarray:
    """A checked [initial] entry (a number or a formula) at ``points`` (n, dim), shape (n,).

    Raises:
        InputError: a formula that is not finite at some point.
    """
    if not isinstance(value, Expression):
        return np.full(points.shape[0], float(value))
    values = np.asarray(value.evaluate(points), dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f'{scene.source}: [initial].{key} = "{value.source}" is {values[i]:g} at '
            f"{np.array2string(points[i], precision=4)}; it must be finite at every node"
        )
    return values


def _initial_fields(scene: Scene, disc: Discretization) -> tuple[np.ndarray, np.ndarray]:
    """(u0, v0) at the nodes from ``scene.initial``: zeros where nothing is given."""
    x = disc.node_positions
    shape = (disc.n_nodes,) if disc.components == 1 else (disc.n_nodes, disc.components)
    u0, v0 = np.zeros(shape), np.zeros(shape)
    initial = scene.initial
    if scene.kind == "diffusion":
        if initial.temperature is not None:
            u0[:] = initial_value(scene, "temperature", initial.temperature, x)
        return u0, v0
    for key, target in (("displacement", u0), ("velocity", v0)):
        components = getattr(initial, key)
        if components is None:
            continue
        for j, value in enumerate(components):
            target[:, j] = initial_value(scene, key, value, x)
    return u0, v0
