"""Run an SPH scene: particles from the spec, the WCSPH or ISPH engine, frames as VTU point clouds.

Each frame is an unstructured grid of "vertex" cells, one per fluid particle, with point data
``velocity`` (m/s), ``pressure`` (Pa) and ``density`` (kg/m^3) as ``[output].fields`` asks.
With ``[output].walls = true`` the wall particles follow the fluid ones in every frame, and a
point field ``wall`` (1 on walls, 0 in the fluid) tells them apart.

Time stepping: without ``[time].dt`` every step takes the engine's stable step for the
current state; with it, every step is ``dt``, which must stay below that limit (checked on
the initial state before anything is written: an InputError; later in the run: an
EngineError). Either way the step before a frame is shortened to land on the frame's time,
``k * end / frames``. With ``[sph].gravity_ramp = T`` gravity rises as
(1 + sin(pi (min(t / T, 1) - 1/2))) / 2 times its value.
"""

from __future__ import annotations

import dataclasses
import math
import time as clock
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from learnsim.core.errors import EngineError, InputError
from learnsim.core.systems import SystemCallback
from learnsim.engine.sph import SCHEMES
from learnsim.io import FrameSeries
from learnsim.running.budget import check_memory
from learnsim.running.dynamics import Progress
from learnsim.running.models import engine_preconditioner
from learnsim.running.particles import Particles, build_particles
from learnsim.scenes.scene import Scene
from learnsim.scenes.sph_spec import WCSPH_ONLY


@dataclass
class ParticleFrame:
    """One output frame: time (s), particle positions (n, dim) in m, point data per particle."""

    time: float
    points: np.ndarray
    point_data: dict[str, np.ndarray]


@dataclass
class SPHResult:
    """What an SPH run produced.

    Attributes:
        scene: the scene run; params: the engine's parameters (``WCSPH`` or ``ISPH``).
        n_fluid, n_wall: particle counts.
        point_data: the last frame's point data (see the module docstring).
        frame_times: time (s) of each frame.
        steps: time steps taken; dt_min, dt_max: their shortest and longest (s), not counting
            the steps shortened to land on a frame.
        dt_limit: the stable step of the initial state (s).
        timings: seconds for "particles" (layout and initial state), "steps" and "output".
        frames: the frames of a run without ``out_dir`` (for :func:`write_sph_result`).
        pvd: the result.pvd written by the run, if it was given ``out_dir``.
    """

    scene: Scene
    params: object
    n_fluid: int
    n_wall: int
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    frame_times: list[float] = field(default_factory=list)
    steps: int = 0
    dt_min: float = math.inf
    dt_max: float = 0.0
    dt_limit: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    frames: list[ParticleFrame] = field(default_factory=list)
    pvd: Path | None = None

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) lines for the command line's summary table."""
        sph, s = self.scene.sph, self.scene
        rows = [
            ("scheme", f"{sph.scheme}, {sph.kernel} kernel, h = {sph.h:.4g} m"),
            ("particles", f"{self.n_fluid} fluid + {self.n_wall} wall, spacing {sph.spacing:g} m"),
        ]
        if sph.scheme == "wcsph":
            rows.append(("sound speed", f"{sph.sound_speed:.4g} m/s"))
        else:
            rows.append(("pressure solve", f"{s.solver.preconditioner} preconditioner, tol {s.solver.tol:g}"))
        fixed = "" if s.time.dt is None else f" (fixed [time].dt = {s.time.dt:g} s)"
        if self.dt_max > 0.0:
            rows.append(("time steps", f"{self.steps}, dt {self.dt_min:.3g} .. {self.dt_max:.3g} s{fixed}"))
        else:  # every step was shortened to land on a frame
            rows.append(("time steps", f"{self.steps}, each shortened to land on a frame{fixed}"))
        rows.append(("stable step at t = 0", f"{self.dt_limit:.4g} s"))
        rows.append(("frames", f"{len(self.frame_times)} up to t = {self.frame_times[-1]:g} s"))
        fluid = slice(0, self.n_fluid)
        for name, values in self.point_data.items():
            if name == "wall":
                continue
            values = values[fluid]
            magnitude = np.abs(values) if values.ndim == 1 else np.linalg.norm(values, axis=1)
            rows.append((f"max |{name}| (fluid, last frame)", f"{magnitude.max():.6g}"))
        rows.append(("time (s)", ", ".join(f"{k} {v:.2f}" for k, v in self.timings.items())))
        return rows


def engine_module(scene: Scene):
    """The engine module of the scene's scheme: :mod:`learnsim.engine.sph.wcsph` or ``.isph``."""
    return SCHEMES[scene.sph.scheme]


