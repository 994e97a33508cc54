"""Unstructured meshes: a plain value (points, cells, element kind) plus box generators.

Vertex ordering follows VTK/meshio: triangles and quads counter-clockwise, tets with a
positive signed volume, hexes with the bottom face counter-clockwise seen from above and
the top face above it. This is also the ordering warp.fem expects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from learnsim.core.errors import InputError

ELEMENTS = {"tri": (2, 3), "quad": (2, 4), "tet": (3, 4), "hex": (3, 8)}
"""element name -> (spatial dimension, vertices per cell)"""


@dataclass(frozen=True, eq=False)
class Mesh:
    """A conforming mesh of one element kind.

    Attributes:
        points: vertex coordinates, shape (n_points, dim), float64, in metres (or model units).
        cells: vertex indices per cell, shape (n_cells, vertices_per_cell), int32.
        element: one of "tri", "quad", "tet", "hex".
    """

    points: np.ndarray
    cells: np.ndarray
    element: str

    @property
    def dim(self) -> int:
        return ELEMENTS[self.element][0]

    @property
    def n_points(self) -> int:
        return self.points.shape[0]

    @property
    def n_cells(self) -> int:
        return self.cells.shape[0]

    def cell_centroids(self) -> np.ndarray:
        """Mean of each cell's vertices, shape (n_cells, dim)."""
        return self.points[self.cells].mean(axis=1)


def make_mesh(points, cells, element: str, source: str = "mesh") -> Mesh:
    """Build a validated :class:`Mesh`; ``source`` names the origin in error messages.

    Raises InputError for an unknown element kind, wrong array shapes, out-of-range vertex
    indices, non-finite coordinates, or inverted / degenerate cells.
    """
    if element not in ELEMENTS:
        raise InputError(f"{source}: unknown element '{element}' (expected one of {', '.join(ELEMENTS)})")
    dim, nv = ELEMENTS[element]
    points = np.ascontiguousarray(points, dtype=np.float64)
    cells = np.ascontiguousarray(cells, dtype=np.int32)
    if points.ndim != 2 or points.shape[1] < dim:
        raise InputError(f"{source}: {element} mesh needs {dim}D points, got shape {points.shape}")
    if points.shape[1] > dim:
        # 2D meshes are often stored with a zero z column (gmsh, meshio): drop it if flat.
        if not np.allclose(points[:, dim:], 0.0):
            raise InputError(f"{source}: {element} mesh is {dim}D but points have non-zero z coordinates")
        points = np.ascontiguousarray(points[:, :dim])
    if cells.ndim != 2 or cells.shape[1] != nv or cells.shape[0] == 0:
        raise InputError(f"{source}: {element} cells need {nv} vertices each, got shape {cells.shape}")
    if not np.all(np.isfinite(points)):
        raise InputError(f"{source}: mesh has non-finite (NaN or inf) coordinates")
    if cells.min() < 0 or cells.max() >= points.shape[0]:
        raise InputError(f"{source}: cell vertex index out of range [0, {points.shape[0]})")
    mesh = Mesh(points=points, cells=cells, element=element)
    _check_orientation(mesh, source)
    return mesh


def _corner_jacobians(mesh: Mesh) -> np.ndarray:
    """Jacobian determinants at every corner of every cell, shape (n_cells, corners)."""
    p = mesh.points[mesh.cells]
    if mesh.element == "tri":
        e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        return (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])[:, None]
    if mesh.element == "tet":
        e1, e2, e3 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]
        return np.einsum("ij,ij->i", np.cross(e1, e2), e3)[:, None]
    if mesh.element == "quad":
        # corner k: edges to the next and previous vertex (counter-clockwise)
        nxt, prv = p[:, [1, 2, 3, 0]] - p, p[:, [3, 0, 1, 2]] - p
        return nxt[..., 0] * prv[..., 1] - nxt[..., 1] * prv[..., 0]
    # hex: at each corner the three edges along local +x, +y, +z (sign-corrected)
    neighbours = np.array([[1, 3, 4], [0, 2, 5], [3, 1, 6], [2, 0, 7], [5, 7, 0], [4, 6, 1], [7, 5, 2], [6, 4, 3]])
    e = p[:, neighbours] - p[:, :, None, :]
    det = np.einsum("ckj,ckj->ck", np.cross(e[:, :, 0], e[:, :, 1]), e[:, :, 2])
    # corners whose local frame is left-handed in the reference cube
    flip = np.array([1, -1, 1, -1, -1, 1, -1, 1], dtype=np.float64)
    return det * flip


def _unit_points(points: np.ndarray) -> np.ndarray:
    """``(points - lower corner) / largest extent``, in [0, 1], computed without overflow.

    Coordinates near the largest double (a box of size 1e308) have differences, and products of
    differences, that overflow; halving first keeps every intermediate finite.
    """
    half_lo = points.min(axis=0) / 2
    shifted = points / 2 - half_lo  # (p - lo) / 2, at most HUGE / 2 + HUGE / 2
    half_extent = shifted.max()
    if not half_extent > 0.0:
        return np.zeros_like(points)  # every point equal: every cell is degenerate
    return shifted / half_extent


