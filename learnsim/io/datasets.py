"""Datasets of linear systems: HDF5 shards plus a JSON manifest, readable with h5py and scipy alone.

Format ``learnsim-systems``, version 1. A dataset is a folder::

    DATASET/
      manifest.json        {"format": "learnsim-systems", "version": 1,
                            "shards": ["samples_000000-000016.h5", ...], "count": 40}
      samples_000000-000016.h5
      ...

``shards`` lists HDF5 file names relative to the folder, in order; ``count`` is the total
number of systems. Each shard holds one top-level group per system, read in sorted name
order (learnsim writes ``system_000000``, ``system_000001``, ...). A group holds:

====================  ========  =====================================================
name                  kind      meaning
====================  ========  =====================================================
``indptr``            dataset   (n + 1,) integer CSR row pointer, indptr[0] = 0
``indices``           dataset   (nnz,) integer column indices, each in [0, n)
``data``              dataset   (nnz,) float64 values: A = csr_matrix((data, indices,
                                indptr), shape=(n, n)), square
``b``                 dataset   (n,) float64 right-hand side
``x``                 dataset   optional, (n,) float64 solution of A x = b
``n``                 attribute number of unknowns
``grid_shape``        attribute optional, unknowns per axis of a structured grid, C order
                                (unknown k at numpy.unravel_index(k, grid_shape))
``kind``              attribute optional, what produced it: "diffusion", "fem-implicit", ...
any other attribute   attribute a generating parameter (``material.E``, ``sample``, ...);
                                numbers and strings as they are, lists and tables as JSON text
====================  ========  =====================================================

All values must be finite. A third party reads a system with::

    with h5py.File(shard) as f:
        g = f["system_000000"]
        n = int(g.attrs["n"])
        A = scipy.sparse.csr_matrix((g["data"][:], g["indices"][:], g["indptr"][:]), shape=(n, n))
        b = g["b"][:]

Files are written atomically (a temporary file renamed into place), so a shard or manifest
that exists under its final name is complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp

from learnsim.core.errors import InputError
from learnsim.core.systems import LinearSystem
from learnsim.io.atomic import new_temp_file, write_atomically

FORMAT = "learnsim-systems"
VERSION = 1
MANIFEST = "manifest.json"
REQUIRED = ("indptr", "indices", "data", "b")
"""Datasets every system group must hold."""
RESERVED = ("n", "grid_shape", "kind")
"""Attributes that describe the system; every other attribute is a generating parameter."""


def group_name(index: int) -> str:
    """Name of the ``index``-th system group in a shard written by learnsim."""
    return f"system_{index:06d}"


def write_shard(path: str | os.PathLike, systems: Sequence[LinearSystem], attributes: dict | None = None) -> Path:
    """Write ``systems`` to the HDF5 shard ``path`` atomically (temporary file, then rename).

    Args:
        path: the shard's final path; its folder must exist.
        systems: written as groups ``system_000000``, ``system_000001``, ... in order.
        attributes: optional file-level attributes (learnsim records the sample range and seed).

    Raises:
        ValueError: a parameter named like a reserved attribute (n, grid_shape, kind).
    """
    path = Path(path)
    fd, tmp = new_temp_file(path, suffix=".partial")  # the umask's mode, as every output: datasets are shared
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in (attributes or {}).items():
                f.attrs[key] = _encode(value)
            for i, system in enumerate(systems):
                _write_group(f.create_group(group_name(i)), system)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_group(g: h5py.Group, system: LinearSystem) -> None:
    A = sp.csr_matrix(system.matrix, dtype=np.float64)
    A.sort_indices()
    g.create_dataset("indptr", data=A.indptr.astype(np.int64))
    g.create_dataset("indices", data=A.indices.astype(np.int64))
    g.create_dataset("data", data=A.data)
    g.create_dataset("b", data=np.asarray(system.rhs, dtype=np.float64).reshape(-1))
    if system.solution is not None:
        g.create_dataset("x", data=np.asarray(system.solution, dtype=np.float64).reshape(-1))
    g.attrs["n"] = system.n
    g.attrs["kind"] = system.kind
    if system.grid_shape is not None:
        g.attrs["grid_shape"] = np.asarray(system.grid_shape, dtype=np.int64)
    for key, value in system.parameters.items():
        if key in RESERVED:
            raise ValueError(f"parameter {key!r} clashes with the reserved attribute of that name")
        g.attrs[key] = _encode(value)


def _encode(value):
    """Numbers and strings as HDF5 attributes; lists, tables and None as JSON text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, default=lambda v: v.tolist() if isinstance(v, np.ndarray | np.generic) else str(v))


