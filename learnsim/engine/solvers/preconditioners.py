"""Preconditioners for PCG: SPD approximations ``M ~= A^{-1}`` as ``warp.optim.linear.LinearOperator``.

Every preconditioner follows Warp's matvec convention, ``z = alpha * M x + beta * y``, on the same arrays
the system uses (``float64``, ``vec2d`` or ``vec3d``). Build one by name with :func:`make_preconditioner`,
or subclass :class:`Preconditioner` (a learned preconditioner does) and pass the instance to ``pcg``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyamg
import warp as wp
import warp.sparse as wps
from warp.optim.linear import LinearOperator
from warp.optim.linear import preconditioner as warp_preconditioner

from learnsim.core.errors import EngineError, InputError
from learnsim.engine.numerics import diagonal_scale, power_of_two_scale, scalar_diagonal
from learnsim.engine.solvers.incomplete_cholesky import (
    IncompleteCholesky,
    Ordering,
    TriangularSchedule,
    ordering_permutation,
)
from learnsim.engine.solvers.sparse import bsr_to_csr, scalar_view

PRECONDITIONER_NAMES = ("none", "jacobi", "ic0", "amg")


@wp.kernel
def _scaled_sum(
    alpha: wp.float64,
    x: wp.array(dtype=wp.float64),
    beta: wp.float64,
    y: wp.array(dtype=wp.float64),
    z: wp.array(dtype=wp.float64),
):
    i = wp.tid()
    s = alpha * x[i]
    # y is not read when beta == 0: it may be uninitialised (and 0 * NaN is NaN).
    if beta != wp.float64(0.0):
        s = s + beta * y[i]
    z[i] = s


def scaled_sum_into(alpha: float, x: wp.array, beta: float, y: wp.array, z: wp.array) -> None:
    """``z = alpha x + beta y`` on flat float64 arrays; ``z`` may alias ``x`` or ``y``."""
    wp.launch(_scaled_sum, dim=z.shape[0], device=z.device, inputs=[wp.float64(alpha), x, wp.float64(beta), y, z])


class Preconditioner:
    """An SPD approximation ``M`` of ``A^{-1}`` for a square BSR system, applied through :attr:`operator`.

    Subclasses set :attr:`name` and implement :meth:`apply`.

    Attributes:
        name: short name used in solver messages and reports, e.g. ``"ic0"``.
        setup_seconds: wall time spent building it, in seconds (set by :func:`make_preconditioner`).
        graph_capturable: True when :meth:`apply` only launches Warp kernels on the system's device, so a
            CUDA graph may capture it; False for host round-trips (AMG).
        shape, dtype, device: those of the system matrix ``A``.
    """

    name: str = "base"
    graph_capturable: bool = True

    def __init__(self, A: wps.BsrMatrix):
        self.shape: tuple[int, int] = A.shape
        self.dtype = A.dtype
        self.device = A.device
        self.setup_seconds = 0.0
        self._operator: LinearOperator | None = None

    def apply(self, x: wp.array, y: wp.array, z: wp.array, alpha: float, beta: float) -> None:
        """Write ``z = alpha * M x + beta * y``; arrays have the system's dtype and ``A.nrow`` entries."""
        raise NotImplementedError

    @property
    def operator(self) -> LinearOperator:
        """``M`` as a ``LinearOperator``, usable as ``M`` in ``warp.optim.linear.cg``."""
        if self._operator is None:
            self._operator = LinearOperator(self.shape, self.dtype, self.device, matvec=self.apply)
        return self._operator

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, shape={self.shape}, setup={self.setup_seconds:.3g} s)"


class IdentityPreconditioner(Preconditioner):
    """``M = I`` (plain CG). ``pcg`` recognises it and runs Warp's unpreconditioned path."""

    name = "none"

    def apply(self, x: wp.array, y: wp.array, z: wp.array, alpha: float, beta: float) -> None:
        scaled_sum_into(alpha, scalar_view(x), beta, scalar_view(y), scalar_view(z))


def _check_positive_diagonal(A: wps.BsrMatrix, who: str) -> None:
    diagonal = scalar_diagonal(A)
    bad = np.flatnonzero(~(diagonal > 0.0))
    if bad.size:
        raise EngineError(
            f"{who}: the matrix is not positive definite: diagonal entry {diagonal[bad[0]]:.3e} "
            f"at scalar row {bad[0]} ({bad.size} such rows)"
        )