def make_params(scene: Scene, preconditioner=None):
    """The engine parameters (``WCSPH`` or ``ISPH``) of a checked SPH scene.

    ``preconditioner``: isph only, the engine's preconditioner (a name or a factory); None: the scene's.
    """
    sph, engine = scene.sph, engine_module(scene)
    if preconditioner is None and sph.scheme == "isph":
        preconditioner = engine_preconditioner(scene.solver.preconditioner)
    common = {
        "dim": scene.dim,
        "spacing": sph.spacing,
        "rest_density": sph.rest_density,
        "viscosity": sph.viscosity,
        "gravity": tuple(sph.gravity),
        "kernel": sph.kernel,
        "h_over_spacing": sph.h_over_spacing,
        "domain": None if sph.domain is None else (tuple(sph.domain.lower), tuple(sph.domain.upper)),
    }
    if sph.periodic is not None:
        common["periodic"] = tuple(sph.periodic)
    if sph.scheme == "wcsph":
        cls = engine.WCSPH
        extra = {key: getattr(sph, key) for key in WCSPH_ONLY}
    else:
        cls = engine.ISPH
        extra = {
            "tolerance": scene.solver.tol,
            "preconditioner": preconditioner,
        }
        if scene.solver.max_iters is not None:
            extra["max_iterations"] = scene.solver.max_iters
    try:
        return cls(**common, **extra)
    except InputError as err:  # a combination the scene checks do not cover
        raise InputError(f"{scene.source}: [sph]: {err}") from None


def run_sph(
    scene: Scene,
    device=None,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    on_system: SystemCallback | None = None,
    preconditioner=None,
    max_memory: float | None = None,
) -> SPHResult:
    """Lay out the particles of ``scene``, step them to ``[time].end`` and keep or write the frames.

    Args:
        device: Warp device of the particle arrays.
        out_dir: if given, write ``out_dir/result.pvd`` and its frames as they come (the
            folder appears only when the whole run succeeds); else keep them in
            ``SPHResult.frames``.
        progress: ``progress(step, estimated steps, time)`` after each step.
        on_system: ISPH only, called with each step's pressure system.
        preconditioner: ISPH only, see :func:`make_params`.
        max_memory: bytes the run may use (see :func:`~learnsim.running.budget.check_memory`);
            None: the memory this machine has available.

    Raises:
        InputError: more particles than ``max_memory`` holds, bad particles (see
            :func:`build_particles`) or a ``[time].dt`` above the stable step of the initial
            state; raised before anything is written.
        EngineError: a fixed ``[time].dt`` that the flow makes unstable later, or a state that
            is no longer finite.
    """
    check_memory(scene, max_memory, keep_frames=out_dir is None)
    t0 = clock.perf_counter()
    engine, params = engine_module(scene), make_params(scene, preconditioner)
    particles = build_particles(scene)
    state = _initial_state(scene, engine, params, particles, device)
    result = SPHResult(scene, params, len(particles.fluid), len(particles.walls))
    result.dt_limit = engine.stable_time_step(params, state)
    dt_fixed, end = scene.time.dt, scene.time.end
    if dt_fixed is None and math.isinf(result.dt_limit):
        raise InputError(
            f"{scene.source}: [time].dt is required here: the fluid starts at rest without forces, so the "
            f"{scene.sph.scheme} stable step is unbounded"
        )
    if dt_fixed is not None and dt_fixed > result.dt_limit:
        raise InputError(
            f"{scene.source}: [time].dt = {dt_fixed:g} s is above the stable limit {result.dt_limit:.3g} s of the "
            f"initial particles: use dt <= {result.dt_limit:.3g} s, or leave [time].dt out for the stable step"
        )
    result.timings["particles"] = clock.perf_counter() - t0

    frames = scene.output.frames
    first = _frame(scene, state, 0.0, particles)
    series = nullcontext() if out_dir is None else FrameSeries(out_dir, first.points, None, "vertex")
    output_time, t0 = 0.0, clock.perf_counter()
    with series:
        output_time += _emit(result, series, first, out_dir)
        for k in range(1, frames + 1):  # frame times one at a time: nothing in proportion to frames or steps
            target = end * k / frames
            while target - state.time > 1e-12 * end:
                state = _step(scene, engine, params, state, target, result, on_system)
                if progress is not None:
                    left = (end - state.time) * result.steps / state.time  # at the mean step so far
                    progress(result.steps, result.steps + math.ceil(min(left, 1e18) - 1e-9), state.time)
            output_time += _emit(result, series, _frame(scene, state, target, particles), out_dir)
    result.timings["steps"] = clock.perf_counter() - t0 - output_time
    result.timings["output"] = output_time
    if out_dir is not None:
        result.pvd = Path(out_dir) / "result.pvd"
    return result


