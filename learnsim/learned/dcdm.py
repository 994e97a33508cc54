"""Deep conjugate directions (DCDM, Kaneda et al. 2023) with a learned multigrid V-cycle as the network.

The network ``f`` maps a residual ``r`` of an SPD grid system ``A x = b`` (any stencil within the 3^d
neighbourhood: 5/9-point in 2D, 7/27-point in 3D; unknown ``k`` at ``numpy.unravel_index(k, grid_shape)``)
to a search direction ``f(r) ~ A^-1 r`` up to scale; :func:`learnsim.learned.dcdm_solver.dcdm_solve`
A-orthogonalises these directions against the previous ones (Algorithm 1 of the paper).

It works in the Jacobi-scaled system ``Â = D^-1/2 A D^-1/2 = I - C``: it sees the scaled residual
``D^-1/2 r`` and ``3^d - 1`` coefficient channels ``C`` (the scaled coupling of each cell to each of its
neighbours, zero across the boundary); its output ``y`` gives the direction ``D^-1/2 y``.

Architecture, and what is learned: unlike the paper's plain convolutional U-Net, ``f`` is a symmetric
multigrid V-cycle with a strong numerical prior. Fixed (not learned): the coarse grids (every second point
per axis, down to at most ``coarsest`` points per axis), operator-dependent interpolation ``P`` (Dendy's
black-box multigrid weights from the stencil, collapsed in the unscaled unknowns: they need ``sqrt(diag A)``
besides ``C``, see :func:`interpolation_weights`) and its transpose as restriction, the Galerkin coarse
operators ``P^T Â P`` (3^d-point stencils again, computed from ``C`` by probing with 3^d colourings), and an
exact dense solve on the coarsest grid. Learned: the point-wise weights of the ``sweeps`` damped-Jacobi
smoothing steps before and after each coarse correction, predicted by a small convolutional network from the
coefficient channels of each level (``theta_s(k) / g(k)``, ``theta_s`` in ``(0, 2)``, ``g`` the row sum of
``|Â|``: l1-Jacobi scaling, so every smoothing step contracts in the energy norm). The same weights serve
every level, so a model trained on 32x32 runs 256x256 with more levels. The map is linear in ``r`` and
symmetric positive definite for every matrix, which makes the DCDM iteration a preconditioned conjugate
gradient with a matrix-adapted preconditioner. Untrained (``theta = 1.2``) it is already a good V-cycle;
training tunes the smoothing to the family. Measured (tol 1e-8, held-out seeds 1000-1003, untrained):
poisson_obstacles (Q1) 9.2 iterations at 64x64 and 9.5 at 256x256, pyamg's SA/RS-AMG + CG 8-10; with the
collapse in the scaled unknowns instead it was 20.5 and 37.0.

Training is unsupervised (no solutions needed), with the loss of the paper in the scaled system:
``|| r - alpha Â f(r) ||^2 / ||r||^2`` with the minimising ``alpha = (r . Â f) / (Â f . Â f)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import scipy.sparse as sp

from learnsim.core.errors import InputError

INITIAL_THETA = 1.2
"""Smoothing weight (times the l1-Jacobi scaling ``1 / g``) of an untrained model."""


def neighbour_offsets(dim: int) -> list[tuple[int, ...]]:
    """The ``3^d - 1`` neighbour offsets in the order of the coefficient channels (C order, centre left out)."""
    return [o for o in itertools.product((-1, 0, 1), repeat=dim) if any(o)]


def grid_coefficients(matrix: sp.spmatrix, grid_shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The scaled stencil of a grid matrix: what the network sees of ``A``.

    Args:
        matrix: ``(n, n)`` SPD scipy sparse matrix, ``n = prod(grid_shape)``, C-order grid numbering; every
            non-zero couples a cell to itself or to one of its ``3^d - 1`` neighbours (axis and diagonal).
        grid_shape: cells (or nodes) per axis, 2 or 3 axes.

    Returns:
        ``(inverse_sqrt_diagonal, coefficients)``: ``(n,)`` float64 ``1 / sqrt(A_kk)``, and float32
        ``(3^d - 1, *grid_shape)`` with channel ``c`` = ``-A[k, k + o_c] / sqrt(A_kk A_jj)`` for the offset
        ``o_c = neighbour_offsets(d)[c]``; zero where that neighbour is outside the grid.

    Raises:
        InputError: no grid shape, a shape that does not match the matrix, a non-positive diagonal, or a
            coupling beyond the 3^d neighbourhood.
    """
    if grid_shape is None:
        raise InputError("DCDM needs a system on a grid: this system has no grid_shape (unstructured matrix)")
    grid_shape = tuple(int(s) for s in grid_shape)
    n = matrix.shape[0]
    if len(grid_shape) not in (2, 3) or int(np.prod(grid_shape)) != n or matrix.shape != (n, n):
        raise InputError(f"DCDM: grid_shape {grid_shape} does not fit a {matrix.shape[0]}x{matrix.shape[1]} matrix")
    diagonal = sp.csr_matrix(matrix).diagonal()
    if not np.all(diagonal > 0.0):
        raise InputError(f"DCDM: the matrix diagonal must be positive (minimum {diagonal.min():.3e})")
    inverse_sqrt = 1.0 / np.sqrt(diagonal)
    coo = sp.coo_matrix(matrix)
    keep = (coo.data != 0.0) & (coo.row != coo.col)
    rows, cols, values = coo.row[keep], coo.col[keep], coo.data[keep]
    delta = np.stack(np.unravel_index(cols, grid_shape)) - np.stack(np.unravel_index(rows, grid_shape))
    if np.any(np.abs(delta) > 1):
        far = int(np.any(np.abs(delta) > 1, axis=0).sum())
        raise InputError(f"DCDM: {far} matrix entries couple cells that are not grid neighbours of {grid_shape}")
    dim = len(grid_shape)
    channel = np.ravel_multi_index(tuple(delta + 1), (3,) * dim)
    channel -= channel > (3**dim) // 2  # the centre offset has no channel
    coefficients = np.zeros((3**dim - 1, n))
    np.add.at(coefficients, (channel, rows), -values * inverse_sqrt[rows] * inverse_sqrt[cols])
    return inverse_sqrt, coefficients.reshape(3**dim - 1, *grid_shape).astype(np.float32)


