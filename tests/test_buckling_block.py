"""examples/buckling_block.toml through the CLI: a soft neo-Hookean block whose tangent turns indefinite
near t = 0.31 s (PCG broke down there with exit 1 before the fallback). It now runs its 60 steps, writes
every frame, and its summary says which solver took the indefinite tangents and how many steps were cut.
About 30 s on one CPU core."""

from pathlib import Path

import meshio
import numpy as np

from learnsim.io.vtu import read_pvd

from .cli_helpers import run_cli

SCENE = Path(__file__).parents[1] / "examples" / "buckling_block.toml"


def test_the_buckling_block_runs_past_its_indefinite_tangent(tmp_path, capsys):
    code, out, err = run_cli(capsys, "run", SCENE, "--out", tmp_path / "out")
    assert code == 0, err
    assert "60 x dt = 0.01 s, end t = 0.6 s" in out
    assert "indefinite tangents" in out and "by direct LU" in out  # the table may wrap the rest of the row
    assert "step cuts" in out
    frames = read_pvd(tmp_path / "out" / "result.pvd")
    assert len(frames) == 61 and frames[-1][0] == 0.6
    u = meshio.read(frames[-1][1]).point_data["displacement"]
    assert np.all(np.isfinite(u)) and np.abs(u).max() > 0.5  # past the limit point: large deflection
