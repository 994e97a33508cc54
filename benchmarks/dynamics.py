"""Implicit dynamics of a 3D neo-Hookean block: learnsim vs a pure-JAX reference, forward and gradient.

Problem: the block [0, 1] x [0, 1] x [0, 0.8] on Q1 hexes (20 x 20 x 16 cells, 22,491 dofs; --quick:
8 x 8 x 6), compressible neo-Hookean (E = 1000, nu = 0.3), density 1, clamped at z = 0, a uniform
traction (40, 0, -20) on the top face applied at t = 0, starting at rest. Backward Euler, dt = 0.01,
N_STEPS steps. Gradient step: d/d(E, load scale) of |u(t_N)|^2.

learnsim: ``learnsim.engine.bridge.rollout.step`` in a ``lax.scan`` (each step: Newton with a line search
in Warp, tangent assembled per iteration, PCG with one pyamg smoothed-aggregation V-cycle; the gradient
is one adjoint PCG solve per step by the implicit function theorem). The scan is not checkpointed, as in
the reference; ``rollout.rollout`` (checkpointed segments) recomputes the forward once more and is timed
as an extra row.

Reference: pure JAX (JAX-FEM 0.0.11 imports petsc4py at import time, which has no wheel for this
platform on PyPI and would need a PETSc build from source; it also needs basix and gmsh). The same
vertices, hexes (VTK order), trilinear shape functions, 2 x 2 x 2 Gauss rule, consistent mass, load
vector (learnsim's, as data), the same residual alpha M (u - u_pred) + f_int(u) - f, Newton with the same
stopping rule (|r| <= NEWTON_TOL max(|f| + |alpha M u_pred|, |r_0|), free dofs), full steps, tangent
products by ``jax.linearize``, CG with the exact tangent diagonal as Jacobi preconditioner and the same
relative tolerance TOL; the gradient is a ``custom_vjp`` with the same adjoint CG solve.

Times are best of N runs (N = 2; the checkpointed row: 1 run), after Warp's kernels are loaded on a tiny
block, the JAX functions compiled ahead of time and the engine's body built (its caches are keyed by the
parameter values, so the bridge reuses it); compile times (JAX jit, Warp kernels) are reported once.
The ratio is learnsim / reference: above 1, learnsim is slower.

    python benchmarks/dynamics.py            # 22,491 dofs (about 5-7 minutes, 2 cores)
    python benchmarks/dynamics.py --quick    # 1,701 dofs (about 1.5 minutes)
    python benchmarks/dynamics.py --cold     # also time Warp's kernel compilation (empty kernel cache)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import warp as wp
from machine import machine, versions  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

from learnsim.core.mesh import Mesh
from learnsim.engine import integrate
from learnsim.engine.adjoint import solve_implicit_vjp
from learnsim.engine.bridge import rollout
from learnsim.engine.bridge.operators import Problem, lame_per_point, per_point
from learnsim.engine.fem import (
    NeoHookean,
    assemble_boundary_value,
    boundary_sides,
    box_mesh,
    discretize,
    make_dirichlet,
)
from learnsim.engine.solvers.newton import NewtonReport

SIZE = (1.0, 1.0, 0.8)
CELLS = {"full": (20, 20, 16), "quick": (8, 8, 6)}
E, NU, DENSITY = 1000.0, 0.3, 1.0
TRACTION = (40.0, 0.0, -20.0)
DT = 0.01
N_STEPS = 3
TOL = 1e-10  # relative residual of every linear solve (forward and adjoint)
NEWTON_TOL = 1e-9
NEWTON_MAX_ITERS = 30


# --- the pure-JAX reference -------------------------------------------------------------


def q1_hex_quadrature(mesh: Mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trilinear shape values (8 points, 8 nodes), gradients dN/dX (cells, 8, 8, 3) and weights
    times det J (cells, 8) at the 2 x 2 x 2 Gauss points, hex vertices in VTK order."""
    corners = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]])
    g = np.array([0.5 - 0.5 / np.sqrt(3.0), 0.5 + 0.5 / np.sqrt(3.0)])
    points = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)  # (8, 3), weight 1/8 each
    # 1-D factors: xi for a corner at 1, 1 - xi for a corner at 0
    factor = np.where(corners[None], points[:, None], 1.0 - points[:, None])  # (q, a, d)
    slope = np.where(corners[None], 1.0, -1.0) * np.ones_like(factor)
    shape = factor.prod(axis=-1)
    d_ref = np.stack([slope[..., d] * np.delete(factor, d, axis=-1).prod(axis=-1) for d in range(3)], axis=-1)
    x = mesh.points[mesh.cells]  # (c, a, 3)
    jac = np.einsum("cai,qaj->cqij", x, d_ref)  # dX/dxi
    grads = np.einsum("qaj,cqji->cqai", d_ref, np.linalg.inv(jac))
    return shape, grads, np.linalg.det(jac) / 8.0


