"""Time integration of FEM elastodynamics (M a + f_int(u) = f) and heat conduction (C T' + K T = f).

Schemes:
- ``explicit``: symplectic Euler with a lumped mass, stable below ``stable_time_step``.
- ``implicit-euler``: backward Euler, first order, dissipative.
- ``newmark``: average acceleration (trapezoidal rule), second order, energy conserving for
  linear elasticity; for heat conduction it is Crank-Nicolson.

Every implicit scheme solves one equation of the same shape,

    R(u) = alpha M (u - u_pred) + f_int(u) - f = 0,

with the scheme setting ``alpha`` and ``u_pred`` from the previous state (``implicit_terms``)
and the new rate from the solution (``update``); that arithmetic, and ``State``, live in
:mod:`learnsim.engine.schemes` and are re-exported here. ``solve_implicit`` is the one place where
that equation is solved, and the one function the JAX bridge differentiates (implicit
function theorem: its adjoint is a solve with the same, symmetric, matrix).

States are values: a step takes a ``State`` and returns the next one.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import warp as wp
import warp.fem as fem
from warp.sparse import BsrMatrix, bsr_axpy, bsr_copy, bsr_diag, bsr_mv

from learnsim.core.errors import EngineError, InputError
from learnsim.core.systems import SystemCallback
from learnsim.engine.fem import forms
from learnsim.engine.fem.assembly import assemble_mass, make_field
from learnsim.engine.fem.boundary import Dirichlet, apply_dirichlet, project_rhs
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.materials import Material
from learnsim.engine.fem.non_finite import describe_non_finite_force, finite_force
from learnsim.engine.fem.statics import near_nullspace, solve_linear_system
from learnsim.engine.numerics import check_matrix
from learnsim.engine.schemes import State, explicit_update, implicit_alpha, implicit_terms, update
from learnsim.engine.solvers import ReusedPreconditioner, SolveResult, bsr_to_csr, make_preconditioner
from learnsim.engine.solvers.newton import NewtonReport, newton

SCHEMES = ("explicit", "implicit-euler", "newmark")


@dataclass(frozen=True, eq=False)
class Body:
    """Everything that stays fixed over a rollout.

    Attributes:
        disc: the discretisation (vector for elasticity, scalar for diffusion).
        material: the constitutive law (see :mod:`learnsim.engine.fem.materials`): its internal
            force, tangent and energy, and whether the problem is second order.
        parameters: the law's parameters per quadrature point (e.g. vec2d (lambda, mu) in Pa, or
            float64 conductivity in W/m/K).
        density: per quadrature point, float64: rho (kg/m^3), or heat capacity rho c (J/m^3/K).
        bc: Dirichlet values, held fixed in time (their rates are zero).
        mass: "consistent" | "lumped" (row sums; HRZ diagonal scaling where row sums are not positive).
    """

    disc: Discretization
    material: Material
    parameters: wp.array
    density: wp.array
    bc: Dirichlet
    mass: str = "consistent"
    preconditioner: str = "amg"
    tol: float = 1e-10
    max_iters: int | None = None
    newton_tol: float = 1e-9
    newton_max_iters: int = 30

    @property
    def second_order(self) -> bool:
        return self.material.second_order

    @property
    def free(self) -> np.ndarray:
        """(n_nodes,) or (n_nodes, dim) bool, False on constrained dofs."""
        return ~self.bc.mask[:, 0] if self.disc.components == 1 else ~self.bc.mask


def make_body(
    disc: Discretization, material: Material, density, bc: Dirichlet, mass: str = "consistent", parameters=None,
    **solver,
) -> Body:  # fmt: skip
    """A Body; ``parameters`` (constant, per cell or per quadrature point) default to the material's own."""
    if not isinstance(material, Material):
        raise InputError(f"material {material!r} is not a learnsim material (see learnsim.engine.fem.materials)")
    if mass not in ("consistent", "lumped"):
        raise InputError(f"mass '{mass}' must be 'consistent' or 'lumped'")
    density = wp.array(disc.per_point(density), dtype=wp.float64, device=disc.device)
    return Body(disc=disc, material=material, parameters=material.parameters(disc, parameters), density=density,
                bc=bc, mass=mass, **solver)  # fmt: skip


# --- forces (Warp, differentiable with wp.Tape) -----------------------------------------


def internal_force(body: Body, u: wp.array, out: wp.array | None = None, history=None) -> wp.array:
    """f_int(u) of the body's material (nodal array), from the law's ``history`` if it has one; K u for a linear law."""
    return body.material.internal_force(body.disc, u, body.parameters, out=out, history=history)


def _row_sums(body: Body) -> np.ndarray:
    disc = body.disc
    return fem.integrate(
        forms.lumped_mass_form,
        quadrature=disc.quadrature,
        fields={"v": fem.make_test(disc.space, domain=disc.cells)},
        values={"density": body.density},
        output_dtype=disc.value_type,
    ).numpy()


