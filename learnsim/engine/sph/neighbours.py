"""Neighbour search for SPH on ``wp.HashGrid`` (float64 points).

The grid is rebuilt from the current positions once per force evaluation; Warp kernels then
loop over candidates with

    for j in wp.hash_grid_query(grid, x_i, radius):
        r_ij = x_i - x[j]
        if wp.length(r_ij) < radius: ...

(the query returns every point of the neighbouring cells, so the distance test is needed).
A hash grid is unbounded: cells wrap around a table of ``cells`` entries per axis, so the
table size only trades memory against hash collisions. In 2D (z = 0) the table is one cell
thick in z.

The neighbour set is piecewise constant in the positions, so it carries no gradient; the
gradients flow through the kernels that use it.
"""

from __future__ import annotations

import warp as wp

from learnsim.core.errors import InputError


def make_grid(dim: int, n_points: int, device=None) -> wp.HashGrid:
    """An empty float64 hash grid sized for about ``n_points`` points in ``dim`` dimensions."""
    if dim not in (2, 3):
        raise InputError(f"dim = {dim} must be 2 or 3")
    if dim == 2:
        side = max(16, min(1024, int(2 * n_points**0.5) + 1))
        return wp.HashGrid(side, side, 1, device=device, dtype=wp.float64)
    side = max(8, min(128, int(2 * n_points ** (1.0 / 3.0)) + 1))
    return wp.HashGrid(side, side, side, device=device, dtype=wp.float64)


def build_grid(positions: wp.array, radius: float, dim: int, grid: wp.HashGrid | None = None) -> wp.HashGrid:
    """A hash grid over ``positions`` (wp.array of vec3d) with cell size ``radius`` (the search radius).

    Pass ``grid`` to reuse its allocation; it is rebuilt in place and returned.
    """
    if not radius > 0.0:
        raise InputError(f"neighbour search radius {radius} must be positive")
    if grid is None:
        grid = make_grid(dim, len(positions), positions.device)
    grid.build(positions, radius)
    return grid
