"""Checks and normalisation of the parts of a scene: the common ones and those of the FEM kinds.

Each ``check_*`` takes a :class:`~learnsim.scenes.checker.Checker` and a part, and returns the
part normalised (numbers as floats, lists as tuples, formulas as :class:`Expression` objects,
defaults that depend on the kind or dimension filled in), or raises a one-line InputError.
:class:`~learnsim.scenes.scene.Scene` calls them when it is built.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import MISSING as MISSING_FIELD
from dataclasses import Field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from learnsim.core.expression import Expression
from learnsim.core.mesh import ELEMENTS
from learnsim.engine.fem.materials import LAWS
from learnsim.learned.registry import ModelFile, model_file
from learnsim.scenes.checker import MISSING, Checker, format_value
from learnsim.scenes.specs import (
    AXES,
    BC_TYPES,
    DYNAMIC_FIELDS,
    FIELDS,
    GENERATORS,
    INTEGRATORS,
    KINDS,
    LAW_KEYS,
    LEARNED_PREFIX,
    LOAD_TYPES,
    MASSES,
    MODELS,
    PLANES,
    PRECONDITIONERS,
    RAMPS,
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


def check_info(c: Checker, info: SceneInfo) -> SceneInfo:
    name = c.string("[scene].name", info.name)
    if not name.strip():
        c.fail("[scene].name", "must not be empty", name)
    # the default output folder is out/<name>: a name must not lead anywhere else
    if name in (".", "..") or any(ch in name for ch in "/\\") or not name.isprintable():
        c.fail("[scene].name", "must be a plain name (no path separators or control characters)", name)
    kind = c.choice("[scene].kind", info.kind, KINDS)
    dim = c.integer("[scene].dim", info.dim, positive=False)
    if dim not in (2, 3):
        c.fail("[scene].dim", "must be 2 or 3", dim)
    return replace(info, kind=kind, dim=dim, description=c.string("[scene].description", info.description))


def check_mesh(c: Checker, info: SceneInfo, mesh: MeshSpec) -> MeshSpec:
    dim = info.dim
    if mesh.file is None and mesh.generator is None:
        c.fail("[mesh]", "needs a file or a generator (box, quadrilateral)")
    if mesh.file is not None and mesh.generator is not None:
        c.fail("[mesh]", "has both file and generator: give exactly one")
    element = mesh.element
    if element is not None:
        element = c.choice("[mesh].element", element, tuple(ELEMENTS))
        if ELEMENTS[element][0] != dim:
            c.fail(
                "[mesh].element",
                f"is a {ELEMENTS[element][0]}D element but [scene].dim = {dim} "
                "(use tri or quad in 2D, tet or hex in 3D)",
                element,
            )
    if mesh.order is None:
        order = 2 if info.kind == "elasticity" else 1
    elif c.integer("[mesh].order", mesh.order, positive=False) not in (1, 2):
        c.fail("[mesh].order", "must be 1 or 2", mesh.order)
    else:
        order = int(mesh.order)

    if mesh.file is not None:
        if not isinstance(mesh.file, str | os.PathLike):
            c.fail("[mesh].file", ": expected a path", mesh.file)
        path = Path(mesh.file).expanduser().resolve()
        if not path.is_file():
            c.fail("[mesh].file", "not found", str(path))
        for key in ("size", "origin", "corners", "cells"):
            if getattr(mesh, key) is not None:
                c.fail(f"[mesh].{key}", "is only used with a generator, not with a mesh file")
        return replace(mesh, file=path, element=element, order=order)

    generator = c.choice("[mesh].generator", mesh.generator, GENERATORS)
    if element is None:
        c.fail("[mesh].element", f"is required with generator {format_value(generator)}")
    if generator == "box":
        if mesh.corners is not None:
            c.fail("[mesh].corners", 'is only used with generator "quadrilateral"')
        size = c.required("[mesh].size", mesh.size, 'with generator "box"')
        size = c.numbers("[mesh].size", size, dim, "edge lengths, one per axis")
        if min(size) <= 0:
            c.fail("[mesh].size", "must be positive", mesh.size)
        origin = (0.0,) * dim
        if mesh.origin is not None:
            origin = c.numbers("[mesh].origin", mesh.origin, dim, "the lower corner")
        cells = _cells(c, mesh.cells, dim, 'with generator "box"')
        return replace(mesh, size=size, origin=origin, cells=cells, element=element, order=order)

    if dim != 2:
        c.fail("[mesh].generator", f"is 2D only but [scene].dim = {dim}", generator)
    for key in ("size", "origin"):
        if getattr(mesh, key) is not None:
            c.fail(f"[mesh].{key}", 'is only used with generator "box"')
    corners = _corners(c, c.required("[mesh].corners", mesh.corners, 'with generator "quadrilateral"'))
    cells = _cells(c, mesh.cells, 2, 'with generator "quadrilateral"')
    return replace(mesh, corners=corners, cells=cells, element=element, order=order)


def _cells(c: Checker, value: Any, dim: int, why: str) -> tuple[int, ...]:
    items = c.sequence("[mesh].cells", c.required("[mesh].cells", value, why), "integers")
    if len(items) != dim:
        c.fail("[mesh].cells", f": expected {dim} integers (cells per axis)", value)
    if any(isinstance(n, bool) or not isinstance(n, numbers.Integral) for n in items):
        c.fail("[mesh].cells", ": expected integers", value)
    if min(items) < 1:
        c.fail("[mesh].cells", "must be positive integers", value)
    return tuple(int(n) for n in items)


def _corners(c: Checker, value: Any) -> tuple[tuple[float, float], ...]:
    items = c.sequence("[mesh].corners", value, "[x, y] pairs")
    if len(items) != 4:
        c.fail("[mesh].corners", ": expected 4 [x, y] corners", value)
    if not all(isinstance(p, tuple | list | np.ndarray) for p in items):
        c.fail("[mesh].corners", ": expected 4 [x, y] corners", value)
    corners = tuple(c.numbers("[mesh].corners", p, 2, "x, y") for p in items)
    # The bilinear map from the unit square is one-to-one only on a convex quadrilateral;
    # a left turn at every corner means convex and counter-clockwise.
    pts = np.array(corners)
    edges = np.roll(pts, -1, axis=0) - pts  # edge i runs from corner i to corner i + 1
    before = np.roll(edges, 1, axis=0)
    turns = before[:, 0] * edges[:, 1] - before[:, 1] * edges[:, 0]
    if np.any(turns <= 0):
        c.fail("[mesh].corners", "must be a convex quadrilateral listed counter-clockwise", value)
    return corners


def check_material(c: Checker, info: SceneInfo, m: MaterialSpec) -> MaterialSpec:
    model = c.choice("[material].model", m.model, MODELS)
    density = c.positive("[material].density", m.density)
    if info.kind == "diffusion":
        if model != "linear":
            c.fail("[material].model", "is only for elasticity", model)
        for key in LAW_KEYS:
            if getattr(m, key) is not None:
                c.fail(f"[material].{key}", "is only for elasticity", getattr(m, key))
        heat_capacity = 1.0 if m.heat_capacity is None else c.positive("[material].heat_capacity", m.heat_capacity)
        conductivity = _conductivity(c, info, m.conductivity)
        return replace(m, density=density, conductivity=conductivity, heat_capacity=heat_capacity)

    for key in ("conductivity", "heat_capacity"):
        if getattr(m, key) is not None:
            c.fail(f"[material].{key}", "is only for diffusion", getattr(m, key))
    law = {f.name: f for f in fields(LAWS[model]) if f.init}
    for key in LAW_KEYS:
        value = getattr(m, key)
        if value is not None and key not in law and key != "plane":  # plane: checked below
            hint = f"(the parameters of {model}: {', '.join(law)})"
            c.fail(f"[material].{key}", f'is not a parameter of model = "{model}" {hint}', value)
    values = {key: _law_value(c, model, key, getattr(m, key), law[key]) for key in law if key != "plane"}
    if "nu" in values and values["nu"] >= 0.5:
        c.fail("[material].nu", "must be below 0.5", m.nu)
    if "nu" in values and values["nu"] <= -1.0:
        c.fail("[material].nu", "must be above -1", m.nu)
    if "C10" in values and values["C10"] + values["C01"] <= 0.0:
        c.fail("[material]", "needs C10 + C01 > 0 (the shear modulus is 2 (C10 + C01))")
    plane = m.plane
    if info.dim == 3 and plane is not None:
        c.fail("[material].plane", "is only for 2D elasticity (remove it in 3D)", plane)
    if info.dim == 2:
        plane = "strain" if plane is None else c.choice("[material].plane", plane, PLANES)
        if plane == "stress" and "plane" not in law:
            c.fail("[material].plane", f'is not supported with model = "{model}" (use plane = "strain")', plane)
    return replace(m, model=model, density=density, plane=plane, **values)


def _law_value(c: Checker, model: str, key: str, value: Any, spec: Field) -> float:
    """A law parameter: required where the law has no default; positive or non-negative as its name says."""
    if value is None:
        if spec.default is MISSING_FIELD:
            c.fail(f"[material].{key}", f'is required for elasticity with model = "{model}"')
        return spec.default
    if key in NON_NEGATIVE_KEYS:
        return c.non_negative(f"[material].{key}", value)
    return c.number(f"[material].{key}", value) if key == "nu" else c.positive(f"[material].{key}", value)


NON_NEGATIVE_KEYS = ("C10", "C01", "hardening", "kinematic_hardening")


def _conductivity(c: Checker, info: SceneInfo, value: Any) -> float | Expression:
    key = "[material].conductivity"
    if value is None:
        return 1.0
    if not isinstance(value, str | Expression):
        return c.positive(key, value)
    expr = c.expression(key, value)
    if not expr.is_constant:
        return expr
    constant = _constant(c, info, key, expr, value)
    if not constant > 0:
        c.fail(key, "must be positive", value)
    return constant


def _constant(c: Checker, info: SceneInfo, key: str, expr: Expression, value: Any) -> float:
    """A formula without coordinates is a number: check it now and hand the engine a float."""
    constant = float(expr.evaluate(np.zeros((1, info.dim)))[0])
    if not math.isfinite(constant):
        c.fail(key, "must be finite", value)
    return constant


def no_bc(c: Checker, info: SceneInfo) -> NoReturn:
    types = " or ".join(BC_TYPES[info.kind])
    c.fail("no Dirichlet condition", f"([[bc]] {types}): the {info.kind} system would be singular")


def check_bc(c: Checker, info: SceneInfo, i: int, bc: BoundaryCondition) -> BoundaryCondition:
    key = f"[[bc]][{i}]"
    if info.kind == "diffusion" and bc.type == "displacement":
        c.fail(f"{key}.type", 'is only for elasticity (use "fixed" with value = the temperature)', bc.type)
    bc_type = c.choice(f"{key}.type", bc.type, BC_TYPES[info.kind])
    region = c.expression(f"{key}.region", c.required(f"{key}.region", bc.region, "(which nodes)"))
    if bc_type == "displacement":
        c.required(f"{key}.value", bc.value, 'for type = "displacement"')
    value = 0.0 if bc.value is None else bc.value
    if info.kind == "diffusion":
        if bc.components is not None:
            c.fail(f"{key}.components", "is only for elasticity", bc.components)
        return replace(bc, region=region, value=c.number(f"{key}.value", value))

    components = _components(c, f"{key}.components", bc.components, info.dim)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        vector = (c.number(f"{key}.value", value),) * len(components)
    else:
        items = c.sequence(f"{key}.value", value, "numbers")
        if len(items) not in (len(components), info.dim):
            c.fail(f"{key}.value", f": expected a number or {info.dim} numbers (one per axis)", value)
        vector = c.numbers(f"{key}.value", items, len(items), "one per component")
        if len(vector) != len(components):  # one per axis: keep the constrained ones
            vector = tuple(vector[j] for j in components)
    return replace(bc, region=region, value=vector, components=components)


def _components(c: Checker, key: str, value: Any, dim: int) -> tuple[int, ...]:
    if value is None:
        return tuple(range(dim))
    names = AXES[:dim]
    items = c.sequence(key, value, "axis names")
    indices = []
    for item in items:
        if isinstance(item, str) and item in names:
            indices.append(names.index(item))
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool) and 0 <= item < dim:
            indices.append(int(item))
        else:
            c.fail(key, f": expected names from {', '.join(format_value(n) for n in names)}", value)
    if not indices:
        c.fail(key, "must not be empty (leave it out to constrain all components)", value)
    if len(set(indices)) != len(indices):
        c.fail(key, "has duplicates", value)
    return tuple(indices)


def check_load(c: Checker, info: SceneInfo, time: TimeSpec | None, i: int, load: Load) -> Load:
    key = f"[[load]][{i}]"
    if info.kind == "diffusion" and load.type == "pressure":
        c.fail(f"{key}.type", "is only for elasticity (use traction for a heat flux)", load.type)
    if info.kind == "diffusion" and load.type == "gravity":
        c.fail(f"{key}.type", "is only for elasticity (use body for a heat source)", load.type)
    load_type = c.choice(f"{key}.type", load.type, LOAD_TYPES[info.kind])
    region = load.region
    if load_type in ("traction", "pressure"):
        region = c.required(f"{key}.region", region, f"for a {load_type} load (which boundary)")
    if load_type == "gravity" and region is not None:
        c.fail(f"{key}.region", "is not used by gravity (it acts on the whole body)", region)
    if region is not None:
        region = c.expression(f"{key}.region", region)
    value = c.required(f"{key}.value", load.value)
    if info.kind == "diffusion" or load_type == "pressure":
        value = c.number(f"{key}.value", value)
    else:
        value = c.numbers(f"{key}.value", value, info.dim, "a vector, one per axis")
    ramp, ramp_time = _ramp(c, key, time, load.ramp, load.ramp_time)
    return replace(load, type=load_type, value=value, region=region, ramp=ramp, ramp_time=ramp_time)


def _ramp(c: Checker, key: str, time: TimeSpec | None, ramp: Any, ramp_time: Any) -> tuple[str, float | None]:
    ramp = c.choice(f"{key}.ramp", ramp, RAMPS)
    if ramp == "constant":
        if ramp_time is not None:
            c.fail(f"{key}.ramp_time", f"is only used with ramp = {' | '.join(RAMPS[1:])}", ramp_time)
        return ramp, None
    if ramp_time is not None:
        return ramp, c.positive(f"{key}.ramp_time", ramp_time)
    if ramp == "sine":
        c.fail(f"{key}.ramp_time", 'is required with ramp = "sine" (the period, s)')
    # linear and smooth rise over the whole run unless told otherwise (a static solve ignores ramps)
    return ramp, None if time is None else time.end_time


def check_solver(c: Checker, solver: SolverSpec, default: str = "amg") -> SolverSpec:
    """The checked solver settings; a preconditioner left out (None) becomes ``default``.

    ``learned:PATH`` becomes the :class:`~learnsim.learned.registry.ModelFile` it names (relative
    paths: from the working directory), checked to be a preconditioner kind.
    """
    key = "[solver].preconditioner"
    pc = default if solver.preconditioner is None else solver.preconditioner
    if not isinstance(pc, ModelFile):  # a ModelFile was checked when its scene was built
        pc = c.string(key, pc)
        if pc.startswith(LEARNED_PREFIX):
            path = pc[len(LEARNED_PREFIX) :].strip()
            if not path:
                c.fail(key, "needs a model path after 'learned:'", pc)
            pc = model_file(path, use="preconditioner", where=f"{c.source}: {key} = {format_value(pc)}")
        elif pc not in PRECONDITIONERS:
            c.fail(key, f": expected one of {', '.join(PRECONDITIONERS)} or learned:PATH", pc)
    tols = {}
    for name in ("tol", "newton_tol"):
        tols[name] = c.number(f"[solver].{name}", getattr(solver, name))
        if not 0 < tols[name] < 1:
            c.fail(f"[solver].{name}", "must be between 0 and 1", getattr(solver, name))
    max_iters = None if solver.max_iters is None else c.integer("[solver].max_iters", solver.max_iters)
    return replace(
        solver,
        preconditioner=pc,
        **tols,
        max_iters=max_iters,
        newton_max_iters=c.integer("[solver].newton_max_iters", solver.newton_max_iters),
        load_steps=c.integer("[solver].load_steps", solver.load_steps),
    )


def check_field_names(c: Checker, kind: str, fields: Any) -> list[str]:
    """``[output].fields``: names from :data:`FIELDS` of ``kind``, without duplicates."""
    allowed = FIELDS[kind]
    names = c.sequence("[output].fields", fields, "field names")
    for name in names:
        if name not in allowed:
            c.fail(
                "[output].fields",
                f": {format_value(name)} is not a field for {kind} (use {', '.join(allowed)})",
                fields,
            )
    if len(set(names)) != len(names):
        c.fail("[output].fields", "has duplicates", fields)
    return names


def check_output(c: Checker, info: SceneInfo, time: TimeSpec | None, output: OutputSpec) -> OutputSpec:
    allowed = FIELDS[info.kind]
    for key in ("frames", "walls"):
        if getattr(output, key) is not None:  # the SPH kind has its own output check
            c.fail(f"[output].{key}", 'is only for kind = "sph" (use every)', getattr(output, key))
    fields = check_field_names(c, info.kind, output.fields)
    for name in fields:
        if time is None and name in DYNAMIC_FIELDS:
            c.fail(
                "[output].fields", f": {format_value(name)} needs a time-dependent scene (add [time])", output.fields
            )
    if not fields:
        fields = [name for name in allowed if time is not None or name not in DYNAMIC_FIELDS]
    if time is None:
        if output.every is not None:
            c.fail("[output].every", "is only used with [time] (a static scene has one frame)", output.every)
        return replace(output, fields=tuple(fields))
    every = 1 if output.every is None else c.integer("[output].every", output.every)
    return replace(output, fields=tuple(fields), every=every)


def check_time(c: Checker, time: TimeSpec) -> TimeSpec:
    dt = c.positive("[time].dt", c.required("[time].dt", time.dt, "(the time step, s)"))
    if time.steps is None and time.end is None:
        c.fail("[time]", "needs steps or end (the number of steps or the end time, s)")
    if time.steps is not None and time.end is not None:
        c.fail("[time]", "has both steps and end: give exactly one")
    if time.steps is not None:
        steps = c.integer("[time].steps", time.steps)
    else:
        end = c.positive("[time].end", time.end)
        steps = round(end / dt)
        if steps < 1:
            c.fail("[time].end", f"is less than half a step (dt = {format_value(dt)} s)", time.end)
    integrator = "newmark" if time.integrator is None else c.choice("[time].integrator", time.integrator, INTEGRATORS)
    default_mass = "lumped" if integrator == "explicit" else "consistent"
    mass = default_mass if time.mass is None else c.choice("[time].mass", time.mass, MASSES)
    return replace(time, dt=dt, steps=steps, end=None, integrator=integrator, mass=mass)


def check_initial(
    c: Checker, info: SceneInfo, time: TimeSpec | None, initial: InitialSpec | None
) -> InitialSpec | None:
    if time is None:
        if initial is not None:
            c.fail("[initial]", "is only used with [time] (a static scene has no initial state)")
        return None
    initial = InitialSpec() if initial is None else initial
    keys = {"displacement": "elasticity", "velocity": "elasticity", "temperature": "diffusion"}
    checked = {}
    for key, kind in keys.items():
        value = getattr(initial, key)
        if value is None:
            continue
        if kind != info.kind:
            c.fail(f"[initial].{key}", f"is only for {kind}", value)
        if kind == "diffusion":
            checked[key] = field_value(c, info, f"[initial].{key}", value)
            continue
        items = c.sequence(f"[initial].{key}", value, "numbers or formulas")
        if len(items) != info.dim:
            c.fail(f"[initial].{key}", f": expected {info.dim} numbers or formulas (one per axis)", value)
        checked[key] = tuple(field_value(c, info, f"[initial].{key}", item, whole=value) for item in items)
    return replace(initial, **checked)


def field_value(c: Checker, info: SceneInfo, key: str, value: Any, whole: Any = MISSING) -> float | Expression:
    """A number, or a formula of x, y, z (a formula without coordinates becomes its number)."""
    shown = value if whole is MISSING else whole
    if isinstance(value, bool) or not isinstance(value, numbers.Real | str | Expression):
        c.fail(key, ": expected numbers or formulas of x, y, z in strings", shown)
    if not isinstance(value, str | Expression):
        if not math.isfinite(value):
            c.fail(key, ": expected finite numbers", shown)
        return float(value)
    where = f"{c.source}: {key} = {format_value(shown)}"
    expr = value if isinstance(value, Expression) else Expression(value, where=where)
    return _constant(c, info, key, expr, shown) if expr.is_constant else expr
