"""Newton's method with a backtracking line search on a potential, for nonlinear solid mechanics.

The problem is given as functions of the nodal unknowns (numpy arrays):
``residual(u) -> (r, |r|)`` with r zero on constrained dofs, ``correction(u, r) -> (du,
SolveResult)`` solving the (projected) tangent system, and ``potential(u) -> float`` whose
gradient on free dofs is the residual (strain + inertia energy minus external work).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from learnsim.core.errors import EngineError
from learnsim.core.systems import SolveResult


@dataclass
class NewtonReport:
    """Relative residual after each iteration and the linear solves made."""

    residuals: list[float] = field(default_factory=list)
    solves: list[SolveResult] = field(default_factory=list)


def newton(
    u: np.ndarray,
    residual: Callable[[np.ndarray], tuple[np.ndarray, float]],
    correction: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, SolveResult]],
    potential: Callable[[np.ndarray], float],
    reference: float,
    tol: float,
    max_iters: int,
    where: str = "Newton",
    report: NewtonReport | None = None,
    diagnose: Callable[[np.ndarray], str | None] | None = None,
) -> np.ndarray:
    """Solve residual(u) = 0 from ``u``; converged when |r| <= tol * max(reference, |r(u0)|).

    ``diagnose(u)``, if given, says where the residual at ``u`` is not finite (e.g. "the material law
    returned NaN in element 34 (centre [0.41, 0.92])"), or None when it is finite.

    Raises EngineError naming ``where``, the iteration count and the residual when it
    does not converge, or when no step down to 1/1024 is acceptable (an element inverts);
    naming where it is not finite (``diagnose``) when the residual at ``u`` is not, or when the
    full step of a failed line search is not (trial steps of the line search are otherwise
    allowed to be non-finite: they are rejected).
    """
    report = NewtonReport() if report is None else report
    r, r_norm = residual(u)
    if not np.isfinite(r_norm):
        cause = diagnose(u) if diagnose is not None else None
        raise EngineError(f"{where}: {cause or 'the residual is not finite'} at Newton's initial guess")
    reference = max(reference, r_norm, 1e-300)
    for iteration in range(max_iters + 1):
        report.residuals.append(r_norm / reference)
        if r_norm <= tol * reference:
            return u
        if iteration == max_iters:
            raise EngineError(
                f"{where}: Newton did not converge, relative residual {r_norm / reference:.3e} "
                f"after {max_iters} iterations"
            )
        du, solve = correction(u, r)
        report.solves.append(solve)
        alpha, u_new, r_new, r_new_norm = line_search(u, du, r, r_norm, residual, potential)
        if alpha is None and r_norm <= 100.0 * tol * reference:
            # stagnation at round-off, just above a tight tolerance: the iterate is as good as it gets
            report.residuals.append(r_norm / reference)
            return u
        u, r, r_norm = u_new, r_new, r_new_norm
        if alpha is None:
            with np.errstate(over="ignore", invalid="ignore"):
                cause = diagnose(u + du) if diagnose is not None else None
            raise EngineError(
                f"{where}: Newton found no acceptable step down to 1/1024 at iteration {iteration + 1} "
                + (f"(at the full step {cause})" if cause else "(an element inverts, J <= 0)")
            )
    return u


def line_search(u, du, r, r_norm, residual, potential, max_halvings: int = 10):
    """Backtracking from the full Newton step.

    A step is accepted when it decreases the potential enough (Armijo, c = 1e-4), which lets
    Newton cross regions where the residual grows, or when it decreases the residual norm
    enough: near convergence the potential changes by less than its own round-off.
    Returns (alpha, u, r, |r|), alpha None on failure.
    """
    slope = float(np.sum(r * du))
    energy = potential(u)
    alpha, full = 1.0, None
    for _ in range(max_halvings + 1):
        u_new = u + alpha * du
        with np.errstate(over="ignore", invalid="ignore"):  # a trial step may overflow: rejected below, not printed
            r_new, r_new_norm = residual(u_new)
            energy_new = potential(u_new) if np.isfinite(r_new_norm) else np.nan
        if np.isfinite(r_new_norm):
            sufficient_energy = np.isfinite(energy_new) and slope < 0 and energy_new - energy <= 1e-4 * alpha * slope
            if sufficient_energy or r_new_norm <= (1.0 - 1e-4 * alpha) * r_norm:
                return alpha, u_new, r_new, r_new_norm
            if alpha == 1.0:
                full = (alpha, u_new, r_new, r_new_norm)
        alpha *= 0.5
    if full is not None and not np.isfinite(energy):
        # no potential (plasticity): the residual may rise before Newton's quadratic phase; take the full step
        return full
    return None, u, r, r_norm
