"""Run a validated :class:`Scene` with the engine, then write its results.

A static scene is one solve and one frame; a time-dependent scene (``[time]``) is a rollout
(see :mod:`learnsim.running.dynamics`) whose frames are written as they are computed; an SPH
scene (kind "sph") is run by :mod:`learnsim.running.sph` and written as particle clouds.
Everything that can be wrong with the input (a region that selects nothing, a
conductivity expression that is negative somewhere, an explicit time step above the
stability limit) is checked before anything is written, so bad input never leaves a
half-written output folder.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import warp as wp

from learnsim.core.errors import InputError
from learnsim.core.expression import Expression
from learnsim.core.mesh import Mesh, box_mesh, quadrilateral_mesh
from learnsim.core.systems import SystemCallback
from learnsim.engine.fem.assembly import (
    assemble_boundary_value,
    assemble_pressure,
    assemble_source,
)
from learnsim.engine.fem.boundary import Dirichlet, boundary_sides, make_dirichlet
from learnsim.engine.fem.discretization import Discretization, discretize
from learnsim.engine.fem.materials import LAWS, Conduction, Material
from learnsim.engine.fem.postprocess import von_mises_per_cell
from learnsim.engine.fem.statics import StaticResult, solve_linear_static, solve_nonlinear_static
from learnsim.engine.integrate import energies
from learnsim.io import FrameSeries, read_mesh
from learnsim.running.budget import check_memory
from learnsim.running.dynamics import Progress, StepStats, TimedLoad, TimeProblem, make_time_problem, simulate
from learnsim.running.models import engine_preconditioner
from learnsim.running.sph import SPHResult, run_sph, write_sph_result
from learnsim.scenes.scene import Scene


@dataclass
class Frame:
    """One output frame: time (s), point data per mesh vertex, cell data per cell (see RunResult)."""

    time: float
    point_data: dict[str, np.ndarray]
    cell_data: dict[str, np.ndarray]


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        solution: the static solution and its solves; None for a time-dependent scene.
        point_data: per mesh vertex, of the last frame: "displacement" (n_points, dim) in m,
            "velocity" (n_points, dim) in m/s, "temperature" (n_points,) in K.
        cell_data: per cell, of the last frame: "von_mises" (n_cells,) in Pa.
        timings: seconds per phase ("mesh", "assemble", "solve", "postprocess"; a
            time-dependent scene has "steps" and "output" instead of "solve" and "postprocess").
        frame_times: time (s) of each frame; [0.0] for a static scene.
        energies: elastodynamics only: (kinetic, stored) energy in J at each frame.
        stats: time-dependent scenes: steps, linear solves, CG and Newton iterations.
        dt_limit: explicit integrator only: the stability limit of the time step (s).
        frames: the frames of a time-dependent scene run without ``out_dir`` (held in memory
            for :func:`write_result`); empty when they were written as the run went.
        pvd: the result.pvd written by the run, if it was given ``out_dir``.
    """

    scene: Scene
    mesh: Mesh
    discretization: Discretization
    solution: StaticResult | None
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    cell_data: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    frame_times: list[float] = field(default_factory=lambda: [0.0])
    energies: list[tuple[float, float]] = field(default_factory=list)
    stats: StepStats | None = None
    dt_limit: float | None = None
    frames: list[Frame] = field(default_factory=list)
    pvd: Path | None = None

    @property
    def n_dofs(self) -> int:
        return self.discretization.n_dofs


def build_mesh(scene: Scene) -> Mesh:
    """The scene's mesh: read from its file or generated."""
    spec = scene.mesh
    if spec.file is not None:
        mesh = read_mesh(spec.file)
        if mesh.dim != scene.dim:
            raise InputError(f"{scene.source}: [mesh].file {spec.file} is {mesh.dim}D but [scene].dim = {scene.dim}")
        return mesh
    if spec.generator == "box":
        return box_mesh(spec.size, spec.cells, spec.element, origin=spec.origin)
    return quadrilateral_mesh(spec.corners, spec.cells, spec.element)


