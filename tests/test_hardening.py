"""The reproductions of issue 11 through the command line: each ends with one line, the right exit code,
and nothing written or left behind (no output, no staging folder, no empty folder)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import scipy.sparse as sp

from learnsim.cli import main
from learnsim.core.systems import LinearSystem
from learnsim.io.datasets import open_dataset, write_manifest, write_shard

from .cli_helpers import assert_one_error_line, run_cli

SMALL = ["--set", "mesh.cells=[4,4]"]
UNWRITABLE = "/proc/learnsim-test/out"  # /proc refuses new folders, even to root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A tiny dataset, a trained gnn-factor model, a file and a folder to aim outputs at."""
    root = tmp_path_factory.mktemp("hardening")
    assert main(["generate", "poisson_obstacles", "--samples", "2", "--workers", "0", "--out", str(root / "data"),
                 "--set", "mesh.cells=[6,6]"]) == 0  # fmt: skip
    assert main(["train", "gnn-factor", "--data", str(root / "data"), "--out", str(root / "m.eqx"),
                 "--epochs", "1"]) == 0  # fmt: skip
    assert main(["run", "heat_plate", *SMALL, "--out", str(root / "r")]) == 0
    (root / "afile").write_text("not a folder")
    (root / "adir").mkdir()
    return root


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def _refused(capsys, args, *words):
    assert_one_error_line(*run_cli(capsys, *args), words)


@pytest.mark.parametrize(
    ("out", "words"),
    [("afile/sub", ["afile is a file"]), ("afile", ["is not a folder"]), (UNWRITABLE, ["cannot write"])],
)
def test_run_refuses_an_output_folder_it_cannot_write(workspace, tmp_path, capsys, out, words):
    before = _entries(workspace)
    _refused(capsys, ["run", "heat_plate", *SMALL, "--out", workspace / out], "--out", *words)
    assert _entries(workspace) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_run_refuses_a_read_only_folder(tmp_path, capsys):
    (tmp_path / "ro").mkdir(mode=0o555)
    for out in (tmp_path / "ro", tmp_path / "ro" / "out"):
        _refused(capsys, ["run", "heat_plate", *SMALL, "--out", out], "--out", "cannot write")
    assert _entries(tmp_path / "ro") == []


def test_render_refuses_a_folder_as_its_picture(workspace, capsys):
    _refused(capsys, ["render", workspace / "r" / "result.pvd", "--out", workspace / "adir"], "is a folder")


@pytest.mark.parametrize("out", ["afile", UNWRITABLE])
def test_generate_refuses_an_output_it_cannot_write(workspace, capsys, out):
    before = _entries(workspace)
    _refused(capsys, ["generate", "poisson_obstacles", "--samples", 1, "--workers", 0, "--out", workspace / out],
             "--out")  # fmt: skip
    assert _entries(workspace) == before


@pytest.mark.parametrize(
    ("out", "words"),
    [("adir", ["is a folder"]), (f"{UNWRITABLE}/m.eqx", ["cannot write"]), ("new/m.json", ["sidecar", "m.eqx"])],
)
def test_train_refuses_its_outputs_before_training(workspace, capsys, out, words):
    before = _entries(workspace)
    _refused(capsys, ["train", "gnn-factor", "--data", workspace / "data", "--out", workspace / out], *words)
    assert _entries(workspace) == before  # no m.ckpt, no new/, nothing half-written


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--epochs", "0"], ["--epochs = 0"]),
        (["--epochs", "-2"], ["--epochs = -2"]),
        (["--resume"], ["--resume", "no training checkpoint"]),
        (["--learning-rate", "nan"], ["--learning-rate"]),
    ],
)
def test_train_on_bad_input_leaves_no_folder(workspace, capsys, args, words):
    out = workspace / "fresh" / "deeper" / "m.eqx"
    _refused(capsys, ["train", "gnn-factor", "--data", workspace / "data", "--out", out, *args], *words)
    assert not (workspace / "fresh").exists()