def _cofactor(F):
    """cof(F) = det(F) F^-T for (..., 3, 3) batches (closed form: what Warp does for a 3 x 3 inverse)."""
    c0 = jnp.cross(F[..., :, 1], F[..., :, 2])
    c1 = jnp.cross(F[..., :, 2], F[..., :, 0])
    c2 = jnp.cross(F[..., :, 0], F[..., :, 1])
    return jnp.stack([c0, c1, c2], axis=-1)


class Reference(NamedTuple):
    """The reference's operators on one mesh; nodal arrays are (n_points, 3), lame is (cells, 8, 2).

    newton(u_pred, f, lame) -> (u, Newton iterations, CG iterations); solve(u_pred, f, lame) -> u is
    the same solve with its implicit-function-theorem derivative.
    """

    internal_force: Callable
    apply_mass: Callable
    tangent_diagonal: Callable
    newton: Callable
    solve: Callable


def make_reference(mesh: Mesh, free: np.ndarray, alpha: float) -> Reference:
    """The pure-JAX operators for alpha M (u - u_pred) + f_int(u) - f = 0 on ``mesh`` (free: (n, 3) bool)."""
    n = mesh.n_points
    cells = jnp.asarray(mesh.cells)
    shape, grads, weights = (jnp.asarray(a) for a in q1_hex_quadrature(mesh))
    free = jnp.asarray(free, dtype=jnp.float64)
    eye = jnp.eye(3)

    def scatter(element_values):  # (cells, 8, 3) -> (n, 3)
        return jax.ops.segment_sum(element_values.reshape(-1, 3), cells.reshape(-1), num_segments=n)

    def deformation(u):
        F = eye + jnp.einsum("cai,cqaj->cqij", u[cells], grads)
        cof = _cofactor(F)
        det = jnp.einsum("...i,...i->...", F[..., :, 0], cof[..., :, 0])
        return F, cof / det[..., None, None], det

    def internal_force(u, lame):
        F, F_inv_t, det = deformation(u)
        lam, mu = lame[..., 0, None, None], lame[..., 1, None, None]
        P = mu * (F - F_inv_t) + lam * jnp.log(det)[..., None, None] * F_inv_t
        return scatter(jnp.einsum("cq,cqij,cqaj->cai", weights, P, grads))

    def apply_mass(v):
        at_points = jnp.einsum("qa,cai->cqi", shape, v[cells])
        return scatter(DENSITY * jnp.einsum("cq,qa,cqi->cai", weights, shape, at_points))

    mass_diagonal = scatter(DENSITY * jnp.einsum("cq,qa->ca", weights, shape**2)[..., None] * jnp.ones(3))

    def tangent_diagonal(u, lame):
        """Diagonal of alpha M + K_T(u): for dF = e_i g^T (g = dN_a), dP[dF] : dF =
        mu |g|^2 + (mu + lambda - lambda ln J) (g . F^-1 e_i)^2 (from the neo-Hookean dP)."""
        _, F_inv_t, det = deformation(u)
        lam, mu = lame[..., 0], lame[..., 1]
        g_h = jnp.einsum("cqaj,cqij->cqai", grads, F_inv_t)  # g . F^-1 e_i
        g2 = jnp.sum(grads**2, axis=-1)
        k = mu[..., None, None] * g2[..., None] + (mu + lam - lam * jnp.log(det))[..., None, None] * g_h**2
        return alpha * mass_diagonal + scatter(jnp.einsum("cq,cqai->cai", weights, k))

    def residual(u, u_pred, f, lame):
        return free * (alpha * apply_mass(u - u_pred) + internal_force(u, lame) - f)

    def tangent_solve(u, lame, rhs):
        """PCG on the projected tangent (identity rows on constrained dofs), Jacobi, |r| <= TOL |rhs|."""
        _, tangent = jax.linearize(lambda x: internal_force(x, lame), u)

        def A(v):
            w = free * v
            return free * (alpha * apply_mass(w) + tangent(w)) + (1.0 - free) * v

        inverse_diagonal = free / tangent_diagonal(u, lame) + (1.0 - free)
        threshold = TOL * jnp.linalg.norm(rhs)

        def body(carry):
            x, r, p, rz, k = carry
            Ap = A(p)
            step = rz / jnp.vdot(p, Ap)
            x, r = x + step * p, r - step * Ap
            z = inverse_diagonal * r
            rz_new = jnp.vdot(r, z)
            return x, r, z + (rz_new / rz) * p, rz_new, k + 1

        z = inverse_diagonal * rhs
        start = (jnp.zeros_like(rhs), rhs, z, jnp.vdot(rhs, z), 0)

        def unconverged(carry):
            return (jnp.linalg.norm(carry[1]) > threshold) & (carry[4] < 10 * rhs.size)

        x, *_, k = jax.lax.while_loop(unconverged, body, start)
        return x, k

    def newton(u_pred, f, lame):
        reference = jnp.linalg.norm(free * f) + jnp.linalg.norm(free * alpha * apply_mass(u_pred))
        u = free * u_pred  # zero Dirichlet values
        r = residual(u, u_pred, f, lame)
        threshold = NEWTON_TOL * jnp.maximum(reference, jnp.linalg.norm(r))

        def body(carry):
            u, r, k, cg = carry
            du, iterations = tangent_solve(u, lame, -r)
            u = u + du
            return u, residual(u, u_pred, f, lame), k + 1, cg + iterations

        def unconverged(carry):
            return (jnp.linalg.norm(carry[1]) > threshold) & (carry[2] < NEWTON_MAX_ITERS)

        u, _, k, cg = jax.lax.while_loop(unconverged, body, (u, r, 0, 0))
        return u, k, cg

    @jax.custom_vjp
    def solve(u_pred, f, lame):
        return newton(u_pred, f, lame)[0]

    def solve_fwd(u_pred, f, lame):
        u = newton(u_pred, f, lame)[0]
        return u, (u, u_pred, f, lame)

    def solve_bwd(residuals, u_bar):
        u, u_pred, f, lame = residuals
        adjoint, _ = tangent_solve(u, lame, free * u_bar)
        _, vjp = jax.vjp(lambda up, ff, la: residual(u, up, ff, la), u_pred, f, lame)
        return vjp(-adjoint)

    solve.defvjp(solve_fwd, solve_bwd)
    return Reference(internal_force, apply_mass, tangent_diagonal, newton, solve)


