"""A neo-Hookean block whose corner node is thrown inwards inverts its corner element (ln J of J <= 0 is
NaN): the run stops with exit 1 and one line naming the step and the element, explicit or implicit."""

import pytest

from .cli_helpers import run_cli

SCENE = """
[scene]
name = "corner"
kind = "elasticity"
dim = 2
[mesh]
generator = "box"
size = [1.0, 1.0]
cells = [5, 5]
element = "quad"
order = 1
[material]
model = "neo-hookean"
E = 100.0
nu = 0.3
density = 1.0
[[bc]]
type = "fixed"
region = "y < 1e-9"
[initial]
velocity = ["-60 * (x > 0.9) * (y > 0.9)", "-60 * (x > 0.9) * (y > 0.9)"]   # the corner node (1, 1) only
[time]
dt = 0.002
steps = 40
mass = "lumped"
"""


@pytest.mark.parametrize(
    ("integrator", "step"), [("explicit", "step 3 (t = 0.006 s)"), ("newmark", "step 2 (t = 0.004 s)")]
)
def test_a_law_that_returns_nan_stops_the_run_naming_step_and_element(tmp_path, capsys, integrator, step):
    path = tmp_path / "corner.toml"
    path.write_text(SCENE)
    code, out, err = run_cli(capsys, "run", path, "--set", f'time.integrator="{integrator}"', "--out", tmp_path / "out")
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"learnsim: engine failure: {step}: ")
    assert "the material law returned NaN in element 24 (centre [0.9, 0.9])" in lines[0]
    assert not (tmp_path / "out").exists()
