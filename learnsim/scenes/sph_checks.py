"""Checks and normalisation of the parts of an SPH scene: [sph], [[fluid]], [[wall]], and its [time],
[solver] and [output].

Every check raises the same one-line :class:`~learnsim.core.errors.InputError` as the FEM parts
(``SOURCE: [table].key = VALUE problem``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from learnsim.engine.sph.kernels import KERNEL_IDS, support_radius
from learnsim.scenes.checker import Checker, format_value
from learnsim.scenes.checks import check_field_names, check_solver, field_value
from learnsim.scenes.specs import FIELDS, OutputSpec, SceneInfo, SolverSpec, TimeSpec
from learnsim.scenes.sph_spec import SCHEMES, WALL_KINDS, WCSPH_ONLY, Box, FluidSpec, SPHSpec, WallSpec

_WCSPH_DEFAULTS = {"gamma": 7.0, "artificial_viscosity": 0.0, "density_diffusion": 0.1}


def check_sph(c: Checker, info: SceneInfo, sph: SPHSpec | None, fluids, walls) -> dict[str, Any]:
    """Check [sph], [[fluid]] and [[wall]]; return the normalised ``sph``, ``fluids``, ``walls``."""
    dim = info.dim
    if sph is None:
        c.fail("[sph]", 'is missing (kind = "sph" needs at least [sph].spacing)')
    if not fluids:
        c.fail("[[fluid]]", "is missing: an SPH scene needs at least one block of fluid")
    scheme = c.choice("[sph].scheme", sph.scheme, SCHEMES)
    spacing = c.positive("[sph].spacing", c.required("[sph].spacing", sph.spacing, "(the particle spacing, m)"))
    values = {
        "rest_density": c.positive("[sph].rest_density", sph.rest_density),
        "viscosity": c.non_negative("[sph].viscosity", sph.viscosity),
        "kernel": c.choice("[sph].kernel", sph.kernel, tuple(KERNEL_IDS)),
        "h_over_spacing": c.positive("[sph].h_over_spacing", sph.h_over_spacing),
    }
    gravity = (0.0, -9.81, 0.0)[:dim] if sph.gravity is None else sph.gravity
    gravity = c.numbers("[sph].gravity", gravity, dim, "an acceleration, one per axis")
    ramp = None if sph.gravity_ramp is None else c.positive("[sph].gravity_ramp", sph.gravity_ramp)
    domain = None if sph.domain is None else _box(c, "[sph].domain", sph.domain, dim, spacing)
    periodic = _periodic(c, sph.periodic, dim, domain)
    checked = replace(
        sph, scheme=scheme, spacing=spacing, gravity=gravity, gravity_ramp=ramp, domain=domain, periodic=periodic,
        **values,
    )  # fmt: skip
    fluids = tuple(_check_fluid(c, info, spacing, i, f) for i, f in enumerate(fluids))
    walls = tuple(_check_wall(c, dim, checked, i, w) for i, w in enumerate(walls))
    if periodic is not None and scheme == "isph":
        c.fail("[sph].periodic", 'is only supported with scheme = "wcsph"', sph.periodic)
    if periodic is not None:
        radius = support_radius(checked.kernel, checked.h)
        for axis, flag in enumerate(periodic):
            length = domain.upper[axis] - domain.lower[axis]
            if flag and length < 2.0 * radius:
                c.fail(
                    "[sph].domain",
                    f"is {length:g} m long along periodic axis {'xyz'[axis]}, below two kernel supports "
                    f"({2.0 * radius:g} m)",
                    {"lower": list(domain.lower), "upper": list(domain.upper)},
                )
    checked = _scheme_keys(c, checked, fluids)
    return {"sph": checked, "fluids": fluids, "walls": walls}


def _scheme_keys(c: Checker, sph: SPHSpec, fluids: tuple[FluidSpec, ...]) -> SPHSpec:
    """Reject the wcsph-only keys under isph; fill in the wcsph defaults (sound speed from the fluid height)."""
    if sph.scheme == "isph":
        for key in WCSPH_ONLY:
            if getattr(sph, key) is not None:
                c.fail(f"[sph].{key}", 'is only used with scheme = "wcsph"', getattr(sph, key))
        return sph
    values = {}
    for key, default in _WCSPH_DEFAULTS.items():
        value = getattr(sph, key)
        values[key] = default if value is None else c.non_negative(f"[sph].{key}", value)
    if values["gamma"] < 1.0:
        c.fail("[sph].gamma", "must be at least 1", sph.gamma)
    if sph.sound_speed is not None:
        values["sound_speed"] = c.positive("[sph].sound_speed", sph.sound_speed)
    else:
        g = float(np.linalg.norm(sph.gravity))
        if g == 0.0:
            c.fail("[sph].sound_speed", "is required when [sph].gravity is zero (about 10 x the fastest flow, m/s)")
        up = -np.asarray(sph.gravity) / g
        heights = [float(np.dot(corner, up)) for f in fluids for corner in (f.box.lower, f.box.upper)]
        height = max(max(heights) - min(heights), sph.spacing)
        values["sound_speed"] = 10.0 * math.sqrt(2.0 * g * height)
    return replace(sph, **values)


def _box(c: Checker, key: str, value: Any, dim: int, spacing: float) -> Box:
    """A checked Box from a Box or a {lower, upper} table; every extent at least one spacing."""
    if isinstance(value, Box):
        value = {"lower": value.lower, "upper": value.upper}
    if not isinstance(value, dict) or set(value) != {"lower", "upper"}:
        c.fail(key, ": expected a table {lower = [...], upper = [...]}", value)
    lower = c.numbers(f"{key}.lower", value["lower"], dim, "the lower corner, one per axis")
    upper = c.numbers(f"{key}.upper", value["upper"], dim, "the upper corner, one per axis")
    for axis in range(dim):
        extent = upper[axis] - lower[axis]
        if extent <= 0.0:
            c.fail(key, f"must have upper > lower along {'xyz'[axis]}", value)
        if extent < spacing * (1.0 - 1e-9):
            c.fail(
                key,
                f"is {extent:g} m along {'xyz'[axis]}, less than [sph].spacing = {format_value(spacing)} m "
                "(no particle fits)",
                value,
            )
    return Box(lower, upper)


def _periodic(c: Checker, value: Any, dim: int, domain: Box | None) -> tuple[bool, ...] | None:
    if value is None:
        return None
    items = c.sequence("[sph].periodic", value, "true/false flags")
    if len(items) != dim or not all(isinstance(v, bool) for v in items):
        c.fail("[sph].periodic", f": expected {dim} true/false flags (one per axis)", value)
    if domain is None and any(items):
        c.fail("[sph].periodic", "needs [sph].domain (the periodic box)", value)
    return tuple(items) if any(items) else None


def _check_fluid(c: Checker, info: SceneInfo, spacing: float, i: int, fluid: FluidSpec) -> FluidSpec:
    dim = info.dim
    key = f"[[fluid]][{i}]"
    box = _box(c, f"{key}.box", c.required(f"{key}.box", fluid.box, "(where the fluid is)"), dim, spacing)
    region = None if fluid.region is None else c.expression(f"{key}.region", fluid.region)
    velocity = None
    if fluid.velocity is not None:
        items = c.sequence(f"{key}.velocity", fluid.velocity, "numbers or formulas")
        if len(items) != dim:
            c.fail(f"{key}.velocity", f": expected {dim} numbers or formulas (one per axis)", fluid.velocity)
        velocity = tuple(field_value(c, info, f"{key}.velocity", v, whole=fluid.velocity) for v in items)
    return replace(fluid, box=box, region=region, velocity=velocity)


def _check_wall(c: Checker, dim: int, sph: SPHSpec, i: int, wall: WallSpec) -> WallSpec:
    key = f"[[wall]][{i}]"
    kind = c.choice(f"{key}.kind", wall.kind, WALL_KINDS)
    box = _box(c, f"{key}.box", c.required(f"{key}.box", wall.box, "(where the wall is)"), dim, sph.spacing)
    layers = wall.layers
    if kind == "block" and layers is not None:
        c.fail(f"{key}.layers", 'is only used with kind = "tank" (a block fills its box)', layers)
    if kind == "tank":
        layers = sph.wall_layers if layers is None else c.integer(f"{key}.layers", layers)
    velocity = None if wall.velocity is None else c.numbers(f"{key}.velocity", wall.velocity, dim, "m/s, one per axis")
    return replace(wall, kind=kind, box=box, layers=layers, velocity=velocity)


def check_sph_time(c: Checker, time: TimeSpec | None) -> TimeSpec:
    if time is None:
        c.fail("[time]", 'is missing (kind = "sph" needs [time].end, s)')
    for key, hint in (("steps", "give end; the step adapts to the flow"), ("integrator", "SPH steps kick-drift-kick"),
                      ("mass", "SPH has particle masses")):  # fmt: skip
        if getattr(time, key) is not None:
            c.fail(f"[time].{key}", f'is not used by kind = "sph" ({hint})', getattr(time, key))
    end = c.positive("[time].end", c.required("[time].end", time.end, "(the end time, s)"))
    dt = None if time.dt is None else c.positive("[time].dt", time.dt)
    if dt is not None and dt > end:
        c.fail("[time].dt", f"is longer than [time].end = {format_value(end)} s", dt)
    return replace(time, dt=dt, end=end)


def check_sph_solver(c: Checker, scheme: str, solver: SolverSpec) -> SolverSpec:
    """isph: the pressure solve ("ic0" preconditioner by default, or learned:PATH); wcsph has no solve."""
    default = SolverSpec()
    unused = ("newton_tol", "newton_max_iters", "load_steps")
    if scheme == "wcsph":
        unused = ("preconditioner", "tol", "max_iters", *unused)
    for key in unused:
        if getattr(solver, key) != getattr(default, key):
            where = 'is only used with [sph].scheme = "isph"' if scheme == "wcsph" else 'is not used by kind = "sph"'
            c.fail(f"[solver].{key}", where, getattr(solver, key))
    if scheme == "wcsph":
        return solver
    return check_solver(c, solver, default="ic0")


def check_sph_output(c: Checker, info: SceneInfo, output: OutputSpec) -> OutputSpec:
    if output.every is not None:
        c.fail("[output].every", 'is not used by kind = "sph" (use frames: how many after the first)', output.every)
    fields = check_field_names(c, "sph", output.fields)
    frames = 20 if output.frames is None else c.integer("[output].frames", output.frames)
    walls = False if output.walls is None else output.walls
    if not isinstance(walls, bool):
        c.fail("[output].walls", ": expected true or false", walls)
    return replace(output, fields=tuple(fields) or FIELDS["sph"], frames=frames, walls=walls)
