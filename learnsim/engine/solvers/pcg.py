"""Preconditioned conjugate gradients on Warp BSR systems, with the residual history of every iteration.

The iteration itself is ``warp.optim.linear.cg``; this module chooses its options, records
``||b - A x_k|| / ||b||`` after every iteration (``check_every=1``), and turns non-convergence and
breakdown into :class:`~learnsim.core.errors.SolverNotConverged` errors that say what happened.
"""

from __future__ import annotations

import math

import numpy as np
import warp as wp
import warp.sparse as wps
from warp.optim.linear import LinearOperator, cg

from learnsim.core.errors import NonPositiveCurvature, SolverBreakdown, SolverNotConverged
from learnsim.core.systems import SolveResult
from learnsim.engine.numerics import diagonal_scale, safe_norm
from learnsim.engine.solvers.preconditioners import (
    IdentityPreconditioner,
    Preconditioner,
    make_preconditioner,
)

MAX_ITERS_CAP = 10_000
"""Upper bound of the default ``max_iters`` (``10 n`` otherwise, for ``n`` scalar unknowns)."""


class _Breakdown(Exception):
    """Raised from the CG callback to stop the iteration; never leaves this module."""

    def __init__(self, reason: str, error: type[SolverBreakdown] = SolverBreakdown):
        super().__init__(reason)
        self.error = error


def _block_vector_type(A: wps.BsrMatrix) -> type:
    size = A.block_shape[0]
    return wp.float64 if size == 1 else wp.types.vector(length=size, dtype=wp.float64)


def _check_system(A: wps.BsrMatrix, b: wp.array, x: wp.array | None) -> None:
    if not isinstance(A, wps.BsrMatrix):
        raise TypeError(f"A must be a warp.sparse.BsrMatrix, got {type(A).__name__}")
    rows, cols = A.block_shape
    if A.scalar_type != wp.float64 or rows != cols or A.nrow != A.ncol:
        raise ValueError(
            f"A must be square with square float64 blocks, got {A.nrow} x {A.ncol} blocks of shape "
            f"{A.block_shape} and scalar type {A.scalar_type.__name__}"
        )
    expected = _block_vector_type(A)
    for label, v in (("b", b), ("x", x)):
        if v is None:
            continue
        if not wp.types.types_equal(v.dtype, expected) or v.shape != (A.nrow,):
            raise ValueError(
                f"{label} must have shape ({A.nrow},) and dtype {wp.types.type_repr(expected)}, got "
                f"shape {v.shape} and dtype {wp.types.type_repr(v.dtype)}"
            )
        if v.device != A.device:
            raise ValueError(f"{label} is on {v.device} but A is on {A.device}")


_SAFE_LOG2 = 700
"""CG's quantities start within 2^-700 .. 2^700, or ``b`` is rescaled: tol^2 times them stays normal."""


def _log2_magnitudes(log_b: np.ndarray | float, log_scale: float, identity: bool):
    """log2 of the sizes of CG's quantities for ``|b| = 2^log_b`` and ``s = 2^log_scale``: r . r, then
    (preconditioned, M ~ A^-1) r . z ~ p . A p ~ |b|^2 / s and x ~ z ~ |b| / s, or (plain CG)
    p . A p ~ s |b|^2, A p ~ s |b| and x ~ |b| / s."""
    if identity:
        return np.stack(np.broadcast_arrays(2 * log_b, 2 * log_b + log_scale, log_b + log_scale, log_b - log_scale))
    return np.stack(np.broadcast_arrays(2 * log_b, 2 * log_b - log_scale, log_b - log_scale))


