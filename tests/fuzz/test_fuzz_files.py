"""Fuzzing files: output paths of every command, and corrupted datasets and model files."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnsim.cli import main

from .outcome import DEEP, DEFAULT, run_command
from .strategies import COMMAND_LINE_CHARACTERS, values

PATHS = st.sampled_from(
    [
        "out",
        "afile",
        "afile/sub",
        "adir",
        "adir/afile",
        "adir/new/deeper",
        "/proc/learnsim-fuzz/x",
        "",
        ".",
        "..",
        "a b",
        "ünï",
        "x" * 300,
        "new/x.json",
        "adir/.hidden",
        "\udcff",
    ]
) | st.text(alphabet=COMMAND_LINE_CHARACTERS, min_size=1, max_size=12)
"""Paths as a command line can give them (see COMMAND_LINE_CHARACTERS)."""


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A dataset of 2 small systems, a trained gnn-factor model, and a result series, made once."""
    root = tmp_path_factory.mktemp("fuzz-artifacts")
    assert main(["generate", "poisson_obstacles", "--samples", "2", "--workers", "0", "--out", str(root / "data"),
                 "--set", "mesh.cells=[5,5]"]) == 0  # fmt: skip
    assert main(["train", "gnn-factor", "--data", str(root / "data"), "--out", str(root / "m.eqx"),
                 "--epochs", "1"]) == 0  # fmt: skip
    assert main(["run", "heat_plate", "--set", "mesh.cells=[3,3]", "--out", str(root / "r")]) == 0
    for leftover in root.glob("m.ckpt"):
        shutil.rmtree(leftover)
    return root


def _prepared(artifacts):
    def setup(folder):
        for name in ("data", "r"):
            shutil.copytree(artifacts / name, folder / name)
        for name in ("m.eqx", "m.json"):
            shutil.copy(artifacts / name, folder / name)
        (folder / "afile").write_text("a file")
        (folder / "adir").mkdir()
        (folder / "adir" / "afile").write_text("a file")

    return setup


COMMANDS = {
    "run": lambda p: ["run", "heat_plate", "--set", "mesh.cells=[3,3]", "--out", p],
    "render": lambda p: ["render", "r/result.pvd", "--out", p],
    "generate": lambda p: [
        "generate",
        "poisson_obstacles",
        "--samples",
        "1",
        "--workers",
        "0",
        "--out",
        p,
        "--set",
        "mesh.cells=[3,3]",
    ],  # fmt: skip
    "train": lambda p: ["train", "gnn-factor", "--data", "data", "--out", p, "--epochs", "1"],
    "eval --json": lambda p: ["eval", "--data", "data", "--baselines", "jacobi", "--json", p],
    "eval --plot": lambda p: ["eval", "--model", "m.eqx", "--data", "data", "--baselines", "none", "--plot", p],
}


def output_paths(artifacts, command, path):
    argv = COMMANDS[command](path)
    if command == "render":
        pytest.importorskip("pyvista")
    run_command(argv, setup=_prepared(artifacts))


def _corrupt_dataset(folder, data, how, junk):
    """Break the dataset in ``folder/data`` one way (``how``), with ``junk`` bytes or values."""
    shard = sorted(p for p in (folder / "data").glob("*.h5"))[0]
    if how == "manifest":
        (folder / "data" / "manifest.json").write_text(json.dumps(data))
    elif how == "manifest bytes":
        (folder / "data" / "manifest.json").write_bytes(junk)
    elif how == "truncate":
        shard.write_bytes(shard.read_bytes()[: len(junk) * 97])
    elif how == "shard bytes":
        shard.write_bytes(junk)
    else:
        with h5py.File(shard, "a") as f:
            group = f[sorted(f)[0]]
            field = how.split()[1]
            if field in group:
                del group[field]
            if how.startswith("replace"):
                group[field] = np.frombuffer(junk.ljust(8, b"\0")[: len(junk) // 8 * 8 or 8], dtype=np.float64)
            elif how.startswith("attribute"):
                group.attrs[field] = json.dumps(data)


DATASET_CORRUPTIONS = ["manifest", "manifest bytes", "truncate", "shard bytes"] + [
    f"{verb} {field}" for verb in ("delete", "replace") for field in ("indptr", "indices", "data", "b", "x")
] + ["attribute n", "attribute grid_shape", "attribute kind"]  # fmt: skip


def corrupted_datasets(artifacts, how, data, junk, command):
    def setup(folder):
        _prepared(artifacts)(folder)
        _corrupt_dataset(folder, data, how, junk)

    argv = {
        "eval": ["eval", "--model", "m.eqx", "--data", "data", "--baselines", "jacobi"],
        "train": ["train", "gnn-factor", "--data", "data", "--out", "new.eqx", "--epochs", "1"],
    }[command]
    run_command(argv, setup=setup)


def corrupted_models(artifacts, part, data, junk):
    def setup(folder):
        _prepared(artifacts)(folder)
        if part == "weights":
            (folder / "m.eqx").write_bytes(junk)
        elif part == "truncated weights":
            (folder / "m.eqx").write_bytes((folder / "m.eqx").read_bytes()[: len(junk)])
        elif part == "sidecar":
            (folder / "m.json").write_text(json.dumps(data))
        else:  # one field of the sidecar
            sidecar = json.loads((folder / "m.json").read_text())
            sidecar[part.split()[1]] = data
            (folder / "m.json").write_text(json.dumps(sidecar))

    run_command(["eval", "--model", "m.eqx", "--data", "data", "--baselines", "jacobi"], setup=setup)
    run_command(["run", "heat_plate", "--set", "mesh.cells=[3,3]", "--set", 'solver.preconditioner="learned:m.eqx"',
                 "--out", "result"], setup=setup)  # fmt: skip


MODEL_PARTS = ["weights", "truncated weights", "sidecar", "field kind", "field hyperparameters", "field format",
               "field version"]  # fmt: skip
PATH_CASES = given(command=st.sampled_from(sorted(COMMANDS)), path=PATHS)
DATASET_CASES = given(how=st.sampled_from(DATASET_CORRUPTIONS), data=values, junk=st.binary(max_size=64),
                      command=st.sampled_from(["eval", "train"]))  # fmt: skip
MODEL_CASES = given(part=st.sampled_from(MODEL_PARTS), data=values, junk=st.binary(max_size=64))

test_output_paths = DEFAULT(PATH_CASES(output_paths))
test_output_paths_deep = pytest.mark.slow(DEEP(PATH_CASES(output_paths)))
test_corrupted_datasets = DEFAULT(DATASET_CASES(corrupted_datasets))
test_corrupted_datasets_deep = pytest.mark.slow(DEEP(DATASET_CASES(corrupted_datasets)))
test_corrupted_models = DEFAULT(MODEL_CASES(corrupted_models))
test_corrupted_models_deep = pytest.mark.slow(DEEP(MODEL_CASES(corrupted_models)))