def test_train_on_matrices_it_cannot_factor_leaves_no_folder(workspace, tmp_path, capsys):
    n = 6
    negated = -sp.diags([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    data = tmp_path / "negated"
    data.mkdir()
    system = LinearSystem(negated, np.ones(n), np.ones(n), kind="fem-static")
    write_shard(data / "a.h5", [system, system])
    write_manifest(data, ["a.h5"])
    code, out, err = run_cli(capsys, "train", "gnn-factor", "--data", data, "--out", tmp_path / "new" / "m.eqx")
    assert code in (1, 2) and out == "" and len(err.splitlines()) == 1, err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("option", ["--json", "--plot"])
@pytest.mark.parametrize(("target", "words"), [("adir", ["is a folder"]), (f"{UNWRITABLE}/e.json", ["cannot write"])])
def test_eval_refuses_its_outputs_before_solving(workspace, capsys, option, target, words):
    _refused(capsys, ["eval", "--data", workspace / "data", "--baselines", "jacobi", option, workspace / target],
             option, *words)  # fmt: skip


@pytest.mark.parametrize("tol", ["0", "-1", "nan", "2", "inf"])
def test_eval_takes_the_tolerances_run_takes(workspace, capsys, tol):
    _refused(capsys, ["eval", "--data", workspace / "data", "--baselines", "jacobi", "--tol", tol], "--tol")


def test_eval_refuses_a_limit_below_one(workspace, capsys):
    _refused(capsys, ["eval", "--data", workspace / "data", "--baselines", "jacobi", "--limit", "0"], "--limit")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--workers", "-1"], ["--workers = -1"]),
        (["--scheduler", "tcp://127.0.0.1:9"], ["--scheduler", "cannot connect"]),
        (["--scheduler", "not an address"], ["--scheduler"]),
    ],
)
def test_generate_refuses_bad_workers_and_schedulers_before_creating_anything(tmp_path, capsys, args, words):
    out = tmp_path / "data"
    _refused(capsys, ["generate", "poisson_obstacles", "--samples", 1, "--out", out, *SMALL, *args], *words)
    assert not out.exists()


def test_generate_refuses_a_device_it_does_not_have(tmp_path, capsys):
    import warp as wp

    if wp.is_cuda_available():
        pytest.skip("this machine has a CUDA device")
    out = tmp_path / "data"
    _refused(capsys, ["generate", "poisson_obstacles", "--samples", 1, "--out", out, "--device", "cuda:0"],
             "--device cuda:0")  # fmt: skip
    assert not out.exists()


def test_a_scene_name_cannot_leave_the_output_root(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(capsys, ["run", "heat_plate", *SMALL, "--set", 'scene.name="../escaped"'], "[scene].name", "plain name")
    assert _entries(tmp_path) == []


def test_dataset_shards_take_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        write_shard(tmp_path / "a.h5", [LinearSystem(sp.identity(3, format="csr"), np.ones(3))])
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.h5").stat().st_mode) == 0o644
    write_manifest(tmp_path, ["a.h5"])
    assert len(open_dataset(tmp_path)) == 1


def test_a_one_step_sph_run_reports_no_infinite_step(tmp_path, capsys):
    # end = one frame after a step shortened to land on it: no step of full length was taken
    code, out, err = run_cli(capsys, "run", "hydrostatic_tank", "--set", "sph.spacing=0.1", "--set", "time.end=1e-5",
                             "--set", "output.frames=1", "--out", tmp_path / "r")  # fmt: skip
    assert code == 0, err
    assert "inf" not in out and "each shortened to land on a frame" in out


def test_generate_checks_the_memory_of_a_sample_before_creating_anything(tmp_path, capsys):
    out = tmp_path / "data"
    _refused(capsys, ["generate", "poisson_obstacles", "--samples", 2, "--workers", 0, "--out", out,
                      "--max-memory", "1M"], "needs about", "--max-memory")  # fmt: skip
    assert not out.exists()
