"""``M = (L L^T)^{-1}`` for a given sparse lower-triangular ``L``: two triangular solves in Warp.

Any factor with a positive diagonal gives an SPD ``M``, however well or badly ``L L^T`` approximates ``A``;
this is how a learned incomplete factorisation (``learnsim.learned.gnn_factor``) is applied in PCG. The
solves are those of IC(0) (:class:`~learnsim.engine.solvers.incomplete_cholesky.TriangularFactor`):
level-scheduled on CUDA, one native loop on CPU.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import warp as wp
import warp.sparse as wps

from learnsim.engine.solvers.incomplete_cholesky import (
    TriangularFactor,
    TriangularSchedule,
    level_schedule,
)
from learnsim.engine.solvers.preconditioners import Preconditioner, scaled_sum_into
from learnsim.engine.solvers.sparse import scalar_view


def _triangular_factor(matrix: sp.csr_matrix, reverse: bool, device: wp.Device) -> TriangularFactor:
    offsets = wp.array(matrix.indptr.astype(np.int32), dtype=wp.int32, device=device)
    columns = wp.array(matrix.indices.astype(np.int32), dtype=wp.int32, device=device)
    values = wp.array(matrix.data.astype(np.float64), dtype=wp.float64, device=device)
    return TriangularFactor(offsets, columns, values, reverse, *level_schedule(offsets, columns, reverse))


class FactorPreconditioner(Preconditioner):
    """``M = L^{-T} L^{-1}``, i.e. ``z = (L L^T)^{-1} x``, for a host lower-triangular factor ``L``.

    Args:
        A: the SPD system matrix (scalar or ``(d, d)`` blocks; ``L`` acts on its scalar, node-major form).
        L: scipy sparse lower-triangular matrix, shape ``(n, n)`` with ``n = A.shape[0]`` scalar unknowns,
            every diagonal entry stored, finite and positive (so ``M`` is SPD). Stored entries above the
            diagonal are an error, not silently dropped.
        schedule: ``"sequential"`` (one thread, the CPU default) or ``"level"`` (level-scheduled, the CUDA
            default); see :mod:`~learnsim.engine.solvers.incomplete_cholesky`.
        name: the name reported by ``pcg`` (e.g. ``"gnn-factor"``).

    Attributes:
        lower, upper: ``L`` and ``L^T`` (stored by rows) as :class:`TriangularFactor` on ``A.device``.

    Raises:
        ValueError: ``L`` has the wrong shape, entries above the diagonal, a missing, non-positive or
            non-finite diagonal entry, or non-finite values.
    """

    name = "factor"

    def __init__(
        self, A: wps.BsrMatrix, L: sp.spmatrix, schedule: TriangularSchedule | None = None, name: str = "factor"
    ):
        super().__init__(A)
        self.name = name
        n = A.shape[0]
        lower = sp.csr_matrix(L, dtype=np.float64)
        if lower.shape != (n, n):
            raise ValueError(f"L must have shape ({n}, {n}) to match A, got {lower.shape}")
        lower.sum_duplicates()
        lower.sort_indices()
        entries = lower.tocoo()
        if np.any(entries.col > entries.row):
            raise ValueError(
                f"L must be lower triangular, it has {int(np.sum(entries.col > entries.row))} entries above"
            )
        if not np.all(np.isfinite(lower.data)):
            raise ValueError("L has NaN or infinite entries")
        # Sorted columns: row i has a stored diagonal iff its last entry is in column i.
        counts = np.diff(lower.indptr)
        last = lower.indices[np.maximum(lower.indptr[1:] - 1, 0)]
        has_diagonal = (counts > 0) & (last == np.arange(n))
        diagonal = lower.diagonal()
        bad = np.flatnonzero(~has_diagonal | ~(diagonal > 0.0))
        if bad.size:
            raise ValueError(
                f"L must have a stored positive diagonal: L[{bad[0]}, {bad[0]}] = {diagonal[bad[0]]:.3e} "
                f"({bad.size} such rows)"
            )
        if schedule is None:
            schedule = "level" if A.device.is_cuda else "sequential"
        if schedule not in ("sequential", "level"):
            raise ValueError(f"schedule must be 'sequential' or 'level', got {schedule!r}")
        self.schedule: TriangularSchedule = schedule
        upper = lower.T.tocsr()
        upper.sort_indices()
        self.lower = _triangular_factor(lower, False, A.device)
        self.upper = _triangular_factor(upper, True, A.device)
        self._work = wp.empty(n, dtype=wp.float64, device=A.device)
        self._result = wp.empty(n, dtype=wp.float64, device=A.device)

    def solve(self, rhs: wp.array, x: wp.array) -> None:
        """``x = L^{-T} L^{-1} rhs`` for float64 arrays of shape ``(n,)``; ``x`` may alias ``rhs``."""
        self.lower.solve(rhs, self._work, self.schedule)
        self.upper.solve(self._work, x, self.schedule)

    def apply(self, x: wp.array, y: wp.array, z: wp.array, alpha: float, beta: float) -> None:
        x_flat, z_flat = scalar_view(x), scalar_view(z)
        if alpha == 1.0 and beta == 0.0:
            self.solve(x_flat, z_flat)
            return
        self.solve(x_flat, self._result)
        scaled_sum_into(alpha, self._result, beta, scalar_view(y), z_flat)
