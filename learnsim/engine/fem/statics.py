"""Static equilibrium: linear solves, and Newton with a line search for nonlinear materials."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import warp as wp
import warp.sparse as wps

from learnsim.core.errors import EngineError, InputError, NonPositiveCurvature
from learnsim.core.systems import LinearSystem, SystemCallback
from learnsim.engine.fem.boundary import Dirichlet, apply_dirichlet
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.materials import Material
from learnsim.engine.fem.non_finite import describe_non_finite_force
from learnsim.engine.solvers import Preconditioner, SolveResult, bsr_to_csr, make_preconditioner, pcg, rigid_body_modes
from learnsim.engine.solvers.indefinite import solve_indefinite
from learnsim.engine.solvers.newton import NewtonReport, newton


@dataclass
class StaticResult:
    """Solution of a static problem.

    Attributes:
        u: nodal solution, (n_nodes,) for scalar fields or (n_nodes, dim) for displacements.
        solves: every linear solve made (one for a linear problem, one per Newton iteration).
        newton_residuals: relative residual norm after each Newton iteration (empty if linear).
        history: the law's internal variables per point at ``u`` (None for laws without).
        load, prescribed: the external load and the Dirichlet values (nodal) it is in equilibrium with.
        load_cuts: how many load increments were bisected after Newton failed on them.
    """

    u: np.ndarray
    solves: list[SolveResult] = field(default_factory=list)
    newton_residuals: list[float] = field(default_factory=list)
    history: object = None
    load: np.ndarray | None = None
    prescribed: np.ndarray | None = None
    load_cuts: int = 0

    @property
    def linear_iterations(self) -> int:
        return sum(s.iterations for s in self.solves)


def near_nullspace(disc: Discretization) -> np.ndarray | None:
    """Rigid body modes for AMG on vector problems (None for scalar ones)."""
    return rigid_body_modes(disc.node_positions, disc.dim) if disc.components > 1 else None


def grid_shape(disc: Discretization) -> tuple[int, ...] | None:
    """Nodes per axis when the scalar unknowns sit on a tensor grid in C order (order-1 box
    meshes: node k at ``numpy.unravel_index(k, shape)``), else None (vector fields included)."""
    if disc.components != 1:
        return None
    points = disc.node_positions
    axes = [np.unique(points[:, d]) for d in range(disc.dim)]
    shape = tuple(len(a) for a in axes)
    if int(np.prod(shape)) != disc.n_nodes:
        return None
    lattice = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, disc.dim)
    return shape if np.array_equal(lattice, points) else None


def check_constrained_parts(disc: Discretization, A, bc: Dirichlet) -> None:
    """Raise InputError when a connected part of the mesh has no Dirichlet dof: the static system of
    such a floating part is singular (CG would diverge on it or, with no load there, leave it at zero).

    Parts are the connected components of the assembled matrix's block graph (nodes coupled by a cell).
    """
    if A.row_counts is not None:  # padded storage: compact a copy so offsets are exact
        A = wps.bsr_compress(A, prune_numerical_zeros=False)
    offsets = A.offsets.numpy()[: A.nrow + 1]
    columns = A.columns.numpy()[: offsets[-1]]
    graph = scipy.sparse.csr_matrix((np.ones(columns.size, dtype=np.int8), columns, offsets), shape=(A.nrow, A.nrow))
    n_parts, part = scipy.sparse.csgraph.connected_components(graph, directed=False)
    if n_parts == 1:
        return
    held = np.zeros(n_parts, dtype=bool)
    held[part[bc.mask.any(axis=1)]] = True
    floating = np.flatnonzero(~held)
    if floating.size:
        nodes = part == floating[0]
        centre = np.array2string(disc.node_positions[nodes].mean(axis=0), precision=4)
        raise InputError(
            f"the mesh has {n_parts} disconnected parts, {floating.size} with no Dirichlet condition "
            f"({int(nodes.sum())} nodes around {centre}): the static system is singular there; "
            "add a [[bc]] whose region reaches every part"
        )


def solve_linear_system(
    disc: Discretization,
    A,
    b,
    preconditioner,
    tol: float,
    max_iters: int | None,
    x0: np.ndarray | None = None,
    on_system: SystemCallback | None = None,
    kind: str = "fem-static",
) -> SolveResult:
    """PCG on a projected (SPD) system from ``x0`` (zeros by default); returns the SolveResult.

    When PCG breaks down on non-positive curvature (an indefinite tangent past a limit point), the
    system is solved again by :func:`~learnsim.engine.solvers.indefinite.solve_indefinite` (sparse LU,
    or MINRES for large systems); the result names that solver and the breakdown. PCG reaching its
    iteration limit, or any other breakdown, is raised as it is.

    ``preconditioner`` is a name, a factory ``build(A) -> Preconditioner`` or an already built
    Preconditioner (reused across solves).
    ``on_system``, if given, receives the solved system as a host :class:`LinearSystem` of
    ``kind`` (scalar rows node-major, as :func:`bsr_to_csr`); nothing is copied without it.
    """
    if not isinstance(preconditioner, Preconditioner):
        preconditioner = make_preconditioner(preconditioner, A, near_nullspace=near_nullspace(disc))
    x = disc.zeros() if x0 is None else disc.nodal(x0)
    rhs = None if on_system is None else b.numpy().reshape(-1).copy()
    try:
        result = pcg(A, b, x=x, preconditioner=preconditioner, tol=tol, max_iters=max_iters)
    except NonPositiveCurvature as breakdown:
        start = None if x0 is None else np.asarray(x0, dtype=np.float64).reshape(-1)
        solution, iterations, residuals, solver = solve_indefinite(
            bsr_to_csr(A), b.numpy().reshape(-1), tol, max_iters, x0=start
        )
        x = disc.nodal(solution.reshape(disc.n_nodes, -1) if disc.components > 1 else solution)
        result = SolveResult(x, iterations, residuals, True, preconditioner.name, solver, str(breakdown))
    if on_system is not None:
        solution = result.x.numpy().reshape(-1).copy()
        on_system(LinearSystem(bsr_to_csr(A), rhs, solution, grid_shape=grid_shape(disc), kind=kind))
    return result


def solve_linear_static(
    disc: Discretization,
    stiffness,
    load: wp.array,
    bc: Dirichlet,
    preconditioner: str = "amg",
    tol: float = 1e-8,
    max_iters: int | None = None,
    on_system: SystemCallback | None = None,
) -> StaticResult:
    """Solve K u = f with Dirichlet values. ``stiffness`` and ``load`` are modified in place.

    Raises InputError when a disconnected part of the mesh has no Dirichlet condition
    (:func:`check_constrained_parts`).

    ``on_system`` receives the projected system, of kind "diffusion" for a scalar field and
    "fem-static" for elasticity.
    """
    check_constrained_parts(disc, stiffness, bc)
    apply_dirichlet(stiffness, load, disc, bc)
    kind = "diffusion" if disc.components == 1 else "fem-static"
    result = solve_linear_system(disc, stiffness, load, preconditioner, tol, max_iters, on_system=on_system, kind=kind)
    return StaticResult(u=result.x.numpy(), solves=[result])


def solve_nonlinear_static(
    disc: Discretization,
    material: Material,
    parameters: wp.array | None,
    load: wp.array,
    bc: Dirichlet,
    preconditioner: str = "amg",
    tol: float = 1e-8,
    max_iters: int | None = None,
    newton_tol: float = 1e-8,
    newton_max_iters: int = 30,
    load_steps: int = 1,
    on_system: SystemCallback | None = None,
    start: StaticResult | None = None,
    max_load_cuts: int = 4,
) -> StaticResult:
    """Equilibrium of a nonlinear ``material``: Newton with a line search, in ``load_steps`` equal increments.

    ``parameters``: the material's per-point parameters (None: its own). Loads and prescribed
    displacements are both ramped, from zero or from the equilibrium ``start`` (a previous result:
    its displacement, load, Dirichlet values and the law's history), so that a load path of several
    calls loads and unloads a law with history (J2). Convergence: the residual on free dofs falls
    below ``newton_tol`` times the larger of the external load norm and the step's initial residual.
    A load step that Newton cannot solve is bisected, up to ``max_load_cuts`` levels (1/16 of it);
    raises EngineError when it still fails, naming the step, iteration and residual.
    ``on_system`` receives each Newton correction system (kind "fem-newton": tangent K_T(u) du = -r,
    projected).
    """
    params = material.parameters(disc) if parameters is None else parameters
    f_ext = load.numpy()
    free = ~bc.mask if disc.components > 1 else ~bc.mask[:, 0]
    g_end = bc.values.reshape(f_ext.shape)
    if start is None:
        u, f_start, g_start = np.zeros_like(f_ext), np.zeros_like(f_ext), np.zeros_like(f_ext)
        history = material.initial_history(disc)
    else:
        u, f_start, g_start, history = start.u, start.load, start.prescribed, start.history
    report = NewtonReport()

    def equilibrium(u: np.ndarray, history, scale: float, where: str) -> np.ndarray:
        """Newton from ``u`` to equilibrium at load factor ``scale`` (0: start, 1: the given loads and values)."""
        external = f_start + scale * (f_ext - f_start)

        def residual(u_np):
            r = material.internal_force(disc, disc.nodal(u_np), params, history=history).numpy() - external
            r[~free] = 0.0
            return r, float(np.linalg.norm(r))

        def potential(u_np):
            if not material.potential:  # the line search then judges by the residual alone
                return np.nan
            return material.energy(disc, disc.nodal(u_np), params, history=history) - float(np.sum(external * u_np))

        def correction(u_np, r):
            K = material.tangent(disc, disc.nodal(u_np), params, history=history)
            rhs = disc.nodal(-r)
            apply_dirichlet(K, rhs, disc, bc, homogeneous=True)
            solve = solve_linear_system(
                disc, K, rhs, preconditioner, tol, max_iters, on_system=on_system, kind="fem-newton"
            )
            return solve.x.numpy(), solve

        def diagnose(u_np):
            force = material.internal_force(disc, disc.nodal(u_np), params, history=history)
            return describe_non_finite_force(disc, force.numpy())

        u = np.where(free, u, g_start + scale * (g_end - g_start))
        return newton(u, residual, correction, potential, float(np.linalg.norm(external[free])), newton_tol,
                      newton_max_iters, where=where, report=report, diagnose=diagnose)  # fmt: skip

    def increment(u, history, start: float, end: float, where: str, cuts_left: int):
        """(u, history, cuts) at load factor ``end`` from ``u`` at ``start``, bisecting the increment on failure."""
        try:
            u = equilibrium(u, history, end, where)
            return u, material.updated_history(disc, disc.nodal(u), params, history), 0
        except EngineError as err:
            if cuts_left == 0:
                raise EngineError(
                    f"{err}; the increment cut down to load factors {start:.6g} .. {end:.6g} still fails"
                ) from err
        middle = 0.5 * (start + end)
        u, history, cuts_first = increment(u, history, start, middle, where, cuts_left - 1)
        u, history, cuts_second = increment(u, history, middle, end, where, cuts_left - 1)
        return u, history, 1 + cuts_first + cuts_second

    cuts = 0
    for step in range(1, load_steps + 1):
        where = f"load step {step}/{load_steps} (try more solver.load_steps)"
        u, history, step_cuts = increment(u, history, (step - 1) / load_steps, step / load_steps, where, max_load_cuts)
        cuts += step_cuts
    return StaticResult(u=u, solves=report.solves, newton_residuals=report.residuals, history=history,
                        load=f_ext, prescribed=g_end, load_cuts=cuts)  # fmt: skip