def _far_from_one(largest: float) -> bool:
    """Whether a finite, positive largest diagonal entry is outside 2^-128 .. 2^128, where the preconditioners'
    products of two entries would lose range (they are then built on an exactly rescaled matrix)."""
    return math.isfinite(largest) and largest > 0.0 and not 2.0**-128 <= largest <= 2.0**128


class JacobiPreconditioner(Preconditioner):
    """Jacobi: ``M = diag(A)^{-1}`` for scalar blocks, block-Jacobi for ``(d, d)`` blocks.

    For a block matrix each ``(d, d)`` diagonal block is inverted (Warp's ``"block_jacobi_direct"``,
    a Householder-QR inverse per block). This keeps the coupling between the components of one node, which
    the scalar diagonal would drop, and costs one small mat-vec per node to apply.

    Raises:
        EngineError: a diagonal entry is not positive (``A`` is not SPD).
    """

    name = "jacobi"

    def __init__(self, A: wps.BsrMatrix):
        super().__init__(A)
        _check_positive_diagonal(A, "Jacobi")
        # Warp's QR squares block entries and swaps a block whose pivots overflow or underflow for the identity
        # (silently: E = 1e300 gave plain CG). A diagonal far from 1 is inverted on an exactly scaled copy.
        largest = diagonal_scale(A)
        self.scale_exponent = power_of_two_scale(largest) if _far_from_one(largest) else 0
        if self.scale_exponent:
            A = wps.bsr_copy(A)
            wps.bsr_scale(A, math.ldexp(1.0, self.scale_exponent))
        # For 1x1 blocks Warp falls back to the scalar diagonal.
        self._inverse = warp_preconditioner(A, ptype="block_jacobi_direct")

    def apply(self, x: wp.array, y: wp.array, z: wp.array, alpha: float, beta: float) -> None:
        self._inverse.matvec(x, y, z, math.ldexp(alpha, self.scale_exponent), beta)


class IncompleteCholeskyPreconditioner(Preconditioner):
    """IC(0): ``M = P^T (L L^T)^{-1} P`` with ``L`` on the scalar pattern of ``tril(P A P^T)``.

    Block systems are factorised on their scalar CSR form (node-major), so couplings inside a block are
    kept. The default reverse Cuthill-McKee ordering ``P`` matters for our Lagrange spaces, which number
    vertices first and higher-order nodes after them: it gives neighbouring unknowns nearby rows, so IC(0)
    keeps more of the coupling (Q2 cantilever: about half the CG iterations of the natural order). See
    :mod:`~learnsim.engine.solvers.incomplete_cholesky` for the factorisation, the Manteuffel shift and
    the ordering.

    Args:
        A: the SPD system matrix.
        schedule: how the triangular solves run: ``"sequential"`` (one thread, the CPU default) or
            ``"level"`` (level-scheduled, rows of a level in parallel, the CUDA default).
        ordering: ``"rcm"`` (reverse Cuthill-McKee, the default) or ``"natural"`` (the matrix's own
            numbering). RCM lengthens the level schedule (one launch per level on CUDA), so on a GPU
            ``"natural"`` can be faster per iteration; time both there.

    Attributes:
        shift: the diagonal shift ``alpha`` the factorisation needed (``A + alpha diag(A)``), 0.0 if none.
        factor: the :class:`IncompleteCholesky` factor; ``factor.permutation`` is ``P`` (None if natural).
    """

    name = "ic0"

    def __init__(self, A: wps.BsrMatrix, schedule: TriangularSchedule | None = None, ordering: Ordering = "rcm"):
        super().__init__(A)
        if schedule is None:
            schedule = "level" if A.device.is_cuda else "sequential"
        if schedule not in ("sequential", "level"):
            raise ValueError(f"schedule must be 'sequential' or 'level', got {schedule!r}")
        self.schedule: TriangularSchedule = schedule
        self.ordering: Ordering = ordering
        matrix = bsr_to_csr(A)
        self.factor = IncompleteCholesky(matrix, device=A.device, permutation=ordering_permutation(matrix, ordering))
        self.shift = self.factor.shift
        self._result = wp.empty(self.factor.n, dtype=wp.float64, device=A.device)

    def apply(self, x: wp.array, y: wp.array, z: wp.array, alpha: float, beta: float) -> None:
        x_flat, z_flat = scalar_view(x), scalar_view(z)
        if alpha == 1.0 and beta == 0.0:
            # The call CG makes every iteration: solve straight into z.
            self.factor.solve(x_flat, z_flat, self.schedule)
            return
        self.factor.solve(x_flat, self._result, self.schedule)
        scaled_sum_into(alpha, self._result, beta, scalar_view(y), z_flat)


