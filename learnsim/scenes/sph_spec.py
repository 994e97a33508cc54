"""The parts of an SPH scene (``[scene] kind = "sph"``) and their checks.

An SPH scene has no mesh: fluid and wall particles are laid out on a square (cubic) lattice
of ``[sph].spacing`` inside boxes::

    [sph]      scheme, spacing, rest_density, viscosity, sound_speed, gamma, artificial_viscosity,
               density_diffusion, kernel, h_over_spacing, gravity, gravity_ramp, domain, periodic
    [[fluid]]  box = {lower, upper}, region, velocity
    [[wall]]   kind = "block" | "tank", box = {lower, upper}, layers, velocity

Every check raises the same one-line :class:`~learnsim.core.errors.InputError` as the FEM parts
(``SOURCE: [table].key = VALUE problem``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from learnsim.engine.sph.kernels import KERNEL_IDS, support_radius
from learnsim.scenes.expression import Expression
from learnsim.scenes.validation import FIELDS, Checker, field_value, format_value

if TYPE_CHECKING:
    from learnsim.scenes.scene import OutputSpec, Scene, SceneInfo, SolverSpec, TimeSpec

SCHEMES = ("wcsph", "isph")
"""SPH schemes: weakly compressible (explicit, equation of state) and incompressible (pressure Poisson)."""
WALL_KINDS = ("block", "tank")
WCSPH_ONLY = ("sound_speed", "gamma", "artificial_viscosity", "density_diffusion")
"""[sph] keys that only the weakly compressible scheme uses."""
_WCSPH_DEFAULTS = {"gamma": 7.0, "artificial_viscosity": 0.0, "density_diffusion": 0.1}


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: ``lower`` and ``upper`` corners, ``dim`` values each (m)."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True)
class SPHSpec:
    """The fluid model and the particle lattice.

    Attributes:
        scheme: "wcsph" (weakly compressible, explicit) or "isph" (incompressible, a pressure
            Poisson solve per step, see ``[solver]``).
        spacing: particle spacing dx (m), positive; every particle has mass rest_density dx^dim.
        rest_density: rho0 (kg/m^3), positive.
        viscosity: kinematic viscosity nu (m^2/s), >= 0 (laminar term of Morris et al. 1997).
        sound_speed: wcsph only: artificial speed of sound c0 (m/s). Default
            10 sqrt(2 |g| H), ten times the free-fall speed over the height H of the fluid
            boxes along gravity (density varies by about 1%); required when gravity is zero.
        gamma: wcsph only: Tait exponent, >= 1; 7 by default.
        artificial_viscosity: wcsph only: Monaghan's alpha, >= 0; 0 by default.
        density_diffusion: wcsph only: delta-SPH delta, >= 0; 0.1 by default.
        kernel: "cubic", "wendland" (default) or "quintic".
        h_over_spacing: smoothing length h / dx, positive; 1.5 by default.
        gravity: body force per unit mass (m/s^2), ``dim`` values; (0, -9.81[, 0]) by default.
        gravity_ramp: s, positive: gravity rises smoothly from 0 over this time (a fluid
            laid out at rest density then settles without a pressure wave); None: at once.
        domain: a :class:`Box` (or ``{lower, upper}``) every particle must stay in; needed
            for ``periodic``.
        periodic: ``dim`` flags; a periodic axis wraps particles across ``domain``.
    """

    spacing: float | None = None
    scheme: str = "wcsph"
    rest_density: float = 1000.0
    viscosity: float = 0.0
    sound_speed: float | None = None
    gamma: float | None = None
    artificial_viscosity: float | None = None
    density_diffusion: float | None = None
    kernel: str = "wendland"
    h_over_spacing: float = 1.5
    gravity: tuple[float, ...] | None = None
    gravity_ramp: float | None = None
    domain: Box | dict | None = None
    periodic: tuple[bool, ...] | None = None

    @property
    def h(self) -> float:
        """Smoothing length (m)."""
        return self.h_over_spacing * self.spacing

    @property
    def wall_layers(self) -> int:
        """Wall layers that fill the kernel support: ceil(radius / spacing)."""
        return math.ceil(support_radius(self.kernel, self.h) / self.spacing - 1e-9)


@dataclass(frozen=True)
class FluidSpec:
    """A block of fluid particles: the lattice points of ``box`` where ``region`` holds.

    Attributes:
        box: :class:`Box` or ``{lower, upper}`` (m); its extents are rounded to whole
            multiples of the spacing, measured from ``lower``.
        region: optional formula of x, y, z: keep only the lattice points where it is true.
        velocity: initial velocity, ``dim`` numbers or formulas of x, y, z (m/s); zero by default.
    """

    box: Box | dict
    region: Expression | str | None = None
    velocity: tuple[float | Expression | str, ...] | None = None


@dataclass(frozen=True)
class WallSpec:
    """Wall particles, moving at a constant velocity.

    Attributes:
        kind: "block": particles fill ``box`` (make it at least ``SPHSpec.wall_layers``
            spacings thick); "tank": an open-top container whose inside is ``box``: walls of
            ``layers`` particles below it and on its sides, open towards +y, as high as the box.
        box: :class:`Box` or ``{lower, upper}`` (m), extents rounded to multiples of the spacing.
        layers: "tank" only: wall thickness in particles; default fills the kernel support.
        velocity: ``dim`` numbers (m/s); zero by default (a moving lid drives a Couette flow).
    """

    box: Box | dict
    kind: str = "block"
    layers: int | None = None
    velocity: tuple[float, ...] | None = None


def check_sph(c: Checker, info: SceneInfo, sph: SPHSpec | None, fluids, walls) -> dict[str, Any]:
    """Check [sph], [[fluid]] and [[wall]]; return the normalised ``sph``, ``fluids``, ``walls``."""
    dim = info.dim
    if sph is None:
        c.fail("[sph]", 'is missing (kind = "sph" needs at least [sph].spacing)')
    if not isinstance(sph, SPHSpec):
        c.fail("[sph]", f": expected an SPHSpec, got {type(sph).__name__}")
    if not fluids:
        c.fail("[[fluid]]", "is missing: an SPH scene needs at least one block of fluid")
    scheme = c.choice("[sph].scheme", sph.scheme, SCHEMES)
    spacing = c.positive("[sph].spacing", c.required("[sph].spacing", sph.spacing, "(the particle spacing, m)"))
    values = {
        "rest_density": c.positive("[sph].rest_density", sph.rest_density),
        "viscosity": _non_negative(c, "[sph].viscosity", sph.viscosity),
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
    fluids = tuple(_check_fluid(c, info, spacing, i, f) for i, f in enumerate(_items(c, "fluid", fluids, FluidSpec)))
    walls = tuple(_check_wall(c, dim, checked, i, w) for i, w in enumerate(_items(c, "wall", walls, WallSpec)))
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
                    _plain_box(domain),
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
        values[key] = default if value is None else _non_negative(c, f"[sph].{key}", value)
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


def _items(c: Checker, name: str, items, cls: type) -> tuple:
    if not isinstance(items, tuple | list):
        c.fail(f"[[{name}]]", f": expected a list of {cls.__name__}", items)
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            c.fail(f"[[{name}]][{i}]", f": expected a {cls.__name__}, got {type(item).__name__}")
    return tuple(items)


def _non_negative(c: Checker, key: str, value: Any) -> float:
    if c.number(key, value) < 0.0:
        c.fail(key, "must not be negative", value)
    return float(value)


def _plain_box(box: Box) -> dict:
    return {"lower": list(box.lower), "upper": list(box.upper)}


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


def check_sph_scene(c: Checker, info: SceneInfo, scene: Scene) -> dict[str, Any]:
    """All parts of a checked SPH scene (field name -> value); the FEM parts must be absent."""
    from learnsim.scenes.scene import MaterialSpec  # scene.py imports this module: import here

    for key, table, hint in (("mesh", "[mesh]", "particles come from [[fluid]] and [[wall]]"),
                             ("initial", "[initial]", "the initial velocity is [[fluid]].velocity")):  # fmt: skip
        if getattr(scene, key) is not None:
            c.fail(table, f'is not used by kind = "sph" ({hint})')
    if scene.material != MaterialSpec():
        c.fail("[material]", 'is not used by kind = "sph" (rest_density and viscosity are in [sph])')
    if scene.bcs:
        c.fail("[[bc]]", 'is not used by kind = "sph" (walls are [[wall]] particles)')
    if scene.loads:
        c.fail("[[load]]", 'is not used by kind = "sph" (gravity is [sph].gravity)')
    parts = check_sph(c, info, scene.sph, scene.fluids, scene.walls)
    time = _check_time(c, scene.time)
    return {
        "scene": info,
        **parts,
        "time": time,
        "solver": _check_solver(c, parts["sph"].scheme, scene.solver),
        "output": _check_output(c, info, scene.output),
    }


def _check_time(c: Checker, time: TimeSpec | None) -> TimeSpec:
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


def _check_solver(c: Checker, scheme: str, solver: SolverSpec) -> SolverSpec:
    """isph: the pressure solve ("ic0" preconditioner by default, or learned:PATH); wcsph has no solve."""
    from learnsim.scenes.scene import SolverSpec
    from learnsim.scenes.validation import check_solver

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


def _check_output(c: Checker, info: SceneInfo, output: OutputSpec) -> OutputSpec:
    allowed = FIELDS["sph"]
    if output.every is not None:
        c.fail("[output].every", 'is not used by kind = "sph" (use frames: how many after the first)', output.every)
    fields = c.sequence("[output].fields", output.fields, "field names")
    for name in fields:
        if name not in allowed:
            problem = f": {format_value(name)} is not a field for sph (use {', '.join(allowed)})"
            c.fail("[output].fields", problem, output.fields)
    if len(set(fields)) != len(fields):
        c.fail("[output].fields", "has duplicates", output.fields)
    frames = 20 if output.frames is None else c.integer("[output].frames", output.frames)
    walls = False if output.walls is None else output.walls
    if not isinstance(walls, bool):
        c.fail("[output].walls", ": expected true or false", walls)
    return replace(output, fields=tuple(fields) or allowed, frames=frames, walls=walls)
