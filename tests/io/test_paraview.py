"""A result series written by `learnsim run` opens in ParaView itself (pvpython), with its arrays and times."""

import json
import os
import shutil
import subprocess

import meshio
import numpy as np
import pytest

from learnsim.cli import main
from learnsim.io import read_pvd

pytestmark = pytest.mark.slow

# Runs inside pvpython: open the collection, run the pipeline, describe what ParaView sees as JSON.
PARAVIEW_SCRIPT = """
import json, sys
from paraview.simple import PVDReader
reader = PVDReader(FileName=sys.argv[1])
reader.UpdatePipelineInformation()
reader.UpdatePipeline()
times = reader.TimestepValues
times = list(times) if hasattr(times, "__len__") else [times]
info = reader.GetDataInformation()
print(json.dumps({
    "point_arrays": list(reader.PointData.keys()),
    "cell_arrays": list(reader.CellData.keys()),
    "times": times,
    "n_points": info.GetNumberOfPoints(),
    "n_cells": info.GetNumberOfCells(),
    "displacement_y_range": list(reader.PointData["displacement"].GetRange(1)),
    "von_mises_range": list(reader.CellData["von_mises"].GetRange()),
}))
"""


def _pvpython() -> str:
    for name in ("pvpython", "pvbatch"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("ParaView's pvpython (or pvbatch) is not on PATH (Debian: apt-get install paraview)")


def test_pvd_series_opens_in_paraview(tmp_path):
    pvpython = _pvpython()
    out = tmp_path / "out"
    assert main(["run", "cantilever", "--out", str(out), "--set", "mesh.cells=[4,1,1]"]) == 0
    (time, frame), *_ = read_pvd(out / "result.pvd")
    mesh = meshio.read(frame)
    script = tmp_path / "describe.py"
    script.write_text(PARAVIEW_SCRIPT, encoding="utf-8")

    # pvpython runs the system Python: keep this virtual environment's settings away from it.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.pop("DISPLAY", None)  # reading needs no display
    result = subprocess.run(
        [pvpython, str(script), str(out / "result.pvd")], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert "displacement" in seen["point_arrays"]
    assert "von_mises" in seen["cell_arrays"]
    assert seen["times"] == [time] == [0.0]
    assert (seen["n_points"], seen["n_cells"]) == (mesh.points.shape[0], 4)
    u_y = mesh.point_data["displacement"][:, 1]
    np.testing.assert_allclose(seen["displacement_y_range"], [u_y.min(), u_y.max()], rtol=1e-12)
    (von_mises,) = mesh.cell_data["von_mises"]
    np.testing.assert_allclose(seen["von_mises_range"], [von_mises.min(), von_mises.max()], rtol=1e-12)