def write_sph_result(result: SPHResult, out_dir: str | Path) -> Path:
    """Write the frames kept by a run without ``out_dir`` to ``out_dir/result.pvd``."""
    if not result.frames:
        raise ValueError(f"the frames of this run were written as it went, to {result.pvd}")
    with FrameSeries(out_dir, result.frames[0].points, None, "vertex") as series:
        for frame in result.frames:
            series.write_frame(frame.time, point_data=frame.point_data, points=frame.points)
    return Path(out_dir) / "result.pvd"


def _initial_state(scene: Scene, engine, params, particles: Particles, device):
    kwargs = {"velocities": particles.fluid_velocities, "wall_velocities": particles.wall_velocities}
    try:
        return engine.make_state(params, particles.fluid, particles.walls, device=device, **kwargs)
    except InputError as err:
        raise InputError(f"{scene.source}: {err}") from None


def _gravity_scale(scene: Scene, t: float) -> float:
    ramp = scene.sph.gravity_ramp
    if ramp is None:
        return 1.0
    return 0.5 * (1.0 + math.sin((min(t / ramp, 1.0) - 0.5) * math.pi))


def _step(scene: Scene, engine, params, state, target: float, result: SPHResult, on_system=None):
    """One step towards ``target`` (s), shortened to land on it; updates the counters in ``result``."""
    scale = _gravity_scale(scene, state.time)
    if scale != 1.0:
        params = dataclasses.replace(params, gravity=tuple(scale * g for g in params.gravity))
    stable = engine.stable_time_step(params, state)
    if math.isnan(stable) or (math.isinf(stable) and scene.time.dt is None):
        raise EngineError(f"t = {state.time:g} s: no finite stable time step (the particle state is not finite)")
    dt = stable if scene.time.dt is None else scene.time.dt
    if dt > stable * (1.0 + 1e-12):
        raise EngineError(
            f"t = {state.time:g} s: [time].dt = {dt:g} s is above the stable step {stable:.3g} s of the flow "
            "by now: use a smaller dt, or leave [time].dt out for the stable step"
        )
    if dt < target - state.time:
        result.dt_min, result.dt_max = min(result.dt_min, dt), max(result.dt_max, dt)
    result.steps += 1
    return engine.step(params, state, min(dt, target - state.time), on_system=on_system)


def _frame(scene: Scene, state, t: float, particles: Particles) -> ParticleFrame:
    dim, wanted = scene.dim, scene.output.fields
    arrays = {"velocity": state.velocities, "pressure": state.pressures, "density": state.densities}
    points = state.positions.numpy()[:, :dim].copy()
    data = {name: _host(arrays[name], dim) for name in wanted}
    if scene.output.walls:
        walls = {"velocity": "wall_velocities", "pressure": "wall_pressures", "density": "wall_densities"}
        n_wall = len(particles.walls)
        points = np.concatenate([points, state.wall_positions.numpy()[:, :dim]])
        for name in wanted:
            wall_values = getattr(state, walls[name])  # None where the scheme keeps none (ISPH densities)
            shape = (n_wall, dim) if name == "velocity" else (n_wall,)
            fill = scene.sph.rest_density if name == "density" else 0.0  # a scheme without wall values
            values = np.full(shape, fill) if wall_values is None else _host(wall_values, dim)
            data[name] = np.concatenate([data[name], values])
        data["wall"] = np.concatenate([np.zeros(len(particles.fluid), np.uint8), np.ones(n_wall, np.uint8)])
    if not all(np.all(np.isfinite(v)) for v in (points, *data.values())):
        raise EngineError(f"t = {t:g} s: the particle state is no longer finite")
    return ParticleFrame(t, points, data)


def _host(array, dim: int) -> np.ndarray:
    """A copy of a Warp array on the host; vec3d arrays keep their first ``dim`` components."""
    values = array.numpy()
    return (values[:, :dim] if values.ndim == 2 else values).copy()


def _emit(result: SPHResult, series, frame: ParticleFrame, out_dir) -> float:
    """Write or keep ``frame``; returns the seconds it took."""
    t0 = clock.perf_counter()
    if out_dir is None:
        result.frames.append(frame)
    else:
        series.write_frame(frame.time, point_data=frame.point_data, points=frame.points)
    result.frame_times.append(frame.time)
    result.point_data = frame.point_data
    return clock.perf_counter() - t0
