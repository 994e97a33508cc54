"""Scene loading: built-in scenes, overrides, relative mesh paths, and every validation rule."""

import copy
import json
import math
import re
from pathlib import Path

import pytest

from learnsim.core.errors import InputError
from learnsim.learned.registry import ModelFile, model_kind
from learnsim.scenes import (
    BoundaryCondition,
    Expression,
    InitialSpec,
    Load,
    MaterialSpec,
    MeshSpec,
    Scene,
    SceneInfo,
    TimeSpec,
    apply_overrides,
    builtin_scenes,
    load_scene,
    scene_from_dict,
    scene_to_dict,
)

ELASTIC_2D = {
    "scene": {"name": "t", "kind": "elasticity", "dim": 2},
    "mesh": {"generator": "box", "size": [2, 1], "cells": [4, 2], "element": "quad"},
    "material": {"E": 100, "nu": 0.3},
    "bc": [{"type": "fixed", "region": "x < 1e-9"}],
    "load": [{"type": "traction", "region": "x > 2 - 1e-9", "value": [0, -1]}],
}
ELASTIC_3D = {
    "scene": {"name": "t", "kind": "elasticity", "dim": 3},
    "mesh": {"generator": "box", "size": [2, 1, 1], "cells": [4, 2, 2], "element": "hex"},
    "material": {"E": 100, "nu": 0.3},
    "bc": [{"type": "fixed", "region": "x < 1e-9"}],
}
DIFFUSION = {
    "scene": {"name": "t", "kind": "diffusion", "dim": 2},
    "mesh": {"generator": "box", "size": [1, 1], "cells": [4, 4], "element": "tri"},
    "bc": [{"type": "fixed", "region": "x < 1e-9", "value": 1}],
}