def _check_orientation(mesh: Mesh, source: str) -> None:
    # Jacobians of the mesh scaled to unit size: the relative test jac <= 1e-14 extent^dim, without
    # forming extent^dim (it overflows for extents above 1e154 in 2D, 1e102 in 3D).
    unit = Mesh(points=_unit_points(mesh.points), cells=mesh.cells, element=mesh.element)
    jac = _corner_jacobians(unit)
    bad = np.nonzero(jac.min(axis=1) <= 1e-14)[0]
    if bad.size:
        inverted = jac[bad[0]].min() < 0
        why = "check vertex ordering"
        if not inverted:
            why = (
                f"a corner Jacobian below 1e-14 times the largest mesh extent^{mesh.dim}: "
                "check vertex ordering and the mesh proportions"
            )
        raise InputError(
            f"{source}: {'inverted' if inverted else 'degenerate'} {mesh.element} element {bad[0]} "
            f"({bad.size} bad cell{'s' if bad.size > 1 else ''}; {why})"
        )


def box_mesh(size, cells, element: str, origin=None) -> Mesh:
    """Structured mesh of the box [origin, origin + size].

    Args:
        size: box edge lengths, 2 or 3 values.
        cells: cells per axis, 2 or 3 positive integers.
        element: "quad" or "tri" in 2D (each quad split in two), "hex" or "tet" in 3D (each
            hex split in six tets around its main diagonal, which keeps the mesh conforming).
        origin: lower corner, zeros by default.
    """
    size = np.asarray(size, dtype=np.float64)
    cells = np.asarray(cells, dtype=np.int64)
    dim = size.shape[0]
    origin = np.zeros(dim) if origin is None else np.asarray(origin, dtype=np.float64)
    axes = [np.linspace(origin[d], origin[d] + size[d], cells[d] + 1) for d in range(dim)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)
    shape = tuple(int(c) + 1 for c in cells)
    idx = np.arange(grid.shape[0]).reshape(shape)

    if dim == 2:
        i0 = idx[:-1, :-1].ravel()
        i1 = idx[1:, :-1].ravel()
        i2 = idx[1:, 1:].ravel()
        i3 = idx[:-1, 1:].ravel()
        quads = np.stack([i0, i1, i2, i3], axis=1)
        if element == "quad":
            return make_mesh(grid, quads, "quad", "box")
        if element == "tri":
            tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
            return make_mesh(grid, tris, "tri", "box")
    else:
        c = [idx[:-1, :-1, :-1], idx[1:, :-1, :-1], idx[1:, 1:, :-1], idx[:-1, 1:, :-1]]
        c += [idx[:-1, :-1, 1:], idx[1:, :-1, 1:], idx[1:, 1:, 1:], idx[:-1, 1:, 1:]]
        hexes = np.stack([v.ravel() for v in c], axis=1)
        if element == "hex":
            return make_mesh(grid, hexes, "hex", "box")
        if element == "tet":
            # Kuhn split: six tets sharing the diagonal 0-6, all positively oriented
            paths = [[0, 1, 2, 6], [0, 2, 3, 6], [0, 3, 7, 6], [0, 7, 4, 6], [0, 4, 5, 6], [0, 5, 1, 6]]
            tets = np.concatenate([hexes[:, p] for p in paths])
            return make_mesh(grid, tets, "tet", "box")
    raise InputError(f"box: element '{element}' does not fit a {dim}D box (use quad/tri in 2D, hex/tet in 3D)")


def quadrilateral_mesh(corners, cells, element: str) -> Mesh:
    """Structured 2D mesh of the quadrilateral with ``corners`` (4 x 2, counter-clockwise).

    The cells of a unit-square box mesh are mapped bilinearly onto the quadrilateral
    (for example Cook's membrane: (0,0) (48,44) (48,60) (0,44)).
    """
    corners = np.asarray(corners, dtype=np.float64)
    if corners.shape != (4, 2):
        raise InputError(f"quadrilateral: corners must be 4 points (x, y), got shape {corners.shape}")
    unit = box_mesh([1.0, 1.0], cells, element)
    s, t = unit.points[:, :1], unit.points[:, 1:]
    points = (1 - s) * (1 - t) * corners[0] + s * (1 - t) * corners[1] + s * t * corners[2] + (1 - s) * t * corners[3]
    return make_mesh(points, unit.cells, element, "quadrilateral")


def annulus_mesh(inner: float, outer: float, cells, angle: float = 0.5 * np.pi, grading: float = 1.0) -> Mesh:
    """Structured quad mesh of the annular sector inner <= r <= outer, 0 <= theta <= ``angle`` (radians).

    ``cells``: (radial, angular) counts. ``grading``: the ratio of the outermost to the innermost
    radial cell size (above 1: finer at the inner radius, where a pressurised cylinder yields first).
    """
    n_r, n_t = (int(c) for c in cells)
    if not (0.0 < inner < outer) or n_r < 1 or n_t < 1 or not 0.0 < angle <= 2.0 * np.pi or grading <= 0.0:
        raise InputError(f"annulus: need 0 < inner < outer, positive cells and angle in (0, 2 pi], got "
                         f"inner={inner}, outer={outer}, cells={cells}, angle={angle}")  # fmt: skip
    ratio = grading ** (1.0 / max(n_r - 1, 1))
    sizes = ratio ** np.arange(n_r)
    r = inner + (outer - inner) * np.concatenate([[0.0], np.cumsum(sizes) / sizes.sum()])
    unit = box_mesh([1.0, 1.0], [n_r, n_t], "quad")
    i = np.rint(unit.points[:, 0] * n_r).astype(int)
    theta = unit.points[:, 1] * angle
    points = np.stack([r[i] * np.cos(theta), r[i] * np.sin(theta)], axis=1)
    return make_mesh(points, unit.cells, "quad", "annulus")
