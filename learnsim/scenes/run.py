"""Run a validated :class:`Scene` with the engine, then write its results.

Everything that can be wrong with the input (a region that selects nothing, a
conductivity expression that is negative somewhere) is checked before anything is
written, so bad input never leaves a half-written output folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import warp as wp

from learnsim.engine.fem.assembly import (
    assemble_boundary_value,
    assemble_diffusion,
    assemble_linear_elasticity,
    assemble_pressure,
    assemble_source,
)
from learnsim.engine.fem.boundary import Dirichlet, boundary_sides, make_dirichlet
from learnsim.engine.fem.discretization import Discretization, discretize
from learnsim.engine.fem.materials import LinearElastic, NeoHookean
from learnsim.engine.fem.mesh import Mesh, box_mesh, quadrilateral_mesh
from learnsim.engine.fem.postprocess import von_mises_per_cell
from learnsim.engine.fem.statics import StaticResult, solve_linear_static, solve_neo_hookean
from learnsim.errors import InputError
from learnsim.io import FrameSeries, read_mesh
from learnsim.scenes.expression import Expression
from learnsim.scenes.scene import Scene


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        point_data: per mesh vertex, e.g. "displacement" (n_points, dim) in m, "temperature" (n_points,).
        cell_data: per cell, e.g. "von_mises" (n_cells,) in Pa.
        timings: seconds per phase ("mesh", "assemble", "solve", "postprocess").
    """

    scene: Scene
    mesh: Mesh
    discretization: Discretization
    solution: StaticResult
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    cell_data: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

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


def run_scene(scene: Scene, device: str | None = None) -> RunResult:
    """Discretise, assemble and solve ``scene`` on ``device`` ("cpu", "cuda:0"; default Warp's)."""
    device = _device(device)
    timings = {}
    t0 = time.perf_counter()
    mesh = build_mesh(scene)
    elasticity = scene.kind == "elasticity"
    disc = discretize(mesh, scene.mesh.order, components=mesh.dim if elasticity else 1, device=device)
    timings["mesh"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    bc = _dirichlet(scene, disc)
    load = _load_vector(scene, disc)
    material = _material(scene) if elasticity else None
    if not elasticity:
        stiffness = assemble_diffusion(disc, _conductivity(scene, disc))
    elif isinstance(material, LinearElastic):
        stiffness = assemble_linear_elasticity(disc, material.lame(mesh.dim))
    timings["assemble"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    solver = scene.solver
    if isinstance(material, NeoHookean):
        solution = solve_neo_hookean(
            disc,
            material.lame(mesh.dim),
            load,
            bc,
            solver.preconditioner,
            solver.tol,
            solver.max_iters,
            solver.newton_tol,
            solver.newton_max_iters,
            solver.load_steps,
        )
    else:
        solution = solve_linear_static(disc, stiffness, load, bc, solver.preconditioner, solver.tol, solver.max_iters)
    timings["solve"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = RunResult(scene=scene, mesh=mesh, discretization=disc, solution=solution, timings=timings)
    # The first mesh.n_points nodes of a Lagrange space are the mesh vertices (checked in tests),
    # so vertex values are the leading rows; higher-order nodes are not written.
    vertex_values = solution.u[: mesh.n_points]
    wanted = set(scene.output.fields)
    if elasticity:
        if "displacement" in wanted:
            result.point_data["displacement"] = vertex_values
        if "von_mises" in wanted:
            result.cell_data["von_mises"] = von_mises_per_cell(disc, solution.u, material)
    elif "temperature" in wanted:
        result.point_data["temperature"] = vertex_values
    timings["postprocess"] = time.perf_counter() - t0
    return result


def write_result(result: RunResult, out_dir: str | Path) -> Path:
    """Write ``out_dir/result.pvd`` and its frame (a static solve is one frame at t = 0)."""
    out_dir = Path(out_dir)
    with FrameSeries(out_dir, result.mesh.points, result.mesh.cells, result.mesh.element) as series:
        series.write_frame(0.0, point_data=result.point_data, cell_data=result.cell_data)
    return out_dir / "result.pvd"


# --- scene -> engine inputs -------------------------------------------------------------


def _device(device: str | None):
    try:
        return wp.get_device(device)
    except (RuntimeError, ValueError) as err:
        available = ", ".join(str(d) for d in wp.get_devices())
        raise InputError(f"--device {device}: not available ({err}); available: {available}") from None


def _material(scene: Scene) -> LinearElastic | NeoHookean:
    m = scene.material
    if m.model == "neo-hookean":
        return NeoHookean(m.E, m.nu)
    return LinearElastic(m.E, m.nu, m.plane or "strain")


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


def _load_vector(scene: Scene, disc: Discretization) -> wp.array:
    total = np.zeros((disc.n_nodes,) if disc.components == 1 else (disc.n_nodes, disc.components))
    for i, load in enumerate(scene.loads):
        where = f"{scene.source}: [[load]][{i}].region"
        if load.type == "body":
            values = np.broadcast_to(np.asarray(load.value, dtype=np.float64), (disc.components,))
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
        total += vector.numpy()
    return disc.nodal(total)