class AMGPreconditioner(Preconditioner):
    """One smoothed-aggregation AMG V-cycle (pyamg) per application: a CPU reference, not a GPU solver.

    The hierarchy is built on the host from the scalar CSR form of ``A`` (as a scipy BSR matrix with the
    system's block size, so aggregates keep the components of a node together). Each application copies
    the vector to the host, runs ``ml.aspreconditioner(cycle="V")`` (symmetric Gauss-Seidel smoothing, so
    ``M`` is SPD) and copies the result back; it therefore cannot be captured in a CUDA graph.

    Args:
        A: the SPD system matrix.
        near_nullspace: candidate near-null-space vectors ``B``, shape ``(n_scalar_dofs, k)``, e.g.
            :func:`rigid_body_modes` for elasticity. Default: one constant per component (pyamg's default).

    Attributes:
        hierarchy: the ``pyamg.multilevel_solver``, built on ``2**scale_exponent * A``.
        scale_exponent: 0, or, for a diagonal outside 2^-128 .. 2^128, the even power of two that brings
            its largest entry into [1, 4) (an exact scaling; each application multiplies back).

    Raises:
        EngineError: pyamg fails on the matrix, or its hierarchy has non-finite entries (overflow).
    """

    name = "amg"
    graph_capturable = False

    def __init__(self, A: wps.BsrMatrix, near_nullspace: np.ndarray | None = None):
        super().__init__(A)
        matrix = bsr_to_csr(A)
        block_size = A.block_shape[0]
        if block_size > 1:
            matrix = matrix.tobsr(blocksize=(block_size, block_size))
        if near_nullspace is not None:
            near_nullspace = np.asarray(near_nullspace, dtype=np.float64)
            if near_nullspace.ndim == 1:
                near_nullspace = near_nullspace[:, None]
            if near_nullspace.ndim != 2 or near_nullspace.shape[0] != A.shape[0]:
                raise ValueError(f"near_nullspace must have shape ({A.shape[0]}, k), got {near_nullspace.shape}")
        # A diagonal far from 1 (a modulus of 1e300 Pa) overflows pyamg's products of two entries (strength of
        # connection, spectral radius, coarse solve): the hierarchy is then built on 2^k A, k even, with the
        # largest diagonal entry in [1, 4), an exact scaling; the usual matrices are left as they are.
        diagonal = np.abs(matrix.diagonal())
        largest = float(diagonal.max()) if diagonal.size else 0.0
        self.scale_exponent = power_of_two_scale(largest) if _far_from_one(largest) else 0
        if self.scale_exponent:
            matrix = matrix * math.ldexp(1.0, self.scale_exponent)
        try:
            with np.errstate(all="ignore"):  # overflow is checked below, not printed
                self.hierarchy = pyamg.smoothed_aggregation_solver(matrix, B=near_nullspace, symmetry="hermitian")
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
            reason = _first_line(error)
            raise EngineError(f"AMG: pyamg could not build a hierarchy for this matrix ({reason})") from None
        for depth, level in enumerate(self.hierarchy.levels):
            if not np.all(np.isfinite(level.A.data)):
                raise EngineError(
                    f"AMG: the level-{depth} matrix of the hierarchy has non-finite entries (overflow; "
                    f"the system's diagonal spans {diagonal.min():.3g} to {largest:.3g})"
                )
        self._cycle = self.hierarchy.aspreconditioner(cycle="V")

    def apply(self, x: wp.array, y: wp.array, z: wp.array, alpha: float, beta: float) -> None:
        try:
            with np.errstate(all="ignore"):  # a non-finite result is PCG's to report (a breakdown)
                result = math.ldexp(alpha, self.scale_exponent) * self._cycle.matvec(scalar_view(x).numpy())
                if beta != 0.0:
                    result += beta * scalar_view(y).numpy()
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
            raise EngineError(f"AMG: the V-cycle failed ({_first_line(error)})") from None
        scalar_view(z).assign(np.ascontiguousarray(result, dtype=np.float64))


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


