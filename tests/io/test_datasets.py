"""Datasets of linear systems: round trip, a third-party writer, and every corruption named."""

import json

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from learnsim.core.errors import InputError
from learnsim.core.systems import LinearSystem
from learnsim.io.datasets import open_dataset, write_manifest, write_shard


def laplacian(shape: tuple[int, ...]) -> sp.csr_matrix:
    """SPD grid Laplacian with Dirichlet ends, C-ordered unknowns."""
    ops = [sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(s, s)) for s in shape]
    A = ops[0]
    for op in ops[1:]:
        A = sp.kron(A, sp.identity(op.shape[0])) + sp.kron(sp.identity(A.shape[0]), op)
    return sp.csr_matrix(A)


def make_systems(count: int, seed: int = 0) -> list[LinearSystem]:
    rng = np.random.default_rng(seed)
    systems = []
    for i in range(count):
        shape = (3 + i, 4)
        A = laplacian(shape) + sp.diags(rng.uniform(0.1, 1.0, size=int(np.prod(shape))))
        b = rng.standard_normal(A.shape[0])
        x = rng.standard_normal(A.shape[0]) if i % 2 == 0 else None
        parameters = {"sample": i // 2, "material.E": 1e3 * (i + 1), "mesh.cells": [i, 2 * i], "name": "grid"}
        parameters["nested"] = {"a": [1, 2], "b": "c"}
        systems.append(LinearSystem(sp.csr_matrix(A), b, x, grid_shape=shape, kind="diffusion", parameters=parameters))
    return systems


@pytest.fixture
def dataset(tmp_path):
    systems = make_systems(5)
    write_shard(tmp_path / "a.h5", systems[:3])
    write_shard(tmp_path / "b.h5", systems[3:])
    write_manifest(tmp_path, ["a.h5", "b.h5"])
    return tmp_path, systems


def assert_same(read: LinearSystem, written: LinearSystem) -> None:
    assert read.matrix.shape == written.matrix.shape
    assert (read.matrix != written.matrix).nnz == 0  # exact
    np.testing.assert_array_equal(read.rhs, written.rhs)
    if written.solution is None:
        assert read.solution is None
    else:
        np.testing.assert_array_equal(read.solution, written.solution)
    assert read.grid_shape == written.grid_shape
    assert read.kind == written.kind
    assert read.parameters == written.parameters


def test_round_trip(dataset):
    folder, systems = dataset
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == {"format": "learnsim-systems", "version": 1, "shards": ["a.h5", "b.h5"], "count": 5}
    ds = open_dataset(folder)
    assert len(ds) == 5
    for read, written in zip(ds, systems, strict=True):
        assert_same(read, written)
    assert_same(ds[4], systems[4])
    assert_same(ds[-1], systems[4])
    assert [s.n for s in ds[1:3]] == [systems[1].n, systems[2].n]
    assert not list((folder).glob("*.partial"))


def test_split_keeps_samples_together(dataset):
    folder, systems = dataset
    ds = open_dataset(folder)
    first, second = ds.split(0.5, seed=3)
    samples = lambda part: [s.parameters["sample"] for s in part]  # noqa: E731
    assert len(first) + len(second) == 5
    assert not set(samples(first)) & set(samples(second))  # samples 0, 1, 2 hold 2, 2, 1 systems
    assert len(set(samples(first))) == 2  # round(0.5 * 3 samples)
    again, _ = ds.split(0.5, seed=3)
    assert samples(again) == samples(first)


def test_third_party_dataset(tmp_path):
    """Written with h5py and json only: int32 indices, no x, no kind, only the attribute n."""
    A = laplacian((4, 5))
    b = np.arange(20.0)
    with h5py.File(tmp_path / "mine.hdf5", "w") as f:
        g = f.create_group("first")
        g["indptr"], g["indices"], g["data"], g["b"] = A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data, b
        g.attrs["n"] = 20
        g.attrs["viscosity"] = 0.25
    manifest = {"format": "learnsim-systems", "version": 1, "shards": ["mine.hdf5"], "count": 1}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (system,) = list(open_dataset(tmp_path))
    assert (system.matrix != A).nnz == 0
    np.testing.assert_array_equal(system.rhs, b)
    assert system.solution is None and system.grid_shape is None and system.kind == "unknown"
    assert system.parameters == {"viscosity": 0.25}


def _set(group_field, value):
    def corrupt(folder):
        with h5py.File(folder / "a.h5", "r+") as f:
            name, field = group_field
            del f[name][field]
            f[name][field] = value

    return corrupt


def _attr(name, value):
    def corrupt(folder):
        with h5py.File(folder / "a.h5", "r+") as f:
            if value is None:
                del f["system_000001"].attrs[name]
            else:
                f["system_000001"].attrs[name] = value

    return corrupt


def _manifest(change):
    def corrupt(folder):
        path = folder / "manifest.json"
        path.write_text(change(path.read_text()))

    return corrupt


def _delete(field):
    def corrupt(folder):
        with h5py.File(folder / "a.h5", "r+") as f:
            del f["system_000001"][field]

    return corrupt


CORRUPTIONS = {
    "folder": (lambda folder: None, "no such dataset folder"),
    "manifest missing": (lambda folder: (folder / "manifest.json").unlink(), "manifest.json: missing"),
    "not json": (_manifest(lambda t: t[:-5]), "manifest.json: not valid JSON"),
    "format": (_manifest(lambda t: t.replace("learnsim-systems", "npz")), '"format" = "npz"'),
    "version": (_manifest(lambda t: t.replace('"version": 1', '"version": 2')), '"version" = 2'),
    "count": (_manifest(lambda t: t.replace('"count": 5', '"count": 6')), "count = 6 but the shards hold 5"),
    "shard missing": (lambda folder: (folder / "b.h5").unlink(), "b.h5: shard listed in manifest.json is missing"),
    "not hdf5": (lambda folder: (folder / "b.h5").write_text("x"), "b.h5: not a readable HDF5 file"),
    "b missing": (_delete("b"), "a.h5: group system_000001: missing dataset 'b'"),
    "indptr missing": (_delete("indptr"), "group system_000001: missing dataset 'indptr'"),
    "n missing": (_attr("n", None), "group system_000001: missing attribute 'n'"),
    "n mismatch": (_attr("n", 7), "group system_000001: 'indptr' has length 17, expected n + 1 = 8"),
    "b length": (_set(("system_000001", "b"), np.ones(3)), "group system_000001: 'b' has length 3, expected n = 16"),
    "x length": (_set(("system_000000", "x"), np.ones(3)), "group system_000000: 'x' has length 3"),
    "data length": (_set(("system_000001", "data"), np.ones(3)), "'indices' has length 64 but 'data' has 3"),
    "grid shape": (_attr("grid_shape", [3, 3]), "'grid_shape' = [3, 3] does not hold n = 16"),
    "float indices": (
        _set(("system_000001", "indices"), np.ones(64)),
        "'indices' has dtype float64, expected integers",
    ),
}
READ_CORRUPTIONS = {
    "non-square": (_set(("system_000001", "indices"), np.full(64, 20)), "'indices' holds column 20, outside 0..15"),
    "indptr": (_set(("system_000001", "indptr"), np.arange(17) * 3), "'indptr' must rise from 0 to nnz = 64"),
    "nan data": (
        _set(("system_000001", "data"), np.full(64, np.nan)),
        "'data' holds a non-finite value (nan) at index 0",
    ),
    "inf b": (
        _set(("system_000001", "b"), np.r_[np.ones(15), np.inf]),
        "'b' holds a non-finite value (inf) at index 15",
    ),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_dataset_is_named(dataset, case):
    folder, _ = dataset
    corrupt, message = CORRUPTIONS[case]
    corrupt(folder)
    with pytest.raises(InputError) as err:
        open_dataset(folder / "nowhere" if case == "folder" else folder)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("case", READ_CORRUPTIONS)
def test_corrupt_values_are_named_on_read(dataset, case):
    folder, _ = dataset
    corrupt, message = READ_CORRUPTIONS[case]
    corrupt(folder)
    ds = open_dataset(folder)
    ds[0]  # the other systems still read
    with pytest.raises(InputError) as err:
        ds[1]
    assert message in str(err.value) and "a.h5: group system_000001" in str(err.value)
