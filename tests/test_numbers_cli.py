"""Issue 11, "Numbers give tracebacks": numbers of absurd magnitude on the command line.

Each is either computed (what double precision can represent exactly, after an exact rescaling)
or refused with one line: exit 2 naming the key, or exit 1 saying what overflowed in the engine.
Nothing else reaches stderr (a RuntimeWarning is turned into an error here), nothing reaches
stdout, and no output folder is left.
"""

from pathlib import Path

import meshio
import numpy as np
import pytest

import learnsim.scenes
from learnsim.core.mesh import box_mesh

from .cli_helpers import assert_one_error_line, run_cli

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SMALL_CANTILEVER = ["--set", "mesh.cells=[4,1,1]"]


def assert_one_engine_failure_line(code: int, out: str, err: str, words) -> str:
    """Exit code 1, nothing on stdout, one stderr line ``learnsim: engine failure: ...`` holding every word."""
    assert code == 1, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("learnsim: engine failure: "), err
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


def _run(capsys, tmp_path: Path, scene, *extra):
    out_dir = tmp_path / "results" / "out"
    code, out, err = run_cli(capsys, "run", scene, "--out", out_dir, *extra)
    return code, out, err, out_dir


def _nothing_written(tmp_path: Path, out_dir: Path, keep=()) -> None:
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)  # no staging folder either


def test_subnormal_modulus_exits_2_naming_E(tmp_path, capsys):
    code, out, err, out_dir = _run(capsys, tmp_path, "cantilever", *SMALL_CANTILEVER, "--set", "material.E=1e-320")
    assert_one_error_line(code, out, err, ["[material].E = 1e-320", "smallest normal double"])
    _nothing_written(tmp_path, out_dir)


def test_modulus_of_1e300_is_solved_exactly(tmp_path, capsys):
    """Was: ValueError from pyamg. The stress does not depend on E; the displacement is 1e-297 times E = 1000's."""
    code, _, err, out_dir = _run(capsys, tmp_path, "cantilever", *SMALL_CANTILEVER, "--set", "material.E=1e300")
    assert (code, err) == (0, "")
    huge = meshio.read(sorted((out_dir / "frames").glob("*.vtu"))[-1])
    code, _, err, ref_dir = _run(capsys, tmp_path / "ref", "cantilever", *SMALL_CANTILEVER)
    assert (code, err) == (0, "")
    ref = meshio.read(sorted((ref_dir / "frames").glob("*.vtu"))[-1])
    np.testing.assert_allclose(huge.cell_data["von_mises"][0], ref.cell_data["von_mises"][0], rtol=1e-8)
    scaled = huge.point_data["displacement"] * 1e297
    np.testing.assert_allclose(scaled, ref.point_data["displacement"], rtol=1e-8, atol=1e-8)


def test_load_of_1e308_exits_1_saying_the_load_overflows(tmp_path, capsys):
    code, out, err, out_dir = _run(
        capsys, tmp_path, "cantilever", *SMALL_CANTILEVER, "--set", "load.0.value=[0.0,-1e308,0.0]"
    )
    assert_one_engine_failure_line(code, out, err, ["assembled load vector is too large", "[[load]] values"])
    _nothing_written(tmp_path, out_dir)


def test_time_step_of_1e_300_s_exits_2_naming_dt(tmp_path, capsys):
    """Was: ZeroDivisionError (4 / dt**2 with dt**2 = 0.0). The rollout stops at its first step and
    leaves nothing, not even the initial frame."""
    code, out, err, out_dir = _run(capsys, tmp_path, "vibrating_beam", "--set", "time.dt=1e-300")
    assert_one_error_line(code, out, err, ["[time].dt = 1e-300 s", "too small", "newmark", "at least 1.5e-154 s"])
    _nothing_written(tmp_path, out_dir)


def test_heat_step_of_1e_300_s_is_computed(tmp_path, capsys):
    """Was: ValueError "b contains NaN or inf entries" (its square overflowed). 1 / dt = 1e300 is finite,
    so implicit Euler is computed, and the temperature does not move in 2e-300 s."""
    text = (Path(learnsim.scenes.__file__).parent / "builtin" / "heat_transient.toml").read_text(encoding="utf-8")
    scene = tmp_path / "heat.toml"
    scene.write_text(text.replace("end = 0.6 ", "steps = 2 ").replace("cells = [32, 32]", "cells = [8, 8]"))
    code, _, err, out_dir = _run(capsys, tmp_path, scene, "--set", "time.dt=1e-300")
    assert (code, err) == (0, "")
    last = meshio.read(sorted((out_dir / "frames").glob("*.vtu"))[-1])
    temperature = last.point_data["temperature"]
    np.testing.assert_allclose(temperature, np.where(last.points[:, 0] > 1 - 1e-9, 1.0, 0.0), atol=1e-12)


def test_huge_box_exits_2_without_a_warning(tmp_path, capsys):
    """Was: "RuntimeWarning: overflow encountered in scalar power" before the error line."""
    code, out, err, out_dir = _run(capsys, tmp_path, "cantilever", "--set", "mesh.size=[1e308,1,1]")
    assert_one_error_line(code, out, err, ["degenerate hex element 0", "mesh proportions"])
    _nothing_written(tmp_path, out_dir)


FLOATING = """\
[scene]
name = "floating"
kind = "diffusion"
dim = 2

[mesh]
file = "floating.vtu"

[[bc]]
type = "fixed"
region = "x < 1e-9"
value = 0.0

[[load]]
type = "body"
value = 1.0

[solver]
preconditioner = "amg"
"""


def test_floating_triangle_exits_2_naming_the_singular_part(tmp_path, capsys):
    """Was: "RuntimeWarning: overflow encountered in dot" from pyamg, then a PCG breakdown."""
    square = box_mesh([1.0, 1.0], [4, 4], "tri")
    n = square.n_points
    points = np.vstack([square.points, [[3.0, 0.0], [4.0, 0.0], [3.0, 1.0]]])
    cells = np.vstack([square.cells, [[n, n + 1, n + 2]]])
    meshio.write(
        tmp_path / "floating.vtu", meshio.Mesh(np.column_stack([points, np.zeros(len(points))]), [("triangle", cells)])
    )
    (tmp_path / "floating.toml").write_text(FLOATING, encoding="utf-8")
    code, out, err, out_dir = _run(capsys, tmp_path, tmp_path / "floating.toml")
    assert_one_error_line(code, out, err, ["2 disconnected parts", "no Dirichlet condition", "singular"])
    _nothing_written(tmp_path, out_dir, keep=["floating.toml", "floating.vtu"])