class ReusedPreconditioner:
    """A factory ``build(A) -> Preconditioner`` that hands out the preconditioner it built last.

    The tangents of Newton's iterations within a time step, and the matrix of the adjoint solve after
    it, differ little; rebuilding an AMG hierarchy (or an IC(0) factor) for each costs more than the
    few PCG iterations the previous one adds. A new time step gets a new factory, so each step
    rebuilds once. Preconditioners keep nothing of their matrix but its shape: any SPD one of the
    same size serves (PCG still converges to the tolerance; only its iteration count can change).

    Args:
        spec: a preconditioner name or factory, as :func:`make_preconditioner` takes.
        near_nullspace: passed on to :func:`make_preconditioner` (AMG's rigid body modes).
    """

    def __init__(self, spec, near_nullspace: np.ndarray | None = None):
        self.spec, self.near_nullspace = spec, near_nullspace
        self.current: Preconditioner | None = None
        self.builds = 0

    def __call__(self, A: wps.BsrMatrix) -> Preconditioner:
        if self.current is None or self.current.shape != A.shape:
            self.current = make_preconditioner(self.spec, A, near_nullspace=self.near_nullspace)
            self.builds += 1
        return self.current


PreconditionerFactory = Callable[[wps.BsrMatrix], "Preconditioner"]
"""Builds a preconditioner for a matrix, e.g. from a trained model (see ``learnsim.running.models``)."""


def make_preconditioner(
    name: str | PreconditionerFactory, A: wps.BsrMatrix, near_nullspace: np.ndarray | None = None
) -> Preconditioner:
    """Build the preconditioner called ``name`` for the SPD matrix ``A``.

    Args:
        name: one of ``"none"``, ``"jacobi"``, ``"ic0"``, ``"amg"`` (see the classes above), or a
            factory ``build(A) -> Preconditioner`` (a learned preconditioner).
        A: square float64 BSR matrix with scalar or ``(d, d)`` blocks.
        near_nullspace: near-null-space vectors for AMG, shape ``(n_scalar_dofs, k)``; ignored by the others.

    Returns:
        The preconditioner, with ``setup_seconds`` measured (device synchronised).

    Raises:
        InputError: unknown ``name``.
        EngineError: the matrix is visibly not SPD (non-positive diagonal) or IC(0) broke down.
    """
    builders: dict[str, Any] = {
        "none": IdentityPreconditioner,
        "jacobi": JacobiPreconditioner,
        "ic0": IncompleteCholeskyPreconditioner,
        "amg": lambda A: AMGPreconditioner(A, near_nullspace=near_nullspace),
    }
    if callable(name):
        builders, name = {"factory": name}, "factory"
    if name not in builders:
        raise InputError(f"unknown preconditioner {name!r}; valid names: {', '.join(PRECONDITIONER_NAMES)}")
    start = time.perf_counter()
    preconditioner = builders[name](A)
    wp.synchronize_device(A.device)
    preconditioner.setup_seconds = time.perf_counter() - start
    return preconditioner


def rigid_body_modes(node_positions: np.ndarray, dim: int) -> np.ndarray:
    """Rigid body modes of a displacement field, the near null space of linear elasticity.

    Args:
        node_positions: node coordinates, shape ``(n_nodes, dim)`` (extra columns are ignored), any unit.
        dim: 2 or 3.

    Returns:
        float64 array of shape ``(n_nodes * dim, k)``, ``k = 3`` in 2D (two translations, one rotation)
        and ``k = 6`` in 3D (three translations, three rotations), laid out node-major
        (``row = node * dim + component``) to match a ``vec{dim}d`` BSR system. Rotations are about the
        centroid of the nodes, which keeps the columns well scaled against the translations.
    """
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim}")
    positions = np.asarray(node_positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] < dim:
        raise ValueError(f"node_positions must have shape (n_nodes, {dim}), got {positions.shape}")
    p = positions[:, :dim] - positions[:, :dim].mean(axis=0)
    n_nodes = p.shape[0]
    zero = np.zeros(n_nodes)
    one = np.ones(n_nodes)
    if dim == 2:
        x, y = p.T
        # columns: per-node (u_x, u_y) of each mode
        modes = [(one, zero), (zero, one), (-y, x)]
    else:
        x, y, z = p.T
        modes = [
            (one, zero, zero),
            (zero, one, zero),
            (zero, zero, one),
            (zero, -z, y),  # rotation about x
            (z, zero, -x),  # rotation about y
            (-y, x, zero),  # rotation about z
        ]
    # (k, dim, n_nodes) -> (n_nodes, dim, k) -> (n_nodes * dim, k)
    return np.ascontiguousarray(np.array(modes).transpose(2, 1, 0).reshape(n_nodes * dim, len(modes)))
