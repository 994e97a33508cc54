"""Dirichlet conditions as a diagonal projector, and boundary side selection.

Constrained degrees of freedom are eliminated symmetrically with
``fem.project_linear_system``: rows and columns of constrained dofs become identity,
so SPD systems stay SPD and CG applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import warp as wp
import warp.fem as fem
from warp.sparse import BsrMatrix, bsr_diag

from learnsim.engine.fem.discretization import Discretization, boundary_side_centroids


@dataclass(frozen=True, eq=False)
class Dirichlet:
    """Prescribed nodal values.

    Attributes:
        mask: (n_nodes, components) bool, True where the value is prescribed.
        values: (n_nodes, components) float64 prescribed values (0 where free).
    """

    mask: np.ndarray
    values: np.ndarray

    @property
    def n_constrained(self) -> int:
        return int(self.mask.sum())

    def projector(self, disc: Discretization, scale: float = 1.0) -> tuple[BsrMatrix, wp.array]:
        """Diagonal projector onto the constrained dofs and the (scaled) prescribed values."""
        if disc.components == 1:
            diag = wp.array(self.mask[:, 0].astype(np.float64), dtype=wp.float64, device=disc.device)
        else:
            blocks = np.zeros((disc.n_nodes, disc.components, disc.components))
            idx = np.arange(disc.components)
            blocks[:, idx, idx] = self.mask
            mat = wp.types.matrix((disc.components, disc.components), wp.float64)
            diag = wp.array(blocks, dtype=mat, device=disc.device)
        values = self.values[:, 0] if disc.components == 1 else self.values
        return bsr_diag(diag), disc.nodal(scale * values)


def make_dirichlet(
    disc: Discretization, constraints: Sequence[tuple[np.ndarray, Sequence[int] | None, np.ndarray]]
) -> Dirichlet:
    """Combine constraints ``(node_mask (n_nodes,), components or None = all, value)``.

    ``value`` is uniform (a scalar or one value per component) or given per node,
    shape (n_nodes,) for a scalar field or (n_nodes, components). Later constraints
    override earlier ones on the dofs they share.
    """
    mask = np.zeros((disc.n_nodes, disc.components), dtype=bool)
    values = np.zeros((disc.n_nodes, disc.components))
    for node_mask, comps, value in constraints:
        comps = list(range(disc.components)) if comps is None else list(comps)
        value = np.asarray(value, dtype=np.float64)
        if value.ndim >= 1 and value.shape[0] == disc.n_nodes and value.size >= disc.n_nodes:
            value = value.reshape(disc.n_nodes, disc.components)[node_mask]
        else:
            value = np.broadcast_to(value, (disc.components,))
        for c in comps:
            mask[node_mask, c] = True
            values[node_mask, c] = value[..., c]
    return Dirichlet(mask=mask, values=values)


def apply_dirichlet(
    A: BsrMatrix,
    b: wp.array,
    disc: Discretization,
    bc: Dirichlet,
    scale: float = 1.0,
    homogeneous: bool = False,
) -> None:
    """In place: A <- (I-P) A (I-P) + P and b adjusted so that the solution takes the prescribed values.

    ``homogeneous`` prescribes zeros instead (Newton corrections); ``scale`` multiplies the values.
    """
    projector, fixed = bc.projector(disc, scale)
    fem.project_linear_system(A, b, projector, None if homogeneous else fixed, normalize_projector=False)


def boundary_sides(disc: Discretization, side_mask_fn) -> tuple[fem.GeometryDomain, int]:
    """Boundary sides whose centroid satisfies ``side_mask_fn(centroids (n, dim)) -> bool (n,)``.

    Returns the subdomain and how many sides it holds.
    """
    sides, centroids = boundary_side_centroids(disc)
    mask = np.asarray(side_mask_fn(centroids), dtype=bool)
    count = int(mask.sum())
    sub = fem.Subdomain(sides, element_mask=wp.array(mask.astype(np.int32), dtype=int, device=disc.device))
    return sub, count
