"""A stand-in family of grid diffusion systems for developing the learned preconditioners.

-div(k grad u) = f on the unit square (cube) with u = 0 on the boundary, cell-centred finite
volumes (5-point / 7-point stencil, harmonic face conductivities), k log-normal smooth noise
times 1e-3 inside a few random rectangular obstacles. SPD, n = prod(grid_shape).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp

from learnsim.core.systems import LinearSystem


def conductivity(rng: np.random.Generator, shape: tuple[int, ...], obstacles: int = 3) -> np.ndarray:
    noise = ndi.gaussian_filter(rng.standard_normal(shape), sigma=max(shape) / 16, mode="wrap")
    k = np.exp(1.5 * noise / noise.std())
    for _ in range(obstacles):
        lo = [rng.integers(0, s - s // 4) for s in shape]
        size = [rng.integers(s // 10 + 1, s // 4 + 1) for s in shape]
        k[tuple(slice(a, a + b) for a, b in zip(lo, size, strict=True))] = 1e-3
    return k


def diffusion_system(rng: np.random.Generator, shape: tuple[int, ...], obstacles: int = 3) -> LinearSystem:
    k = conductivity(rng, shape, obstacles)
    n = k.size
    index = np.arange(n).reshape(shape)
    h = 1.0 / shape[0]
    rows, cols, vals = [], [], []
    diag = np.zeros(shape)
    for axis in range(len(shape)):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        a, b = k[tuple(lo)], k[tuple(hi)]
        face = 2.0 * a * b / (a + b) / h**2
        diag[tuple(lo)] += face
        diag[tuple(hi)] += face
        i, j = index[tuple(lo)].ravel(), index[tuple(hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-face.ravel(), -face.ravel()]
        # Dirichlet u = 0 on the two outer faces of this axis (half-cell distance)
        first, last = [slice(None)] * len(shape), [slice(None)] * len(shape)
        first[axis], last[axis] = 0, -1
        diag[tuple(first)] += 2.0 * k[tuple(first)] / h**2
        diag[tuple(last)] += 2.0 * k[tuple(last)] / h**2
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag.ravel())
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    A.sort_indices()
    b = rng.standard_normal(n)
    return LinearSystem(A, b, None, grid_shape=tuple(shape), kind="diffusion", parameters={"obstacles": obstacles})


def family(seed: int, count: int, shape: tuple[int, ...]) -> list[LinearSystem]:
    rng = np.random.default_rng(seed)
    return [diffusion_system(rng, shape) for _ in range(count)]
