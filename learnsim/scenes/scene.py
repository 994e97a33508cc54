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

The parts are the dataclasses of :mod:`learnsim.scenes.specs` and :mod:`learnsim.scenes.sph_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learnsim.core.errors import InputError
from learnsim.scenes import checks, sph_checks
from learnsim.scenes.checker import Checker
from learnsim.scenes.specs import (
    BoundaryCondition,
    InitialSpec,
    Load,
    MaterialSpec,
    MeshSpec,
    OutputSpec,
    SceneInfo,
    SolverSpec,
    TimeSpec,
)
from learnsim.scenes.sph_spec import FluidSpec, SPHSpec, WallSpec


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
        c = Checker(self.source if isinstance(self.source, str) else "<python>")
        info = checks.check_info(c, self.scene)
        parts = self._sph_parts(c, info) if info.kind == "sph" else self._fem_parts(c, info)
        # Frozen dataclass: normalised values are installed once, here, and never change.
        for name, value in {"scene": info, **parts}.items():
            object.__setattr__(self, name, value)

    def _fem_parts(self, c: Checker, info: SceneInfo) -> dict[str, Any]:
        """The checked parts of a diffusion or elasticity scene (field name -> value)."""
        if self.mesh is None:
            c.fail("[mesh]", "is missing")
        for key, table in (("sph", "[sph]"), ("fluids", "[[fluid]]"), ("walls", "[[wall]]")):
            if getattr(self, key):
                c.fail(table, 'is only for kind = "sph"')
        time = None if self.time is None else checks.check_time(c, self.time)
        return {
            "mesh": checks.check_mesh(c, info, self.mesh),
            "material": checks.check_material(c, info, self.material),
            "bcs": tuple(checks.check_bc(c, info, i, bc) for i, bc in enumerate(self.bcs)) or checks.no_bc(c, info),
            "loads": tuple(checks.check_load(c, info, time, i, load) for i, load in enumerate(self.loads)),
            "solver": checks.check_solver(c, self.solver),
            "output": checks.check_output(c, info, time, self.output),
            "time": time,
            "initial": checks.check_initial(c, info, time, self.initial),
        }

    def _sph_parts(self, c: Checker, info: SceneInfo) -> dict[str, Any]:
        """The checked parts of an SPH scene; the FEM parts must be absent."""
        for key, table, hint in (("mesh", "[mesh]", "particles come from [[fluid]] and [[wall]]"),
                                 ("initial", "[initial]", "the initial velocity is [[fluid]].velocity")):  # fmt: skip
            if getattr(self, key) is not None:
                c.fail(table, f'is not used by kind = "sph" ({hint})')
        if self.material != MaterialSpec():
            c.fail("[material]", 'is not used by kind = "sph" (rest_density and viscosity are in [sph])')
        if self.bcs:
            c.fail("[[bc]]", 'is not used by kind = "sph" (walls are [[wall]] particles)')
        if self.loads:
            c.fail("[[load]]", 'is not used by kind = "sph" (gravity is [sph].gravity)')
        parts = sph_checks.check_sph(c, info, self.sph, self.fluids, self.walls)
        return {
            **parts,
            "time": sph_checks.check_sph_time(c, self.time),
            "solver": sph_checks.check_sph_solver(c, parts["sph"].scheme, self.solver),
            "output": sph_checks.check_sph_output(c, info, self.output),
        }

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