def _shifted(y: jax.Array) -> list[jax.Array]:
    """``[y[k + o] for o in neighbour_offsets]`` on the grid of ``y``, zero outside."""
    padded = jnp.pad(y, 1)
    return [
        padded[tuple(slice(1 + a, 1 + a + s) for a, s in zip(o, y.shape, strict=True))]
        for o in neighbour_offsets(y.ndim)
    ]


def scaled_matvec(y: jax.Array, coefficients: jax.Array) -> jax.Array:
    """``Â y = y - C y`` on the grid.

    Args:
        y: ``(*grid_shape)`` field.
        coefficients: ``(3^d - 1, *grid_shape)`` from :func:`grid_coefficients`.
    """
    return y - sum(c * s for c, s in zip(coefficients, _shifted(y), strict=True))


def interpolation_weights(coefficients: jax.Array, near_null: jax.Array) -> jax.Array:
    """Operator-dependent interpolation weights (Dendy's black-box multigrid, in the scaled system).

    Dendy's collapse holds for the unscaled unknowns ``u``: a fine point between two coarse points along axis
    ``a`` assumes ``u`` constant across ``a`` and solves its own row of ``A u = 0`` collapsed onto the line.
    In the scaled unknowns ``v = t u`` (``t = sqrt(diag A)`` on the finest level, the vector the interpolation
    must reproduce) that reads ``v = t / (t - s_mid) (s_lo v_lo / t_lo + s_hi v_hi / t_hi)`` with ``s_lo``
    (``s_hi``, ``s_mid``) the sum of ``C_kj t_j`` over the neighbours below (above, level with) it along
    ``a``. Linear interpolation for the Laplacian; across an obstacle boundary it follows the flux. (The
    same collapse with ``t = 1`` assumes a constant diagonal: it mis-interpolates wherever ``diag A`` jumps,
    at 1e-3 obstacles and at the Neumann sides of Q1 systems, and the V-cycle then degrades with depth.)

    Args:
        coefficients: ``(3^d - 1, *shape)`` scaled couplings ``C``.
        near_null: ``(*shape)`` positive ``t`` (any overall scale).

    Returns:
        ``(d, 2, *shape)``: ``[a, 0]`` = ``w_lo`` and ``[a, 1]`` = ``w_hi`` along axis ``a``, non-negative.
    """
    dim = coefficients.ndim - 1
    offsets = np.array(neighbour_offsets(dim))
    t = near_null
    weighted = jnp.stack([c * s for c, s in zip(coefficients, _shifted(t), strict=True)])
    weights = []
    for axis in range(dim):
        sums = [jnp.sum(weighted[offsets[:, axis] == side], axis=0) for side in (-1, 0, 1)]
        denominator = jnp.maximum(t - sums[1], 1e-3 * t)
        padded = jnp.pad(t, [(1, 1) if a == axis else (0, 0) for a in range(dim)], constant_values=1.0)
        lower = padded[tuple(slice(0, -2) if a == axis else slice(None) for a in range(dim))]
        upper = padded[tuple(slice(2, None) if a == axis else slice(None) for a in range(dim))]
        weights.append(
            jnp.stack(
                [
                    jnp.maximum(t * sums[0] / (denominator * lower), 0),
                    jnp.maximum(t * sums[2] / (denominator * upper), 0),
                ]
            )
        )
    return jnp.stack(weights)


