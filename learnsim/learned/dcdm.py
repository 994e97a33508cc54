"""Deep conjugate directions (DCDM, Kaneda et al. 2023): a convolutional approximate inverse for grid systems.

The network ``f`` maps a residual ``r`` of an SPD grid system ``A x = b`` (5-point / 7-point stencil, unknown
``k`` at ``numpy.unravel_index(k, grid_shape)``) to a search direction ``f(r) ~ A^-1 r`` up to scale;
:func:`learnsim.learned.dcdm_solver.dcdm_solve` A-orthogonalises these directions against the previous ones.

It works in the Jacobi-scaled system ``Â = D^-1/2 A D^-1/2 = I - C`` (unit diagonal): it sees the scaled
residual ``D^-1/2 r`` normalised to unit RMS, plus ``2 d`` coefficient channels ``C`` (the scaled coupling of
each cell to its lower and upper neighbour along each axis, zero across the boundary), and its output ``y``
gives the direction ``D^-1/2 y``. The scaling removes the 10^3 contrast of obstacle coefficients; the
coefficient channels let one model adapt to each matrix of a family.

Architecture: a recursive U-Net whose weights are shared by all levels (a learned V-cycle). Each level
halves the grid with a stride-2 convolution and average-pools the coefficients, down to at most
``coarsest`` cells along the shortest axis, so a model trained on 64x64 runs 256x256 with two more levels
of the same weights. 2D and 3D share the code through ``num_spatial_dims``.

Training is unsupervised (no solutions needed), with the loss of the paper in the scaled system:
``|| r - alpha Â f(r) ||^2 / ||r||^2`` with the minimising ``alpha = (r . Â f) / (Â f . Â f)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import scipy.sparse as sp

from learnsim.engine.solvers.systems import LinearSystem
from learnsim.errors import InputError
from learnsim.learned.checkpoint import register_model_kind

KIND = "dcdm"


def grid_coefficients(matrix: sp.spmatrix, grid_shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The scaled stencil of a grid matrix: what the network sees of ``A``.

    Args:
        matrix: ``(n, n)`` SPD scipy sparse matrix, ``n = prod(grid_shape)``, C-order grid numbering.
        grid_shape: cells per axis, 2 or 3 axes.

    Returns:
        ``(inverse_sqrt_diagonal, coefficients)``: ``(n,)`` float64 ``1 / sqrt(A_kk)``, and float32
        ``(2 d, *grid_shape)`` with channel ``2 a`` = ``-A[k, k - e_a] / sqrt(A_kk A_jj)`` (lower neighbour
        along axis ``a``) and ``2 a + 1`` the same for the upper neighbour; zero where that neighbour is
        outside the grid. Other entries of ``A`` (non-stencil couplings) are not described.

    Raises:
        InputError: no grid shape, a shape that does not match the matrix, or a non-positive diagonal.
    """
    if grid_shape is None:
        raise InputError("DCDM needs a system on a grid: this system has no grid_shape (unstructured matrix)")
    grid_shape = tuple(int(s) for s in grid_shape)
    n = matrix.shape[0]
    if len(grid_shape) not in (2, 3) or int(np.prod(grid_shape)) != n or matrix.shape != (n, n):
        raise InputError(f"DCDM: grid_shape {grid_shape} does not fit a {matrix.shape[0]}x{matrix.shape[1]} matrix")
    matrix = sp.csr_matrix(matrix)
    diagonal = matrix.diagonal()
    if not np.all(diagonal > 0.0):
        raise InputError(f"DCDM: the matrix diagonal must be positive (minimum {diagonal.min():.3e})")
    inverse_sqrt = 1.0 / np.sqrt(diagonal)
    channels = []
    for axis in range(len(grid_shape)):
        stride = int(np.prod(grid_shape[axis + 1 :]))
        upper = np.zeros(n)
        upper[: n - stride] = -matrix.diagonal(stride) * inverse_sqrt[: n - stride] * inverse_sqrt[stride:]
        upper = upper.reshape(grid_shape)
        # the stride-1 diagonal also pairs the last cell of a row with the first of the next: not neighbours
        last = [slice(None)] * len(grid_shape)
        last[axis] = -1
        upper[tuple(last)] = 0.0
        lower = np.roll(upper, 1, axis=axis)  # lower[k] = upper[k - e_a] by symmetry; wrapped entries are 0
        channels += [lower, upper]
    return inverse_sqrt, np.stack(channels).astype(np.float32)