# --- the two codes on one problem -------------------------------------------------------


def setup(cells):
    """learnsim's discretisation, Dirichlet mask, load vector and Problem on the block."""
    disc = discretize(box_mesh(SIZE, cells, "hex"), order=1, components=3)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 2] < 1e-9, None, 0.0)])
    sides, _ = boundary_sides(disc, lambda c: c[:, 2] > SIZE[2] - 1e-9)
    load = assemble_boundary_value(disc, sides, TRACTION).numpy()
    problem = Problem(
        disc, NeoHookean(E, NU), bc.mask, mass="consistent", preconditioner="amg", tol=TOL,
        newton_tol=NEWTON_TOL, newton_max_iters=NEWTON_MAX_ITERS,
    )  # fmt: skip
    return disc, bc, load, problem


def learnsim_functions(problem: Problem, load: np.ndarray):
    """(final u, loss) of (E, load scale): N_STEPS backward-Euler steps through the JAX bridge."""
    load = jnp.asarray(load)
    zero = jnp.zeros(problem.shape)

    def final_state(young, scale, checkpointed=False):
        coefficient = lame_per_point(problem, young, NU)
        density = per_point(problem, DENSITY)
        state = integrate.State(u=zero, v=zero, a=zero, t=jnp.zeros(()))
        f = scale * load
        if checkpointed:
            ramp = jnp.ones(N_STEPS + 1)
            return rollout.rollout(problem, "implicit-euler", DT, N_STEPS, state, coefficient, density, f, ramp,
                                   zero, segment=N_STEPS)[0]  # fmt: skip

        def one_step(s, _):
            return rollout.step(problem, "implicit-euler", DT, s, f, f, zero, coefficient, density), None

        return jax.lax.scan(one_step, state, None, length=N_STEPS)[0]

    return (lambda e, p: final_state(e, p).u), (
        lambda e, p, checkpointed=False: jnp.sum(final_state(e, p, checkpointed).u ** 2)
    )


