"""Where a nodal force stopped being finite: the elements whose law returned NaN (or inf).

A NaN stress at one quadrature point of a cell reaches every node of that cell through the
assembly (NaN times a zero shape-function gradient is still NaN), and only those nodes: a cell
is at fault when all of its vertices carry a non-finite value. Its neighbours share some of
those vertices, never all of them (on a conforming mesh of triangles, quads, tets or hexes
with a single bad cell).
"""

from __future__ import annotations

import numpy as np

from learnsim.core.errors import EngineError
from learnsim.engine.fem.discretization import Discretization


def non_finite_cells(disc: Discretization, nodal: np.ndarray) -> np.ndarray:
    """Indices of the cells all of whose vertices hold a NaN or inf in ``nodal``, (n_nodes,) or
    (n_nodes, components); ascending."""
    bad = ~np.isfinite(np.asarray(nodal).reshape(disc.n_nodes, -1)).all(axis=1)
    return np.flatnonzero(bad[: disc.mesh.n_points][disc.mesh.cells].all(axis=1))


def describe_non_finite_force(disc: Discretization, force: np.ndarray, source: str = "the material law") -> str | None:
    """One phrase naming the elements where ``force`` (nodal, e.g. the internal force) is not finite,
    "the material law returned NaN in element 34 (centre [0.41, 0.92])"; None when it is finite."""
    force = np.asarray(force)
    finite = np.isfinite(force)
    if finite.all():
        return None
    what = "NaN" if np.isnan(force).any() else "inf"
    cells = non_finite_cells(disc, force)
    if cells.size == 0:  # not confined to whole cells: name a node
        node = int(np.flatnonzero(~finite.reshape(disc.n_nodes, -1).all(axis=1))[0])
        return f"{source} returned {what} at node {node} ({_point(disc.node_positions[node])})"
    first = int(cells[0])
    centre = _point(disc.mesh.points[disc.mesh.cells[first]].mean(axis=0))
    if cells.size == 1:
        return f"{source} returned {what} in element {first} (centre {centre})"
    return f"{source} returned {what} in {cells.size} elements, the first {first} (centre {centre})"


def finite_force(disc: Discretization, force: np.ndarray, source: str = "the material law") -> np.ndarray:
    """``force`` itself when it is finite; else EngineError naming the elements (see
    :func:`describe_non_finite_force`). For forces at accepted states, never at line-search trials."""
    cause = describe_non_finite_force(disc, force, source)
    if cause is not None:
        raise EngineError(cause)
    return force


def _point(x: np.ndarray) -> str:
    return np.array2string(np.asarray(x), precision=4, separator=", ")