@functools.lru_cache(maxsize=16)
def lumped_mass_is_hrz(body: Body) -> bool:
    """Whether row-sum lumping fails (non-positive sums, e.g. P2 tets) and HRZ scaling is used."""
    return bool(_row_sums(body).min() <= 0.0)


@functools.lru_cache(maxsize=16)
def lumped_mass(body: Body) -> np.ndarray:
    """Diagonal mass per node and component, same shape as u; positive by construction."""
    disc = body.disc
    rows = _row_sums(body)
    if not lumped_mass_is_hrz(body):
        return rows
    # Row sums vanish or go negative for P2 tets: HRZ lumping (the diagonal, rescaled to the total mass).
    M = _consistent_mass(body)
    blocks = M.values.numpy()[_diagonal_blocks(M)].reshape(disc.n_nodes, disc.components, -1)
    diag = blocks[:, np.arange(disc.components), np.arange(disc.components) % blocks.shape[2]]
    diag = diag.reshape(rows.shape)
    return diag * (rows.sum(axis=0) / diag.sum(axis=0))


def inertia_force(body: Body, a: wp.array, out: wp.array | None = None) -> wp.array:
    """M a with the body's (consistent) mass; lumped masses are applied with ``lumped_mass``."""
    disc = body.disc
    return fem.integrate(
        forms.mass_form,  # the discrete field a in the trial slot: M a without assembling M
        quadrature=disc.quadrature,
        fields={"u": make_field(disc, a), "v": fem.make_test(disc.space, domain=disc.cells)},
        values={"density": body.density},
        output=out,
        output_dtype=disc.value_type,
    )


def apply_mass(body: Body, a: np.ndarray) -> np.ndarray:
    """M a as numpy, with the body's mass kind (the consistent mass: a product with its matrix, assembled once)."""
    if body.mass == "lumped":
        return lumped_mass(body) * a
    return bsr_mv(mass_matrix(body), body.disc.nodal(a)).numpy()


# --- matrices --------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _consistent_mass(body: Body) -> BsrMatrix:
    """The consistent mass, assembled once per body (callers must not modify it: copy first)."""
    return assemble_mass(body.disc, body.density.numpy())


def _diagonal_blocks(A: BsrMatrix) -> np.ndarray:
    offsets, columns = A.offsets.numpy(), A.columns.numpy()
    rows = np.repeat(np.arange(A.nrow), np.diff(offsets[: A.nrow + 1]))
    return np.nonzero(rows == columns[: offsets[A.nrow]])[0]


@functools.lru_cache(maxsize=16)
def mass_matrix(body: Body) -> BsrMatrix:
    """M of the body's mass kind, built once per body and shared: never modify it (``bsr_copy`` first)."""
    if body.mass == "consistent":
        return _consistent_mass(body)
    m = lumped_mass(body)
    disc = body.disc
    if disc.components == 1:
        return bsr_diag(wp.array(m, dtype=wp.float64, device=disc.device))
    blocks = np.zeros((disc.n_nodes, disc.components, disc.components))
    idx = np.arange(disc.components)
    blocks[:, idx, idx] = m
    mat = wp.types.matrix((disc.components, disc.components), wp.float64)
    return bsr_diag(wp.array(blocks, dtype=mat, device=disc.device))


def stiffness_matrix(body: Body, u: np.ndarray | None = None, history=None) -> BsrMatrix:
    """The tangent K_T(u) of the body's material (u = 0 if not given); K for a linear law."""
    disc = body.disc
    u = disc.zeros() if u is None else disc.nodal(u)
    return body.material.tangent(disc, u, body.parameters, history=history)


def system_matrix(body: Body, alpha: float, u: np.ndarray | None = None, history=None) -> BsrMatrix:
    """alpha M + K_T(u), before Dirichlet projection."""
    A = stiffness_matrix(body, u, history)
    if alpha != 0.0 and body.density is not None:
        # M couples no node pair that K does not (one space, one mesh): add into K's blocks in place
        bsr_axpy(mass_matrix(body), A, alpha=alpha, beta=1.0, topology="masked")
        check_matrix(A, f"time-step matrix alpha M + K (alpha = {alpha:.3g})", "[time].dt and [material].density")
    return A


@functools.lru_cache(maxsize=8)
def _linear_system(body: Body, alpha: float):
    """(alpha M + K, its Dirichlet projection, preconditioner) for a linear law."""
    A_full = system_matrix(body, alpha)
    A = bsr_copy(A_full)
    apply_dirichlet(A, body.disc.zeros(), body.disc, body.bc, homogeneous=True)
    return A_full, A, make_preconditioner(body.preconditioner, A, near_nullspace=near_nullspace(body.disc))


