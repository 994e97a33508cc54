"""How much memory a checked scene will need, and a refusal before anything is allocated.

``estimate(scene)`` counts what a run allocates (FEM: nodes, dofs, matrix nonzeros, quadrature
points and frames; SPH: fluid and wall particles, neighbours, the ISPH pressure matrix) with
Python integers and floats only, so a scene of 9223372036854775807 cells is counted, not built.
``check_memory(scene, max_memory)`` raises a one-line InputError when the estimate exceeds
``max_memory`` bytes or, by default, the memory this machine has available
(:func:`available_memory`). ``learnsim run`` calls it through ``run_scene``; ``learnsim
generate`` calls it on its first sampled scene.

FEM counts are exact for the box and quadrilateral generators and use the mesh's own counts with
Euler's formula for mesh files. Vertices V, edges E, faces F (3D) and cells C give the nodes
(order 1: V; order 2: V + E, plus C on quads and F + C on hexes) and the nonzero blocks of the
matrix, one per pair of nodes sharing a cell: every pair is counted once, at the smallest entity
holding both nodes (tri: V + 2E, V + 7E + 12C; quad: V + 2E + 4C, V + 7E + 49C; tet: V + 2E,
V + 7E + 12F + 6C; hex: V + 2E + 4F + 8C, V + 7E + 49F + 343C, for orders 1 and 2). A vector
field (elasticity) has dim x dim values per block.

Bytes are a sum of counts times constants (``_FEM``, ``_PER_ENTRY``, ``_PRECONDITIONER``,
``_SPH``) from 36 runs of built-in scenes at larger sizes (2 CPU cores, Warp on CPU): the FEM
constants by non-negative least squares on the relative error of 23 runs, the Newton term from
3, the SPH ones from the slope and intercept of 9 runs. Each run is its peak resident memory
(``ru_maxrss``) minus the resident memory before ``run_scene`` (Python, NumPy, SciPy and Warp
loaded, about 380 MB, which the estimate leaves out); ``tests/running/measure_memory.py`` makes
one such measurement. Estimate / measured, in MB (* not among the fitted runs):

============================================================  ========  ========  =====
run (built-in scene and ``--set``)                            estimate  measured  ratio
============================================================  ========  ========  =====
heat_plate cells [512, 512], conductivity 1, amg              285       274       1.04
heat_plate cells [512, 512], jacobi                           198       242       0.82
heat_plate cells [256, 256], order 2 (Q2)                     312       346       0.90
heat_plate cells [512, 512], tri                              314       283       1.11
heat_plate cells [1024, 1024], ic0 *                          1099      1061      1.04
poisson_obstacles_3d cells [48, 48, 48] (Q1 hex) *            323       336       0.96
cantilever cells [80, 8, 8] (Q2 hex, 140k dofs), amg          965       962       1.00
cantilever cells [80, 8, 8], ic0                              1477      1445      1.02
cantilever cells [80, 8, 8], jacobi                           575       562       1.02
cantilever cells [60, 6, 6], tet (P2) *                       290       308       0.94
cantilever cells [40, 4, 4], neo-hookean                      449       378-452   1.0-1.2
heat_transient cells [512, 512], implicit Euler, ic0          455       558       0.82
vibrating_beam cells [512, 64], Newmark, amg                  826       774       1.07
vibrating_beam cells [256, 32], explicit                      125       116       1.07
dam_break spacing 0.0025 (334k particles, WCSPH)              227       227       1.00
dam_break_3d spacing 0.0104 (412k particles) *                276       267       1.03
dam_break_isph spacing 0.0025 (87k particles, ISPH)           237       238       1.00
dam_break spacing 0.01 (24k particles)                        35        29        1.19
============================================================  ========  ========  =====

All 40 runs lie between 0.82 and 1.26 times the measurement. The estimate is meant to be
within a factor of about 2: it counts what a run allocates, not how the allocator returns it,
and a GPU run keeps its arrays in device memory, which this check does not look at.

Frames written to an output folder go one at a time, and the runs above wrote theirs: nothing
more counts for them (each written frame keeps about a hundred bytes of bookkeeping, far less
than the file it puts on disk). A run without an output folder keeps every frame in memory, and
then they all count: their nodal arrays (the state they point into) and cell values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from learnsim.core.errors import InputError
from learnsim.core.mesh import ELEMENTS
from learnsim.engine.fem.materials import LAWS
from learnsim.engine.sph.kernels import SUPPORT_FACTOR
from learnsim.running.particles import particle_count
from learnsim.scenes.checker import format_value
from learnsim.scenes.scene import Scene

# entity -> nonzero blocks per entity (V, E, F, C), and nodes per entity, by (element, order)
_PAIRS = {
    ("tri", 1): (1, 2, 0, 0), ("tri", 2): (1, 7, 0, 12), ("quad", 1): (1, 2, 0, 4), ("quad", 2): (1, 7, 0, 49),
    ("tet", 1): (1, 2, 0, 0), ("tet", 2): (1, 7, 12, 6), ("hex", 1): (1, 2, 4, 8), ("hex", 2): (1, 7, 49, 343),
}  # fmt: skip
_NODES = {
    ("tri", 1): (1, 0, 0, 0), ("tri", 2): (1, 1, 0, 0), ("quad", 1): (1, 0, 0, 0), ("quad", 2): (1, 1, 0, 1),
    ("tet", 1): (1, 0, 0, 0), ("tet", 2): (1, 1, 0, 0), ("hex", 1): (1, 0, 0, 0), ("hex", 2): (1, 1, 1, 1),
}  # fmt: skip
_NODES_PER_CELL = {("tri", 1): 3, ("tri", 2): 6, ("quad", 1): 4, ("quad", 2): 9,
                   ("tet", 1): 4, ("tet", 2): 10, ("hex", 1): 8, ("hex", 2): 27}  # fmt: skip
# quadrature points per cell of warp.fem's RegularQuadrature of order 2 x (element order)
_POINTS_PER_CELL = {("tri", 1): 3, ("tri", 2): 6, ("quad", 1): 4, ("quad", 2): 9,
                    ("tet", 1): 4, ("tet", 2): 20, ("hex", 1): 8, ("hex", 2): 27}  # fmt: skip

_FEM = {
    "triplet": 16.0,  # per value of the per-cell blocks that fem.integrate sorts into a matrix
    "dof": 145.0,  # per degree of freedom: the solve's vectors, Dirichlet masks, output arrays
    "cell vertex": 75.0,  # per cell vertex: the mesh, its orientation check, warp.fem's topology
    "fixed": 14e6,  # kernels loaded by a run
    "time-dependent": 56e6,  # the integrator's kernels
}
_PER_ENTRY = {"implicit-euler": 48.0, "newmark": 48.0, "nonlinear": 100.0}
"""Bytes per matrix value on top: the matrices an implicit scheme keeps (alpha M + K and its
Dirichlet projection); a Newton solve's tangents."""
_PRECONDITIONER = {"amg": 16.0, "ic0": 37.0, "learned": 37.0}
"""Bytes per matrix value of a preconditioner: pyamg's hierarchy, the IC(0) factor and its copies."""
_SPH = {"particle": 620.0, "neighbour": 66.0, "fixed": 20e6}
"""Bytes per particle (state, step temporaries, the lattice), per ISPH matrix value, and fixed."""


