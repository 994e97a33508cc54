"""Ctrl-C (SIGINT) and SIGTERM stop a running `learnsim` with one line, exit 130 or 143, and leave only
finished work: no staging folder, no half shard; `generate` run again resumes from its finished shards."""

import signal
import subprocess
import sys
import time

import pytest

from learnsim.io.datasets import open_dataset

SIGNALS = [(signal.SIGINT, 130, "learnsim: interrupted"), (signal.SIGTERM, 143, "learnsim: interrupted (terminated)")]


def _start(*args, cwd):
    # the child's SIGINT handler is Python's default (a shell's background job would ignore it)
    command = [sys.executable, "-m", "learnsim.cli", *map(str, args)]
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, process, seconds=120.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the command never got going"
        time.sleep(0.05)


def _stop(process, sig) -> tuple[int, str]:
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


@pytest.mark.parametrize(("sig", "code", "line"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_interrupting_a_run_leaves_no_output(tmp_path, sig, code, line):
    process = _start("run", "heat_transient", "--set", "time.end=1e4", "--out", "result", cwd=tmp_path)
    _wait_for(lambda: any(tmp_path.glob(".result.*.staging/frames/*.vtu")), process)  # stepping, writing frames
    returncode, err = _stop(process, sig)
    assert (returncode, err) == (code, line + "\n")
    assert list(tmp_path.iterdir()) == []  # neither result/ nor its staging folder


@pytest.mark.parametrize(("sig", "code", "line"), SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("workers", [0, pytest.param(1, marks=pytest.mark.slow)])  # 1: a dask cluster
def test_interrupting_generate_keeps_finished_shards_and_resumes(tmp_path, sig, code, line, workers):
    args = ["generate", "poisson_obstacles", "--samples", 4, "--shard-size", 1, "--workers", workers,
            "--out", "data", "--set", "mesh.cells=[32,32]"]  # fmt: skip
    process = _start(*args, cwd=tmp_path)
    data = tmp_path / "data"
    _wait_for(lambda: any(data.glob("samples_*.h5")), process)
    returncode, err = _stop(process, sig)
    assert (returncode, err) == (code, line + "\n")
    left = sorted(p.name for p in data.iterdir())
    assert left and all(name.startswith("samples_") and name.endswith(".h5") for name in left), left
    finished = {name: (data / name).stat().st_mtime_ns for name in left}
    process = _start(*args, cwd=tmp_path)
    assert process.wait(timeout=300) == 0, process.communicate()
    assert len(open_dataset(data)) == 4
    assert all((data / name).stat().st_mtime_ns == stamp for name, stamp in finished.items())  # kept, not redone
