"""Zero fill-in incomplete Cholesky, ``A ~= L L^T``, factorised and applied in Warp kernels.

The factor ``L`` keeps exactly the scalar sparsity pattern of ``tril(A)`` (of ``tril(P A P^T)`` when reordered,
see below). Both the factorisation and the triangular solves are inherently sequential; we offer two ways to
run the solves:

- ``"sequential"``: one single-thread kernel walks the rows in order. On CPU Warp compiles it to native
  code, which is the fastest option there.
- ``"level"``: level scheduling. Row ``i`` of a triangular solve depends only on the rows its
  off-diagonal entries point to; ``level(i) = 1 + max(level(j))`` over those rows. Rows of one level are
  independent, so the solve is one launch per level with the rows of that level in parallel. Levels are
  computed once at setup. This is the CUDA path; it runs (slowly) on CPU too, which is how it is tested.

The factorisation itself is always a single-thread kernel: it runs once per matrix, and a parallel
IC(0) would need the same level analysis plus a more delicate update order.

How well IC(0) preconditions depends on the row order, since the order decides which fill-in is dropped.
Our Lagrange spaces number all mesh vertices first, then edge, face and interior nodes, so two neighbouring
nodes of a Q2/P2 mesh can be far apart in the numbering. IC(0) then drops much of the coupling it could have
kept: on the built-in Q2 cantilever (3075 unknowns, tol 1e-10) it needs 185 CG iterations, block Jacobi 182.
Reverse Cuthill-McKee (:func:`ordering_permutation` with ``"rcm"``) renumbers the unknowns in breadth-first
sweeps, so neighbours get nearby numbers: 103 iterations. The factor is then that of ``P A P^T``, and the solve
gathers ``P r`` and scatters the result back, both in Warp kernels.

Reordering changes the level schedule too. RCM orders rows sweep by sweep and each sweep depends on the one
before, so the level count grows with the number of sweeps and with its bandwidth: on the cantilever it goes
from 729 levels in the natural order to 1770 with RCM. On CUDA, where every level is a launch, ``"natural"``
may therefore schedule better and be faster overall despite its extra iterations; time both there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
import warp as wp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from learnsim.core.errors import EngineError

TriangularSchedule = Literal["sequential", "level"]
Ordering = Literal["rcm", "natural"]
ORDERINGS = ("rcm", "natural")

MANTEUFFEL_SHIFTS = (0.0, 1e-3, 1e-2, 1e-1, 1.0)
"""Diagonal shifts ``alpha`` tried in turn: IC(0) of ``A + alpha diag(A)`` until every pivot is positive."""


@wp.kernel
def _ic0_factorize(
    offsets: wp.array(dtype=wp.int32),
    columns: wp.array(dtype=wp.int32),
    values: wp.array(dtype=wp.float64),
    n: int,
    failed_row: wp.array(dtype=wp.int32),
):
    # In place: values hold tril(A) on entry and L on exit. Columns are sorted in each row, so the
    # diagonal is the last entry of its row; the sparse dot product of rows i and k is a merge.
    for i in range(n):
        start = offsets[i]
        diag = offsets[i + 1] - 1
        for p in range(start, diag):
            k = columns[p]
            s = values[p]
            a = start
            b = offsets[k]
            k_diag = offsets[k + 1] - 1
            while a < p and b < k_diag:
                ca = columns[a]
                cb = columns[b]
                if ca == cb:
                    s = s - values[a] * values[b]
                    a = a + 1
                    b = b + 1
                elif ca < cb:
                    a = a + 1
                else:
                    b = b + 1
            values[p] = s / values[k_diag]
        d = values[diag]
        for p in range(start, diag):
            d = d - values[p] * values[p]
        # Written so that a NaN pivot also counts as a failure.
        if d > wp.float64(0.0):
            values[diag] = wp.sqrt(d)
        else:
            failed_row[0] = i
            return


@wp.kernel
def _gather(source: wp.array(dtype=wp.float64), index: wp.array(dtype=wp.int32), dest: wp.array(dtype=wp.float64)):
    k = wp.tid()
    dest[k] = source[index[k]]


@wp.kernel
def _scatter(source: wp.array(dtype=wp.float64), index: wp.array(dtype=wp.int32), dest: wp.array(dtype=wp.float64)):
    k = wp.tid()
    dest[index[k]] = source[k]


@wp.kernel
def _triangular_levels(
    offsets: wp.array(dtype=wp.int32),
    columns: wp.array(dtype=wp.int32),
    n: int,
    reverse: int,
    levels: wp.array(dtype=wp.int32),
):
    for k in range(n):
        row = wp.where(reverse != 0, n - 1 - k, k)
        level = int(0)  # noqa: UP018 (Warp: int(0) declares a variable; a bare 0 is a constant)
        for p in range(offsets[row], offsets[row + 1]):
            c = columns[p]
            if c != row:
                level = wp.max(level, levels[c] + 1)
        levels[row] = level


@wp.func
def _solve_row(
    row: int,
    offsets: wp.array(dtype=wp.int32),
    columns: wp.array(dtype=wp.int32),
    values: wp.array(dtype=wp.float64),
    rhs: wp.array(dtype=wp.float64),
    x: wp.array(dtype=wp.float64),
):
    # Works for lower and upper factors alike: every off-diagonal column is an already solved row.
    s = rhs[row]
    d = wp.float64(1.0)
    for p in range(offsets[row], offsets[row + 1]):
        c = columns[p]
        if c == row:
            d = values[p]
        else:
            s = s - values[p] * x[c]
    x[row] = s / d


@wp.kernel
def _solve_sequential(
    offsets: wp.array(dtype=wp.int32),
    columns: wp.array(dtype=wp.int32),
    values: wp.array(dtype=wp.float64),
    n: int,
    reverse: int,
    rhs: wp.array(dtype=wp.float64),
    x: wp.array(dtype=wp.float64),
):
    for k in range(n):
        _solve_row(wp.where(reverse != 0, n - 1 - k, k), offsets, columns, values, rhs, x)


@wp.kernel
def _solve_level(
    offsets: wp.array(dtype=wp.int32),
    columns: wp.array(dtype=wp.int32),
    values: wp.array(dtype=wp.float64),
    level_rows: wp.array(dtype=wp.int32),
    level_start: int,
    rhs: wp.array(dtype=wp.float64),
    x: wp.array(dtype=wp.float64),
):
    _solve_row(level_rows[level_start + wp.tid()], offsets, columns, values, rhs, x)


@dataclass(frozen=True, eq=False)
class TriangularFactor:
    """A sparse triangular matrix on a Warp device, in CSR, with its level schedule.

    Attributes:
        offsets, columns: int32 CSR structure, shapes ``(n + 1,)`` and ``(nnz,)``.
        values: float64 entries, shape ``(nnz,)``.
        reverse: False for a lower factor (rows solved first to last), True for an upper one.
        level_rows: int32 rows grouped by level, shape ``(n,)``.
        level_starts: host int array, shape ``(n_levels + 1,)``; level ``l`` is
            ``level_rows[level_starts[l]:level_starts[l + 1]]``.
    """

    offsets: wp.array
    columns: wp.array
    values: wp.array
    reverse: bool
    level_rows: wp.array
    level_starts: np.ndarray

    @property
    def n(self) -> int:
        return self.offsets.shape[0] - 1

    @property
    def n_levels(self) -> int:
        return len(self.level_starts) - 1

    def solve(self, rhs: wp.array, x: wp.array, schedule: TriangularSchedule) -> None:
        """Solve ``T x = rhs`` for float64 arrays of shape ``(n,)``; ``x`` may alias ``rhs``."""
        device = self.values.device
        if schedule == "sequential":
            wp.launch(
                _solve_sequential,
                dim=1,
                device=device,
                inputs=[self.offsets, self.columns, self.values, self.n, int(self.reverse), rhs, x],
            )
            return
        for level in range(self.n_levels):
            start = int(self.level_starts[level])
            wp.launch(
                _solve_level,
                dim=int(self.level_starts[level + 1]) - start,
                device=device,
                inputs=[self.offsets, self.columns, self.values, self.level_rows, start, rhs, x],
            )

    def to_scipy(self) -> sp.csr_matrix:
        """Host copy of the factor as a scipy CSR matrix (for inspection and tests)."""
        return sp.csr_matrix((self.values.numpy(), self.columns.numpy(), self.offsets.numpy()), shape=(self.n, self.n))


def level_schedule(offsets: wp.array, columns: wp.array, reverse: bool) -> tuple[wp.array, np.ndarray]:
    """Rows of a triangular CSR pattern grouped into levels that can be solved in parallel.

    Returns ``(order, starts)``: the rows sorted by level (a Warp int32 array) and the host offsets
    of each level in ``order``. ``reverse`` schedules the backward (upper) sweep.
    """
    n = offsets.shape[0] - 1
    levels = wp.empty(n, dtype=wp.int32, device=offsets.device)
    wp.launch(_triangular_levels, dim=1, device=offsets.device, inputs=[offsets, columns, n, int(reverse), levels])
    levels_host = levels.numpy()
    order = np.argsort(levels_host, kind="stable").astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(np.bincount(levels_host))]).astype(np.int64)
    return wp.array(order, dtype=wp.int32, device=offsets.device), starts


def ordering_permutation(A: sp.spmatrix, ordering: Ordering) -> np.ndarray | None:
    """The symmetric permutation ``P`` that IC(0) applies before factorising (see the module docstring).

    Args:
        A: host scipy sparse matrix with a symmetric pattern, shape ``(n, n)``; stored zeros count as edges.
        ordering: ``"rcm"`` (reverse Cuthill-McKee on the scalar pattern) or ``"natural"`` (no reordering).

    Returns:
        int32 array ``perm`` of shape ``(n,)``, with ``(P A P^T)[i, j] = A[perm[i], perm[j]]``; None for
        ``"natural"``.

    Raises:
        ValueError: unknown ``ordering``.
    """
    if ordering == "natural":
        return None
    if ordering == "rcm":
        # On the scalar pattern; RCM of the block graph, expanded node-major, gives the same bandwidth and
        # level count on the Q2 cantilever and CG iteration counts within 5% (98 against 103 for its load).
        return reverse_cuthill_mckee(sp.csr_matrix(A), symmetric_mode=True).astype(np.int32)
    raise ValueError(f"ordering must be one of {', '.join(map(repr, ORDERINGS))}, got {ordering!r}")


def _permuted_lower(lower: sp.csr_matrix, permutation: np.ndarray) -> sp.csr_matrix:
    """``tril(P A P^T)`` from ``tril(A)`` of a symmetric ``A``, stored zeros included."""
    n = lower.shape[0]
    inverse = np.empty(n, dtype=np.int64)
    inverse[permutation] = np.arange(n)
    entries = lower.tocoo()
    rows, columns = inverse[entries.row], inverse[entries.col]
    # A[r, c] = A[c, r]: an entry the new order moves above the diagonal is its mirror image below it.
    permuted = sp.coo_matrix((entries.data, (np.maximum(rows, columns), np.minimum(rows, columns))), shape=(n, n))
    return permuted.tocsr()


class IncompleteCholesky:
    """IC(0) factor ``L`` of a (reordered) SPD matrix and the solve ``x = P^T (L L^T)^{-1} P r``.

    If a pivot is not positive (IC(0) of an SPD matrix that is not an M-matrix can break down), the
    factorisation is retried on ``A + alpha diag(A)`` for ``alpha`` in ``MANTEUFFEL_SHIFTS`` (Manteuffel's
    shift). ``L L^T`` is SPD whichever shift succeeds.

    Args:
        A: host scipy sparse matrix, SPD, shape ``(n, n)``; only ``tril(A)`` is read.
        device: Warp device for the factor and the solves.
        permutation: int array of shape ``(n,)`` from :func:`ordering_permutation`, or any permutation of
            ``0 .. n - 1``: ``L`` is then the IC(0) factor of ``P A P^T``, with
            ``(P A P^T)[i, j] = A[perm[i], perm[j]]``. None factorises ``A`` as numbered.

    Attributes:
        shift: the ``alpha`` that succeeded (0.0 when no shift was needed).
        permutation: the host int32 permutation, shape ``(n,)``, or None.
        lower: ``L`` as a :class:`TriangularFactor`; ``upper``: ``L^T`` stored by rows. Both are in the
            reordered numbering.

    Raises:
        EngineError: ``A`` has a non-positive or missing diagonal entry, or every shift failed (rows are
            named in the numbering of ``A``).
        ValueError: ``permutation`` is not a permutation of ``0 .. n - 1``.
    """

    def __init__(self, A: sp.spmatrix, device: wp.DeviceLike = None, permutation: np.ndarray | None = None):
        lower = sp.tril(sp.csr_matrix(A, dtype=np.float64), format="csr")
        n = lower.shape[0]
        original_rows = np.arange(n)
        if permutation is not None:
            permutation = np.asarray(permutation)
            if permutation.shape != (n,) or not np.array_equal(np.sort(permutation), original_rows):
                raise ValueError(f"permutation must be a permutation of 0 .. {n - 1}, got shape {permutation.shape}")
            permutation = permutation.astype(np.int32)
            lower = _permuted_lower(lower, permutation)
            original_rows = permutation
        self.permutation = permutation
        lower.sum_duplicates()
        lower.sort_indices()  # the diagonal is last in each row
        diagonal = lower.diagonal()
        offsets_host = lower.indptr.astype(np.int32)
        columns_host = lower.indices.astype(np.int32)
        if lower.nnz == 0:
            raise EngineError(f"IC(0): the {n} x {n} matrix has no stored entries")
        # With sorted columns a row has its diagonal iff its last entry sits in column i.
        last_slot = np.maximum(offsets_host[1:] - 1, 0)
        has_diagonal = (np.diff(offsets_host) > 0) & (columns_host[last_slot] == np.arange(n))
        bad = np.flatnonzero(~has_diagonal | ~(diagonal > 0.0))
        if bad.size:
            raise EngineError(
                f"IC(0): the matrix is not positive definite: diagonal entry {diagonal[bad[0]]:.3e} "
                f"at row {original_rows[bad[0]]} (and {bad.size - 1} more rows)"
            )

        device = wp.get_device(device)
        offsets = wp.array(offsets_host, dtype=wp.int32, device=device)
        columns = wp.array(columns_host, dtype=wp.int32, device=device)
        diagonal_slots = offsets_host[1:] - 1
        failed_row = wp.empty(1, dtype=wp.int32, device=device)
        for shift in MANTEUFFEL_SHIFTS:
            values_host = lower.data.copy()
            values_host[diagonal_slots] *= 1.0 + shift
            values = wp.array(values_host, dtype=wp.float64, device=device)
            failed_row.fill_(-1)
            wp.launch(_ic0_factorize, dim=1, device=device, inputs=[offsets, columns, values, n, failed_row])
            if int(failed_row.numpy()[0]) < 0:
                break
        else:
            raise EngineError(
                f"IC(0) broke down (non-positive pivot at row {original_rows[int(failed_row.numpy()[0])]}) "
                f"even on A + {MANTEUFFEL_SHIFTS[-1]:g} diag(A)"
            )
        self.shift = shift

        # L^T by rows: transpose the pattern once on the host, carrying each entry's slot in L.
        slots = sp.csr_matrix((np.arange(lower.nnz, dtype=np.int64), columns_host, offsets_host), shape=(n, n))
        upper_slots = slots.T.tocsr()
        upper_slots.sort_indices()
        upper_offsets = wp.array(upper_slots.indptr.astype(np.int32), dtype=wp.int32, device=device)
        upper_columns = wp.array(upper_slots.indices.astype(np.int32), dtype=wp.int32, device=device)
        upper_values = wp.empty(lower.nnz, dtype=wp.float64, device=device)
        wp.launch(
            _gather,
            dim=lower.nnz,
            device=device,
            inputs=[
                values,
                wp.array(upper_slots.data.astype(np.int32), dtype=wp.int32, device=device),
                upper_values,
            ],
        )

        self.lower = TriangularFactor(offsets, columns, values, False, *level_schedule(offsets, columns, False))
        self.upper = TriangularFactor(
            upper_offsets,
            upper_columns,
            upper_values,
            True,
            *level_schedule(upper_offsets, upper_columns, True),
        )
        self._work = wp.empty(n, dtype=wp.float64, device=device)
        self._device_permutation = None
        if permutation is not None:
            self._device_permutation = wp.array(permutation, dtype=wp.int32, device=device)
            self._permuted = wp.empty(n, dtype=wp.float64, device=device)

    @property
    def n(self) -> int:
        return self.lower.n

    def solve(self, rhs: wp.array, x: wp.array, schedule: TriangularSchedule = "sequential") -> None:
        """``x = P^T L^{-T} L^{-1} P rhs`` for float64 arrays of shape ``(n,)``; ``x`` may alias ``rhs``."""
        if self._device_permutation is None:
            self.lower.solve(rhs, self._work, schedule)
            self.upper.solve(self._work, x, schedule)
            return
        device = self._work.device
        wp.launch(_gather, dim=self.n, device=device, inputs=[rhs, self._device_permutation, self._permuted])
        self.lower.solve(self._permuted, self._work, schedule)
        self.upper.solve(self._work, self._permuted, schedule)
        wp.launch(_scatter, dim=self.n, device=device, inputs=[self._permuted, self._device_permutation, x])
