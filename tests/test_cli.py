"""The `learnsim` command: bad input exits with 2, one line on stderr naming the cause, and writes nothing."""

import subprocess
import sys
from pathlib import Path

import meshio
import pytest

from learnsim.core.mesh import box_mesh
from learnsim.scenes import builtin_scenes

from .cli_helpers import assert_one_error_line, run_cli

BEAM = """\
[scene]
name = "beam"
kind = "elasticity"
dim = 3

[mesh]
generator = "box"
size = [4.0, 1.0, 1.0]
cells = [4, 1, 1]
element = "hex"

[material]
E = 1000.0
nu = 0.3

[[bc]]
type = "fixed"
region = "x < 1e-9"

[[load]]
type = "traction"
region = "x > 4 - 1e-9"
value = [0.0, -1.0, 0.0]
"""

FROM_FILE = """\
[scene]
name = "from_file"
kind = "elasticity"
dim = 3

[mesh]
file = "{file}"

[material]
E = 1000.0
nu = 0.3

[[bc]]
type = "fixed"
region = "x < 1e-9"
"""

SMALL_CANTILEVER = ["--set", "mesh.cells=[2,1,1]"]
# the names the loader lists (tests/scenes/test_loader.py pins them); the CLI must print the same
BUILTIN_SCENES = [name for name, _ in builtin_scenes()]

CONSOLE_SCRIPT = Path(sys.executable).with_name("learnsim")


def _inverted_tet_mesh(path: Path) -> None:
    """A valid tet mesh of a 2 x 1 x 1 box except cell 3, whose first two vertices are swapped."""
    mesh = box_mesh([2.0, 1.0, 1.0], [2, 1, 1], "tet")
    cells = mesh.cells.copy()
    cells[3, [0, 1]] = cells[3, [1, 0]]
    meshio.write(path, meshio.Mesh(mesh.points, [("tetra", cells)]))


