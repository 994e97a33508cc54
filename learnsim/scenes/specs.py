"""The parts of a scene, as plain frozen dataclasses, and the words their keys may take.

A :class:`~learnsim.scenes.scene.Scene` is built from these parts (and, for SPH, those of
:mod:`learnsim.scenes.sph_spec`); it checks and normalises them. On their own they are plain
values. Units are SI throughout (metres, pascals, kilograms, kelvins, watts), or any consistent set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from learnsim.core.expression import Expression
from learnsim.engine.fem.materials import LAWS
from learnsim.engine.integrate import SCHEMES
from learnsim.engine.solvers.preconditioners import PRECONDITIONER_NAMES

KINDS = ("diffusion", "elasticity", "sph")
GENERATORS = ("box", "quadrilateral")
MODELS = tuple(LAWS)
"""Solid laws (``[material] model``): the engine's, see :mod:`learnsim.engine.fem.materials`."""
PLANES = ("strain", "stress")
LAW_KEYS = ("E", "nu", "C10", "C01", "K", "sigma_y", "hardening", "kinematic_hardening", "plane")
"""The [material] keys of the solid laws; each law takes those of its constructor."""
BC_TYPES = {"elasticity": ("fixed", "displacement"), "diffusion": ("fixed",)}
LOAD_TYPES = {"elasticity": ("traction", "pressure", "body", "gravity"), "diffusion": ("traction", "body")}
RAMPS = ("constant", "linear", "smooth", "sine")
"""How a load varies in time: value times 1, min(t/T, 1), smoothstep(min(t/T, 1)), sin(2 pi t/T)."""
INTEGRATORS = SCHEMES
"""Time integrators: "explicit", "implicit-euler", "newmark"."""
MASSES = ("lumped", "consistent")
PRECONDITIONERS = PRECONDITIONER_NAMES
"""The engine's preconditioners: "none", "jacobi", "ic0", "amg"; "learned:PATH" names a trained model as well."""
LEARNED_PREFIX = "learned:"
FIELDS = {
    "elasticity": ("displacement", "velocity", "von_mises"),
    "diffusion": ("temperature",),
    "sph": ("velocity", "pressure", "density"),
}
"""Output fields per kind: displacement (m), velocity (m/s), von Mises stress (Pa), temperature (K),
pressure (Pa), density (kg/m^3)."""
DYNAMIC_FIELDS = ("velocity",)
"""Fields that exist only in time-dependent scenes."""
AXES = ("x", "y", "z")


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
    """Material constants. Each solid law takes its own keys; giving a key of another law is an error.

    Attributes:
        model: the solid law (elasticity only), one of :data:`MODELS`: "linear" (Hooke, small strain;
            E, nu, plane), "neo-hookean" and "saint-venant-kirchhoff" (E, nu), "mooney-rivlin" (C10,
            C01, K), "j2" (von Mises elastoplasticity, small strain: E, nu, sigma_y, hardening,
            kinematic_hardening). The nonlinear laws use Newton with a line search.
        E (Pa, > 0), nu (-1 < nu < 0.5): Young's modulus and Poisson ratio.
        C10, C01 (Pa, >= 0, C10 + C01 > 0; shear modulus 2 (C10 + C01)), K (Pa, > 0): Mooney-Rivlin.
        sigma_y (Pa, > 0), hardening, kinematic_hardening (Pa, >= 0, 0 by default): J2 yield stress and
            linear isotropic and kinematic hardening moduli.
        density: mass density (kg/m^3), positive: the inertia of a time-dependent scene and the
            mass of a gravity load.
        plane: 2D elasticity only: "strain" (default; the only choice but for the linear law) or "stress".
        conductivity: diffusion only: thermal conductivity (W/m/K), a positive number or a
            formula of x, y, z (an :class:`Expression` or its text); 1.0 by default.
        heat_capacity: diffusion only: volumetric heat capacity rho c (J/m^3/K), positive;
            1.0 by default. Used by time-dependent scenes only.
    """

    model: str = "linear"
    E: float | None = None
    nu: float | None = None
    C10: float | None = None
    C01: float | None = None
    K: float | None = None
    sigma_y: float | None = None
    hardening: float | None = None
    kinematic_hardening: float | None = None
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