@dataclass(frozen=True)
class Estimate:
    """What a run will need: ``bytes`` in all, the counts behind it, and the scene key that sets its size.

    Attributes:
        bytes: estimated peak memory of the run on top of the interpreter (a float: it may be huge).
        counts: e.g. {"dofs": ..., "nonzeros": ..., "frames": ...} (floats; inf where uncountable).
        key: the key and value that make the scene this large, e.g. ``[mesh].cells = [100, 100]``.
    """

    bytes: float
    counts: dict[str, float] = field(default_factory=dict)
    key: str = ""

    def describe(self) -> str:
        """``1.0e10 dofs, 9.0e10 nonzeros, 1 frame``."""
        return ", ".join(f"{format_count(n)} {name[:-1] if n == 1 else name}" for name, n in self.counts.items())


def estimate(scene: Scene, *, keep_frames: bool = True, mesh=None) -> Estimate:
    """The memory a run of the checked ``scene`` will need, counted without allocating.

    Args:
        keep_frames: the frames stay in memory (``run_scene`` without ``out_dir``, as
            ``learnsim generate`` runs scenes); False when they are written as they come.
        mesh: the scene's :class:`~learnsim.core.mesh.Mesh` if already read (a mesh file is read
            otherwise; generated meshes are counted from ``[mesh].cells``).
    """
    if scene.kind == "sph":
        return _sph(scene, keep_frames)
    return _fem(scene, keep_frames, mesh)


def check_memory(scene: Scene, max_memory: float | None = None, *, keep_frames: bool = True, mesh=None) -> Estimate:
    """Refuse a scene whose run would need more than ``max_memory`` bytes (default: what is available).

    Returns the :class:`Estimate` when it fits. ``keep_frames`` and ``mesh``: see :func:`estimate`.

    Raises:
        InputError: one line naming the scene key, the estimate and its counts, and the limit.
    """
    need = estimate(scene, keep_frames=keep_frames, mesh=mesh)
    limit = available_memory() if max_memory is None else max_memory
    if need.bytes <= limit:
        return need
    where = f"{scene.source}: {need.key} needs about {format_bytes(need.bytes)} ({need.describe()})"
    if max_memory is None:
        raise InputError(f"{where}; this machine has {format_bytes(limit)} available (--max-memory raises the limit)")
    raise InputError(f"{where}, more than the limit of {format_bytes(limit)} (--max-memory)")