def stable_time_step(body: Body, safety: float = 0.98) -> float:
    """Critical step of the explicit scheme, times ``safety``: 2 / omega_max for elastodynamics and
    2 / lambda_max for heat, with lambda_max (= omega_max^2) the largest eigenvalue of K x = lambda M x
    on free dofs, for the body's mass (lumped or consistent), from scipy's Lanczos (eigsh)."""
    free = body.free.ravel()
    K = bsr_to_csr(stiffness_matrix(body))[free][:, free]
    if body.mass == "lumped":
        M = scipy.sparse.diags(lumped_mass(body).ravel()[free])
    else:
        M = bsr_to_csr(_consistent_mass(body))[free][:, free]
    lam_max = float(scipy.sparse.linalg.eigsh(K, k=1, M=M.tocsc(), which="LA", tol=1e-8, return_eigenvectors=False)[0])
    limit = 2.0 / np.sqrt(lam_max) if body.second_order else 2.0 / lam_max
    return safety * limit


# --- one step ---------------------------------------------------------------------------


def solve_implicit(
    body: Body,
    alpha: float,
    u_pred: np.ndarray,
    f: np.ndarray,
    u_guess: np.ndarray,
    report: NewtonReport | None = None,
    dirichlet_values: np.ndarray | None = None,
    on_system: SystemCallback | None = None,
    history=None,
) -> np.ndarray:
    """Solve alpha M (u - u_pred) + f_int(u) = f on free dofs, u = Dirichlet values elsewhere.

    ``history``: the law's internal variables at the start of the step (laws with history).

    ``alpha = 0`` is the static problem. ``dirichlet_values`` (same shape as u) overrides the
    body's prescribed values on its constrained dofs. ``on_system`` receives every projected
    linear system solved: kind "diffusion-implicit" for heat conduction, "fem-implicit" for
    elasticity (the Newton corrections of a neo-Hookean step included).
    """
    kind = "fem-implicit" if body.second_order else "diffusion-implicit"
    disc, free = body.disc, body.free
    report = NewtonReport() if report is None else report
    g = body.bc.values.reshape(u_pred.shape) if dirichlet_values is None else dirichlet_values

    def inertia(d):  # alpha M d; statics (alpha = 0, no density) builds no mass
        return alpha * apply_mass(body, d) if alpha != 0.0 else np.zeros_like(d)

    if body.material.linear:
        # linear: (alpha M + K) u = f + alpha M u_pred, matrix and preconditioner reused across steps
        A_full, A, preconditioner = _linear_system(body, alpha)
        rhs = disc.nodal(f + inertia(u_pred))
        project_rhs(A_full, rhs, disc, Dirichlet(mask=body.bc.mask, values=g.reshape(body.bc.values.shape)))
        solve = solve_linear_system(
            disc, A, rhs, preconditioner, body.tol, body.max_iters, x0=u_guess, on_system=on_system, kind=kind
        )
        report.solves.append(solve)
        return solve.x.numpy()

    def residual(u):
        r = inertia(u - u_pred) + internal_force(body, disc.nodal(u), history=history).numpy() - f
        r[~free] = 0.0
        return r, float(np.linalg.norm(r))

    def potential(u):
        d = u - u_pred
        if not body.material.potential:  # the line search then judges by the residual alone
            return np.nan
        kinetic = 0.5 * float(np.sum(d * inertia(d)))
        return kinetic + body.material.energy(disc, disc.nodal(u), body.parameters) - float(np.sum(f * u))

    # one preconditioner per step, built on its first tangent; the adjoint solve reuses it too
    preconditioner = _step_preconditioners[body] = ReusedPreconditioner(body.preconditioner, near_nullspace(disc))

    def correction(u, r) -> tuple[np.ndarray, SolveResult]:
        A = system_matrix(body, alpha, u, history)
        rhs = disc.nodal(-r)
        apply_dirichlet(A, rhs, disc, body.bc, homogeneous=True)
        solve = solve_linear_system(
            disc, A, rhs, preconditioner, body.tol, body.max_iters, on_system=on_system, kind=kind
        )
        return solve.x.numpy(), solve

    def diagnose(u):
        return describe_non_finite_force(disc, internal_force(body, disc.nodal(u), history=history).numpy())

    u0 = np.where(free, u_guess, g)
    reference = float(np.linalg.norm(f[free])) + float(np.linalg.norm(inertia(u_pred)[free]))
    return newton(u0, residual, correction, potential, reference, body.newton_tol, body.newton_max_iters,
                  where="implicit step", report=report, diagnose=diagnose)  # fmt: skip


_step_preconditioners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Body -> the preconditioner factory of its last nonlinear implicit step (see :func:`step_preconditioner`)."""


def step_preconditioner(body: Body):
    """The preconditioner factory of ``body``'s last nonlinear implicit step, or its own setting."""
    return _step_preconditioners.get(body, body.preconditioner)


