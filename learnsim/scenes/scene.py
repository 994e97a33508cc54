"""The typed scene: what to simulate, on which mesh, with which material, loads and solver.

A :class:`Scene` is a tree of frozen dataclasses. The TOML loader builds one from a file;
Python users build one directly::

    scene = Scene(
        scene=SceneInfo(name="beam", kind="elasticity", dim=3),
        mesh=MeshSpec(generator="box", size=(10, 1, 1), cells=(20, 2, 2), element="hex"),
        material=MaterialSpec(E=1000.0, nu=0.0),
        bcs=(BoundaryCondition("fixed", "x < 1e-9"),),
        loads=(Load("traction", (0, -1, 0), region="x > 10 - 1e-9"),),
    )

An SPH scene (kind "sph") has no mesh: particles fill the boxes of its ``fluids`` and
``walls`` (see :mod:`learnsim.scenes.sph_spec`), and it always has a ``time`` part::

    dam = Scene(
        scene=SceneInfo(name="dam", kind="sph", dim=2),
        sph=SPHSpec(spacing=0.05, artificial_viscosity=0.02),
        fluids=(FluidSpec(box=Box((0.0, 0.0), (1.0, 2.0))),),
        walls=(WallSpec(kind="tank", box=Box((0.0, 0.0), (4.0, 3.0))),),
        time=TimeSpec(end=0.5),
    )

A FEM scene with a ``time`` part is time dependent (elastodynamics, transient heat conduction):
it starts from ``initial`` and steps with ``time.integrator``; without one it is static::

    plucked = replace(scene, loads=(), time=TimeSpec(dt=0.05, end=10.0, integrator="newmark"),
                      initial=InitialSpec(velocity=(0.0, "0.1 * x / 10", 0.0)), output=OutputSpec(every=4))

(``output`` is given afresh: a checked static scene lists its fields, without "velocity".)

Building a ``Scene`` checks every value (raising :class:`~learnsim.core.errors.InputError` with
the same one-line messages the loader gives) and normalises it, so the engine can trust it:
numbers become floats, lists tuples, region strings :class:`Expression` objects, mesh file
paths absolute, and defaults that depend on the kind or dimension are filled in (mesh order,
plane, conductivity, bc components and values, output fields). The sub-specs on their own
are plain values; they are checked when a ``Scene`` is built from them.

Units are SI throughout (metres, pascals, kilograms, kelvins, watts), or any consistent set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from learnsim.core.errors import InputError
from learnsim.scenes.expression import Expression
from learnsim.scenes.sph_spec import Box, FluidSpec, SPHSpec, WallSpec
from learnsim.scenes.validation import (
    BC_TYPES,
    FIELDS,
    GENERATORS,
    INTEGRATORS,
    KINDS,
    LOAD_TYPES,
    MASSES,
    MODELS,
    PRECONDITIONERS,
    RAMPS,
    check_scene,
)

__all__ = [
    "BC_TYPES",
    "FIELDS",
    "GENERATORS",
    "INTEGRATORS",
    "KINDS",
    "LOAD_TYPES",
    "MASSES",
    "MODELS",
    "PRECONDITIONERS",
    "RAMPS",
    "BoundaryCondition",
    "Box",
    "FluidSpec",
    "InitialSpec",
    "Load",
    "MaterialSpec",
    "MeshSpec",
    "OutputSpec",
    "SPHSpec",
    "Scene",
    "SceneInfo",
    "SolverSpec",
    "TimeSpec",
    "WallSpec",
]


@dataclass(frozen=True)
class SceneInfo:
    """What the scene is.

    Attributes:
        name: short identifier.
        kind: "diffusion" (heat conduction) or "elasticity" (solid mechanics), steady or
            static without a ``[time]`` part, transient or dynamic with one; or "sph" (a
            particle fluid, always with ``[time]``).
        dim: spatial dimension, 2 or 3.
        description: one line for ``learnsim scenes``.
    """

    name: str
    kind: str
    dim: int
    description: str = ""


@dataclass(frozen=True)
class MeshSpec:
    """The mesh: read from a file, or generated.

    Exactly one of ``file`` and ``generator`` is set.

    Attributes:
        file: mesh file readable by meshio; made absolute when the scene is built.
        generator: "box" (axis-aligned box) or "quadrilateral" (2D only: a box of cells
            mapped bilinearly onto four corners).
        size: box edge lengths, ``dim`` values (m), "box" only.
        origin: box lower corner, ``dim`` values (m), "box" only; zeros by default.
        corners: "quadrilateral" only: four (x, y) corners counter-clockwise (m).
        cells: cells per axis: ``dim`` values for "box", 2 for "quadrilateral".
        element: "tri" or "quad" (2D), "tet" or "hex" (3D); required with a generator,
            optional with a file (read from it).
        order: Lagrange degree, 1 or 2 (P1/P2 on simplices, Q1/Q2 on quads and hexes);
            None means 2 for elasticity (low order locks in bending) and 1 for diffusion.
    """

    file: Path | str | None = None
    generator: str | None = None
    size: tuple[float, ...] | None = None
    origin: tuple[float, ...] | None = None
    corners: tuple[tuple[float, float], ...] | None = None
    cells: tuple[int, ...] | None = None
    element: str | None = None
    order: int | None = None


@dataclass(frozen=True)
class MaterialSpec:
    """Material constants.

    Attributes:
        model: "linear" (small strain) or "neo-hookean" (elasticity only, large strain).
        E: Young's modulus (Pa); required for elasticity.
        nu: Poisson ratio, -1 < nu < 0.5; required for elasticity.
        density: mass density (kg/m^3), positive; elasticity: the inertia of a time-dependent
            scene and the mass of a gravity load.
        plane: 2D elasticity only: "strain" (default) or "stress"; absent in 3D.
        conductivity: diffusion only: thermal conductivity (W/m/K), a positive number or a
            formula of x, y, z (an :class:`Expression` or its text); 1.0 by default.
        heat_capacity: diffusion only: volumetric heat capacity rho c (J/m^3/K), positive;
            1.0 by default. Used by time-dependent scenes only.
    """

    model: str = "linear"
    E: float | None = None
    nu: float | None = None
    density: float = 1.0
    plane: str | None = None
    conductivity: float | Expression | str | None = None
    heat_capacity: float | None = None


@dataclass(frozen=True)
class BoundaryCondition:
    """A Dirichlet condition on the mesh nodes selected by ``region``.

    Attributes:
        type: "fixed" (value None means 0) or "displacement" (elasticity, value required).
        region: formula of x, y, z, true on the constrained nodes (text is parsed when the
            scene is built).
        value: elasticity: displacement (m), a scalar for every chosen component or one
            value per component (``dim`` values, or one per entry of ``components``); after
            checking, a tuple with one value per entry of ``components``.
            Diffusion: the temperature (K), a scalar.
        components: elasticity only: the constrained components, as indices (0, 1, 2) or
            names ("x", "y", "z"); None means all. After checking, a tuple of indices.
    """

    type: str
    region: Expression | str
    value: float | tuple[float, ...] | None = None
    components: tuple[int, ...] | tuple[str, ...] | None = None


@dataclass(frozen=True)
class Load:
    """A load on the boundary or in the volume.

    Attributes:
        type: "traction": force per area on the boundary (Pa), ``dim`` values, for
            elasticity; heat flux into the body (W/m^2), a scalar, for diffusion.
            "pressure": elasticity only, a scalar (Pa) acting against the outward normal.
            "body": force per volume (N/m^3), ``dim`` values, for elasticity; heat source
            (W/m^3), a scalar, for diffusion.
            "gravity": elasticity only, an acceleration (m/s^2), ``dim`` values, applied to
            the whole body as the force per volume density * value.
        value: see ``type``.
        region: formula of x, y, z selecting the loaded boundary; required for traction and
            pressure, optional for body loads (None = the whole domain), not used by gravity.
        ramp: how the load varies in time (time-dependent scenes only; a static solve uses
            ``value`` as given): "constant" (default); "linear", value * min(t / ramp_time, 1);
            "smooth", value * s^2 (3 - 2 s) with s = min(t / ramp_time, 1); "sine",
            value * sin(2 pi t / ramp_time).
        ramp_time: s, positive: the rise time of "linear" and "smooth" (default: the end time
            of the scene), the period of "sine" (required). Not used by "constant".
    """

    type: str
    value: float | tuple[float, ...]
    region: Expression | str | None = None
    ramp: str = "constant"
    ramp_time: float | None = None


@dataclass(frozen=True)
class SolverSpec:
    """Linear (and Newton) solver settings.

    Attributes:
        preconditioner: "none", "jacobi", "ic0", "amg", or "learned:PATH" (a trained model);
            None means "amg" for FEM and "ic0" for the pressure solve of an "isph" scene.
            An SPH scene uses only preconditioner, tol and max_iters, and only with "isph".
        tol: relative residual tolerance of the Krylov solve, in (0, 1).
        max_iters: Krylov iteration limit; None lets the solver choose.
        newton_tol: relative residual tolerance of Newton's method (neo-hookean), in (0, 1).
        newton_max_iters: Newton iteration limit per load step.
        load_steps: number of equal load increments (neo-hookean).
    """

    preconditioner: str | None = None
    tol: float = 1e-8
    max_iters: int | None = None
    newton_tol: float = 1e-8
    newton_max_iters: int = 30
    load_steps: int = 1


@dataclass(frozen=True)
class TimeSpec:
    """Time stepping; a scene with a ``TimeSpec`` is time dependent.

    FEM: exactly one of ``steps`` and ``end`` is given; after checking, ``steps`` is set
    (``round(end / dt)`` when ``end`` was given) and ``end`` is None: the run ends at
    :attr:`end_time` = ``steps * dt``. SPH: ``end`` is required, ``steps``, ``integrator``
    and ``mass`` are not used, and ``dt`` is optional: without it every step takes the
    stable step of the current state (see :mod:`learnsim.running.sph`).

    Attributes:
        dt: time step (s), positive; required for FEM. For "explicit" (and SPH) it must be
            below the stability limit, which is checked when the scene runs (it depends on the
            mesh, or the particles).
        steps: number of steps, positive.
        end: end time (s), positive.
        integrator: "explicit" (symplectic Euler; forward Euler for heat), "implicit-euler"
            (backward Euler, first order, dissipative) or "newmark" (average acceleration,
            second order, energy conserving; Crank-Nicolson for heat). None means "newmark".
        mass: "lumped" (row sums) or "consistent"; None means "lumped" for "explicit" and
            "consistent" otherwise.
    """

    dt: float | None = None
    steps: int | None = None
    end: float | None = None
    integrator: str | None = None
    mass: str | None = None

    @property
    def end_time(self) -> float:
        """steps * dt (s) once checked; ``end`` for SPH."""
        return self.end if self.steps is None else self.steps * self.dt


@dataclass(frozen=True)
class InitialSpec:
    """The state at t = 0 of a time-dependent scene; anything not given is zero.

    Values are numbers or formulas of x, y, z (an :class:`Expression` or its text),
    evaluated at the nodes. Dirichlet nodes keep their prescribed values and zero rates.

    Attributes:
        displacement: elasticity: ``dim`` entries (m), one per axis.
        velocity: elasticity: ``dim`` entries (m/s), one per axis.
        temperature: diffusion: one entry (K).
    """

    displacement: tuple[float | Expression | str, ...] | None = None
    velocity: tuple[float | Expression | str, ...] | None = None
    temperature: float | Expression | str | None = None


@dataclass(frozen=True)
class OutputSpec:
    """Which fields to write, and how often.

    Attributes:
        fields: names from :data:`FIELDS` for the scene's kind: "displacement" (m),
            "velocity" (m/s, time-dependent scenes only) and "von_mises" (Pa) for
            elasticity, "temperature" (K) for diffusion. Empty means all; after checking,
            the full tuple.
            SPH: "velocity" (m/s), "pressure" (Pa), "density" (kg/m^3).
        every: FEM time-dependent scenes only: write a frame every ``every`` steps, plus the
            initial and the final state; 1 after checking (None in a static scene).
        frames: SPH only: frames after the initial one, at equal intervals of time up to
            ``[time].end``; 20 by default.
        walls: SPH only: also write the wall particles (after the fluid ones, with a point
            field ``wall`` = 1); false by default.
    """

    fields: tuple[str, ...] = ()
    every: int | None = None
    frames: int | None = None
    walls: bool | None = None


@dataclass(frozen=True)
class Scene:
    """A complete, checked scene. See the module docstring for an example.

    Attributes:
        scene, mesh, material, bcs, loads, solver, output: the parts above; ``mesh`` is
            required for FEM and absent (None) for SPH.
        source: file name used in error messages ("<python>" for scenes built in code).
        time: None for a static scene, else the time stepping.
        initial: the initial state of a time-dependent scene (None means at rest: zeros;
            after checking, an :class:`InitialSpec` whenever ``time`` is given). Only with
            ``time``, FEM only.
        sph, fluids, walls: kind "sph" only: the fluid model and lattice, the fluid blocks
            (at least one) and the wall particles.

    Raises:
        InputError: when any value is invalid; the message names ``source``, the key and the
            value, for example ``<python>: [material].nu = 0.5 must be below 0.5``.
    """

    scene: SceneInfo
    mesh: MeshSpec | None = None
    material: MaterialSpec = field(default_factory=MaterialSpec)
    bcs: tuple[BoundaryCondition, ...] = ()
    loads: tuple[Load, ...] = ()
    solver: SolverSpec = field(default_factory=SolverSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    source: str = "<python>"
    time: TimeSpec | None = None
    initial: InitialSpec | None = None
    sph: SPHSpec | None = None
    fluids: tuple[FluidSpec, ...] = ()
    walls: tuple[WallSpec, ...] = ()

    def __post_init__(self) -> None:
        parts = {
            "scene": SceneInfo,
            "material": MaterialSpec,
            "solver": SolverSpec,
            "output": OutputSpec,
        }
        for name, cls in parts.items():
            _require_type(self, name, getattr(self, name), cls)
        for name, cls in (("mesh", MeshSpec), ("time", TimeSpec), ("initial", InitialSpec), ("sph", SPHSpec)):
            if getattr(self, name) is not None:
                _require_type(self, name, getattr(self, name), cls)
        for name, cls in (("bcs", BoundaryCondition), ("loads", Load), ("fluids", FluidSpec), ("walls", WallSpec)):
            items = getattr(self, name)
            if not isinstance(items, tuple | list):
                raise _type_error(self, name, items, f"a tuple of {cls.__name__}")
            for item in items:
                _require_type(self, name, item, cls)
        # Frozen dataclass: normalised values are installed once, here, and never change.
        for name, value in check_scene(self).items():
            object.__setattr__(self, name, value)

    @property
    def kind(self) -> str:
        """Shortcut for ``scene.scene.kind``."""
        return self.scene.kind

    @property
    def dim(self) -> int:
        """Shortcut for ``scene.scene.dim``."""
        return self.scene.dim

    @property
    def is_dynamic(self) -> bool:
        """True for a time-dependent scene (one with a ``time`` part)."""
        return self.time is not None


def _type_error(scene: Scene, name: str, value: object, expected: str) -> InputError:
    return InputError(f"{scene.source}: Scene.{name} must be {expected}, got {type(value).__name__}")


def _require_type(scene: Scene, name: str, value: object, cls: type) -> None:
    if not isinstance(value, cls):
        raise _type_error(scene, name, value, f"a {cls.__name__}")
