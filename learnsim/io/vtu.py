"""Time series of results for ParaView: one ``.vtu`` per frame plus a ``.pvd`` collection.

Layout of a result directory::

    DIR/result.pvd               the collection: time of each frame and its file
    DIR/frames/frame_00000.vtu   one unstructured grid per frame (meshio, binary, zlib)

A series is written atomically: frames go to a hidden staging folder next to DIR and only
a run that finishes moves them into place, so a crash never leaves a half-written result
or mixes the frames of two runs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import quoteattr

import meshio
import numpy as np

from learnsim.core.errors import InputError
from learnsim.io.atomic import write_atomically
from learnsim.io.meshes import read_meshio

PVD_NAME = "result.pvd"
FRAMES_DIR = "frames"

_MESHIO_CELL_TYPE = {
    "tri": "triangle",
    "quad": "quad",
    "tet": "tetra",
    "hex": "hexahedron",
    "vertex": "vertex",
}
_VERTICES_PER_CELL = {"tri": 3, "quad": 4, "tet": 4, "hex": 8, "vertex": 1}


def _as_3d_points(points: np.ndarray) -> np.ndarray:
    """(n, 2|3) coordinates -> (n, 3) float64; VTK stores every point in 3D."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must have shape (n, 2) or (n, 3), got {points.shape}")
    if points.shape[1] == 2:
        points = np.column_stack([points, np.zeros(points.shape[0])])
    return points


def _vtk_array(name: str, values: np.ndarray, rows: int, what: str, dim: int) -> np.ndarray:
    """Shape one data array the way ParaView reads it.

    Scalars stay (rows,). In 2D, vectors (rows, 2) become (rows, 3) and tensors (rows, 2, 2)
    become (rows, 3, 3), padded with zeros, so ParaView treats them as vectors / tensors
    (glyphs, warp by vector). Tensors are then flattened row-major to (rows, 9). Booleans
    become uint8 (VTK has no boolean arrays); every other dtype, float64 included, is kept.
    """
    values = np.asarray(values)
    if values.shape[:1] != (rows,):
        raise ValueError(f"{what} '{name}' has shape {values.shape}, expected {rows} rows")
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    if dim == 2 and values.ndim == 2 and values.shape[1] == 2:
        values = np.concatenate([values, np.zeros((rows, 1), dtype=values.dtype)], axis=1)
    elif dim == 2 and values.ndim == 3 and values.shape[1:] == (2, 2):
        values = np.pad(values, ((0, 0), (0, 1), (0, 1)))
    if values.ndim > 2:
        values = values.reshape(rows, -1)
    return np.ascontiguousarray(values)