def _rhs_exponent(A: wps.BsrMatrix, b: wp.array, norm_sq: float, identity: bool, solver: str, tol: float) -> int:
    """The power of two ``k`` by which to scale ``b`` (and ``x``) so that CG's inner products and iterates
    stay well inside double precision; 0 (no scaling, the usual case) when they already are.

    With ``s`` the largest diagonal entry of ``A``, CG forms ``r . r ~ b . b`` and, preconditioned,
    ``r . z ~ p . A p ~ b . b / s`` (see :func:`_log2_magnitudes`). A modulus of 1e300 Pa (``s`` about
    1e300) makes ``b . b / s`` underflow before the tolerance is met; a load of 1e200 makes ``b . b``
    overflow. Scaling ``b`` by ``2**k`` is exact and CG is linear in ``b``: the iterates are ``2**k``
    times those of the unscaled system, and ``pcg`` multiplies the solution back.

    Raises:
        SolverBreakdown: ``b`` has NaN or inf entries.
    """
    if math.isfinite(norm_sq) and norm_sq > 0.0:
        log_b = 0.5 * math.log2(norm_sq)
    else:  # inf or NaN: non-finite entries, or finite ones whose squares overflow; 0: zero or underflow
        values = b.numpy()
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            reason = f"the right-hand side b has {bad} non-finite entries (NaN or inf)"
            raise SolverBreakdown(solver, 0, math.inf, tol, reason)
        norm = safe_norm(values)
        if norm == 0.0:
            return 0
        log_b = math.log2(norm)
    scale = diagonal_scale(A)
    log_scale = math.log2(scale) if math.isfinite(scale) and scale > 0.0 else 0.0
    if np.abs(_log2_magnitudes(log_b, log_scale, identity)).max() <= _SAFE_LOG2:
        return 0
    candidates = np.arange(-1100, 1101)  # log2 |2^k b|: pick the one farthest from both ends of the range
    best = candidates[np.argmin(np.abs(_log2_magnitudes(candidates, log_scale, identity)).max(axis=0))]
    return round(best - log_b)