def _along(weights: jax.Array, axis: int) -> jax.Array:
    """The weights of ``axis`` at the points where the prolongation along ``axis`` writes, axis in front."""
    w = weights[axis][
        (slice(None),) + tuple(slice(None, None, 2) if a > axis else slice(None) for a in range(weights.shape[0]))
    ]
    return jnp.moveaxis(w, axis + 1, 1)


def _prolong(coarse: jax.Array, weights: jax.Array) -> jax.Array:
    """Interpolation ``P``: fine ``2i`` takes coarse ``i``, fine ``2i + 1`` takes ``w_lo c_i + w_hi c_{i+1}``.

    Args:
        coarse: ``(*coarse_shape)``.
        weights: ``(d, 2, *fine_shape)`` from :func:`interpolation_weights`.
    """
    for axis in range(coarse.ndim):
        n = weights.shape[2 + axis]
        c = jnp.moveaxis(coarse, axis, 0)
        w = _along(weights, axis)[:, 1::2]
        m = c.shape[0]
        upper = jnp.concatenate([c[1:], jnp.zeros_like(c[:1])])[: w.shape[1]]
        odd = w[0] * c[: w.shape[1]] + w[1] * upper
        odd = jnp.concatenate([odd, jnp.zeros((m - odd.shape[0], *odd.shape[1:]), odd.dtype)])
        fine = jnp.stack([c, odd], axis=1).reshape(2 * m, *c.shape[1:])[:n]
        coarse = jnp.moveaxis(fine, 0, axis)
    return coarse


def _restrict(fine: jax.Array, weights: jax.Array) -> jax.Array:
    """The transpose of :func:`_prolong` (with the same ``weights``)."""
    for axis in reversed(range(fine.ndim)):
        f = jnp.moveaxis(fine, axis, 0)
        m = (f.shape[0] + 1) // 2
        w = _along(weights, axis)[:, 1::2]
        odd = f[1::2]
        lower = w[0] * odd
        upper = jnp.concatenate([jnp.zeros_like(odd[:1]), w[1] * odd])[:m]
        lower = jnp.concatenate([lower, jnp.zeros((m - lower.shape[0], *lower.shape[1:]), lower.dtype)])
        upper = jnp.concatenate([upper, jnp.zeros((m - upper.shape[0], *upper.shape[1:]), upper.dtype)])
        fine = jnp.moveaxis(f[::2] + lower + upper, 0, axis)
    return fine