def initial_state(
    body: Body,
    u0: np.ndarray,
    v0: np.ndarray,
    f0: np.ndarray,
    t0: float = 0.0,
    on_system: SystemCallback | None = None,
) -> State:
    """State at t0 with the rate consistent with the equation: a0 = M^-1 (f0 - f_int(u0)) (zero on Dirichlet dofs).

    ``on_system`` receives the mass solve, if one is made (see :func:`solve_mass`).
    Raises EngineError naming the element where f_int(u0) is not finite.
    """
    free = body.free
    u0 = np.where(free, u0, body.bc.values.reshape(u0.shape))
    try:
        f_int = finite_force(body.disc, internal_force(body, body.disc.nodal(u0)).numpy())
    except EngineError as err:
        raise EngineError(f"the initial state (t = {t0:g} s): {err}") from None
    if not body.second_order:
        rate = solve_mass(body, f0 - f_int, on_system=on_system)
        return State(u=u0, v=rate * free, a=np.zeros_like(u0), t=t0)
    history = _advanced(body, u0, body.material.initial_history(body.disc))
    if history is not None:
        f_int = internal_force(body, body.disc.nodal(u0), history=history).numpy()
    a0 = solve_mass(body, f0 - f_int, on_system=on_system)
    return State(u=u0, v=v0 * free, a=a0 * free, t=t0, history=history)


def _advanced(body: Body, u: np.ndarray, history):
    """The law's history after a step converged at u (None for laws without)."""
    if history is None:
        return None
    return body.material.updated_history(body.disc, body.disc.nodal(u), body.parameters, history)


def solve_mass(body: Body, r: np.ndarray, on_system: SystemCallback | None = None) -> np.ndarray:
    """a with M a = r on free dofs, a = 0 on constrained dofs.

    A consistent mass is solved by PCG, reported to ``on_system`` as kind "fem-mass"; a
    lumped mass is a division, and reports nothing.
    """
    r = r * body.free
    if body.mass == "lumped":
        return r / lumped_mass(body)
    M = bsr_copy(mass_matrix(body))  # the shared matrix stays unprojected
    rhs = body.disc.nodal(r)
    zero = Dirichlet(mask=body.bc.mask, values=np.zeros_like(body.bc.values))
    apply_dirichlet(M, rhs, body.disc, zero)
    solve = solve_linear_system(body.disc, M, rhs, "jacobi", 1e-12, None, on_system=on_system, kind="fem-mass")
    return solve.x.numpy()


def step(body: Body, state: State, dt: float, scheme: str, f_old: np.ndarray, f_new: np.ndarray,
         dt_limit: float | None = None, report: NewtonReport | None = None,
         on_system: SystemCallback | None = None) -> State:  # fmt: skip
    """Advance ``state`` by ``dt``; f_old and f_new are the external loads at t and t + dt.

    ``on_system`` receives every linear system the step solves (see :func:`solve_implicit`
    and :func:`solve_mass`).
    """
    if scheme == "explicit":
        if dt_limit is not None and dt > dt_limit:
            raise InputError(f"[time].dt = {dt:g} s is above the explicit stability limit {dt_limit:.4g} s")
        force = finite_force(body.disc, internal_force(body, body.disc.nodal(state.u), history=state.history).numpy())
        new = explicit_update(body, state, solve_mass(body, f_old - force, on_system=on_system), dt)
        return new if state.history is None else replace(new, history=_advanced(body, new.u, state.history))
    if scheme not in SCHEMES:
        raise InputError(f"integrator '{scheme}' is not one of {', '.join(SCHEMES)}")
    alpha, u_pred = implicit_terms(body, state, dt, scheme)
    u_new = solve_implicit(body, alpha, u_pred, f_new, u_guess=u_pred, report=report, on_system=on_system,
                           history=state.history)  # fmt: skip
    new = update(body, state, u_new, dt, scheme, alpha, u_pred)
    return new if state.history is None else replace(new, history=_advanced(body, u_new, state.history))


def energies(body: Body, state: State) -> tuple[float, float]:
    """(kinetic, stored) energy in J for elastodynamics; stored = strain energy."""
    disc = body.disc
    kinetic = 0.5 * float(np.sum(state.v * apply_mass(body, state.v)))
    return kinetic, body.material.energy(disc, disc.nodal(state.u), body.parameters, history=state.history)


__all__ = [
    "SCHEMES",
    "Body",
    "State",
    "apply_mass",
    "energies",
    "explicit_update",
    "implicit_alpha",
    "implicit_terms",
    "inertia_force",
    "initial_state",
    "internal_force",
    "lumped_mass",
    "make_body",
    "mass_matrix",
    "solve_implicit",
    "solve_mass",
    "stable_time_step",
    "step",
    "system_matrix",
    "update",
]