# --- FEM ---------------------------------------------------------------------------------


def _fem(scene: Scene, keep_frames: bool, mesh) -> Estimate:
    spec, dim = scene.mesh, scene.dim
    if spec.file is not None:
        if mesh is None:
            from learnsim.io import read_mesh

            mesh = read_mesh(spec.file)
        element, entities = mesh.element, _file_entities(mesh.element, mesh.n_points, mesh.n_cells)
        key = f"[mesh].file = {format_value(str(spec.file))}"
    else:
        element, entities = spec.element, _grid_entities(spec.element, spec.cells)
        key = f"[mesh].cells = {format_value(list(spec.cells))}"
    order = spec.order
    components = dim if scene.kind == "elasticity" else 1
    cells = entities[3]
    nodes = _dot(_NODES[element, order], entities)
    blocks = _dot(_PAIRS[element, order], entities)
    k = _NODES_PER_CELL[element, order]
    points = cells * _POINTS_PER_CELL[element, order]
    dofs, entries = nodes * components, blocks * components**2
    triplets = cells * k * k * components**2
    frames = _fem_frames(scene)
    frame = 8.0 * (dofs * _state_arrays(scene) + cells * ("von_mises" in scene.output.fields)) + 200.0
    c = _FEM
    total = (
        c["triplet"] * triplets
        + c["dof"] * dofs
        + c["cell vertex"] * cells * ELEMENTS[element][1]
        + c["fixed"]
        + entries * (_per_entry(scene) + _preconditioner(scene))
        + (frame * frames if keep_frames else 0.0)
    )
    if scene.time is not None:
        total += c["time-dependent"]
    counts = {"dofs": dofs, "nonzeros": entries, "quadrature points": points, "frames": frames}
    if keep_frames and frame * frames > total / 2 and scene.time is not None:
        key = f"[time].steps = {scene.time.steps} with [output].every = {scene.output.every}"
    return Estimate(total, counts, key)


def _per_entry(scene: Scene) -> float:
    if scene.kind == "elasticity" and not LAWS[scene.material.model].linear:
        return _PER_ENTRY["nonlinear"]  # a tangent per Newton iteration (calibrated on neo-Hookean)
    return 0.0 if scene.time is None else _PER_ENTRY.get(scene.time.integrator, 0.0)


def _preconditioner(scene: Scene) -> float:
    if scene.time is not None and scene.time.integrator == "explicit":
        return 0.0  # a lumped mass is a division; a consistent one is solved with Jacobi
    name = scene.solver.preconditioner
    return _PRECONDITIONER.get(name if isinstance(name, str) else "learned", 0.0)


def _grid_entities(element: str, cells: tuple[int, ...]) -> tuple[float, float, float, float]:
    """(V, E, F, C) of the box generator's mesh with ``cells`` per axis (the quadrilateral one is the same)."""
    n = [float(c) if c < 1e300 else math.inf for c in cells]  # floats: huge integers stay countable
    if len(n) == 2:
        a, b = n
        V, E, C = (a + 1) * (b + 1), a * (b + 1) + (a + 1) * b, a * b
        return (V, E + C, 0.0, 2 * C) if element == "tri" else (V, E, 0.0, C)
    a, b, c = n
    V = (a + 1) * (b + 1) * (c + 1)
    E = a * (b + 1) * (c + 1) + (a + 1) * b * (c + 1) + (a + 1) * (b + 1) * c
    F = a * b * (c + 1) + a * (b + 1) * c + (a + 1) * b * c
    C = a * b * c
    if element == "tet":  # six tets per cube: a diagonal on every square, one through every cube
        return V, E + F + C, 2 * F + 6 * C, 6 * C
    return V, E, F, C


def _file_entities(element: str, vertices: int, cells: int) -> tuple[float, float, float, float]:
    """(V, E, F, C) of a read mesh: V and C are its own, E and F from Euler's formula for a
    simply connected mesh, neglecting the boundary (V - E + C = 1 in 2D, V - E + F - C = 1 in 3D)."""
    V, C = float(vertices), float(cells)
    if ELEMENTS[element][0] == 2:
        return V, V + C, 0.0, C
    F = (2.0 if element == "tet" else 3.0) * C
    return V, V + F - C, F, C