def coarse_level(coefficients: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Galerkin coarsening ``P^T Â P`` of a scaled stencil, itself returned Jacobi-scaled.

    The coarse operator has a 3^d stencil, so it is read off with 3^d probes: ``P^T Â P e_c`` for the
    indicator ``e_c`` of the coarse points congruent to ``c`` modulo 3 holds, at coarse point ``J``, the
    coupling of ``J`` to the unique point of that colour in its neighbourhood.

    Args:
        coefficients: ``(3^d - 1, *shape)`` scaled couplings of the fine level.
        weights: ``(d, 2, *shape)`` interpolation weights from :func:`interpolation_weights`.

    Returns:
        ``(inverse_sqrt_diagonal, coarse_coefficients)``: ``(*coarse_shape)`` and ``(3^d - 1, *coarse_shape)``
        with ``coarse_shape = (shape + 1) // 2``.
    """
    fine_shape = coefficients.shape[1:]
    dim = len(fine_shape)
    coarse_shape = tuple((s + 1) // 2 for s in fine_shape)
    index = np.indices(coarse_shape)
    colours = list(itertools.product(range(3), repeat=dim))
    probes = np.stack([np.all(index % 3 == np.reshape(c, (dim,) + (1,) * dim), axis=0) for c in colours])

    def galerkin(e):
        return _restrict(scaled_matvec(_prolong(e, weights), coefficients), weights)

    responses = jax.vmap(galerkin)(jnp.asarray(probes, coefficients.dtype))
    stencil = []
    for offset in itertools.product((-1, 0, 1), repeat=dim):
        colour = np.ravel_multi_index(tuple((index + np.reshape(offset, (dim,) + (1,) * dim)) % 3), (3,) * dim)
        stencil.append(jnp.take_along_axis(responses, jnp.asarray(colour)[None], axis=0)[0])
    centre = (3**dim) // 2
    inverse_sqrt = 1.0 / jnp.sqrt(stencil[centre])
    neighbours = _shifted(inverse_sqrt)
    couplings = [s for i, s in enumerate(stencil) if i != centre]
    return inverse_sqrt, jnp.stack([-a * inverse_sqrt * s for a, s in zip(couplings, neighbours, strict=True)])


class DCDM(eqx.Module):
    """The DCDM network: a V-cycle with Galerkin coarse grids and learned point-wise smoothing weights.

    ``model(residual, coefficients)`` is ``model.apply(model.setup(coefficients), residual)``; the solver
    calls :meth:`setup` once per matrix.

    Attributes:
        dim: number of grid axes (2 or 3).
        width: hidden channels of the network that predicts the smoothing weights.
        coarsest: the recursion stops when every axis has at most this many points (then a dense solve).
        sweeps: smoothing steps before (and, in reverse order, after) each coarse correction.
    """

    dim: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    coarsest: int = eqx.field(static=True)
    sweeps: int = eqx.field(static=True)
    hidden: eqx.nn.Conv
    mix: eqx.nn.Conv
    weights: eqx.nn.Conv

    def __init__(self, dim: int = 2, width: int = 16, coarsest: int = 4, sweeps: int = 2, *, key: jax.Array):
        if dim not in (2, 3):
            raise InputError(f"DCDM: dim = {dim} must be 2 or 3")
        if width < 1 or coarsest < 2 or sweeps < 1:
            raise InputError(
                f"DCDM: width = {width}, coarsest = {coarsest} >= 2 and sweeps = {sweeps} must be positive"
            )
        self.dim, self.width, self.coarsest, self.sweeps = dim, width, coarsest, sweeps
        keys = jr.split(key, 3)
        conv = dict(num_spatial_dims=dim, dtype=jnp.float32)
        self.hidden = eqx.nn.Conv(
            in_channels=3**dim - 1, out_channels=width, kernel_size=3, padding=1, key=keys[0], **conv
        )
        self.mix = eqx.nn.Conv(in_channels=width, out_channels=width, kernel_size=3, padding=1, key=keys[1], **conv)
        weights = eqx.nn.Conv(in_channels=width, out_channels=sweeps, kernel_size=1, key=keys[2], **conv)
        # start at theta = INITIAL_THETA everywhere: small weights, bias logit(INITIAL_THETA / 2)
        bias = jnp.full_like(weights.bias, np.log(INITIAL_THETA / (2.0 - INITIAL_THETA)))
        self.weights = eqx.tree_at(lambda c: (c.weight, c.bias), weights, (0.01 * weights.weight, bias))

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """JSON-friendly constructor arguments: ``DCDM(**model.hyperparameters, key=...)`` has this shape."""
        return {"dim": self.dim, "width": self.width, "coarsest": self.coarsest, "sweeps": self.sweeps}

    @classmethod
    def from_hyperparameters(cls, hyperparameters: dict[str, Any], key: jax.Array | None = None) -> DCDM:
        """Build a model (random weights) from :attr:`hyperparameters`; model loading uses this."""
        known = {"dim", "width", "coarsest", "sweeps"}
        unknown = set(hyperparameters) - known
        if unknown:
            raise InputError(f"DCDM: unknown hyper-parameters {sorted(unknown)} (expected {sorted(known)})")
        return cls(**hyperparameters, key=jr.key(0) if key is None else key)

    def smoothing_weights(self, coefficients: jax.Array) -> jax.Array:
        """``(sweeps, *shape)`` point-wise damped-Jacobi weights ``theta_s / g`` with ``theta_s`` in (0, 2)."""
        h = jax.nn.relu(self.hidden(coefficients))
        h = jax.nn.relu(self.mix(h))
        theta = 2.0 * jax.nn.sigmoid(self.weights(h))
        return theta / (1.0 + jnp.sum(jnp.abs(coefficients), axis=0))

    def setup(self, coefficients: jax.Array, sqrt_diagonal: jax.Array) -> tuple[list, jax.Array]:
        """The hierarchy for one matrix.

        Args:
            coefficients: ``(3^d - 1, *grid_shape)`` from :func:`grid_coefficients`.
            sqrt_diagonal: ``(*grid_shape)`` ``sqrt(A_kk)`` (``1 / inverse_sqrt_diagonal`` of
                :func:`grid_coefficients`, any overall scale): what the interpolation reproduces.

        Returns:
            Per level ``(coefficients, smoothing weights, interpolation weights, coarse 1/sqrt(diag))``, and
            the dense inverse of the coarsest scaled operator.
        """
        c = jnp.asarray(coefficients, jnp.float32)
        if c.ndim != self.dim + 1 or c.shape[0] != 3**self.dim - 1:
            raise InputError(f"DCDM: a {self.dim}D model got coefficients of shape {c.shape}")
        t = jnp.asarray(sqrt_diagonal, jnp.float32)
        if t.shape != c.shape[1:]:
            raise InputError(f"DCDM: sqrt_diagonal of shape {t.shape} does not match coefficients {c.shape}")
        levels = []
        while max(c.shape[1:]) > self.coarsest:
            t = t / jnp.max(t)
            interpolation = interpolation_weights(c, t)
            scale, coarse = coarse_level(c, interpolation)
            levels.append((c, self.smoothing_weights(c), interpolation, scale))
            # P injects at the coarse points; the coarse unknowns are scaled by 1 / scale
            t = t[tuple(slice(None, None, 2) for _ in range(self.dim))] / scale
            c = coarse
        size = int(np.prod(c.shape[1:]))
        dense = jax.vmap(lambda e: scaled_matvec(e.reshape(c.shape[1:]), c).ravel())(jnp.eye(size, dtype=c.dtype))
        inverse = jnp.linalg.inv(0.5 * (dense + dense.T))
        return levels, 0.5 * (inverse + inverse.T)

    def apply(self, hierarchy: tuple[list, jax.Array], residual: jax.Array) -> jax.Array:
        """One V-cycle on the scaled residual ``(*grid_shape)``; float32 ``y ~ Â^-1 residual`` up to scale."""
        levels, inverse = hierarchy
        r = residual.astype(jnp.float32)
        rms = jnp.sqrt(jnp.mean(r**2))
        return self._cycle(levels, inverse, r / jnp.where(rms > 0, rms, 1.0))

    def _cycle(self, levels: list, inverse: jax.Array, r: jax.Array) -> jax.Array:
        if not levels:
            return (inverse @ r.ravel()).reshape(r.shape)
        c, weights, interpolation, scale = levels[0]
        x = weights[0] * r
        for w in weights[1:]:
            x = x + w * (r - scaled_matvec(x, c))
        coarse_r = scale * _restrict(r - scaled_matvec(x, c), interpolation)
        correction = scale * self._cycle(levels[1:], inverse, coarse_r)
        x = x + _prolong(correction, interpolation)
        for w in weights[::-1]:  # the adjoint of the pre-smoothing: the cycle is symmetric
            x = x + w * (r - scaled_matvec(x, c))
        return x

    def __call__(self, residual: jax.Array, coefficients: jax.Array, sqrt_diagonal: jax.Array) -> jax.Array:
        """The scaled direction for one scaled residual.

        Args:
            residual: ``(*grid_shape)`` scaled residual ``D^-1/2 r`` (any scale: it is normalised here).
            coefficients: ``(3^d - 1, *grid_shape)`` from :func:`grid_coefficients`.
            sqrt_diagonal: ``(*grid_shape)`` ``sqrt(A_kk)``, see :meth:`setup`.

        Returns:
            ``(*grid_shape)`` float32 ``y ~ Â^-1 residual`` up to scale; the direction is ``D^-1/2 y``.
        """
        if residual.ndim != self.dim or coefficients.shape != (3**self.dim - 1, *residual.shape):
            raise InputError(
                f"DCDM: a {self.dim}D model got a residual of shape {residual.shape} and coefficients of shape "
                f"{coefficients.shape}"
            )
        return self.apply(self.setup(coefficients, sqrt_diagonal), residual)


def dcdm_loss(model: DCDM, batch: tuple[jax.Array, jax.Array], key: jax.Array | None = None) -> jax.Array:
    """Mean over the batch of ``|| r - alpha Â f(r) ||^2 / ||r||^2`` with the optimal ``alpha`` per residual.

    Args:
        model: the network.
        batch: ``(residuals, coefficients, sqrt_diagonals)`` of shapes ``(B, *grid_shape)``,
            ``(B, 3^d - 1, *grid_shape)`` and ``(B, *grid_shape)`` (scaled residuals, the coefficients of their
            matrices and ``sqrt(diag A)``, see :meth:`DCDM.setup`).
        key: unused (the signature of :func:`learnsim.learned.training.fit`).

    Returns:
        Scalar in ``[0, 1]``: 0 when every ``f(r)`` is exactly ``Â^-1 r`` up to scale.
    """
    residuals, coefficients, sqrt_diagonals = batch

    def one(r, c, t):
        r = r.astype(jnp.float32)
        c = c.astype(jnp.float32)
        a_y = scaled_matvec(model(r, c, t), c)
        alpha = jnp.vdot(r, a_y) / jnp.maximum(jnp.vdot(a_y, a_y), 1e-30)
        return jnp.sum((r - alpha * a_y) ** 2) / jnp.sum(r**2)

    return jnp.mean(jax.vmap(one)(residuals, coefficients, sqrt_diagonals))
