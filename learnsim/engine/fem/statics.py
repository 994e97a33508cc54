"""Static equilibrium: linear solves and Newton with a line search for neo-Hookean solids."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import warp as wp

from learnsim.engine.fem.assembly import lame_per_point
from learnsim.engine.fem.boundary import Dirichlet, apply_dirichlet
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.hyperelasticity import neo_hookean_energy, neo_hookean_residual, neo_hookean_tangent
from learnsim.engine.solvers import SolveResult, make_preconditioner, pcg, rigid_body_modes
from learnsim.errors import EngineError


@dataclass
class StaticResult:
    """Solution of a static problem.

    Attributes:
        u: nodal solution, (n_nodes,) for scalar fields or (n_nodes, dim) for displacements.
        solves: every linear solve made (one for a linear problem, one per Newton iteration).
        newton_residuals: relative residual norm after each Newton iteration (empty if linear).
    """

    u: np.ndarray
    solves: list[SolveResult] = field(default_factory=list)
    newton_residuals: list[float] = field(default_factory=list)

    @property
    def linear_iterations(self) -> int:
        return sum(s.iterations for s in self.solves)


def _near_nullspace(disc: Discretization) -> np.ndarray | None:
    return rigid_body_modes(disc.node_positions, disc.dim) if disc.components > 1 else None


def solve_linear_system(disc: Discretization, A, b, preconditioner: str, tol: float, max_iters: int | None):
    """PCG on a projected (SPD) system; returns the SolveResult (x holds the solution)."""
    precond = make_preconditioner(preconditioner, A, near_nullspace=_near_nullspace(disc))
    return pcg(A, b, x=disc.zeros(), preconditioner=precond, tol=tol, max_iters=max_iters)


def solve_linear_static(
    disc: Discretization,
    stiffness,
    load: wp.array,
    bc: Dirichlet,
    preconditioner: str = "amg",
    tol: float = 1e-8,
    max_iters: int | None = None,
) -> StaticResult:
    """Solve K u = f with Dirichlet values. ``stiffness`` and ``load`` are modified in place."""
    apply_dirichlet(stiffness, load, disc, bc)
    result = solve_linear_system(disc, stiffness, load, preconditioner, tol, max_iters)
    return StaticResult(u=result.x.numpy(), solves=[result])


def solve_neo_hookean(
    disc: Discretization,
    lame,
    load: wp.array,
    bc: Dirichlet,
    preconditioner: str = "amg",
    tol: float = 1e-8,
    max_iters: int | None = None,
    newton_tol: float = 1e-8,
    newton_max_iters: int = 30,
    load_steps: int = 1,
) -> StaticResult:
    """Newton's method with backtracking on the residual norm, in ``load_steps`` equal increments.

    Loads and prescribed displacements are both ramped. Convergence: the residual on free
    dofs falls below ``newton_tol`` times the larger of the external load norm and the
    step's initial residual. Raises EngineError when a step does not converge, naming the
    step, iteration and residual.
    """
    lame_qp = lame_per_point(disc, lame)
    f_ext = load.numpy()
    free = ~bc.mask if disc.components > 1 else ~bc.mask[:, 0]
    u = np.zeros_like(f_ext)
    result = StaticResult(u=u)

    def residual(u_np):
        r = neo_hookean_residual(disc, disc.nodal(u_np), lame_qp, scale * f_ext)
        r[~free] = 0.0
        return r, float(np.linalg.norm(r))

    def potential(u_np):
        # total potential energy; its gradient on free dofs is the residual
        return neo_hookean_energy(disc, disc.nodal(u_np), lame_qp) - scale * float(np.sum(f_ext * u_np))

    for step in range(1, load_steps + 1):
        scale = step / load_steps
        u = np.where(free, u, scale * bc.values.reshape(u.shape))
        r, r_norm = residual(u)
        reference = max(np.linalg.norm(scale * f_ext[free]), r_norm, 1e-300)
        for iteration in range(newton_max_iters + 1):
            result.newton_residuals.append(r_norm / reference)
            if r_norm <= newton_tol * reference:
                break
            if iteration == newton_max_iters:
                raise EngineError(
                    f"Newton did not converge in load step {step}/{load_steps}: relative residual "
                    f"{r_norm / reference:.3e} after {newton_max_iters} iterations (try more solver.load_steps)"
                )
            K = neo_hookean_tangent(disc, disc.nodal(u), lame_qp)
            rhs = disc.nodal(-r)
            apply_dirichlet(K, rhs, disc, bc, homogeneous=True)
            solve = solve_linear_system(disc, K, rhs, preconditioner, tol, max_iters)
            result.solves.append(solve)
            du = solve.x.numpy()
            alpha, u_new, r, r_norm = _line_search(u, du, r, r_norm, residual, potential)
            if alpha is None:
                raise EngineError(
                    f"Newton failed in load step {step}/{load_steps}: no acceptable step down to 1/1024 "
                    "(an element inverts, J <= 0; try more solver.load_steps)"
                )
            u = u_new
    result.u = u
    return result


def _line_search(u, du, r, r_norm, residual, potential, max_halvings: int = 10):
    """Backtracking on the total potential (Armijo, c = 1e-4), from the full Newton step.

    Near convergence the potential changes by less than round-off, so a step that reduces
    the residual norm is then accepted too. Returns (alpha, u, r, |r|), alpha None on failure.
    """
    slope = float(np.sum(r * du))
    energy = potential(u)
    alpha = 1.0
    for _ in range(max_halvings + 1):
        u_new = u + alpha * du
        r_new, r_new_norm = residual(u_new)
        energy_new = potential(u_new)
        if np.isfinite(energy_new) and np.isfinite(r_new_norm):
            decrease = energy_new - energy
            if slope < 0 and decrease <= 1e-4 * alpha * slope:
                return alpha, u_new, r_new, r_new_norm
            if abs(decrease) <= 1e-12 * max(abs(energy), 1e-300) and r_new_norm < r_norm:
                return alpha, u_new, r_new, r_new_norm
        alpha *= 0.5
    return None, u, r, r_norm