def _with(base: dict, path: str, value=..., delete=False) -> dict:
    """A deep copy of ``base`` with ``a.b.0.c`` set to value (or deleted)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key = int(last) if isinstance(node, list) else last
    if delete:
        del node[key]
    else:
        node[key] = value
    return data


def _fails(data: dict, pattern: str) -> None:
    with pytest.raises(InputError, match="^test.toml: " + pattern) as info:
        scene_from_dict(data, source="test.toml")
    assert "\n" not in str(info.value)


# ---- built-in scenes and round trips -------------------------------------------------------


def test_builtin_scenes_are_listed_with_descriptions():
    scenes = dict(builtin_scenes())
    assert sorted(scenes) == [
        "beam_steps",
        "cantilever",
        "cook_membrane",
        "dam_break",
        "dam_break_3d",
        "dam_break_isph",
        "diffusion_cook",
        "heat_plate",
        "heat_transient",
        "hydrostatic_tank",
        "poiseuille",
        "poisson_obstacles",
        "poisson_obstacles_3d",
        "vibrating_beam",
    ]
    assert all(description and "\n" not in description for description in scenes.values())


def test_cantilever():
    scene = load_scene("cantilever")
    assert scene.source == "cantilever.toml"
    assert (scene.kind, scene.dim) == ("elasticity", 3)
    assert scene.mesh.size == (10.0, 1.0, 1.0) and scene.mesh.cells == (20, 2, 2)
    assert (scene.mesh.element, scene.mesh.order) == ("hex", 2)
    assert (scene.material.E, scene.material.nu, scene.material.plane) == (1000.0, 0.0, None)
    assert scene.bcs[0].value == (0.0, 0.0, 0.0) and scene.bcs[0].components == (0, 1, 2)
    assert scene.loads[0].value == (0.0, -1.0, 0.0)
    assert (scene.solver.preconditioner, scene.solver.tol) == ("amg", 1e-10)


def test_cook_membrane():
    scene = load_scene("cook_membrane")
    assert scene.mesh.generator == "quadrilateral"
    assert scene.mesh.corners == ((0, 0), (48, 44), (48, 60), (0, 44))
    assert scene.material.plane == "stress"
    assert scene.material.nu == pytest.approx(1 / 3, rel=1e-15)
    # 0.0625 over the edge of length 16 is a total vertical force of 1
    assert scene.loads[0].value[1] * 16 == pytest.approx(1.0, rel=1e-15)


def test_heat_plate():
    scene = load_scene("heat_plate")
    assert (scene.kind, scene.mesh.order, scene.solver.preconditioner) == ("diffusion", 1, "ic0")
    k = scene.material.conductivity
    assert isinstance(k, Expression)
    assert k.evaluate([[0.5, 0.5], [0.0, 0.0]]).tolist() == [1000.0, 1.0]
    assert [bc.value for bc in scene.bcs] == [0.0, 1.0]
    assert scene.output.fields == ("temperature",)


@pytest.mark.parametrize("name", ["cantilever", "cook_membrane", "heat_plate", "heat_transient", "vibrating_beam"])
def test_round_trip_through_a_dict(name):
    scene = load_scene(name)
    assert scene_from_dict(scene_to_dict(scene), source=scene.source) == scene


def test_scene_file_on_disk(tmp_path):
    text = Path(__file__).parents[2].joinpath("learnsim/scenes/builtin/cantilever.toml").read_text()
    path = tmp_path / "beam.toml"
    path.write_text(text)
    scene = load_scene(path)
    assert scene.source == str(path)
    assert scene == Scene(**{**vars(load_scene("cantilever")), "source": str(path)})


def test_unknown_scene_lists_builtins():
    message = (
        "no such scene 'foo' (not a file; built-in scenes: beam_steps, cantilever, cook_membrane, dam_break, "
        "dam_break_3d, dam_break_isph, diffusion_cook, heat_plate, heat_transient, hydrostatic_tank, poiseuille, "
        "poisson_obstacles, poisson_obstacles_3d, vibrating_beam)"
    )
    with pytest.raises(InputError, match=re.escape(message)):
        load_scene("foo")


def test_python_built_scene_gets_the_same_checks():
    parts = dict(
        scene=SceneInfo("beam", "elasticity", 2),
        mesh=MeshSpec(generator="box", size=(1, 1), cells=(2, 2), element="quad"),
        bcs=[BoundaryCondition("fixed", "x < 1e-9", components=("y",))],
        loads=(Load("body", (0, -1)),),
    )
    scene = Scene(material=MaterialSpec(E=10, nu=0.2), **parts)
    assert scene.material.plane == "strain" and scene.mesh.order == 2
    assert scene.bcs[0].components == (1,) and scene.bcs[0].value == (0.0,)
    assert isinstance(scene.bcs[0].region, Expression) and scene.loads[0].region is None
    with pytest.raises(InputError, match=re.escape("<python>: [material].nu = 0.5 must be below 0.5")):
        Scene(material=MaterialSpec(E=10, nu=0.5), **parts)


# ---- overrides -----------------------------------------------------------------------------


def test_overrides_set_values():
    scene = load_scene(
        "cantilever",
        ["material.E=2000", "mesh.cells=[40,4,4]", "bc.0.value=0.5", "solver.preconditioner=ic0"],
    )
    assert scene.material.E == 2000.0 and isinstance(scene.material.E, float)
    assert scene.mesh.cells == (40, 4, 4)
    assert scene.bcs[0].value == (0.5, 0.5, 0.5)
    assert scene.solver.preconditioner == "ic0"


def test_overrides_take_unquoted_text_as_a_string_and_add_entries():
    scene = load_scene(
        "cantilever",
        [
            "bc.0.region=x < 2",
            "solver.max_iters=50",
            "bc.1.type=displacement",
            "bc.1.region=x > 9",
            "bc.1.value=[0.1]",
            'bc.1.components=["y"]',
        ],
    )
    assert scene.bcs[0].region == Expression("x < 2")
    assert scene.solver.max_iters == 50
    assert scene.bcs[1].components == (1,) and scene.bcs[1].value == (0.1,)


def test_override_leaves_the_input_dict_alone():
    data = copy.deepcopy(ELASTIC_2D)
    apply_overrides(data, ["material.E=1"])
    assert data == ELASTIC_2D


def test_override_of_a_relative_mesh_file_resolves_against_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "part.msh").write_text("dummy")
    monkeypatch.chdir(tmp_path)
    data = apply_overrides(ELASTIC_2D, ["mesh.file=part.msh"])
    assert data["mesh"]["file"] == str((tmp_path / "part.msh").resolve())


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("materialE2000", "override 'materialE2000' has no '='"),
        ("=3", "override '=3': empty key"),
        ("material..E=3", "empty key"),
        ("bc.5.value=1", r"index 5 is out of range \(\[\[bc\]\] has 1 entries\)"),
        ("bc.value=1", "bc is an array of tables; address an entry by index, e.g. bc.0.value"),
        ("material.E.x=1", "material.E = 1000.0 is a value, not a table"),
    ],
)
def test_bad_overrides(override, pattern):
    with pytest.raises(InputError, match=pattern):
        load_scene("cantilever", [override])


def test_override_of_an_unknown_key_is_caught_by_validation():
    with pytest.raises(InputError, match=re.escape("[material].Nu = 0.2 is not a known key (did you mean 'nu'?)")):
        load_scene("cantilever", ["material.Nu=0.2"])
    with pytest.raises(InputError, match=re.escape("[material].E = -1 must be positive")):
        load_scene("cantilever", ["material.E=-1"])


# ---- mesh files ----------------------------------------------------------------------------


def test_relative_mesh_file_resolves_against_the_scene_folder(tmp_path, monkeypatch):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "part.msh").write_text("dummy")
    (folder / "scene.toml").write_text(
        '[scene]\nname = "p"\nkind = "diffusion"\ndim = 2\n[mesh]\nfile = "part.msh"\n'
        '[[bc]]\ntype = "fixed"\nregion = "x < 0"\n'
    )
    monkeypatch.chdir(tmp_path)
    scene = load_scene("case/scene.toml")
    assert scene.mesh.file == (folder / "part.msh").resolve()
    assert scene.mesh.element is None and scene.mesh.order == 1


def test_missing_mesh_file_shows_the_resolved_path(tmp_path):
    data = {**DIFFUSION, "mesh": {"file": "nope.msh"}}
    expected = str((tmp_path / "nope.msh").resolve())
    with pytest.raises(InputError, match=re.escape(f'test.toml: [mesh].file = "{expected}" not found')):
        scene_from_dict(data, source="test.toml", base_dir=tmp_path)


def test_mesh_file_with_generator_keys(tmp_path):
    (tmp_path / "m.msh").write_text("dummy")
    data = {**DIFFUSION, "mesh": {"file": "m.msh", "cells": [2, 2]}}
    with pytest.raises(InputError, match=re.escape("[mesh].cells is only used with a generator")):
        scene_from_dict(data, base_dir=tmp_path)


# ---- validation rules ----------------------------------------------------------------------


def test_toml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[scene]\nname = "x"\nkind = \n')
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: TOML syntax error: .*line 3"):
        load_scene(path)


DELETE = object()
EL2, EL3, DIF = ELASTIC_2D, ELASTIC_3D, DIFFUSION
DYN = {**ELASTIC_2D, "time": {"dt": 0.1, "steps": 10}}
DYNDIF = {**DIFFUSION, "time": {"dt": 0.1, "steps": 10}}
QUAD = {"generator": "quadrilateral", "cells": [2, 2], "element": "quad"}
NEO = _with(EL2, "material.model", "neo-hookean")

# (base scene, dotted key, new value or DELETE, start of the expected message after "test.toml: ")
RULES = [
    # tables and keys
    (EL2, "materials", {}, "[materials] is not a known table (did you mean [material]?)"),
    (EL2, "bcs", [], "[bcs] is not a known table (did you mean [[bc]]?)"),
    (EL2, "material.Nu", 0.3, "[material].Nu = 0.3 is not a known key (did you mean 'nu'?)"),
    (EL2, "material.e", 3, "[material].e = 3 is not a known key (did you mean 'E'?)"),
    (EL2, "bc.0.regoin", "x", "[[bc]][0].regoin = \"x\" is not a known key (did you mean 'region'?)"),
    (EL2, "bc", {"type": "fixed"}, "[bc] must be an array of tables: write [[bc]]"),
    (EL2, "scene", [{}], "[[scene]] must be a single table: write [scene]"),
    (EL2, "mesh", DELETE, "[mesh] is missing"),
    (EL2, "scene.kind", DELETE, "[scene].kind is required"),
    (EL2, "bc.0.region", DELETE, "[[bc]][0].region is required"),
    (EL2, "load.0.value", DELETE, "[[load]][0].value is required"),
    # types and finiteness
    (EL2, "material.E", "hard", '[material].E = "hard": expected a number'),
    (EL2, "material.E", True, "[material].E = true: expected a number"),
    (EL2, "material.nu", float("nan"), "[material].nu = nan: expected a finite number"),
    (EL2, "material.E", float("inf"), "[material].E = inf: expected a finite number"),
    (EL2, "scene.dim", 2.0, "[scene].dim = 2.0: expected an integer"),
    (EL2, "bc.0.region", 1, "[[bc]][0].region = 1: expected a formula"),
    # scene
    (EL2, "scene.kind", "fluid", '[scene].kind = "fluid": expected one of diffusion, elasticity'),
    (EL2, "scene.dim", 4, "[scene].dim = 4 must be 2 or 3"),
    (EL2, "scene.name", "", '[scene].name = "" must not be empty'),
    # mesh
    (EL2, "mesh.element", "hex", '[mesh].element = "hex" is a 3D element but [scene].dim = 2'),
    (EL3, "mesh.element", "quad", '[mesh].element = "quad" is a 2D element but [scene].dim = 3'),
    (EL2, "mesh.element", "pyramid", '[mesh].element = "pyramid": expected one of tri, quad, tet, hex'),
    (EL2, "mesh.element", DELETE, '[mesh].element is required with generator "box"'),
    (EL2, "mesh.file", "m.msh", "[mesh] has both file and generator: give exactly one"),
    (EL2, "mesh.generator", DELETE, "[mesh] needs a file or a generator"),
    (EL2, "mesh.generator", "ball", '[mesh].generator = "ball": expected one of box, quadrilateral'),
    (EL2, "mesh.cells", [4, 2, 2], "[mesh].cells = [4, 2, 2]: expected 2 integers (cells per axis)"),
    (EL2, "mesh.cells", [4, 0], "[mesh].cells = [4, 0] must be positive integers"),
    (EL2, "mesh.cells", [4, 2.5], "[mesh].cells = [4, 2.5]: expected integers"),
    (EL2, "mesh.cells", DELETE, '[mesh].cells is required with generator "box"'),
    (EL2, "mesh.size", [1, -1], "[mesh].size = [1, -1] must be positive"),
    (EL2, "mesh.size", [1], "[mesh].size = [1]: expected 2 numbers"),
    (EL2, "mesh.origin", [0, 0, 0], "[mesh].origin = [0, 0, 0]: expected 2 numbers"),
    (EL2, "mesh.order", 3, "[mesh].order = 3 must be 1 or 2"),
    (
        EL2,
        "mesh.corners",
        [[0, 0], [1, 0], [1, 1], [0, 1]],
        '[mesh].corners is only used with generator "quadr',
    ),
    (
        EL3,
        "mesh",
        {**QUAD, "corners": [[0, 0], [1, 0], [1, 1], [0, 1]], "element": "hex"},
        '[mesh].generator = "quadrilateral" is 2D only but [scene].dim = 3',
    ),
    (
        EL2,
        "mesh",
        {**QUAD, "corners": [[0, 0], [0, 1], [1, 1], [1, 0]]},
        "[mesh].corners = [[0, 0], [0, 1], [1, 1], [1, 0]] must be a convex quadrilateral listed counter-",
    ),
    (
        EL2,
        "mesh",
        {**QUAD, "corners": [[0, 0], [1, 0], [1, 1]]},
        "[mesh].corners = [[0, 0], [1, 0], [1, 1]]: expected 4 [x, y] corners",
    ),
    # material
    (EL2, "material.E", 0, "[material].E = 0 must be positive"),
    (EL2, "material.nu", 0.5, "[material].nu = 0.5 must be below 0.5"),
    (EL2, "material.nu", -1, "[material].nu = -1 must be above -1"),
    (EL2, "material.density", 0, "[material].density = 0 must be positive"),
    (EL2, "material.E", DELETE, "[material].E is required for elasticity"),
    (EL2, "material.nu", DELETE, "[material].nu is required for elasticity"),
    (EL2, "material.model", "rubber", '[material].model = "rubber": expected one of linear, neo-hookean'),
    (EL2, "material.plane", "flat", '[material].plane = "flat": expected one of strain, stress'),
    (EL3, "material.plane", "strain", '[material].plane = "strain" is only for 2D elasticity'),
    (
        NEO,
        "material.plane",
        "stress",
        '[material].plane = "stress" is not supported with model = "neo-hookean" (use plane = "strain")',
    ),
    (EL2, "material.conductivity", 2, "[material].conductivity = 2 is only for diffusion"),
    (DIF, "material.conductivity", 0, "[material].conductivity = 0 must be positive"),
    (DIF, "material.conductivity", "1 - 2", '[material].conductivity = "1 - 2" must be positive'),
    (DIF, "material.conductivity", "k * x", "[material].conductivity = \"k * x\": name 'k' is not allowed"),
    (DIF, "material.E", 1, "[material].E = 1 is only for elasticity"),
    (DIF, "material.model", "neo-hookean", '[material].model = "neo-hookean" is only for elasticity'),
    # boundary conditions
    (
        EL2,
        "bc",
        [],
        "no Dirichlet condition ([[bc]] fixed or displacement): the elasticity system would be singular",
    ),
    (DIF, "bc", [], "no Dirichlet condition ([[bc]] fixed): the diffusion system would be singular"),
    (EL2, "bc.0.type", "pinned", '[[bc]][0].type = "pinned": expected one of fixed, displacement'),
    (DIF, "bc.0.type", "displacement", '[[bc]][0].type = "displacement" is only for elasticity'),
    (EL2, "bc.0.type", "displacement", '[[bc]][0].value is required for type = "displacement"'),
    (EL2, "bc.0.region", "os.system", '[[bc]][0].region = "os.system": attribute access is not allowed'),
    (EL2, "bc.0.region", "x <", '[[bc]][0].region = "x <": syntax error at the end'),
    (DIF, "bc.0.components", ["x"], '[[bc]][0].components = ["x"] is only for elasticity'),
    (EL2, "bc.0.components", ["z"], '[[bc]][0].components = ["z"]: expected names from "x", "y"'),
    (EL2, "bc.0.components", ["x", "x"], '[[bc]][0].components = ["x", "x"] has duplicates'),
    (EL2, "bc.0.components", [], "[[bc]][0].components = [] must not be empty"),
    (EL2, "bc.0.value", [1, 2, 3], "[[bc]][0].value = [1, 2, 3]: expected a number or 2 numbers"),
    (DIF, "bc.0.value", [1, 2], "[[bc]][0].value = [1, 2]: expected a number"),
    # loads
    (EL2, "load.0.type", "spring", '[[load]][0].type = "spring": expected one of traction, pressure, body, gravity'),
    (
        DIF,
        "load",
        [{"type": "pressure", "region": "x > 0", "value": 1}],
        '[[load]][0].type = "pressure" is only for elasticity',
    ),
    (EL2, "load.0.region", DELETE, "[[load]][0].region is required for a traction load"),
    (EL2, "load", [{"type": "pressure", "value": 1}], "[[load]][0].region is required for a pressure load"),
    (EL2, "load.0.value", [0, 1, 0], "[[load]][0].value = [0, 1, 0]: expected 2 numbers"),
    (EL2, "load.0.value", 1, "[[load]][0].value = 1: expected a list of numbers"),
    (
        EL2,
        "load",
        [{"type": "pressure", "region": "x > 0", "value": [1, 0]}],
        "[[load]][0].value = [1, 0]: expected a number",
    ),
    (DIF, "load", [{"type": "body", "value": [1, 0]}], "[[load]][0].value = [1, 0]: expected a number"),
    (EL2, "load.0.region", "y[0]", '[[load]][0].region = "y[0]": a subscript is not allowed'),
    # solver and output
    (
        EL2,
        "solver.preconditioner",
        "ilu",
        '[solver].preconditioner = "ilu": expected one of none, jacobi, ic0, amg or learned:PATH',
    ),
    (EL2, "solver.preconditioner", "learned:", '[solver].preconditioner = "learned:" needs a model path'),
    (EL2, "solver.tol", 0, "[solver].tol = 0 must be between 0 and 1"),
    (EL2, "solver.tol", 1.0, "[solver].tol = 1.0 must be between 0 and 1"),
    (EL2, "solver.newton_tol", -1e-3, "[solver].newton_tol = -0.001 must be between 0 and 1"),
    (EL2, "solver.max_iters", 0, "[solver].max_iters = 0 must be positive"),
    (EL2, "solver.load_steps", 0, "[solver].load_steps = 0 must be positive"),
    (
        EL2,
        "output.fields",
        ["temperature"],
        '[output].fields = ["temperature"]: "temperature" is not a field for elasticity (use displacement',
    ),
    (
        DIF,
        "output.fields",
        ["von_mises"],
        '[output].fields = ["von_mises"]: "von_mises" is not a field for diffusion (use temperature)',
    ),
    (
        DIF,
        "output.fields",
        ["temperature"] * 2,
        '[output].fields = ["temperature", "temperature"] has duplicates',
    ),
    (DIF, "output.fields", "temperature", '[output].fields = "temperature": expected a list of field names'),
    (EL2, "output.fields", ["velocity"], '[output].fields = ["velocity"]: "velocity" needs a time-dependent scene'),
    (EL2, "output.every", 2, "[output].every = 2 is only used with [time]"),
    (DYN, "output.every", 0, "[output].every = 0 must be positive"),
    (DYN, "output.every", 1.5, "[output].every = 1.5: expected an integer"),
    # time
    (EL2, "time", {}, "[time].dt is required"),
    (DYN, "time", {"dt": 0.1}, "[time] needs steps or end"),
    (DYN, "time.end", 1.0, "[time] has both steps and end: give exactly one"),
    (DYN, "time.dt", -0.1, "[time].dt = -0.1 must be positive"),
    (DYN, "time.dt", "1 ms", '[time].dt = "1 ms": expected a number'),
    (DYN, "time.steps", 0, "[time].steps = 0 must be positive"),
    (DYN, "time.steps", 2.5, "[time].steps = 2.5: expected an integer"),
    (DYN, "time", {"dt": 0.1, "end": -1}, "[time].end = -1 must be positive"),
    (DYN, "time", {"dt": 0.1, "end": 0.04}, "[time].end = 0.04 is less than half a step (dt = 0.1 s)"),
    (DYN, "time.integrator", "rk4", '[time].integrator = "rk4": expected one of explicit, implicit-euler, newmark'),
    (DYN, "time.mass", "diagonal", '[time].mass = "diagonal": expected one of lumped, consistent'),
    (DYN, "time.scheme", "newmark", '[time].scheme = "newmark" is not a known key'),
    (DYN, "time", [{"dt": 1}], "[[time]] must be a single table: write [time]"),
    # initial state
    (EL2, "initial", {"velocity": [0, 1]}, "[initial] is only used with [time]"),
    (DYN, "initial.velocity", [0, 1, 2], "[initial].velocity = [0, 1, 2]: expected 2 numbers or formulas (one per"),
    (DYN, "initial.velocity", "x", '[initial].velocity = "x": expected a list of numbers or formulas'),
    (DYN, "initial.displacement", [0, "k * x"], "[initial].displacement = [0, \"k * x\"]: name 'k' is not allowed"),
    (DYN, "initial.velocity", [0, True], "[initial].velocity = [0, true]: expected numbers or formulas"),
    (DYN, "initial.velocity", [0, float("nan")], "[initial].velocity = [0, nan]: expected finite numbers"),
    (DYN, "initial.velocity", [0, "log(-1)"], '[initial].velocity = [0, "log(-1)"] must be finite'),
    (DYN, "initial.temperature", 1, "[initial].temperature = 1 is only for diffusion"),
    (DYNDIF, "initial.velocity", [0, 0], "[initial].velocity = [0, 0] is only for elasticity"),
    (DYNDIF, "initial.temperature", [1], "[initial].temperature = [1]: expected numbers or formulas"),
    (DYNDIF, "initial.temprature", 1, "[initial].temprature = 1 is not a known key (did you mean 'temperature'?)"),
    # ramps and gravity
    (DYN, "load.0.ramp", "step", '[[load]][0].ramp = "step": expected one of constant, linear, smooth, sine'),
    (DYN, "load.0.ramp", "sine", '[[load]][0].ramp_time is required with ramp = "sine" (the period, s)'),
    (EL2, "load.0.ramp", "sine", '[[load]][0].ramp_time is required with ramp = "sine"'),
    (DYN, "load.0.ramp_time", 1.0, "[[load]][0].ramp_time = 1.0 is only used with ramp = linear | smooth | sine"),
    (_with(DYN, "load.0.ramp", "linear"), "load.0.ramp_time", 0, "[[load]][0].ramp_time = 0 must be positive"),
    (DYNDIF, "load", [{"type": "gravity", "value": [0, -9.8]}], '[[load]][0].type = "gravity" is only for elasticity'),
    (
        EL2,
        "load",
        [{"type": "gravity", "value": [0, -9.8], "region": "x > 1"}],
        '[[load]][0].region = "x > 1" is not used by gravity',
    ),
    (EL2, "load", [{"type": "gravity", "value": -9.8}], "[[load]][0].value = -9.8: expected a list of numbers"),
    # heat capacity
    (DIF, "material.heat_capacity", 0, "[material].heat_capacity = 0 must be positive"),
    (EL2, "material.heat_capacity", 1, "[material].heat_capacity = 1 is only for diffusion"),
]


@pytest.mark.parametrize(("base", "key", "value", "message"), RULES, ids=[r[3][:60] for r in RULES])
def test_validation_rule(base, key, value, message):
    _fails(_with(base, key, delete=True) if value is DELETE else _with(base, key, value), re.escape(message))


@pytest.mark.parametrize(
    "base",
    [ELASTIC_2D, ELASTIC_3D, DIFFUSION, DYN, DYNDIF],
    ids=["elastic2d", "elastic3d", "diffusion", "dyn", "dyndif"],
)
def test_the_bases_of_the_rule_tests_are_valid(base):
    scene_from_dict(base, source="test.toml")


def test_defaults_depend_on_kind_and_dimension():
    elastic = scene_from_dict(ELASTIC_2D)
    assert (elastic.mesh.order, elastic.material.plane) == (2, "strain")
    assert elastic.output.fields == ("displacement", "von_mises")
    diffusion = scene_from_dict(DIFFUSION)
    assert (diffusion.mesh.order, diffusion.material.conductivity) == (1, 1.0)
    assert diffusion.bcs[0].value == 1.0 and diffusion.bcs[0].components is None
    assert scene_from_dict(_with(DIFFUSION, "material.conductivity", "2 * pi")).material.conductivity == pytest.approx(
        6.283185307179586, rel=1e-15
    )


def test_bc_values_become_one_per_component():
    def bc(**entry):
        return scene_from_dict(_with(ELASTIC_3D, "bc.0", {"type": "displacement", "region": "x < 0", **entry})).bcs[0]

    assert bc(value=0.1).value == (0.1, 0.1, 0.1)
    assert bc(value=0.1, components=["z", "x"]).components == (2, 0)
    assert bc(value=[1, 2, 3], components=["z", "x"]).value == (3.0, 1.0)
    assert bc(value=[4, 5], components=["z", "x"]).value == (4.0, 5.0)


def test_learned_preconditioner_path_resolves_against_the_scene_folder(tmp_path, monkeypatch):
    (tmp_path / "model.eqx").write_bytes(b"weights")
    sidecar = {"format": "learnsim-model", "version": 1, "kind": "gnn-factor", "hyperparameters": {}}
    (tmp_path / "model.json").write_text(json.dumps(sidecar))
    scene = scene_from_dict(_with(ELASTIC_2D, "solver.preconditioner", "learned:model.eqx"), base_dir=tmp_path)
    assert scene.solver.preconditioner == ModelFile(tmp_path / "model.eqx", model_kind("gnn-factor"))
    assert scene_to_dict(scene)["solver"]["preconditioner"] == f"learned:{tmp_path / 'model.eqx'}"
    with pytest.raises(InputError, match="no model file"):
        scene_from_dict(_with(ELASTIC_2D, "solver.preconditioner", "learned:model.eqx"), base_dir=tmp_path / "x")
    # not beside the scene: relative to the working directory (a path typed on the command line)
    monkeypatch.chdir(tmp_path)
    scene = scene_from_dict(_with(ELASTIC_2D, "solver.preconditioner", "learned:model.eqx"), base_dir=tmp_path / "x")
    assert str(scene.solver.preconditioner) == f"learned:{tmp_path / 'model.eqx'}"
    # checked when the scene is loaded: the sidecar's kind must be a preconditioner
    (tmp_path / "model.json").write_text(json.dumps({**sidecar, "kind": "dcdm"}))
    with pytest.raises(InputError, match="'dcdm' model, a solver.*a preconditioner needs a model of kind gnn-factor"):
        scene_from_dict(_with(ELASTIC_2D, "solver.preconditioner", "learned:model.eqx"), base_dir=tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({**sidecar, "kind": "no-such-kind"}))
    with pytest.raises(InputError, match=r"\[solver\].preconditioner = .*unknown model kind 'no-such-kind'"):
        scene_from_dict(_with(ELASTIC_2D, "solver.preconditioner", "learned:model.eqx"), base_dir=tmp_path)


# ---- time-dependent scenes -----------------------------------------------------------------


def test_time_defaults():
    static = scene_from_dict(ELASTIC_2D)
    assert (static.time, static.initial, static.output.every, static.is_dynamic) == (None, None, None, False)
    assert static.loads[0].ramp == "constant" and static.loads[0].ramp_time is None

    scene = scene_from_dict(DYN)
    assert scene.is_dynamic
    assert (scene.time.steps, scene.time.end, scene.time.integrator, scene.time.mass) == (
        10,
        None,
        "newmark",
        "consistent",
    )
    assert scene.time.end_time == pytest.approx(1.0, rel=1e-15)
    assert scene.output.every == 1 and scene.output.fields == ("displacement", "velocity", "von_mises")
    assert scene.initial == InitialSpec()  # at rest
    assert scene_from_dict(_with(DYN, "time.integrator", "explicit")).time.mass == "lumped"
    assert scene_from_dict(_with(DYN, "time.mass", "lumped")).time.mass == "lumped"

    diffusion = scene_from_dict(DYNDIF)
    assert diffusion.material.heat_capacity == 1.0 and diffusion.output.fields == ("temperature",)
    assert scene_from_dict(DIFFUSION).material.heat_capacity == 1.0


def test_end_becomes_a_number_of_steps():
    time = scene_from_dict(_with(DYN, "time", {"dt": 0.01, "end": 0.6})).time
    assert (time.steps, time.end) == (60, None)  # 0.6 / 0.01 = 59.99999999999999 rounds to 60
    assert scene_from_dict(_with(DYN, "time", {"dt": 0.3, "end": 1.0})).time.steps == 3


def test_ramps_default_to_the_end_time():
    load = {"type": "traction", "region": "x > 1", "value": [0, 1]}
    data = _with(_with(DYN, "time", {"dt": 0.5, "end": 2.0}), "load", [{**load, "ramp": "smooth"}])
    assert scene_from_dict(data).loads[0].ramp_time == 2.0
    data = _with(data, "load", [{**load, "ramp": "sine", "ramp_time": 0.25}])
    assert scene_from_dict(data).loads[0].ramp_time == 0.25
    # a static solve ignores ramps: no end time to default to
    assert scene_from_dict(_with(EL2, "load", [{**load, "ramp": "linear"}])).loads[0].ramp_time is None


def test_initial_fields_become_numbers_and_expressions():
    data = _with(DYN, "initial", {"velocity": [1, "0.1 * x**2"], "displacement": ["2 * pi", 0]})
    initial = scene_from_dict(data).initial
    assert initial.velocity == (1.0, Expression("0.1 * x**2"))
    assert initial.displacement == pytest.approx((2 * math.pi, 0.0), rel=1e-15)
    temperature = scene_from_dict(_with(DYNDIF, "initial", {"temperature": "sin(pi * x)"})).initial.temperature
    assert temperature == Expression("sin(pi * x)")


def test_vibrating_beam():
    scene = load_scene("vibrating_beam")
    assert (scene.kind, scene.dim, scene.mesh.cells, scene.mesh.order) == ("elasticity", 2, (16, 2), 2)
    assert (scene.time.integrator, scene.time.mass, scene.output.every) == ("newmark", "consistent", 2)
    assert scene.initial.velocity == (0.0, Expression("0.1 * (x / 4)**2"))
    assert "first period 6.03 s" in scene.scene.description


def test_heat_transient():
    scene = load_scene("heat_transient")
    assert (scene.kind, scene.time.integrator, scene.time.steps, scene.initial.temperature) == (
        "diffusion",
        "implicit-euler",
        60,
        0.0,
    )


def test_python_built_time_dependent_scene():
    scene = Scene(
        scene=SceneInfo("beam", "elasticity", 2),
        mesh=MeshSpec(generator="box", size=(1, 1), cells=(2, 2), element="quad"),
        material=MaterialSpec(E=10, nu=0.2),
        bcs=(BoundaryCondition("fixed", "x < 1e-9"),),
        loads=(Load("gravity", (0, -9.81), ramp="linear", ramp_time=0.5),),
        time=TimeSpec(dt=0.1, end=1.0, integrator="explicit"),
        initial=InitialSpec(velocity=("y", 0)),
    )
    assert (scene.time.steps, scene.time.mass) == (10, "lumped")
    assert scene.initial.velocity == (Expression("y"), 0.0)
    assert scene.loads[0].value == (0.0, -9.81)
    with pytest.raises(InputError, match=re.escape("<python>: Scene.time must be a TimeSpec, got dict")):
        Scene(scene=scene.scene, mesh=scene.mesh, material=scene.material, bcs=scene.bcs, time={"dt": 1})
