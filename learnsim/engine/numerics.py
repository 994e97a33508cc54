"""Checks that what the engine assembles is representable in double precision, before a solver sees it.

Inputs of absurd magnitude (a modulus of 1e-320 Pa, a traction of 1e308 Pa, a time step of
1e-300 s) do not fail where they are read: they overflow or underflow later, inside an assembly,
a preconditioner or a dot product, where pyamg or PCG would report them as an unrelated traceback.
These checks run where a matrix or a vector is assembled and turn them into one-line
:class:`~learnsim.core.errors.EngineError` messages that name what overflowed and what to check:

- overflow: an entry that is not finite (inf or NaN);
- underflow: a matrix whose nonzero diagonal entries are subnormal (below ``TINY``): every
  preconditioner divides by them, and their reciprocals overflow;
- a vector whose squared norm overflows (a norm above ``sqrt(HUGE)``, about 1.3e154): the
  solvers and the Newton iterations work with squared norms and with the work ``f . u``.

The bounds are those of IEEE double precision, not of physics: any consistent unit system stays
hundreds of orders of magnitude inside them.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import warp as wp
import warp.sparse as wps

from learnsim.core.errors import EngineError

TINY = sys.float_info.min
"""The smallest normal double, 2.2e-308; below it a number keeps fewer than 53 significant bits."""
HUGE = sys.float_info.max
"""The largest double, 1.8e308."""
NORM_LIMIT = math.sqrt(HUGE)
"""The largest vector norm whose square is finite, 1.3e154."""


@wp.kernel
def _count_nonfinite_kernel(x: wp.array(dtype=wp.float64), count: wp.array(dtype=wp.int32)):
    i = wp.tid()
    if not wp.isfinite(x[i]):
        wp.atomic_add(count, 0, 1)


@wp.kernel
def _max_abs_kernel(x: wp.array(dtype=wp.float64), largest: wp.array(dtype=wp.float64)):
    i = wp.tid()
    wp.atomic_max(largest, 0, wp.abs(x[i]))


def count_nonfinite(x: wp.array) -> int:
    """Entries of a flat float64 array that are inf or NaN (on the array's device: one number is copied)."""
    if x.shape[0] == 0:
        return 0
    count = wp.zeros(1, dtype=wp.int32, device=x.device)
    wp.launch(_count_nonfinite_kernel, dim=x.shape[0], inputs=[x, count], device=x.device)
    return int(count.numpy()[0])


def diagonal_scale(A: wps.BsrMatrix) -> float:
    """The largest magnitude in the diagonal blocks of ``A`` (its largest diagonal entry when ``A`` is SPD),
    computed on ``A``'s device; 0.0 for an empty matrix."""
    if A.nrow == 0:
        return 0.0
    blocks = wps.bsr_get_diag(A)
    values = blocks if wp.types.type_is_scalar(blocks.dtype) else blocks.view(wp.float64).flatten()
    largest = wp.zeros(1, dtype=wp.float64, device=A.device)
    wp.launch(_max_abs_kernel, dim=values.shape[0], inputs=[values, largest], device=A.device)
    return float(largest.numpy()[0])


def scalar_diagonal(A: wps.BsrMatrix) -> np.ndarray:
    """The scalar diagonal of a BSR matrix with square blocks, on the host, (A.shape[0],)."""
    blocks = wps.bsr_get_diag(A).numpy().reshape(A.nrow, -1)
    size = A.block_shape[0]
    # The scalar diagonal of each (d, d) block sits at flat positions 0, d + 1, 2 (d + 1), ...
    return blocks[:, :: size + 1].reshape(-1)


def check_matrix(A: wps.BsrMatrix, what: str, hint: str) -> wps.BsrMatrix:
    """``A`` if its stored entries are finite and its diagonal is not subnormal, else an EngineError.

    Args:
        what: the matrix, in words ("stiffness matrix").
        hint: what the user should check, e.g. "[material].E and the mesh size".
    """
    stored = wps.bsr_compress(A, prune_numerical_zeros=False) if A.row_counts is not None else A  # padded: no slack
    nnz = stored.nnz_sync()
    values = stored.scalar_values[:nnz].flatten() if nnz else wp.zeros(0, dtype=wp.float64, device=A.device)
    bad = count_nonfinite(values)
    if bad:
        raise EngineError(f"the assembled {what} has {bad} non-finite entries (overflow: check {hint})")
    diagonal = np.abs(scalar_diagonal(A))
    if diagonal.size and diagonal.max() == 0.0:
        raise EngineError(f"the assembled {what} has a zero diagonal (underflow: check {hint})")
    small = diagonal[(diagonal > 0.0) & (diagonal < TINY)]
    if small.size:
        raise EngineError(
            f"the assembled {what} has {small.size} diagonal entries as small as {small.min():.3g}, below "
            f"{TINY:.3g}, the smallest normal double (underflow: check {hint})"
        )
    return A


def safe_norm(x: np.ndarray) -> float:
    """The Euclidean norm of a finite array, computed without overflow or underflow (may be above HUGE: inf)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    largest = float(np.max(np.abs(x))) if x.size else 0.0
    if largest == 0.0:
        return 0.0
    with np.errstate(over="ignore"):
        return largest * float(np.linalg.norm(x / largest))


def check_vector(b: wp.array | np.ndarray, what: str, hint: str):
    """``b`` if its entries are finite and its squared norm does not overflow, else an EngineError.

    Args:
        what: the vector, in words ("load vector").
        hint: what the user should check, e.g. "the [[load]] values".
    """
    values = np.asarray(b.numpy() if isinstance(b, wp.array) else b, dtype=np.float64)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise EngineError(f"the assembled {what} has {bad} non-finite entries (overflow: check {hint})")
    norm = safe_norm(values)
    if norm > NORM_LIMIT:
        raise EngineError(
            f"the assembled {what} is too large for double precision: its norm {norm:.3g} is above "
            f"{NORM_LIMIT:.3g}, so its square overflows in the solver's dot products (check {hint})"
        )
    return b


def power_of_two_scale(largest: float) -> int:
    """The exponent ``k`` with ``2**k * largest`` in [1, 4) and ``k`` even: a scaling that is exact in binary
    floating point and commutes exactly with square roots."""
    exponent = math.frexp(largest)[1] - 1  # largest = m 2^exponent, 1 <= m < 2
    return -(exponent - exponent % 2)