def scaled_matvec(y: jax.Array, coefficients: jax.Array) -> jax.Array:
    """``Â y = y - C y`` on the grid.

    Args:
        y: ``(*grid_shape)`` field.
        coefficients: ``(2 d, *grid_shape)`` from :func:`grid_coefficients`.
    """
    out = y
    for axis in range(y.ndim):
        # coefficient channels are zero across the boundary, so the wrapped entries of roll drop out
        out = out - coefficients[2 * axis] * jnp.roll(y, 1, axis) - coefficients[2 * axis + 1] * jnp.roll(y, -1, axis)
    return out


def _pad_even(x: jax.Array) -> jax.Array:
    """Zero-pad the spatial axes of ``(channels, *spatial)`` to even lengths."""
    pads = [(0, 0)] + [(0, s % 2) for s in x.shape[1:]]
    return jnp.pad(x, pads)


def _average_pool(x: jax.Array) -> jax.Array:
    """2^d average pooling of ``(channels, *spatial)`` with even spatial lengths."""
    shape = [x.shape[0]]
    for s in x.shape[1:]:
        shape += [s // 2, 2]
    return x.reshape(shape).mean(axis=tuple(range(2, 2 * x.ndim, 2)))


class DCDM(eqx.Module):
    """The DCDM network: a recursive U-Net with weights shared across levels, linear in the residual.

    The residual path is convolutions without biases or activations, each followed by a pointwise gate
    ``2 sigmoid(.)`` computed from the coefficient channels of that level: the network is ``f(r) = M(A) r``
    with ``M`` a linear operator that depends non-linearly on the matrix. Linearity makes the DCDM
    iteration a truncated flexible CG with a fixed preconditioner per matrix, which converges far better
    than with a direction that depends non-linearly on the residual (measured: 540-720 iterations at 64x64
    with a ReLU U-Net of the same size and training, against 80 for IC(0)).

    Attributes:
        dim: number of grid axes (2 or 3).
        width: hidden channels.
        coarsest: the recursion stops when the shortest axis has at most this many cells.
    """

    dim: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    coarsest: int = eqx.field(static=True)
    lift: eqx.nn.Conv
    pre: eqx.nn.Conv
    down: eqx.nn.Conv
    up: eqx.nn.ConvTranspose
    post: eqx.nn.Conv
    project: eqx.nn.Conv
    gate_hidden: eqx.nn.Conv
    gate_out: eqx.nn.Conv

    def __init__(self, dim: int = 2, width: int = 16, coarsest: int = 4, *, key: jax.Array):
        if dim not in (2, 3):
            raise InputError(f"DCDM: dim = {dim} must be 2 or 3")
        if width < 1 or coarsest < 1:
            raise InputError(f"DCDM: width = {width} and coarsest = {coarsest} must be positive")
        self.dim, self.width, self.coarsest = dim, width, coarsest
        keys = jr.split(key, 8)
        linear = dict(num_spatial_dims=dim, dtype=jnp.float32, use_bias=False)
        self.lift = eqx.nn.Conv(in_channels=1, out_channels=width, kernel_size=3, padding=1, key=keys[0], **linear)
        self.pre = eqx.nn.Conv(in_channels=width, out_channels=width, kernel_size=3, padding=1, key=keys[1], **linear)
        self.down = eqx.nn.Conv(
            in_channels=width, out_channels=width, kernel_size=3, stride=2, padding=1, key=keys[2], **linear
        )
        self.up = eqx.nn.ConvTranspose(
            in_channels=width, out_channels=width, kernel_size=4, stride=2, padding=1, key=keys[3], **linear
        )
        self.post = eqx.nn.Conv(in_channels=width, out_channels=width, kernel_size=3, padding=1, key=keys[4], **linear)
        self.project = eqx.nn.Conv(in_channels=width, out_channels=1, kernel_size=1, key=keys[5], **linear)
        gate = dict(num_spatial_dims=dim, dtype=jnp.float32, kernel_size=3, padding=1)
        self.gate_hidden = eqx.nn.Conv(in_channels=2 * dim, out_channels=width, key=keys[6], **gate)
        self.gate_out = eqx.nn.Conv(in_channels=width, out_channels=4 * width, key=keys[7], **gate)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """JSON-friendly constructor arguments: ``DCDM(**model.hyperparameters, key=...)`` has this shape."""
        return {"dim": self.dim, "width": self.width, "coarsest": self.coarsest}

    @classmethod
    def from_hyperparameters(cls, hyperparameters: dict[str, Any], key: jax.Array | None = None) -> DCDM:
        """Build a model (random weights) from :attr:`hyperparameters`; the checkpoint registry uses this."""
        known = {"dim", "width", "coarsest"}
        unknown = set(hyperparameters) - known
        if unknown:
            raise InputError(f"DCDM: unknown hyper-parameters {sorted(unknown)} (expected {sorted(known)})")
        return cls(**hyperparameters, key=jr.key(0) if key is None else key)

    def _gates(self, coefficients: jax.Array) -> list[jax.Array]:
        """Four ``(width, *spatial)`` gates in ``(0, 2)`` for the lift/pre, down, up and post products."""
        hidden = jax.nn.relu(self.gate_hidden(coefficients))
        return list(2.0 * jax.nn.sigmoid(self.gate_out(hidden)).reshape(4, self.width, *coefficients.shape[1:]))

    def _level(self, h: jax.Array, coefficients: jax.Array) -> jax.Array:
        g_pre, g_down, g_up, g_post = self._gates(coefficients)
        h = self.pre(h) * g_pre
        spatial = h.shape[1:]
        if min(spatial) > self.coarsest:
            c_even = _pad_even(coefficients)
            coarse = self.down(_pad_even(h * g_down))
            coarse = self._level(coarse, _average_pool(c_even))
            up = self.up(coarse)[(slice(None), *(slice(0, s) for s in spatial))]
            h = h + up * g_up
        return self.post(h) * g_post

    def __call__(self, residual: jax.Array, coefficients: jax.Array) -> jax.Array:
        """The scaled direction for one scaled residual.

        Args:
            residual: ``(*grid_shape)`` scaled residual ``D^-1/2 r`` (any scale: it is normalised here).
            coefficients: ``(2 d, *grid_shape)`` from :func:`grid_coefficients`.

        Returns:
            ``(*grid_shape)`` float32 ``y ~ Â^-1 residual`` up to scale; the direction is ``D^-1/2 y``.
        """
        if residual.ndim != self.dim or coefficients.shape != (2 * self.dim, *residual.shape):
            raise InputError(
                f"DCDM: a {self.dim}D model got a residual of shape {residual.shape} and coefficients of shape "
                f"{coefficients.shape}"
            )
        residual = residual.astype(jnp.float32)
        rms = jnp.sqrt(jnp.mean(residual**2))
        residual = residual / jnp.where(rms > 0, rms, 1.0)
        h = self.lift(residual[None])
        return self.project(self._level(h, coefficients.astype(jnp.float32)))[0]


register_model_kind(KIND, DCDM.from_hyperparameters)


def dcdm_loss(model: DCDM, batch: tuple[jax.Array, jax.Array], key: jax.Array | None = None) -> jax.Array:
    """Mean over the batch of ``|| r - alpha Â f(r) ||^2 / ||r||^2`` with the optimal ``alpha`` per residual.

    Args:
        model: the network.
        batch: ``(residuals, coefficients)`` of shapes ``(B, *grid_shape)`` and ``(B, 2 d, *grid_shape)``
            (scaled residuals and the coefficients of their matrices).
        key: unused (the signature of :func:`learnsim.learned.training.fit`).

    Returns:
        Scalar in ``[0, 1]``: 0 when every ``f(r)`` is exactly ``Â^-1 r`` up to scale.
    """
    residuals, coefficients = batch

    def one(r, c):
        r = r.astype(jnp.float32)
        a_y = scaled_matvec(model(r, c), c)
        alpha = jnp.vdot(r, a_y) / jnp.maximum(jnp.vdot(a_y, a_y), 1e-30)
        return jnp.sum((r - alpha * a_y) ** 2) / jnp.sum(r**2)

    return jnp.mean(jax.vmap(one)(residuals, coefficients))


SMOOTHING_SWEEPS = (0, 4, 16, 64, 256)
"""Jacobi sweeps after which :func:`training_residuals` keeps a residual."""


def training_residuals(coefficients: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Unit-RMS scaled residuals biased to the low end of the spectrum of ``Â``.

    White noise ``z`` smoothed by damped Jacobi, ``(I - 2/3 Â)^m z``, kept after each ``m`` in
    :data:`SMOOTHING_SWEEPS`: ``m = 0`` is the white noise that right-hand sides often are, large ``m``
    leaves the smooth, small-eigenvalue modes that dominate late DCDM residuals. This stands in for the
    paper's Ritz vectors of ``A`` and costs a few stencil sweeps instead of a Lanczos run per matrix.

    Args:
        coefficients: ``(2 d, *grid_shape)`` from :func:`grid_coefficients`.
        count: number of noise vectors; ``count * len(SMOOTHING_SWEEPS)`` residuals are returned.
        seed: NumPy seed of the noise.

    Returns:
        float32 ``(count * len(SMOOTHING_SWEEPS), *grid_shape)``.
    """
    grid_shape = coefficients.shape[1:]
    z = np.random.default_rng(seed).standard_normal((count, *grid_shape))
    c = jnp.asarray(coefficients, dtype=jnp.float64)
    smooth = jax.jit(jax.vmap(lambda y: y - (2.0 / 3.0) * scaled_matvec(y, c)))
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
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled batches ``(residuals, coefficients)`` for :func:`dcdm_loss` from grid systems.

    Each system gives ``noise_per_system * len(SMOOTHING_SWEEPS)`` residuals (see
    :func:`training_residuals`); systems of different grid shapes go to different batches.

    Raises:
        InputError: a system without a grid shape, or one whose grid does not match its matrix.
    """
    rng = np.random.default_rng(seed)
    by_shape: dict[tuple[int, ...], tuple[list, list]] = {}
    for i, system in enumerate(systems):
        _, coefficients = grid_coefficients(system.matrix, system.grid_shape)
        residuals = training_residuals(coefficients, noise_per_system, seed=int(rng.integers(2**31)) + i)
        pool = by_shape.setdefault(coefficients.shape[1:], ([], []))
        pool[0].append(residuals)
        pool[1].append(np.broadcast_to(coefficients, (len(residuals), *coefficients.shape)))
    batches = []
    for residual_list, coefficient_list in by_shape.values():
        residuals, coefficients = np.concatenate(residual_list), np.concatenate(coefficient_list)
        order = rng.permutation(len(residuals))
        # full batches only (one shape, one compilation), unless the shape has fewer residuals than a batch
        for start in range(0, max(len(order) - batch_size, 0) + 1, batch_size):
            chosen = order[start : start + batch_size]
            batches.append((residuals[chosen], coefficients[chosen]))
    return batches
