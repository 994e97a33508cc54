"""Reading volume meshes from files (gmsh, VTK, Abaqus, ... anything meshio reads).

Only the cells of the highest dimension are kept: tetrahedra or hexahedra in 3D,
triangles or quadrilaterals in 2D. Boundary facets, edges and vertex cells that mesh
generators write alongside them are ignored. Second-order cells (``tetra10``,
``hexahedron27``, ``triangle6``, ``quad9``, ...) are reduced to their corner vertices, which
meshio, like VTK and gmsh, stores first.
"""

from __future__ import annotations

import re
from pathlib import Path

import meshio
import numpy as np

from learnsim.core.errors import InputError
from learnsim.core.mesh import ELEMENTS, Mesh, make_mesh

_ELEMENT_OF_FAMILY = {"tetra": "tet", "hexahedron": "hex", "triangle": "tri", "quad": "quad"}
"""meshio cell family (name without the node count) -> our element name"""

_OTHER_VOLUME_FAMILIES = {
    "wedge": 3,
    "pyramid": 3,
    "polyhedron": 3,
    "polygon": 2,
    "VTK_LAGRANGE_TETRAHEDRON": 3,
    "VTK_LAGRANGE_HEXAHEDRON": 3,
    "VTK_LAGRANGE_WEDGE": 3,
    "VTK_LAGRANGE_PYRAMID": 3,
    "VTK_LAGRANGE_TRIANGLE": 2,
    "VTK_LAGRANGE_QUADRILATERAL": 2,
}
"""cell families we do not support, with their dimension, so they are reported, not skipped"""

_CELL_TYPE = re.compile(r"^([a-z]+?)(\d*)$")


def _family(cell_type: str) -> str:
    """'tetra10' -> 'tetra', 'quad9' -> 'quad', 'VTK_LAGRANGE_HEXAHEDRON' -> itself."""
    match = _CELL_TYPE.match(cell_type)
    return match.group(1) if match else cell_type


def _dimension(family: str) -> int:
    """Topological dimension of a cell family; 0 for anything we ignore (lines, vertices)."""
    if family in _ELEMENT_OF_FAMILY:
        return ELEMENTS[_ELEMENT_OF_FAMILY[family]][0]
    return _OTHER_VOLUME_FAMILIES.get(family, 0)


def _formats_of(path: Path) -> list[str]:
    """meshio format names for the file's extension, longest suffix first (".vol.gz")."""
    formats: list[str] = []
    suffix = ""
    for part in reversed(path.suffixes):
        suffix = (part + suffix).lower()
        formats = meshio.extension_to_filetypes.get(suffix, []) + formats
    return formats


def read_meshio(path: Path, file_format: str | None = None, what: str = "mesh") -> meshio.Mesh:
    """meshio's reader for ``path``, with every failure turned into a one-line InputError.

    Not ``meshio.read``: on a file it cannot parse, that prints the reason and calls
    ``sys.exit(1)``. We call each candidate format's own reader instead (``.msh`` is both
    gmsh and ansys).

    Args:
        path: an existing file.
        file_format: meshio format name; default: deduced from the extension.
        what: what the file holds, for the message ("mesh", "frame").
    """
    formats = [file_format] if file_format else _formats_of(path)
    readers = [(name, getattr(meshio, name.split("-")[0], None)) for name in formats]
    readers = [(name, module.read) for name, module in readers if hasattr(module, "read")]
    if not readers:
        known = ", ".join(sorted(meshio.extension_to_filetypes))
        raise InputError(f"{path}: unknown {what} format '{''.join(path.suffixes)}' (readable: {known})")
    reasons = []
    for name, reader in readers:
        try:
            return reader(str(path))
        except Exception as err:  # readers raise many types (ReadError, KeyError, XML errors, ...)
            lines = str(err).strip().splitlines()
            reasons.append(f"as {name}: {lines[0] if lines else type(err).__name__}")
    raise InputError(f"{path}: cannot read {what} ({'; '.join(reasons)})")


def read_mesh(path: str | Path) -> Mesh:
    """Read the volume mesh stored in ``path``.

    Args:
        path: any file meshio reads (.msh, .vtu, .vtk, .inp, .xdmf, ...); the format comes
            from the extension.

    Returns:
        A validated :class:`Mesh`: points (n_points, dim) float64 in the file's units,
        cells (n_cells, vertices_per_cell) int32. Points no kept cell uses (the mid-edge
        nodes of second-order cells, geometry points) are dropped and the cells re-indexed,
        keeping the file's point order.

    Raises:
        InputError: missing or unreadable file, no 2D/3D cells, several element kinds of the
            top dimension (mixed meshes are not supported), an unsupported cell kind (wedge,
            pyramid, polygon), or inverted / degenerate cells (the message names the file).
    """
    path = Path(path).absolute()
    if not path.is_file():
        raise InputError(f"mesh file not found: {path}")
    data = read_meshio(path)

    # block.data stays as read: polyhedra are ragged lists, not arrays
    blocks = [(block.type, _family(block.type), block.data) for block in data.cells]
    top = max((_dimension(family) for _, family, _ in blocks), default=0)
    if top == 0:
        raise InputError(f"{path}: no 2D or 3D cells found (triangles, quads, tets or hexes)")
    kept = [(kind, family, cells) for kind, family, cells in blocks if _dimension(family) == top]
    unsupported = sorted({kind for kind, family, _ in kept if family not in _ELEMENT_OF_FAMILY})
    if unsupported:
        raise InputError(
            f"{path}: unsupported cell type {', '.join(unsupported)} "
            f"(supported: {', '.join(_ELEMENT_OF_FAMILY)} and their second-order variants)"
        )
    elements = sorted({_ELEMENT_OF_FAMILY[family] for _, family, _ in kept})
    if len(elements) > 1:
        raise InputError(
            f"{path}: mixed meshes are not supported (found {' and '.join(elements)} cells); use one element kind"
        )
    element = elements[0]
    n_corners = ELEMENTS[element][1]
    # Several blocks of one kind are common (one per gmsh physical group): concatenate them.
    corners = np.concatenate([np.asarray(cells)[:, :n_corners] for _, _, cells in kept]).astype(np.int64)

    # Unused points would leave rows of zeros in assembled matrices (singular systems), so
    # keep only the points the cells use; np.unique keeps the file's point order.
    used, inverse = np.unique(corners, return_inverse=True)
    if used[0] < 0 or used[-1] >= data.points.shape[0]:
        raise InputError(f"{path}: cell vertex index out of range [0, {data.points.shape[0]})")
    cells = inverse.reshape(corners.shape)
    return make_mesh(data.points[used], cells, element, source=str(path))