def _scene_file(tmp_path: Path, case: str) -> Path:
    """The scene TOML (and mesh file) for one bad-input case, in tmp_path/inputs."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    path = folder / f"{case}.toml"
    if case == "unknown_key":
        text = BEAM.replace("nu = 0.3", "nu = 0.3\nYoungs = 3")
    elif case == "wrong_type":
        text = BEAM.replace("E = 1000.0", 'E = "hard"')
    elif case == "no_dirichlet":
        text = BEAM.replace('[[bc]]\ntype = "fixed"\nregion = "x < 1e-9"\n', "")
        assert "[[bc]]" not in text
    elif case == "toml_syntax":
        text = BEAM.replace("E = 1000.0", "E = = 1000.0")
    elif case == "missing_mesh":
        text = FROM_FILE.format(file="nope.msh")
    elif case == "inverted_mesh":
        _inverted_tet_mesh(folder / "inverted.vtu")
        text = FROM_FILE.format(file="inverted.vtu")  # relative: resolves against the TOML's folder
    else:
        raise AssertionError(case)
    path.write_text(text, encoding="utf-8")
    return path


# case -> (scene: a built-in name or a case for _scene_file, extra arguments, words the message must contain)
BAD_INPUT = {
    "unknown_key": ("file", [], ["unknown_key.toml", "[material].Youngs", "not a known key"]),
    "wrong_type": ("file", [], ["wrong_type.toml", "[material].E", '"hard"', "expected a number"]),
    "region_selects_nothing": (
        "cantilever",
        [*SMALL_CANTILEVER, "--set", "bc.0.region=x < -5"],
        ["cantilever.toml", "[[bc]][0].region", "x < -5", "selects no node", "bounding box"],
    ),
    "missing_mesh": ("file", [], ["missing_mesh.toml", "[mesh].file", "nope.msh", "not found"]),
    "inverted_mesh": ("file", [], ["inverted.vtu", "inverted", "tet element 3", "1 bad cell"]),
    "nu_half": ("cantilever", ["--set", "material.nu=0.5"], ["cantilever.toml", "[material].nu = 0.5", "below 0.5"]),
    "no_dirichlet": ("file", [], ["no_dirichlet.toml", "no Dirichlet condition", "singular"]),
    "nan_parameter": ("cantilever", ["--set", "material.E=nan"], ["cantilever.toml", "[material].E = nan", "finite"]),
    "unknown_scene": ("cantilevr", [], ["no such scene 'cantilevr'", "beam_steps, cantilever, cook_membrane"]),
    "set_without_equals": ("cantilever", ["--set", "material.E"], ["override 'material.E'", "no '='"]),
    "set_empty_key": ("cantilever", ["--set", "material..E=3"], ["override 'material..E=3'", "empty key"]),
    "toml_syntax": ("file", [], ["toml_syntax.toml", "TOML syntax error", "line 13"]),
    "unknown_device": ("cantilever", [*SMALL_CANTILEVER, "--device", "cuda:7"], ["--device cuda:7", "not available"]),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, tmp_path, capsys):
    scene, extra, words = BAD_INPUT[case]
    if scene == "file":
        scene = _scene_file(tmp_path, case)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out_dir = tmp_path / "results" / "out"

    assert_one_error_line(*run_cli(capsys, "run", scene, "--out", out_dir, *extra), words)
    assert not out_dir.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no staging folder either


def test_bad_input_keeps_an_existing_result(tmp_path, capsys):
    """A run that fails on input (after meshing) leaves the previous result byte for byte."""
    out_dir = tmp_path / "out"
    (out_dir / "frames").mkdir(parents=True)
    old_pvd = b'<?xml version="1.0"?>\n<VTKFile type="Collection"><Collection/></VTKFile>\n'
    old_frame = b"an older frame"
    (out_dir / "result.pvd").write_bytes(old_pvd)
    (out_dir / "frames" / "frame_00000.vtu").write_bytes(old_frame)

    code, _, err = run_cli(
        capsys, "run", "cantilever", "--out", out_dir, *SMALL_CANTILEVER, "--set", "bc.0.region=x < -5"
    )

    assert code == 2 and "selects no node" in err
    assert (out_dir / "result.pvd").read_bytes() == old_pvd
    assert (out_dir / "frames" / "frame_00000.vtu").read_bytes() == old_frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out_dir.rglob("*")) == ["frame_00000.vtu", "frames", "result.pvd"]


def test_scenes_lists_the_builtins(capsys):
    code, out, err = run_cli(capsys, "scenes")
    assert (code, err) == (0, "")
    names = [line.split()[0] for line in out.splitlines()]
    assert names == BUILTIN_SCENES
    assert "4.024" in out.splitlines()[BUILTIN_SCENES.index("cantilever")]  # the description follows the name


def _console_script(*argv, cwd: Path) -> subprocess.CompletedProcess:
    if not CONSOLE_SCRIPT.is_file():
        pytest.skip(f"console script not installed at {CONSOLE_SCRIPT}")
    return subprocess.run([CONSOLE_SCRIPT, *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_console_script_lists_scenes(tmp_path):
    result = _console_script("scenes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == BUILTIN_SCENES


@pytest.mark.parametrize(
    "extra, words",
    [
        # rejected while the scene is checked, before Warp starts
        (["--set", "material.nu=0.5"], ["[material].nu = 0.5", "below 0.5"]),
        # rejected after meshing, with Warp initialised: its own start-up messages must not reach stderr
        ([*SMALL_CANTILEVER, "--set", "bc.0.region=x < -5"], ["[[bc]][0].region", "selects no node"]),
    ],
    ids=["while_checking", "after_meshing"],
)
def test_console_script_bad_input(tmp_path, extra, words):
    """The installed `learnsim` exits with 2 and writes exactly one line to the real stderr."""
    result = _console_script("run", "cantilever", "--out", "out", *extra, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("learnsim: error: cantilever.toml: ")
    assert all(word in lines[0] for word in words), lines[0]
    assert list(tmp_path.iterdir()) == []
