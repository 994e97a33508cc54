"""Small builders shared by the validation tests (problems through the engine API)."""

import numpy as np

from learnsim.core.mesh import box_mesh, make_mesh
from learnsim.engine.fem.assembly import make_field


def distorted_box(size, cells, element, amplitude=0.15, seed=0):
    """Box mesh whose interior vertices are moved randomly by up to ``amplitude`` cell widths."""
    mesh = box_mesh(size, cells, element)
    h = np.asarray(size, dtype=float) / np.asarray(cells)
    lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
    interior = np.all((mesh.points > lo + 1e-12) & (mesh.points < hi - 1e-12), axis=1)
    rng = np.random.default_rng(seed)
    points = mesh.points.copy()
    points[interior] += amplitude * h * rng.uniform(-1.0, 1.0, size=(interior.sum(), mesh.dim))
    return make_mesh(points, mesh.cells, element, "distorted box")


def boundary_nodes(disc):
    """Nodes on the boundary of the mesh's bounding box."""
    X = disc.node_positions
    lo, hi = disc.mesh.points.min(axis=0), disc.mesh.points.max(axis=0)
    return np.any(np.isclose(X, lo) | np.isclose(X, hi), axis=1)


def field_of(disc, u):
    return make_field(disc, disc.nodal(u))
