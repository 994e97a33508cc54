"""Solves of symmetric systems that are not positive definite, for when PCG breaks down on them.

A Newton tangent ``alpha M + K_T(u)`` past a limit point (a buckling structure, a softening
material) has negative eigenvalues; CG then meets ``p . A p <= 0`` and stops. The system is still
symmetric and, away from the critical point itself, non-singular: a sparse LU factorisation
solves it exactly for moderate sizes, MINRES iteratively for larger ones.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from learnsim.core.errors import EngineError, SolverNotConverged
from learnsim.engine.solvers.pcg import MAX_ITERS_CAP

DIRECT_MAX_DOFS = 200_000
"""Largest system (scalar unknowns) factorised directly; larger ones go to MINRES."""


def solve_indefinite(
    A: sp.csr_matrix, b: np.ndarray, tol: float, max_iters: int | None = None, x0: np.ndarray | None = None
) -> tuple[np.ndarray, int, np.ndarray, str]:
    """Solve the symmetric (possibly indefinite) system ``A x = b``, (n, n) CSR and (n,) float64.

    Up to :data:`DIRECT_MAX_DOFS` unknowns by scipy's SuperLU (``"direct-lu"``), above by MINRES
    preconditioned by ``1 / |diag A|`` to the relative tolerance ``tol`` (``"minres"``, at most
    ``max_iters`` iterations, default ``min(10 n, 10000)``, from ``x0``).

    Returns:
        (x, iterations, relative residuals ``||b - A x_k|| / ||b||`` for k = 0 .. iterations,
        the solver's name); a direct solve has 0 iterations and one residual, that of its solution.

    Raises:
        EngineError: the matrix is singular (LU), or its solution is not finite.
        SolverNotConverged: MINRES reached ``max_iters`` above ``tol``.
    """
    b_norm = float(np.linalg.norm(b)) or 1.0

    def relative_residual(x: np.ndarray) -> float:
        return float(np.linalg.norm(b - A @ x)) / b_norm

    if A.shape[0] <= DIRECT_MAX_DOFS:
        try:
            x = spla.splu(A.tocsc()).solve(b)
        except RuntimeError as err:  # SuperLU: "Factor is exactly singular"
            raise EngineError(f"direct LU of the indefinite system ({A.shape[0]} unknowns) failed: {err}") from None
        if not np.all(np.isfinite(x)):
            raise EngineError(f"direct LU of the indefinite system ({A.shape[0]} unknowns): the solution is not finite")
        return x, 0, np.array([relative_residual(x)]), "direct-lu"

    diagonal = np.abs(A.diagonal())
    preconditioner = sp.diags(1.0 / np.where(diagonal > 0.0, diagonal, 1.0))
    max_iters = max_iters if max_iters is not None else min(10 * A.shape[0], MAX_ITERS_CAP)
    history = [relative_residual(x0) if x0 is not None else 1.0]
    x, info = spla.minres(
        A, b, x0=x0, rtol=tol, maxiter=max_iters, M=preconditioner,
        callback=lambda xk: history.append(relative_residual(xk)),
    )  # fmt: skip
    if info != 0 or not np.isfinite(history[-1]):
        raise SolverNotConverged("MINRES (indefinite system)", len(history) - 1, history[-1], tol)
    return x, len(history) - 1, np.array(history), "minres"
