"""Floating groups of the ISPH pressure system: connected groups of unknowns with no free surface.

The pressure matrix is a weighted graph Laplacian (``isph``). Restricted to a connected group
of unknowns that touches no free-surface particle (no p = 0 anywhere in it: fluid sealed in a
box, or a pocket shut in by walls), the constant vector is in its null space, so the pressure
level of the group is undetermined and the system is solvable only if the group's right-hand
side sums to zero. Each floating group is made well-posed in two parts, as FEM and finite-volume
codes treat a pure Neumann pressure problem (Bochev and Lehoucq 2005; OpenFOAM's adjustPhi and
pRefCell):

1. compatibility: the group's right-hand-side sum, the net volume change its sources ask of a
   box that cannot change volume (the density term's lattice bias of about 0.5 %, and
   discretisation error of div(v*)), is taken off its fluid rows in equal parts (every particle
   has the same volume); the wall rows keep their hydrostatic conditions;
2. level: the group's fluid particle highest against gravity (the lowest particle index on a
   tie, or without gravity) is pinned to p = 0 and leaves the unknowns exactly as a
   free-surface particle does, eliminated symmetrically. The reduced matrix is the same kind of
   weighted graph Laplacian with a Dirichlet node in every group: symmetric positive definite,
   so PCG applies and ``on_system`` still records SPD systems. With the sum removed, the pinned
   row's own equation holds as well (1^T A = 0 on a group's Laplacian), so the solution is
   the full singular system's solution whose level is p = 0 at the top of the fluid: the level
   an open tank of the same fill has, so a free surface opening under a lid does not make the
   pressures jump.

Pinning rather than projecting the constant out inside CG keeps the recorded systems SPD (a
semidefinite matrix would break the datasets' contract, and IC(0) of a singular matrix can meet
a zero pivot) and asks nothing of the preconditioner. Groups that do touch the free surface are
left exactly as they were.

Cost: every step, one copy of the pattern's column indices and the rows' anchored flags to the
host (4 bytes per entry and per row) and ``scipy.sparse.csgraph.connected_components`` on the
pattern, linear in its entries: about 1 ms for the 2D dam break with 3200 fluid particles on the
CPU, 3 % of its PCG solve. Only in steps with a floating group: the right-hand side and the
positions to the host, and a second assembly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class Pinning:
    """How a step's unknowns change when its floating groups are pinned.

    Attributes:
        index: (n_particles,) int32, each particle's unknown after pinning, -1 for none (the
            pinned particles join the free-surface and unconnected ones).
        n_unknowns: unknowns left.
        shift: (n_unknowns,) added to the reassembled right-hand side (Pa / m^2, the units of
            the PPE's rows): minus the group's right-hand-side sum over its fluid row count on
            the fluid rows of floating groups, zero elsewhere.
        pinned: particle indices set to p = 0, one per floating group.
    """

    index: np.ndarray
    n_unknowns: int
    shift: np.ndarray
    pinned: np.ndarray


def floating_groups(offsets: np.ndarray, columns: np.ndarray, anchored: np.ndarray) -> np.ndarray | None:
    """Each unknown's group label, -1 for a group with a free surface; None when no group floats.

    Args:
        offsets: (n_unknowns + 1,) row offsets of the assembled entries; columns: their
            (nnz,) column indices (unknowns), the diagonal included, in any order within a row.
        anchored: (n_unknowns,) nonzero for a row coupled to a particle with p = 0.
    """
    n = len(offsets) - 1
    pattern = sp.csr_matrix((np.ones(len(columns)), columns, offsets), shape=(n, n))
    # the pattern is symmetric, so its strongly connected components are its connected groups;
    # "strong" needs no transpose (half the time of "weak" or directed=False)
    n_groups, labels = connected_components(pattern, directed=True, connection="strong")
    open_group = np.zeros(n_groups, dtype=bool)
    open_group[labels[anchored != 0]] = True
    if open_group.all():
        return None
    return np.where(open_group[labels], -1, labels)


def pin(labels: np.ndarray, rhs: np.ndarray, index: np.ndarray, n_fluid: int, heights: np.ndarray) -> Pinning:
    """The pinning of the floating groups ``labels`` (from :func:`floating_groups`).

    Args:
        rhs: (n_unknowns,) the assembled right-hand side.
        index: (n_particles,) particle -> unknown, -1 for none, increasing with the particle
            index (fluid particles first, ``n_fluid`` of them).
        heights: (n_particles,) heights against gravity (m), -g . x / |g|, or zeros without gravity.
    """
    n = len(labels)
    particle = np.flatnonzero(index >= 0)  # unknown -> particle
    fluid = particle < n_fluid
    floating = labels >= 0
    # every floating group has a fluid row: a wall unknown has a fluid neighbour, which is an
    # unknown there (a free-surface neighbour would anchor the group)
    candidates = np.flatnonzero(floating & fluid)
    order = candidates[np.lexsort((candidates, -heights[particle[candidates]], labels[candidates]))]
    _, first = np.unique(labels[order], return_index=True)
    pinned = order[first]
    group = np.where(floating, labels, 0)
    sums = np.bincount(group[floating], weights=rhs[floating], minlength=n)
    fluid_rows = np.bincount(group[floating & fluid], minlength=n)
    shift = np.where(floating & fluid, -sums[group] / np.maximum(fluid_rows[group], 1), 0.0)
    keep = np.ones(n, dtype=bool)
    keep[pinned] = False
    renumber = np.where(keep, np.cumsum(keep) - 1, -1)
    new_index = np.full(len(index), -1, dtype=np.int32)
    new_index[particle] = renumber
    return Pinning(new_index, int(keep.sum()), shift[keep], particle[pinned])