class FrameSeries:
    """Context manager writing ``DIR/result.pvd`` and ``DIR/frames/frame_00000.vtu``, ...

    Frames are staged in a hidden temporary folder inside DIR's parent; on a clean exit the
    frames folder and result.pvd are moved into place (result.pvd last, via temp file +
    os.replace). On an exception nothing is left behind: no DIR if it did not exist before,
    and an existing DIR keeps its previous content. A successful run over an existing DIR
    replaces its frames/ and result.pvd (old frames are removed, other files are kept).

    Example::

        with FrameSeries(out, mesh.points, mesh.cells, mesh.element) as series:
            for t, u in states:
                series.write_frame(t, point_data={"displacement": u})
    """

    def __init__(self, out_dir: str | Path, points: np.ndarray, cells: np.ndarray | None, element: str):
        """
        Args:
            out_dir: result directory DIR; created (with missing parents) on success.
            points: reference positions, shape (n_points, 2 | 3); 2D points are written with
                z = 0.
            cells: vertex indices, shape (n_cells, vertices_per_cell); None only for "vertex".
            element: "tri", "quad", "tet", "hex", or "vertex" for a particle cloud (cells
                None: one vertex cell per point).
        """
        if element not in _MESHIO_CELL_TYPE:
            raise ValueError(f"unknown element '{element}' (expected one of {', '.join(_MESHIO_CELL_TYPE)})")
        self.out_dir = Path(out_dir).absolute()
        self.element = element
        self.dim = np.shape(points)[1] if np.ndim(points) == 2 else 0
        self.points = _as_3d_points(points)
        self._cells_given = cells is not None
        self.cells = self._check_cells(cells, self.points.shape[0])
        self.entries: list[tuple[float, str]] = []
        self._staging: Path | None = None
        self._created: list[Path] = []

    def _check_cells(self, cells: np.ndarray | None, n_points: int) -> np.ndarray:
        if cells is None:
            if self.element != "vertex":
                raise ValueError(f"cells are required for element '{self.element}'")
            return np.arange(n_points, dtype=np.int64)[:, None]
        cells = np.asarray(cells, dtype=np.int64)
        if cells.ndim != 2 or cells.shape[1] != _VERTICES_PER_CELL[self.element]:
            raise ValueError(f"{self.element} cells must have shape (n, {_VERTICES_PER_CELL[self.element]})")
        if cells.size and (cells.min() < 0 or cells.max() >= n_points):
            raise ValueError(f"cell vertex index out of range [0, {n_points})")
        return cells

    def __enter__(self) -> FrameSeries:
        parent = self.out_dir.parent
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InputError(f"output path exists and is not a directory: {self.out_dir}")
        # Remember which parents we create so a failed run can remove them again.
        missing = [p for p in [parent, *parent.parents] if not p.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first, the order rmdir needs
        # Not tempfile.mkdtemp: its 0700 mode would stick to DIR after the rename; mkdir
        # applies the user's umask like any other new folder.
        staging = parent / f".{self.out_dir.name}.{secrets.token_hex(6)}.staging"
        staging.mkdir()
        self._staging = staging
        (staging / FRAMES_DIR).mkdir()
        self.entries = []
        return self

    def write_frame(
        self,
        time: float,
        point_data: Mapping[str, np.ndarray] | None = None,
        cell_data: Mapping[str, np.ndarray] | None = None,
        points: np.ndarray | None = None,
    ) -> Path:
        """Write the next frame into the staging folder.

        Args:
            time: simulated time of the frame (s); written to the .pvd with full precision.
            point_data: name -> array with one row per point, e.g. displacement (n, dim) in
                m, temperature (n,) in K.
            cell_data: name -> array with one row per cell, e.g. von_mises (n_cells,) in Pa.
            points: positions for this frame only, shape (n, 2 | 3) (moving particles). For a
                "vertex" series built with cells=None the number of particles may change.

        Returns:
            The staged file's path (it moves to DIR/frames/ when the series closes).
        """
        if self._staging is None:
            raise RuntimeError("FrameSeries.write_frame called outside its 'with' block")
        time = float(time)
        if not np.isfinite(time):
            raise ValueError(f"frame time must be finite, got {time}")
        frame_points, cells = self.points, self.cells
        if points is not None:
            frame_points = _as_3d_points(points)
            if frame_points.shape[0] != self.points.shape[0]:
                if self._cells_given:
                    raise ValueError(
                        f"points override has {frame_points.shape[0]} rows, the mesh has {self.points.shape[0]}"
                    )
                cells = self._check_cells(None, frame_points.shape[0])
        n_points, n_cells = frame_points.shape[0], cells.shape[0]
        mesh = meshio.Mesh(
            frame_points,
            [(_MESHIO_CELL_TYPE[self.element], cells)],
            point_data={k: _vtk_array(k, v, n_points, "point data", self.dim) for k, v in (point_data or {}).items()},
            cell_data={k: [_vtk_array(k, v, n_cells, "cell data", self.dim)] for k, v in (cell_data or {}).items()},
        )
        name = f"{FRAMES_DIR}/frame_{len(self.entries):05d}.vtu"
        path = self._staging / name
        meshio.write(path, mesh, file_format="vtu")
        self.entries.append((time, name))
        return path

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        staging, self._staging = self._staging, None
        if staging is None:
            return
        try:
            if exc_type is None:
                self._publish(staging)
        except BaseException:
            self._abort(staging)
            raise
        if exc_type is not None:
            self._abort(staging)
        shutil.rmtree(staging, ignore_errors=True)

    def _publish(self, staging: Path) -> None:
        """Move the staged frames and a new result.pvd into DIR."""
        if not self.out_dir.exists():
            # A fresh DIR appears in one rename, complete with its collection.
            write_pvd(staging / PVD_NAME, self.entries)
            os.rename(staging, self.out_dir)
            return
        frames, old_frames = self.out_dir / FRAMES_DIR, staging / "previous_frames"
        if frames.exists():
            os.rename(frames, old_frames)
        try:
            os.rename(staging / FRAMES_DIR, frames)
            try:
                # Last: readers only ever see a collection whose frames are all in place.
                write_pvd(self.out_dir / PVD_NAME, self.entries)
            except BaseException:
                os.rename(frames, staging / FRAMES_DIR)
                raise
        except BaseException:
            # Put the previous result back as it was.
            if old_frames.exists():
                os.rename(old_frames, frames)
            raise

    def _abort(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)
        for directory in self._created:
            try:
                directory.rmdir()
            except OSError:  # not empty: something else was put there meanwhile
                break


def write_pvd(path: str | Path, entries: list[tuple[float, str]]) -> Path:
    """Write a ParaView collection file atomically (temporary file, then os.replace).

    Args:
        path: the .pvd file to write.
        entries: (time in s, frame file relative to the .pvd's folder) per frame; times are
            written with repr() so they read back bit for bit.
    """
    path = Path(path).absolute()
    lines = [
        '<?xml version="1.0"?>',
        '<VTKFile type="Collection" version="0.1" byte_order="LittleEndian">',
        "  <Collection>",
    ]
    for time, file in entries:
        time = float(time)
        if not np.isfinite(time):
            raise ValueError(f"frame time must be finite, got {time}")
        lines.append(f'    <DataSet timestep="{time!r}" group="" part="0" file={quoteattr(Path(file).as_posix())}/>')
    lines += ["  </Collection>", "</VTKFile>", ""]
    write_atomically(path, lambda file: file.write("\n".join(lines)), mode="w")
    return path


def read_pvd(path: str | Path) -> list[tuple[float, Path]]:
    """Read a ParaView collection: (time, absolute frame path) per data set, in file order.

    Raises:
        InputError: missing file, invalid XML, not a ``Collection``, or a data set without a
            numeric ``timestep`` or a ``file``.
    """
    path = Path(path).absolute()
    if not path.is_file():
        raise InputError(f"pvd file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise InputError(f"{path}: not a valid .pvd file ({err})") from err
    collection = root.find("Collection")
    if root.tag != "VTKFile" or root.get("type") != "Collection" or collection is None:
        raise InputError(f'{path}: not a ParaView collection (expected <VTKFile type="Collection">)')
    entries = []
    for k, dataset in enumerate(collection.iter("DataSet")):
        file, timestep = dataset.get("file"), dataset.get("timestep")
        if not file or timestep is None:
            raise InputError(f"{path}: DataSet {k} needs 'timestep' and 'file' attributes")
        try:
            time = float(timestep)
        except ValueError as err:
            raise InputError(f"{path}: DataSet {k} has timestep={timestep!r}, not a number") from err
        entries.append((time, (path.parent / file).absolute()))
    return entries


def read_frame(path: str | Path) -> meshio.Mesh:
    """Read one frame (.vtu) written by :class:`FrameSeries`.

    Raises:
        InputError: missing or unreadable file.
    """
    path = Path(path).absolute()
    if not path.is_file():
        raise InputError(f"frame file not found: {path}")
    return read_meshio(path, "vtu", what="frame")