def _fem_frames(scene: Scene) -> float:
    if scene.time is None:
        return 1.0
    steps, every = scene.time.steps, scene.output.every
    return float(steps // every + 1 + (steps % every != 0))


def _state_arrays(scene: Scene) -> int:
    """Nodal arrays a kept frame holds on to: u for temperature or displacement, v for velocity."""
    fields = scene.output.fields
    return int("temperature" in fields or "displacement" in fields) + int("velocity" in fields)


# --- SPH ---------------------------------------------------------------------------------


def _sph(scene: Scene, keep_frames: bool) -> Estimate:
    sph, dim = scene.sph, scene.dim
    fluid = sum(particle_count(f.box, sph.spacing) for f in scene.fluids)
    wall = sum(particle_count(w.box, sph.spacing, w.layers if w.kind == "tank" else None) for w in scene.walls)
    radius = SUPPORT_FACTOR[sph.kernel] * sph.h_over_spacing  # in spacings
    neighbours = math.pi * radius**2 if dim == 2 else 4.0 / 3.0 * math.pi * radius**3
    particles = fluid + wall
    pairs = particles * neighbours
    c = _SPH
    total = c["particle"] * particles + c["fixed"]
    counts = {"fluid particles": fluid, "wall particles": wall}
    if sph.scheme == "isph":
        total += c["neighbour"] * pairs
        counts["nonzeros"] = pairs
    frames = float(scene.output.frames + 1)
    shown = fluid + (wall if scene.output.walls else 0.0)
    frame = shown * 8 * (dim + sum(dim if name == "velocity" else 1 for name in scene.output.fields))
    total += frame * frames if keep_frames else 0.0
    counts["frames"] = frames
    key = f"[sph].spacing = {format_value(sph.spacing)}"
    if keep_frames and frame * frames > total / 2:
        key = f"[output].frames = {scene.output.frames}"
    return Estimate(total, counts, key)


# --- available memory and sizes ------------------------------------------------------------


def available_memory() -> int:
    """Bytes this process can still allocate: MemAvailable of /proc/meminfo, lowered to what a
    cgroup memory limit leaves; psutil's figure where there is no /proc; 4 GiB if nothing says."""
    available = _meminfo()
    if available is None:
        try:
            import psutil

            available = int(psutil.virtual_memory().available)
        except Exception:  # no psutil, or a platform it does not know
            available = 4 * 2**30
    cgroup = _cgroup_room()
    return available if cgroup is None else min(available, cgroup)


def _meminfo() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return None if match is None else int(match.group(1)) * 1024


def _cgroup_room() -> int | None:
    """limit - usage of this process's cgroup (v2, else v1), or None without a limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit, usage = (Path(f).read_text().strip() for f in (limit_file, usage_file))
        except OSError:
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 2**60:
            return None
        return max(int(limit) - int(usage), 0)
    return None


_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*([kmgtp]?)(i?b)?\s*", re.IGNORECASE)


def parse_size(text: str, what: str = "--max-memory") -> int:
    """Bytes from ``64G``, ``500M``, ``2.5GiB``, ``1e9`` (K, M, G, T, P: powers of 1024, with or
    without ``iB``; ``KB``, ``MB``, ``GB``, ... are powers of 1000; a plain number is bytes).

    Raises:
        InputError: anything else, or a size that is not positive.
    """
    match = _SIZE.fullmatch(str(text))
    if match is None:
        raise InputError(f"{what} {text!r}: expected a size such as 64G, 500M or 2.5GiB")
    number, exponent, unit, suffix = match.groups()
    scale = _UNITS[unit.lower()]
    if unit and suffix and suffix.lower() == "b":  # GB, MB: decimal units
        scale = 1000 ** ("kmgtp".index(unit.lower()) + 1)
    value = float(f"{number}e{exponent or 0}") * scale  # inf rather than an OverflowError
    if not (math.isfinite(value) and value >= 1):
        raise InputError(f"{what} {text!r}: expected a positive size such as 64G, 500M or 2.5GiB")
    return int(value)


def format_bytes(n: float) -> str:
    """``75 GiB``, ``1.5 MiB``, ``7.0 PiB``; sizes beyond YiB in powers of ten."""
    if not math.isfinite(n):
        return "an unbounded amount of memory"
    for power, unit in enumerate(("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")):
        value = n / 1024**power
        if value < 1024 or unit == "YiB" and value < 1e4:
            return f"{value:.0f} {unit}" if value >= 10 or power == 0 else f"{value:.1f} {unit}"
    return f"{n:.1e} bytes"


def format_count(n: float) -> str:
    """``19683``, ``1.0e10``: exact below a million, two digits above."""
    if not math.isfinite(n):
        return "inf"
    if n < 1e6:
        return str(int(n))
    exponent = math.floor(math.log10(n))
    return f"{n / 10**exponent:.1f}e{exponent}"


def _dot(weights, values) -> float:
    return sum(w * v for w, v in zip(weights, values, strict=True) if w)