def pcg(
    A: wps.BsrMatrix,
    b: wp.array,
    x: wp.array | None = None,
    preconditioner: Preconditioner | str | None = None,
    tol: float = 1e-8,
    max_iters: int | None = None,
    raise_on_failure: bool = True,
) -> SolveResult:
    """Solve ``A x = b`` for SPD ``A`` by preconditioned conjugate gradients.

    Args:
        A: SPD float64 BSR matrix, ``(1, 1)`` blocks or square ``(d, d)`` blocks (``mat22d``, ``mat33d``).
        b: right-hand side, shape ``(A.nrow,)``, ``float64`` or ``vec{d}d`` matching the blocks.
        x: initial guess, same shape and dtype as ``b``; overwritten with the solution. Zeros if None.
        preconditioner: a :class:`Preconditioner`, a name for :func:`make_preconditioner`
            (``"none"``, ``"jacobi"``, ``"ic0"``, ``"amg"``), or None for plain CG.
        tol: relative residual tolerance, ``||b - A x|| <= tol ||b||``.
        max_iters: iteration limit; default ``min(10 n, MAX_ITERS_CAP)`` for ``n`` scalar unknowns.
        raise_on_failure: raise on non-convergence or breakdown; otherwise return ``converged=False``
            (after a breakdown ``x`` holds the last, meaningless iterate).

    Returns:
        A :class:`SolveResult`. ``b == 0`` gives ``x = 0``, zero iterations and ``residuals == [0.0]``.

    Raises:
        SolverNotConverged: ``max_iters`` reached above ``tol`` (message: iterations, residual, tolerance).
        SolverBreakdown: a NaN/inf right-hand side or residual, or non-positive curvature ``p . A p``
            (``A`` or the preconditioner is not SPD; then the subclass NonPositiveCurvature). A subclass of
            SolverNotConverged.

    The curvature check costs one extra dot product per iteration; it is what turns an indefinite
    matrix into an error instead of a plausible-looking wrong answer. A system whose inner products
    would overflow or underflow (a modulus of 1e300, a right-hand side of 1e200) is solved with
    ``2**k b`` (exact), and ``x`` scaled back.
    """
    _check_system(A, b, x)
    if tol <= 0.0:
        raise ValueError(f"tol must be positive, got {tol}")
    if preconditioner is None or isinstance(preconditioner, str):
        preconditioner = make_preconditioner(preconditioner or "none", A)
    elif not isinstance(preconditioner, Preconditioner):
        raise TypeError(f"preconditioner must be a Preconditioner or a name, got {type(preconditioner).__name__}")
    if preconditioner.shape != A.shape:
        raise ValueError(f"preconditioner was built for shape {preconditioner.shape}, A has shape {A.shape}")
    solver = f"PCG({preconditioner.name})"

    if x is None:
        x = wp.zeros_like(b)
    b_norm_sq = wp.utils.array_inner(b, b)
    exponent = _rhs_exponent(A, b, b_norm_sq, isinstance(preconditioner, IdentityPreconditioner), solver, tol)
    if exponent:
        b = wp.array(np.ldexp(b.numpy(), exponent), dtype=b.dtype, device=b.device)
        x.assign(np.ldexp(x.numpy(), exponent))
        b_norm_sq = wp.utils.array_inner(b, b)
    b_norm = math.sqrt(b_norm_sq)
    if b_norm == 0.0:
        x.zero_()
        return SolveResult(x, 0, np.zeros(1), True, preconditioner.name)

    if max_iters is None:
        max_iters = min(10 * A.shape[0], MAX_ITERS_CAP)
    if max_iters < 1:
        raise ValueError(f"max_iters must be at least 1, got {max_iters}")

    curvature = wp.zeros(1, dtype=wp.float64, device=A.device)

    def matvec(v: wp.array, y: wp.array, z: wp.array, alpha: float, beta: float) -> None:
        if z.ptr != y.ptr and beta != 0.0:
            wp.copy(src=y, dest=z)
        wps.bsr_mv(A, v, z, alpha, beta)
        if beta == 0.0:
            # CG's product A p (the initial residual b - A x0 uses beta = 1); kept on the device
            # so the iteration stays capturable in a CUDA graph.
            wp.utils.array_inner(v, z, out=curvature)

    residuals: list[float] = []
    state = {"within_tol": False}

    def record(iteration: int, residual_norm: float, absolute_tol: float) -> None:
        # Warp calls this once per iteration (check_every=1), including iteration 0 and the last one.
        relative = residual_norm / b_norm
        del residuals[iteration:]
        residuals.append(relative)
        # Same comparison as Warp's stopping test, so both agree on convergence.
        state["within_tol"] = residual_norm <= absolute_tol
        if not math.isfinite(relative):
            raise _Breakdown("the residual is not finite (NaN or inf)")
        if iteration > 0 and not state["within_tol"]:
            p_ap = float(curvature.numpy()[0])
            if not p_ap > 0.0:
                raise _Breakdown(
                    f"non-positive curvature p.Ap = {p_ap:.3e}; the matrix (or the preconditioner) "
                    "is not positive definite",
                    NonPositiveCurvature,
                )

    # On CPU, Warp's default tiled dot products run tiles of 512 emulated threads, about 500x slower
    # than a plain loop (warp-lang 1.19, 2-core CPU: 56 ms vs 0.06 ms for 10^4 entries). Declaring the
    # system as one batch selects Warp's direct single-thread reduction there. CUDA keeps the tiled tree.
    n_scalar = A.shape[0]
    batch = {}
    if A.device.is_cpu:
        batch = {
            "batch_offsets": wp.array([0, n_scalar], dtype=int, device=A.device),
            "max_batch_length": n_scalar,
        }

    breakdown, error_type = None, SolverBreakdown
    try:
        cg(
            LinearOperator(A.shape, A.dtype, A.device, matvec=matvec, **batch),
            b,
            x,
            tol=tol,
            atol=0.0,  # purely relative: Warp otherwise uses atol = tol as an absolute floor too
            maxiter=max_iters,
            M=None if isinstance(preconditioner, IdentityPreconditioner) else preconditioner.operator,
            callback=record,
            check_every=1,
            use_cuda_graph=preconditioner.graph_capturable,
        )
    except _Breakdown as error:
        breakdown, error_type = str(error), error.error

    if exponent:
        x.assign(np.ldexp(x.numpy(), -exponent))
    history = np.array(residuals, dtype=np.float64)
    iterations = len(history) - 1
    converged = breakdown is None and state["within_tol"]
    if not converged and raise_on_failure:
        if breakdown is not None:
            raise error_type(solver, iterations, float(history[-1]), tol, breakdown)
        raise SolverNotConverged(solver, iterations, float(history[-1]), tol)
    return SolveResult(x, iterations, history, converged, preconditioner.name)