def reference_functions(disc, free: np.ndarray, load: np.ndarray):
    """(final u, Newton iterations, CG iterations) and loss of (E, load scale) for the reference."""
    alpha = 1.0 / DT**2
    reference = make_reference(disc.mesh, free, alpha)
    load = jnp.asarray(load)
    zero = jnp.zeros_like(load)

    def lame(young):
        lam = young * NU / ((1.0 + NU) * (1.0 - 2.0 * NU))
        mu = young / (2.0 * (1.0 + NU))
        return jnp.broadcast_to(jnp.stack([lam, mu]), (disc.mesh.n_cells, 8, 2))

    def run(young, scale, implicit):
        def one_step(carry, _):
            u, v = carry
            u_pred = u + DT * v
            out = implicit(u_pred, scale * load, lame(young))
            u_new = out[0] if isinstance(out, tuple) else out
            stats = out[1:] if isinstance(out, tuple) else ()
            return (u_new, (u_new - u) / DT), stats

        return jax.lax.scan(one_step, (zero, zero), None, length=N_STEPS)

    def forward(young, scale):
        (u, _), (newton_iters, cg_iters) = run(young, scale, reference.newton)
        return u, newton_iters, cg_iters

    def loss(young, scale):
        (u, _), _ = run(young, scale, reference.solve)
        return jnp.sum(u**2)

    return forward, loss


def learnsim_iterations(problem: Problem, load: np.ndarray) -> tuple[list[int], list[int]]:
    """Newton and PCG iterations per step, from the engine calls the bridge makes (initial guess u_pred)."""
    body = problem.body(np.asarray(lame_per_point(problem, E, NU)), np.asarray(per_point(problem, DENSITY)))
    zero = np.zeros(problem.shape)
    state = integrate.State(u=zero, v=zero, a=zero)
    newton_iters, pcg_iters = [], []
    for _ in range(N_STEPS):
        alpha, u_pred = integrate.implicit_terms(body, state, DT, "implicit-euler")
        report = NewtonReport()
        u = integrate.solve_implicit(body, alpha, u_pred, load, u_guess=u_pred, report=report, dirichlet_values=zero)
        state = integrate.update(body, state, u, DT, "implicit-euler", alpha, u_pred)
        newton_iters.append(len(report.solves))
        pcg_iters.append(sum(s.iterations for s in report.solves))
    return newton_iters, pcg_iters


def warm_up_warp() -> float:
    """Seconds for one step and one adjoint on a 2 x 2 x 2 block: Warp compiles (or loads) every kernel."""
    start = time.perf_counter()
    _, _, load, problem = setup((2, 2, 2))
    learnsim_iterations(problem, load)
    body = problem.body(np.asarray(lame_per_point(problem, E, NU)), np.asarray(per_point(problem, DENSITY)))
    u = np.full(problem.shape, 1e-3) * problem.free
    solve_implicit_vjp(body, 1.0 / DT**2, u, np.zeros_like(u), u)
    wp.synchronize()
    return time.perf_counter() - start


