"""Training data for DCDM: residuals biased to the low end of the spectrum, batched per grid shape.

DCDM trains without solutions: on residual-like vectors ``r`` of each system, with the loss
:func:`learnsim.learned.dcdm.dcdm_loss`. A batch is ``(residuals, coefficients, sqrt_diagonals)``;
:func:`recipe` is what ``learnsim train dcdm`` fits.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from learnsim.core.errors import InputError
from learnsim.core.systems import LinearSystem
from learnsim.learned.dcdm import DCDM, dcdm_loss, grid_coefficients, scaled_matvec
from learnsim.learned.training import Recipe

SMOOTHING_SWEEPS = (0, 4, 16, 64, 256)
"""Jacobi sweeps after which :func:`training_residuals` keeps a residual."""


def training_residuals(coefficients: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Unit-RMS scaled residuals biased to the low end of the spectrum of ``Â``.

    White noise ``z`` smoothed by l1-Jacobi, ``(I - G^-1 Â)^m z`` with ``G`` the row sums of ``|Â|``, kept
    after each ``m`` in :data:`SMOOTHING_SWEEPS`: ``m = 0`` is the white noise that right-hand sides often
    are, large ``m`` leaves the smooth, small-eigenvalue modes that dominate late DCDM residuals. This stands
    in for the paper's Ritz vectors of ``A`` and costs a few stencil sweeps instead of a Lanczos run.

    Args:
        coefficients: ``(3^d - 1, *grid_shape)`` from :func:`grid_coefficients`.
        count: number of noise vectors; ``count * len(SMOOTHING_SWEEPS)`` residuals are returned.
        seed: NumPy seed of the noise.

    Returns:
        float32 ``(count * len(SMOOTHING_SWEEPS), *grid_shape)``.
    """
    grid_shape = coefficients.shape[1:]
    z = np.random.default_rng(seed).standard_normal((count, *grid_shape))
    c = jnp.asarray(coefficients)  # float64 when jax_enable_x64 is on, else float32
    step = 1.0 / (1.0 + jnp.sum(jnp.abs(c), axis=0))
    smooth = jax.jit(jax.vmap(lambda y: y - step * scaled_matvec(y, c)))
    kept, y, done = [], jnp.asarray(z), 0
    for sweeps in SMOOTHING_SWEEPS:
        for _ in range(sweeps - done):
            y = smooth(y)
        done = sweeps
        axes = tuple(range(1, y.ndim))
        kept.append(y / jnp.sqrt(jnp.mean(y**2, axis=axes, keepdims=True)))
    return np.asarray(jnp.concatenate(kept), dtype=np.float32)


def training_batches(
    systems: Sequence[LinearSystem], batch_size: int = 16, noise_per_system: int = 4, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Shuffled batches ``(residuals, coefficients, sqrt_diagonals)`` for :func:`dcdm_loss` from grid systems.

    Each system gives ``noise_per_system * len(SMOOTHING_SWEEPS)`` residuals (see
    :func:`training_residuals`); systems of different grid shapes go to different batches.

    Raises:
        InputError: a system without a grid shape, or one whose grid does not match its matrix.
    """
    rng = np.random.default_rng(seed)
    by_shape: dict[tuple[int, ...], tuple[list, list, list]] = {}
    for i, system in enumerate(systems):
        inverse_sqrt, coefficients = grid_coefficients(system.matrix, system.grid_shape)
        shape = coefficients.shape[1:]
        residuals = training_residuals(coefficients, noise_per_system, seed=int(rng.integers(2**31)) + i)
        pool = by_shape.setdefault(shape, ([], [], []))
        pool[0].append(residuals)
        pool[1].append(np.broadcast_to(coefficients, (len(residuals), *coefficients.shape)))
        sqrt_diagonal = (1.0 / inverse_sqrt).reshape(shape).astype(np.float32)
        pool[2].append(np.broadcast_to(sqrt_diagonal, (len(residuals), *shape)))
    batches = []
    for residual_list, coefficient_list, diagonal_list in by_shape.values():
        residuals, coefficients = np.concatenate(residual_list), np.concatenate(coefficient_list)
        sqrt_diagonals = np.concatenate(diagonal_list)
        order = rng.permutation(len(residuals))
        # full batches only (one shape, one compilation), unless the shape has fewer residuals than a batch
        for start in range(0, max(len(order) - batch_size, 0) + 1, batch_size):
            chosen = order[start : start + batch_size]
            batches.append((residuals[chosen], coefficients[chosen], sqrt_diagonals[chosen]))
    return batches


def recipe(systems: Sequence[LinearSystem], seed: int) -> Recipe:
    """Width 16 on the dataset's grid dimension, the unsupervised loss, batches of 16 residuals, Adam 1e-2.

    Raises:
        InputError: systems without a grid shape, or grids of several dimensions.
    """
    shapes = {system.grid_shape for system in systems}
    if None in shapes:
        raise InputError("dcdm trains on grid systems: this dataset has systems without grid_shape")
    dims = {len(shape) for shape in shapes}
    if len(dims) != 1:
        raise InputError(f"dcdm trains on one grid dimension; this dataset mixes {sorted(dims)}")
    model = DCDM(dim=dims.pop(), width=16, key=jax.random.key(seed))
    return Recipe(model, dcdm_loss, lambda part: training_batches(list(part), seed=seed), 1e-2)