def run_scene(
    scene: Scene,
    device: str | None = None,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    on_system: SystemCallback | None = None,
    max_memory: float | None = None,
) -> RunResult | SPHResult:
    """Discretise, assemble and solve ``scene`` on ``device`` ("cpu", "cuda:0"; default Warp's).

    An SPH scene returns an :class:`~learnsim.running.sph.SPHResult` (see
    :func:`~learnsim.running.sph.run_sph`); the arguments mean the same.

    A static scene is one solve; a time-dependent one (with ``scene.time``) steps from its
    initial state and keeps a frame every ``scene.output.every`` steps plus the first and
    the last.

    Args:
        out_dir: if given, write ``out_dir/result.pvd`` and its frames; a time-dependent
            scene writes each frame as it is computed (nothing is held in memory), and the
            output appears only when the whole run succeeds. Without it, frames are kept in
            ``RunResult.frames`` for :func:`write_result`.
        progress: time-dependent scenes: ``progress(step, steps, time)`` after each step.
        on_system: called with every linear system the run solves (a
            :class:`~learnsim.engine.solvers.LinearSystem`: static and implicit FEM solves,
            Newton corrections, ISPH pressure equations); ``learnsim generate`` records them.
        max_memory: bytes the run may use (see :func:`~learnsim.running.budget.check_memory`);
            None: the memory this machine has available.

    Raises:
        InputError: a scene that would need more memory than ``max_memory`` (checked before the
            mesh is built, or for a mesh file right after it is read), or input that is wrong
            on the mesh (a region that selects nothing, an explicit time step above the
            stability limit, ...); raised before anything is written.
        EngineError: a solver that did not converge (or, stepping, a state that blew up).
    """
    keep_frames = out_dir is None
    if scene.kind == "sph" or scene.mesh.file is None:  # a mesh file is counted once it is read
        check_memory(scene, max_memory, keep_frames=keep_frames)
    device = resolve_device(device)
    preconditioner = engine_preconditioner(scene.solver.preconditioner)  # a learned model loads once, here
    if scene.kind == "sph":
        return run_sph(scene, device, out_dir, progress, on_system, preconditioner, max_memory=max_memory)
    timings = {}
    t0 = time.perf_counter()
    mesh = build_mesh(scene)
    if scene.mesh.file is not None:
        check_memory(scene, max_memory, keep_frames=keep_frames, mesh=mesh)
    elasticity = scene.kind == "elasticity"
    disc = discretize(mesh, scene.mesh.order, components=mesh.dim if elasticity else 1, device=device)
    timings["mesh"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    bc = _dirichlet(scene, disc)
    loads = _loads(scene, disc)
    material = _material(scene)
    coefficient = _parameters(disc, material) if elasticity else _conductivity(scene, disc)
    if scene.is_dynamic:
        problem = make_time_problem(scene, disc, bc, loads, coefficient, material, on_system, preconditioner)
        timings["assemble"] = time.perf_counter() - t0
        result = RunResult(scene=scene, mesh=mesh, discretization=disc, solution=None, timings=timings)
        return _rollout(result, problem, material, out_dir, progress)
    result = RunResult(scene=scene, mesh=mesh, discretization=disc, solution=None, timings=timings)
    result.solution = _solve_static(result, bc, loads, material, coefficient, t0, preconditioner, on_system)
    if out_dir is not None:
        result.pvd = write_result(result, out_dir)
    return result


def _solve_static(
    result: RunResult, bc, loads: list[TimedLoad], material, coefficient, t0: float, preconditioner, on_system=None
) -> StaticResult:
    """Assemble and solve the static problem (loads at their given values, ramps ignored) and fill in
    ``result``'s fields and timings; ``t0`` is when assembly started, ``preconditioner`` the engine's."""
    scene, disc, timings = result.scene, result.discretization, result.timings
    load = disc.nodal(sum(load.vector for load in loads) if loads else np.zeros(_shape(disc)))
    parameters = material.parameters(disc, coefficient)
    if material.linear:
        stiffness = material.tangent(disc, disc.zeros(), parameters)
    timings["assemble"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    solver = scene.solver
    if material.linear:
        solution = solve_linear_static(
            disc, stiffness, load, bc, preconditioner, solver.tol, solver.max_iters, on_system=on_system
        )
    else:
        solution = solve_nonlinear_static(
            disc, material, parameters, load, bc, preconditioner, solver.tol, solver.max_iters, solver.newton_tol,
            solver.newton_max_iters, solver.load_steps, on_system=on_system,
        )  # fmt: skip
    timings["solve"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    result.point_data, result.cell_data = _frame_data(scene, disc, material, solution.u, history=solution.history)
    timings["postprocess"] = time.perf_counter() - t0
    return solution


def write_result(result: RunResult | SPHResult, out_dir: str | Path) -> Path:
    """Write ``out_dir/result.pvd`` and its frames (a static solve is one frame at t = 0).

    Raises:
        ValueError: a time-dependent result whose frames were written during the run (and
            not kept): its output is ``result.pvd``.
    """
    if isinstance(result, SPHResult):
        return write_sph_result(result, out_dir)
    out_dir = Path(out_dir)
    if result.scene.is_dynamic and not result.frames:
        raise ValueError(f"the frames of this run were written as it went, to {result.pvd}")
    frames = result.frames or [Frame(0.0, result.point_data, result.cell_data)]
    with FrameSeries(out_dir, result.mesh.points, result.mesh.cells, result.mesh.element) as series:
        for frame in frames:
            series.write_frame(frame.time, point_data=frame.point_data, cell_data=frame.cell_data)
    return out_dir / "result.pvd"


def _rollout(
    result: RunResult,
    problem: TimeProblem,
    material: Material,
    out_dir: str | Path | None,
    progress: Progress | None,
) -> RunResult:
    """Step ``problem``, turning each output state into a frame: written to ``out_dir`` as it
    comes, or kept in ``result.frames``."""
    scene, disc, mesh = result.scene, result.discretization, result.mesh
    result.stats, result.dt_limit, result.frame_times = StepStats(), problem.dt_limit, []
    elasticity = scene.kind == "elasticity"
    series = nullcontext() if out_dir is None else FrameSeries(out_dir, mesh.points, mesh.cells, mesh.element)
    output_time = 0.0
    t0 = time.perf_counter()
    with series:
        for _, t, state in simulate(problem, progress, result.stats):
            t1 = time.perf_counter()
            frame = Frame(t, *_frame_data(scene, disc, material, state.u, state.v, state.history))
            if elasticity:
                result.energies.append(energies(problem.body, state))
            if out_dir is None:
                result.frames.append(frame)
            else:
                series.write_frame(frame.time, point_data=frame.point_data, cell_data=frame.cell_data)
            result.frame_times.append(t)
            result.point_data, result.cell_data = frame.point_data, frame.cell_data
            output_time += time.perf_counter() - t1
    result.timings["steps"] = time.perf_counter() - t0 - output_time
    result.timings["output"] = output_time
    if out_dir is not None:
        result.pvd = Path(out_dir) / "result.pvd"
    return result


def _frame_data(
    scene: Scene, disc: Discretization, material, u: np.ndarray, v: np.ndarray | None = None, history=None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(point data, cell data) of the wanted output fields for nodal values u (and rate v); a law with
    history (J2) also writes its internal variables per cell (the equivalent plastic strain)."""
    # The first mesh.n_points nodes of a Lagrange space are the mesh vertices (checked in tests),
    # so vertex values are the leading rows; higher-order nodes are not written.
    n_points = disc.mesh.n_points
    wanted = scene.output.fields
    point_data, cell_data = {}, {}
    if scene.kind == "diffusion":
        if "temperature" in wanted:
            point_data["temperature"] = u[:n_points]
        return point_data, cell_data
    if "displacement" in wanted:
        point_data["displacement"] = u[:n_points]
    if "velocity" in wanted and v is not None:
        point_data["velocity"] = v[:n_points]
    if "von_mises" in wanted:
        cell_data["von_mises"] = von_mises_per_cell(disc, u, material, history=history)
    for name, values in material.internal_variables(disc, history).items():
        cell_data[name] = disc.cell_average(values)
    return point_data, cell_data


# --- scene -> engine inputs -------------------------------------------------------------


def resolve_device(device: str | None):
    """The Warp device named ``device`` ("cpu", "cuda:0"; None: Warp's default); InputError if absent."""
    try:
        return wp.get_device(device)
    except (RuntimeError, ValueError) as err:
        available = ", ".join(str(d) for d in wp.get_devices())
        raise InputError(f"--device {device}: not available ({err}); available: {available}") from None


def _material(scene: Scene) -> Material:
    """The scene's law, from the keys of ``[material]`` it takes (the scene checks allowed no others)."""
    if scene.kind == "diffusion":
        return Conduction()  # the conductivity varies in space: given per point (see _conductivity)
    law = LAWS[scene.material.model]
    spec = scene.material
    values = {f.name: getattr(spec, f.name) for f in fields(law) if f.init and getattr(spec, f.name, None) is not None}
    return law(**values)


def _parameters(disc: Discretization, material: Material) -> np.ndarray:
    """The material's parameters at every quadrature point, (n_qp, ...).

    Spelled out per point: ``Discretization.per_point`` would read a constant pair as one
    value per cell on a mesh of exactly two cells.
    """
    values = np.asarray(material.point_parameters(disc.dim), dtype=np.float64)
    return np.tile(values, (disc.quadrature_points.shape[0], *([1] * values.ndim)))


def _conductivity(scene: Scene, disc: Discretization):
    k = scene.material.conductivity
    if not isinstance(k, Expression):
        return float(k)
    values = np.asarray(k.evaluate(disc.quadrature_points), dtype=np.float64)
    bad = ~np.isfinite(values) | (values <= 0.0)
    if bad.any():
        x = disc.quadrature_points[np.argmax(bad)]
        raise InputError(
            f'{scene.source}: [material].conductivity = "{k.source}" is {values[np.argmax(bad)]:g} at '
            f"{np.array2string(x, precision=4)}; it must be positive and finite everywhere"
        )
    return values


def _bounding_box(disc: Discretization) -> str:
    lo, hi = disc.mesh.points.min(axis=0), disc.mesh.points.max(axis=0)
    return f"mesh bounding box {np.array2string(lo, precision=4)} to {np.array2string(hi, precision=4)}"


def _dirichlet(scene: Scene, disc: Discretization) -> Dirichlet:
    constraints = []
    for i, bc in enumerate(scene.bcs):
        mask = bc.region.select(disc.node_positions)
        if not mask.any():
            raise InputError(
                f'{scene.source}: [[bc]][{i}].region = "{bc.region.source}" selects no node ({_bounding_box(disc)})'
            )
        if disc.components == 1:
            constraints.append((mask, None, np.array([bc.value or 0.0])))
        else:
            value = np.zeros(disc.components)
            value[list(bc.components)] = bc.value
            constraints.append((mask, bc.components, value))
    return make_dirichlet(disc, constraints)


def _shape(disc: Discretization) -> tuple[int, ...]:
    return (disc.n_nodes,) if disc.components == 1 else (disc.n_nodes, disc.components)


def _loads(scene: Scene, disc: Discretization) -> list[TimedLoad]:
    """Each load assembled at its given value, with its ramp (a static solve sums them)."""
    loads = []
    for i, load in enumerate(scene.loads):
        where = f"{scene.source}: [[load]][{i}].region"
        if load.type in ("body", "gravity"):
            value = load.value
            if load.type == "gravity":  # an acceleration: force per volume rho g
                value = tuple(scene.material.density * g for g in load.value)
            values = np.broadcast_to(np.asarray(value, dtype=np.float64), (disc.components,))
            per_point = np.tile(values, (disc.quadrature_points.shape[0], 1))
            if load.region is not None:
                inside = load.region.select(disc.quadrature_points)
                if not inside.any():
                    raise InputError(
                        f'{where} = "{load.region.source}" selects no part of the mesh ({_bounding_box(disc)})'
                    )
                per_point[~inside] = 0.0
            vector = assemble_source(disc, per_point)
        else:
            sides, count = boundary_sides(disc, load.region.select)
            if count == 0:
                raise InputError(f'{where} = "{load.region.source}" selects no boundary side ({_bounding_box(disc)})')
            if load.type == "pressure":
                vector = assemble_pressure(disc, sides, load.value)
            else:
                vector = assemble_boundary_value(disc, sides, load.value)
        loads.append(TimedLoad(vector.numpy().reshape(_shape(disc)), load.ramp, load.ramp_time))
    return loads