def _decode(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value and value[0] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def write_manifest(folder: str | os.PathLike, shards: Sequence[str | os.PathLike], count: int | None = None) -> Path:
    """Write ``folder/manifest.json`` atomically for ``shards`` (names or paths inside ``folder``).

    ``count``: the number of systems in the shards; counted from the files when None.
    """
    folder = Path(folder)
    names = [Path(s).name for s in shards]
    if count is None:
        count = 0
        for name in names:
            with h5py.File(folder / name, "r") as f:
                count += sum(isinstance(f[k], h5py.Group) for k in f)
    text = json.dumps({"format": FORMAT, "version": VERSION, "shards": names, "count": count}, indent=2)
    return write_atomically(folder / MANIFEST, lambda file: file.write(text + "\n"), mode="w")


class SystemDataset(Sequence[LinearSystem]):
    """A dataset opened by :func:`open_dataset`: systems are read from disk when accessed.

    ``len``, indexing (ints and slices) and iteration give :class:`LinearSystem` objects with
    kind and parameters restored. Each read checks the CSR structure and that every value is
    finite (InputError naming the file, group and field otherwise).
    """

    def __init__(self, folder: Path, entries: Sequence[tuple[Path, str, object]]):
        self.folder = folder
        self._entries = list(entries)  # (shard path, group name, sample id or None)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return SystemDataset(self.folder, self._entries[index])
        shard, group, _ = self._entries[index]
        with h5py.File(shard, "r") as f:
            return _read_group(shard, f[group], group)

    def __iter__(self) -> Iterator[LinearSystem]:
        handle, current = None, None
        try:
            for shard, group, _ in self._entries:
                if shard != current:
                    if handle is not None:
                        handle.close()
                    handle, current = h5py.File(shard, "r"), shard
                yield _read_group(shard, handle[group], group)
        finally:
            if handle is not None:
                handle.close()

    def split(self, fraction: float, seed: int = 0) -> tuple[SystemDataset, SystemDataset]:
        """Random (first, second) split with about ``fraction`` of the systems in the first.

        Systems that share a ``sample`` parameter (the solves of one generated sample) go to
        the same side, so held-out systems come from held-out samples. Split twice for
        train / validation / held-out: ``train, rest = ds.split(0.8); val, test = rest.split(0.5)``.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction {fraction} must be within [0, 1]")
        keys = [sample if sample is not None else ("system", i) for i, (_, _, sample) in enumerate(self._entries)]
        unique = list(dict.fromkeys(keys))
        order = np.random.default_rng(seed).permutation(len(unique))
        first = {unique[k] for k in order[: round(fraction * len(unique))]}
        inside = [e for e, k in zip(self._entries, keys, strict=True) if k in first]
        outside = [e for e, k in zip(self._entries, keys, strict=True) if k not in first]
        return SystemDataset(self.folder, inside), SystemDataset(self.folder, outside)

    def __repr__(self) -> str:
        return f"SystemDataset({str(self.folder)!r}, {len(self)} systems)"


def open_dataset(folder: str | os.PathLike) -> SystemDataset:
    """Open a ``learnsim-systems`` folder, whoever wrote it, checking its structure.

    The manifest, every listed shard and every group's fields, shapes and ``n`` are checked
    here (metadata only); values are checked when a system is read.

    Raises:
        InputError: one line naming the file, group and field at fault: no such folder or
            manifest, manifest not JSON or of another format or version, a shard missing or not
            HDF5, ``count`` not matching the shards, a group missing a field, inconsistent
            shapes, and (on read) a malformed CSR structure or non-finite values.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such dataset folder")
    manifest_path = folder / MANIFEST
    manifest = _read_manifest(manifest_path)
    entries = []
    for name in manifest["shards"]:
        shard = folder / name
        if not shard.is_file():
            raise InputError(f"{shard}: shard listed in {MANIFEST} is missing")
        try:
            f = h5py.File(shard, "r")
        except OSError:
            raise InputError(f"{shard}: not a readable HDF5 file") from None
        with f:
            for group in sorted(k for k in f if isinstance(f[k], h5py.Group)):
                sample = _check_group(shard, f[group], group)
                entries.append((shard, group, sample))
    if len(entries) != manifest["count"]:
        raise InputError(f"{manifest_path}: count = {manifest['count']} but the shards hold {len(entries)} systems")
    return SystemDataset(folder, entries)


def _read_manifest(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: missing (not a {FORMAT} dataset folder)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise InputError(f'{path}: "format" = {json.dumps(manifest.get("format"))}, expected "{FORMAT}"')
    if manifest.get("version") != VERSION:
        raise InputError(f'{path}: "version" = {json.dumps(manifest.get("version"))} is not supported (expected 1)')
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(isinstance(s, str) and s for s in shards):
        raise InputError(f'{path}: "shards" must be a list of file names')
    for name in shards:
        if Path(name).name != name:
            raise InputError(f'{path}: "shards" entry {json.dumps(name)} must be a file name inside the folder')
    count = manifest.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InputError(f'{path}: "count" = {json.dumps(count)} must be a non-negative integer')
    return manifest


def _check_group(shard: Path, g: h5py.Group, name: str):
    """Check fields, dtypes and shapes of one group (no values read); return its sample id."""
    where = f"{shard}: group {name}"
    for field in REQUIRED:
        if field not in g:
            raise InputError(f"{where}: missing dataset '{field}'")
        if not isinstance(g[field], h5py.Dataset) or g[field].ndim != 1:
            raise InputError(f"{where}: '{field}' must be a one-dimensional dataset")
    if "n" not in g.attrs:
        raise InputError(f"{where}: missing attribute 'n' (number of unknowns)")
    n = _decode(g.attrs["n"])
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InputError(f"{where}: attribute 'n' = {n!r} must be a non-negative integer")
    for field in ("indptr", "indices"):
        if g[field].dtype.kind not in "iu":
            raise InputError(f"{where}: '{field}' has dtype {g[field].dtype}, expected integers")
    for field in ("data", "b", "x"):
        if field in g and g[field].dtype.kind not in "fiu":
            raise InputError(f"{where}: '{field}' has dtype {g[field].dtype}, expected real numbers")
    sizes = {field: g[field].shape[0] for field in (*REQUIRED, "x") if field in g}
    if sizes["indptr"] != n + 1:
        raise InputError(f"{where}: 'indptr' has length {sizes['indptr']}, expected n + 1 = {n + 1}")
    if sizes["indices"] != sizes["data"]:
        raise InputError(f"{where}: 'indices' has length {sizes['indices']} but 'data' has {sizes['data']}")
    for field in ("b", "x"):
        if field in sizes and sizes[field] != n:
            raise InputError(f"{where}: '{field}' has length {sizes[field]}, expected n = {n}")
    if "x" in g and not isinstance(g["x"], h5py.Dataset):
        raise InputError(f"{where}: 'x' must be a dataset")
    if "grid_shape" in g.attrs:
        shape = np.atleast_1d(np.asarray(g.attrs["grid_shape"]))
        if shape.dtype.kind not in "iu" or int(np.prod(shape)) != n:
            raise InputError(f"{where}: attribute 'grid_shape' = {shape.tolist()} does not hold n = {n} unknowns")
    return _decode(g.attrs["sample"]) if "sample" in g.attrs else None


def _read_group(shard: Path, g: h5py.Group, name: str) -> LinearSystem:
    """Read one checked group, verifying the CSR structure and finiteness of the values."""
    where = f"{shard}: group {name}"
    n = int(g.attrs["n"])
    indptr, indices = g["indptr"][()].astype(np.int64), g["indices"][()].astype(np.int64)
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != indices.size:
        raise InputError(f"{where}: 'indptr' must rise from 0 to nnz = {indices.size}")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices[(indices < 0) | (indices >= n)][0]
        raise InputError(f"{where}: 'indices' holds column {bad}, outside 0..{n - 1} (the matrix is n x n)")
    arrays = {field: g[field][()].astype(np.float64) for field in ("data", "b", "x") if field in g}
    for field, values in arrays.items():
        if not np.all(np.isfinite(values)):
            k = int(np.argmax(~np.isfinite(values)))
            raise InputError(f"{where}: '{field}' holds a non-finite value ({values[k]}) at index {k}")
    matrix = sp.csr_matrix((arrays["data"], indices, indptr), shape=(n, n))
    grid_shape = tuple(int(s) for s in np.atleast_1d(g.attrs["grid_shape"])) if "grid_shape" in g.attrs else None
    parameters = {key: _decode(value) for key, value in g.attrs.items() if key not in RESERVED}
    kind = _decode(g.attrs["kind"]) if "kind" in g.attrs else "unknown"
    return LinearSystem(matrix, arrays["b"], arrays.get("x"), grid_shape=grid_shape, kind=kind, parameters=parameters)


__all__ = [
    "FORMAT",
    "MANIFEST",
    "VERSION",
    "SystemDataset",
    "group_name",
    "open_dataset",
    "write_manifest",
    "write_shard",
]
