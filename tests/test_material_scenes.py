"""The laws through scenes: each `[material] model` runs, small loads agree with Hooke's law, and a key
of one law given to another, an unknown law or a bad value stops with one line and writes nothing."""

import meshio
import numpy as np
import pytest

from .cli_helpers import assert_one_error_line, run_cli

CANTILEVER = ["--set", "mesh.cells=[8,1,1]", "--set", "load.0.value=[0.0,-0.001,0.0]"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def _tip(folder):
    mesh = meshio.read(sorted((folder / "frames").glob("*.vtu"))[-1])
    return mesh.point_data["displacement"][:, 1].min()


def test_every_elastic_law_runs_and_agrees_with_hooke_at_small_load(tmp_path, capsys):
    tips = {}
    for name in ("linear", "neo-hookean", "saint-venant-kirchhoff"):
        code, out, err = run_cli(capsys, "run", "cantilever", *CANTILEVER, "--set", f'material.model="{name}"',
                                 "--out", tmp_path / name)  # fmt: skip
        assert code == 0, err
        tips[name] = _tip(tmp_path / name)
    for name in ("neo-hookean", "saint-venant-kirchhoff"):  # 1/1000 of the unit load: small strain
        assert tips[name] == pytest.approx(tips["linear"], rel=2e-3)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (['material.model="rubber"'], ["[material].model", "rubber", "mooney-rivlin"]),
        (['material.model="neo-hookean"', "material.C10=3.0"], ["[material].C10", "not a parameter", "E, nu"]),
        (['material.model="neo-hookean"', 'material.plane="stress"'], ["[material].plane", "not supported"]),
        (['material.model="mooney-rivlin"'], ["[material].E", "not a parameter of model"]),
    ],
)
def test_bad_laws_stop_with_one_line(tmp_path, capsys, overrides, words):
    code, out, err = run_cli(capsys, "run", "cook_membrane", *_sets(overrides),
                             "--out", tmp_path / "never")  # fmt: skip
    assert_one_error_line(code, out, err, words)
    assert not (tmp_path / "never").exists()


def test_a_mooney_rivlin_scene(tmp_path, capsys):
    text = tmp_path / "mr.toml"
    text.write_text("""
[scene]
name = "mr"
kind = "elasticity"
dim = 2
[mesh]
generator = "box"
size = [2.0, 1.0]
cells = [4, 2]
element = "quad"
[material]
model = "mooney-rivlin"
C10 = 30.0
C01 = 10.0
K = 300.0
[[bc]]
type = "fixed"
region = "x < 1e-9"
[[load]]
type = "traction"
region = "x > 2 - 1e-9"
value = [0.0, -2.0]
""")
    code, out, err = run_cli(capsys, "run", text, "--out", tmp_path / "out")
    assert code == 0, err
    assert np.isfinite(_tip(tmp_path / "out")) and _tip(tmp_path / "out") < 0.0
    cases = [
        (["material.C10=-1.0"], ["[material].C10", "must not be negative"]),
        (["material.K=0.0"], ["[material].K", "must be positive"]),
        (["material.C10=0.0", "material.C01=0.0"], ["C10 + C01 > 0"]),
        (["material.E=5.0"], ["[material].E", "not a parameter", "C10, C01, K"]),
    ]
    for overrides, words in cases:
        code, out, err = run_cli(capsys, "run", text, *_sets(overrides), "--out", tmp_path / "never")
        assert_one_error_line(code, out, err, words)
    assert not (tmp_path / "never").exists()


J2_SCENE = """
[scene]
name = "j2"
kind = "elasticity"
dim = 2
[mesh]
generator = "box"
size = [2.0, 1.0]
cells = [4, 2]
element = "quad"
[material]
model = "j2"
E = 1000.0
nu = 0.3
sigma_y = 1.0
hardening = 50.0
density = 1.0
[[bc]]
type = "fixed"
region = "x < 1e-9"
[[load]]
type = "traction"
region = "x > 2 - 1e-9"
value = [0.0, -0.6]
[solver]
load_steps = 4
"""


@pytest.mark.parametrize("dynamic", [False, True])
def test_a_j2_scene_writes_von_mises_and_the_equivalent_plastic_strain(tmp_path, capsys, dynamic):
    text = tmp_path / "j2.toml"
    time = '\n[time]\nintegrator = "newmark"\ndt = 0.05\nsteps = 6\n' if dynamic else ""
    text.write_text(J2_SCENE + time)
    code, out, err = run_cli(capsys, "run", text, "--out", tmp_path / "out")
    assert code == 0, err
    frame = meshio.read(sorted((tmp_path / "out" / "frames").glob("*.vtu"))[-1])
    alpha = frame.cell_data["equivalent_plastic_strain"][0]
    assert alpha.max() > 0.0 and alpha.min() >= 0.0  # the root yields
    # on or inside the yield surface, sigma_vm <= sigma_y + H alpha at every point, so in cell averages too
    assert np.all(frame.cell_data["von_mises"][0] <= 1.0 + 50.0 * alpha + 1e-9)
    for bad, words in ((["material.sigma_y=-1.0"], ["[material].sigma_y", "must be positive"]),
                       (["material.hardening=-5.0"], ["[material].hardening", "must not be negative"]),
                       (["material.C10=1.0"], ["[material].C10", "not a parameter"])):  # fmt: skip
        code, out, err = run_cli(capsys, "run", text, *_sets(bad), "--out", tmp_path / "never")
        assert_one_error_line(code, out, err, words)
        assert not (tmp_path / "never").exists()
