"""The DCDM iteration: network directions, A-orthogonalised against the previous ones, with exact line search.

Kaneda et al. 2023, Algorithm 1: ``d_k = f(r_k)`` from the :class:`~learnsim.learned.dcdm.DCDM` network, made
A-conjugate to the last ``orthogonalize`` directions (the paper uses 2), then ``x += alpha d_k`` with
``alpha = (r_k . d_k) / (d_k . A d_k)``, the minimiser of the A-norm of the error along ``d_k``. The A-norm
of the error therefore never grows, whatever the network returns.

Products with ``A`` use scipy's CSR on the host: for these grid systems on CPU they cost microseconds
(about 20 us at 64x64) against about a millisecond for the network, so Warp's ``bsr_mv`` would only add
transfers. The network runs jitted in float32; everything else is float64, on the host (NumPy): this
module, like all of :mod:`learnsim.learned`, does not import Warp.

This is the module of the ``dcdm`` kind in :mod:`learnsim.learned.registry` (a solver of its own):
``build``, ``recipe``, ``setup`` (:func:`dcdm_setup`) and ``solve`` (:func:`dcdm_solve`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from learnsim.core.errors import InputError, SolverBreakdown, SolverNotConverged
from learnsim.core.systems import SolveResult
from learnsim.learned.dcdm import DCDM, grid_coefficients
from learnsim.learned.dcdm_data import recipe

NAME = "dcdm"


@eqx.filter_jit
def _setup(model: DCDM, coefficients: jnp.ndarray, sqrt_diagonal: jnp.ndarray):
    return model.setup(coefficients, sqrt_diagonal)


@eqx.filter_jit
def _direction(model: DCDM, hierarchy, residual: jnp.ndarray) -> jnp.ndarray:
    return model.apply(hierarchy, residual)


@dataclass(frozen=True)
class DCDMSetup:
    """What DCDM needs of ``A`` before the first right-hand side: the work done once per matrix.

    Attributes:
        matrix: ``A`` as float64 scipy CSR (the products with ``A`` run on the host).
        inverse_sqrt: ``(n,)`` ``diag(A)^-1/2``, the Jacobi scaling of the network's input and output.
        grid_shape: cells per axis.
        hierarchy: the network's multigrid hierarchy for ``A`` (coarse operators, smoothing weights).
    """

    matrix: sp.csr_matrix
    inverse_sqrt: np.ndarray
    grid_shape: tuple[int, ...]
    hierarchy: object


def dcdm_setup(model: DCDM, A: sp.spmatrix, grid_shape: Sequence[int] | None) -> DCDMSetup:
    """Check ``A`` against ``grid_shape`` and the model, and build the network's hierarchy for it.

    Pass the result as ``A`` of :func:`dcdm_solve` to solve several right-hand sides with one
    set-up, or to time the set-up apart from the iteration (``learnsim eval`` does).

    Raises:
        InputError: no grid shape, or a grid that does not match ``A`` or the model's dimension.
    """
    A = sp.csr_matrix(A, dtype=np.float64)
    if grid_shape is not None and len(grid_shape) != model.dim:
        raise InputError(f"DCDM: a {model.dim}D model cannot solve a system on a grid of shape {tuple(grid_shape)}")
    inverse_sqrt, coefficients = grid_coefficients(A, grid_shape)
    shape = tuple(coefficients.shape[1:])
    hierarchy = _setup(model, jnp.asarray(coefficients), jnp.asarray((1.0 / inverse_sqrt).reshape(shape)))
    return DCDMSetup(A, inverse_sqrt, shape, jax.block_until_ready(hierarchy))


def dcdm_solve(
    model: DCDM,
    A: sp.spmatrix | DCDMSetup,
    b: np.ndarray,
    grid_shape: Sequence[int] | None = None,
    x: np.ndarray | None = None,
    tol: float = 1e-8,
    max_iterations: int | None = None,
    orthogonalize: int = 2,
    jacobi_safeguard: bool = False,
    raise_on_failure: bool = True,
) -> SolveResult:
    """Solve the SPD grid system ``A x = b`` by deep conjugate directions.

    Args:
        model: a trained :class:`DCDM` network with ``model.dim == len(grid_shape)``.
        A: ``(n, n)`` SPD matrix, scipy sparse; unknown ``k`` lives at
            ``numpy.unravel_index(k, grid_shape)``. Or a :class:`DCDMSetup` from :func:`dcdm_setup`
            (``grid_shape`` is then not needed).
        b: ``(n,)`` right-hand side.
        grid_shape: cells per axis, ``prod(grid_shape) == n``.
        x: initial guess, ``(n,)``; zeros if None. Not modified.
        tol: relative residual tolerance, ``||b - A x|| <= tol ||b||``.
        max_iterations: iteration limit; default ``min(n, 10000)``.
        orthogonalize: number of previous directions each new one is made A-conjugate to (>= 0).
        jacobi_safeguard: minimise over the span of the network direction and the Jacobi direction
            ``D^-1 r`` (both A-orthogonalised) instead of along the network direction alone: one more
            product with ``A`` per iteration, and convergence at least that of Jacobi steepest descent
            even when the network is poor (an untrained or off-family network otherwise may stagnate:
            measured, a relative residual stuck at 0.5 on a 7x6x5 grid). False is the paper's iteration.
        raise_on_failure: raise on non-convergence or breakdown; otherwise return ``converged=False``.

    Returns:
        A :class:`~learnsim.core.systems.SolveResult` with ``x`` a float64 NumPy array, ``residuals`` the
        relative norms ``||r_k|| / ||b||`` of the updated residuals for ``k = 0 .. iterations``, and
        ``preconditioner = "dcdm"``.

    Raises:
        InputError: no grid shape, a grid that does not match ``A`` or the model's dimension, or bad ``b``/``x``.
        SolverNotConverged: ``max_iterations`` reached above ``tol``.
        SolverBreakdown: non-finite residual, or ``d . A d <= 0`` for a non-zero direction (``A`` not SPD).
    """
    setup = A if isinstance(A, DCDMSetup) else dcdm_setup(model, A, grid_shape)
    A, inverse_sqrt, grid_shape, hierarchy = setup.matrix, setup.inverse_sqrt, setup.grid_shape, setup.hierarchy
    n = A.shape[0]
    b = _host_vector(b, n, "b")
    x = np.zeros(n) if x is None else _host_vector(x, n, "x").copy()
    if tol <= 0.0:
        raise InputError(f"DCDM: tol = {tol} must be positive")
    if orthogonalize < 0:
        raise InputError(f"DCDM: orthogonalize = {orthogonalize} must be at least 0")
    if max_iterations is None:
        max_iterations = min(n, 10_000)
    if max_iterations < 1:
        raise InputError(f"DCDM: max_iterations = {max_iterations} must be at least 1")

    b_norm = float(np.linalg.norm(b))
    if not math.isfinite(b_norm):
        raise InputError("DCDM: b contains NaN or inf entries")
    if b_norm == 0.0:
        return SolveResult(np.zeros(n), 0, np.zeros(1), True, NAME)

    r = b - A @ x
    history = [float(np.linalg.norm(r)) / b_norm]
    previous: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=max(orthogonalize, 1))
    breakdown = None
    while history[-1] > tol and len(history) <= max_iterations:
        scaled = (inverse_sqrt * r).reshape(grid_shape)
        d = inverse_sqrt * np.asarray(_direction(model, hierarchy, jnp.asarray(scaled)), dtype=np.float64).ravel()
        kept = list(previous)[-orthogonalize:] if orthogonalize else []
        d, a_d = _conjugate(d, A @ d, kept)
        if jacobi_safeguard:
            z = inverse_sqrt**2 * r
            z, a_z = _conjugate(z, A @ z, kept)
            # exact minimisation of the A-norm of the error over span{d, z}: a 2x2 Galerkin system
            gram = np.array([[d @ a_d, d @ a_z], [z @ a_d, z @ a_z]])
            rhs = np.array([r @ d, r @ z])
            try:
                a1, a2 = np.linalg.solve(gram, rhs) if np.linalg.cond(gram) < 1e12 else (0.0, rhs[1] / gram[1, 1])
            except np.linalg.LinAlgError:
                a1, a2 = 0.0, rhs[1] / gram[1, 1]
            d, a_d = a1 * d + a2 * z, a1 * a_d + a2 * a_z
        d_a_d = float(d @ a_d)
        if not (math.isfinite(d_a_d) and d_a_d > 0.0):
            breakdown = f"non-positive or non-finite curvature d.Ad = {d_a_d:.3e}; the matrix is not positive definite"
            break
        alpha = float(r @ d) / d_a_d
        x += alpha * d
        r -= alpha * a_d
        previous.append((d, a_d, d_a_d))
        history.append(float(np.linalg.norm(r)) / b_norm)
        if not math.isfinite(history[-1]):
            breakdown = "the residual is not finite (NaN or inf)"
            break

    residuals = np.array(history)
    iterations = len(residuals) - 1
    converged = breakdown is None and residuals[-1] <= tol
    if not converged and raise_on_failure:
        if breakdown is not None:
            raise SolverBreakdown("DCDM", iterations, float(residuals[-1]), tol, breakdown)
        raise SolverNotConverged("DCDM", iterations, float(residuals[-1]), tol)
    return SolveResult(x, iterations, residuals, converged, NAME)


def _conjugate(
    d: np.ndarray, a_d: np.ndarray, previous: list[tuple[np.ndarray, np.ndarray, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """Make ``d`` A-orthogonal to each previous direction ``p`` (given with ``A p`` and ``p . A p``)."""
    for p, a_p, p_a_p in previous:
        beta = float(a_d @ p) / p_a_p
        d = d - beta * p
        a_d = a_d - beta * a_p
    return d, a_d


def _host_vector(v: np.ndarray, n: int, label: str) -> np.ndarray:
    array = np.array(v, dtype=np.float64).reshape(-1) if np.ndim(v) else None
    if array is None or array.shape != (n,):
        raise InputError(f"DCDM: {label} must have {n} entries, got shape {np.shape(v)}")
    return array


# --- the registry's protocol (learnsim.learned.registry): kind "dcdm", a solver of its own

build = DCDM.from_hyperparameters
"""``build(hyperparameters)``: a DCDM network of those shapes."""
setup = dcdm_setup
solve = dcdm_solve
__all__ = ["DCDMSetup", "build", "dcdm_setup", "dcdm_solve", "recipe", "setup", "solve"]