def compile_timed(fn, *args):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 x 8 x 6 cells (1,701 dofs)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 2, quick 3)")
    parser.add_argument("--cold", action="store_true", help="compile Warp kernels into an empty cache first")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 2)
    jax.config.update("jax_enable_x64", True)
    wp.config.log_level = wp.LOG_ERROR
    if args.cold:
        cold_cache = tempfile.TemporaryDirectory(prefix="warp-cache-")  # removed at exit
        wp.config.kernel_cache_dir = cold_cache.name
    wp.set_device("cpu")

    cells = CELLS["quick" if args.quick else "full"]
    print("# Implicit dynamics, 3D neo-Hookean block: learnsim (Warp) vs a pure-JAX reference")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine()}; learnsim on Warp device cpu, JAX on {jax.devices()[0].platform}")
    print(f"versions: {versions('warp-lang', 'jax', 'numpy')}")
    start = time.perf_counter()
    warp_s = warm_up_warp()
    disc, bc, load, problem = setup(cells)
    print(f"problem: Q1 {cells[0]} x {cells[1]} x {cells[2]} hexes, {disc.n_dofs:,} dofs, backward Euler, "
          f"dt = {DT}, {N_STEPS} steps; linear tol {TOL:g}, Newton tol {NEWTON_TOL:g}")  # fmt: skip

    ours_u, ours_loss = learnsim_functions(problem, load)
    ref_forward, ref_loss = reference_functions(disc, ~bc.mask, load)
    params = (E, 1.0)
    functions = {
        "ours fwd": ours_u,
        "ref fwd": ref_forward,
        "ours grad": jax.value_and_grad(ours_loss, argnums=(0, 1)),
        "ref grad": jax.value_and_grad(ref_loss, argnums=(0, 1)),
        "ours ckpt": jax.value_and_grad(lambda e, p: ours_loss(e, p, True), argnums=(0, 1)),
    }
    compiled, compile_s = {}, {}
    for name, fn in functions.items():
        compiled[name], compile_s[name] = compile_timed(fn, *params)
    # the engine run builds the body (cached by parameter value, so the bridge reuses it) and counts iterations
    ours_newton, ours_pcg = learnsim_iterations(problem, load)

    times: dict[str, list[float]] = {name: [] for name in compiled}

    def timed(name):
        tic = time.perf_counter()
        out = jax.block_until_ready(compiled[name](*params))
        times[name].append(time.perf_counter() - tic)
        return out

    # the checkpointed rollout recomputes the forward: slow, so it is timed once, after the others are warm
    results = {name: timed(name) for name in compiled}
    for _ in range(repeats - 1):
        for name in ("ours fwd", "ref fwd", "ours grad", "ref grad"):
            timed(name)

    print(f"\ncompile, once: Warp kernels ({'compiled' if args.cold else 'loaded from the cache or compiled'}) "
          f"{warp_s:.1f} s; JAX jit: learnsim forward {compile_s['ours fwd']:.2f} s, gradient "
          f"{compile_s['ours grad']:.2f} s; reference forward {compile_s['ref fwd']:.2f} s, gradient "
          f"{compile_s['ref grad']:.2f} s")  # fmt: skip
    print(f"\n| {'per step (s)':<34} | {'learnsim':>9} | {'reference':>9} | {'ratio':>6} |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 11}|{'-' * 8}|")
    rows = (
        ("implicit step (forward)", "ours fwd", "ref fwd"),
        ("gradient step (forward + adjoint)", "ours grad", "ref grad"),
        ("gradient, checkpointed rollout", "ours ckpt", "ref grad"),
    )
    for label, ours, ref in rows:
        a, b = min(times[ours]) / N_STEPS, min(times[ref]) / N_STEPS
        print(f"| {label:<34} | {a:9.3f} | {b:9.3f} | {a / b:6.2f} |")
    print(f"(best of {repeats}, checkpointed: 1 run; {N_STEPS} steps per run)")
    _, ref_newton, ref_cg = (np.asarray(a) for a in results["ref fwd"])
    print(f"Newton iterations per step: learnsim {ours_newton}, reference {ref_newton.tolist()}")
    print(f"linear iterations per step: learnsim PCG + AMG {ours_pcg}, reference CG + Jacobi {ref_cg.tolist()}")
    u_ours, u_ref = np.asarray(results["ours fwd"]), np.asarray(results["ref fwd"][0])
    diff = np.linalg.norm(u_ours - u_ref) / np.linalg.norm(u_ref)
    print(
        f"final displacement: max |u| {np.abs(u_ref).max():.4e}; learnsim vs reference, relative difference {diff:.1e}"
    )
    (value_ours, grad_ours), (value_ref, grad_ref) = results["ours grad"], results["ref grad"]
    grad_ckpt = results["ours ckpt"][1]
    pairs = [(value_ours, value_ref), *zip(grad_ours, grad_ref, strict=True), *zip(grad_ckpt, grad_ref, strict=True)]
    grad_diff = max(abs(float(a) - float(b)) / abs(float(b)) for a, b in pairs)
    print(f"loss {float(value_ours):.10e} vs {float(value_ref):.10e}; d/dE {float(grad_ours[0]):.6e} vs "
          f"{float(grad_ref[0]):.6e}; d/dscale {float(grad_ours[1]):.6e} vs {float(grad_ref[1]):.6e}; "
          f"max relative difference (both learnsim gradients) {grad_diff:.1e}")  # fmt: skip
    print(f"\nbenchmark wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
