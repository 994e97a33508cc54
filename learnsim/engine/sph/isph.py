"""Incompressible SPH (ISPH) in 2D and 3D, float64: a projection scheme with a sparse SPD pressure solve.

One step of ``dt`` from positions x^n and velocities v^n (Cummins and Rudman 1999; Shao and
Lo 2003), sums over neighbours j within the kernel support, fluid and wall particles alike:

1. prediction: v*_i = v_i + dt (g + nu laplacian(v)_i), the Laplacian in Morris' form
   -sum_j K_ij (v_i - v_j) with K_ij = -2 m / rho0 x_ij . grad W_ij / (r_ij^2 + eta^2) >= 0,
   eta^2 = 0.01 h^2; walls keep their prescribed velocity;
2. pressure Poisson equation, the mixed source of Asai et al. (2012):
   sum_j K_ij (p_i - p_j) = -rho0 div(v*)_i / dt + alpha (rho_i - rho0) / dt^2, with
   div(v*)_i = sum_j m / rho0 (v*_j - v*_i) . grad W_ij and rho_i = sum_j m W_ij the kernel
   sum at x^n (``density_relaxation`` = alpha; alpha = 1 is the density-invariant source of
   Shao and Lo to first order, alpha = 0 the divergence-free one of Cummins and Rudman). A step
   shorter than the stable one, dt < dt_s, uses alpha dt / dt_s: it corrects that fraction of
   the density error, so a shortened last step gives no velocity kick of order 1 / dt;
3. boundary conditions. A fluid particle whose kernel sum is below ``free_surface_density``
   rho0 is on the free surface: p = 0 there, eliminated symmetrically (its column moves to
   the right-hand side with value zero, its weight stays in the diagonal). Wall particles
   (layers filling the kernel support, as in WCSPH) with a fluid neighbour are unknowns too,
   coupled to the fluid only: sum_f K_wf (p_w - p_f) = sum_f K_wf rho0 g . x_wf, a weighted
   form of Adami et al.'s (2012) hydrostatic extrapolation that keeps the matrix symmetric;
4. projection: v^{n+1}_i = v*_i - dt / rho0 grad(p)_i with the renormalised gradient
   grad(p)_i = M_i^-1 sum_j V_j (p_j - p_i) grad W_ij, M_i = sum_j V_j grad W_ij (x_j - x_i)^T,
   V_j = m / rho0 (Bonet and Lok 1999), exact for linear pressure fields also where the free
   surface truncates the kernel (the symmetric form sum_j m (p_i + p_j) grad W_ij would let the
   surface layer sink into the fluid); then x^{n+1} = x^n + dt v^{n+1}; walls move at their
   constant velocity.

The matrix is a weighted graph Laplacian with non-negative weights K_ij = K_ji: symmetric,
diagonally dominant, positive definite when every connected group of unknowns touches the free
surface. A floating group, one with no free-surface particle (fluid filling a box with a lid),
has the constant in its null space: its pressure level is undetermined, and its right-hand side
need not be compatible. ``isph_floating`` makes each such group well-posed: its right-hand-side
sum is taken off its fluid rows in equal parts, and its fluid particle highest against gravity
is pinned to p = 0, eliminated like a free-surface particle (the system is assembled again
without it). Pinning rather than projecting the constant out inside CG keeps the matrix SPD,
so every preconditioner applies and ``on_system`` records SPD systems; the pressure is that of
the singular system with p = 0 at the top of the sealed fluid, and groups with a free surface
are untouched (bit for bit). Finding the groups is a host pass over the pattern every step
(connected components; 0.5 ms of a 19 ms step with 800 fluid particles, 1 ms of 56 ms with
3200, on the CPU), a second assembly only where a group floats. The system is solved by
``pcg`` with ``preconditioner`` and relative ``tolerance``, warm-started from the last pressures.

The parameters ``ISPH`` (from ``parameters``) and the state ``ParticleState`` (from
``particles``, shared with WCSPH) are imported here, so ``isph.ISPH`` and
``isph.ParticleState`` name them too.
"""

from __future__ import annotations

import math

import numpy as np
import warp as wp
import warp.sparse as wps

from learnsim.core.errors import InputError
from learnsim.core.systems import LinearSystem, SystemCallback
from learnsim.engine.solvers.pcg import pcg
from learnsim.engine.solvers.preconditioners import make_preconditioner
from learnsim.engine.solvers.sparse import bsr_to_csr
from learnsim.engine.sph import isph_equations as eq
from learnsim.engine.sph import isph_floating
from learnsim.engine.sph.kernels import move
from learnsim.engine.sph.neighbours import build_grid
from learnsim.engine.sph.parameters import ISPH, constants
from learnsim.engine.sph.particles import ParticleState, as_vec3, check_particles, checked_time_step


def _joined(fluid: wp.array, wall: wp.array) -> wp.array:
    """Fluid then wall entries in one new array."""
    out = wp.empty(len(fluid) + len(wall), dtype=fluid.dtype, device=fluid.device)
    wp.copy(out, fluid, count=len(fluid))
    if len(wall):
        wp.copy(out, wall, dest_offset=len(fluid), count=len(wall))
    return out


def _densities(params: ISPH, x: wp.array, wall_x: wp.array) -> tuple[wp.array, wp.array]:
    """Kernel sums (n_fluid,) and free-surface flags at fluid positions x with walls at wall_x."""
    n = len(x)
    x_all = _joined(x, wall_x)
    grid = build_grid(x_all, params.radius, params.dim)
    rho = wp.empty(n, dtype=wp.float64, device=x.device)
    surface = wp.empty(n, dtype=wp.int32, device=x.device)
    wp.launch(
        eq.summation, dim=n, inputs=[constants(params, n), grid.id, x_all], outputs=[rho, surface], device=x.device
    )
    return rho, surface


def make_state(
    params: ISPH, positions, wall_positions, velocities=None, wall_velocities=None, device=None
) -> ParticleState:
    """The initial state: kernel-sum densities, zero pressures, accelerations g.

    Args:
        positions: (n_fluid, dim) fluid particle positions (m).
        wall_positions: (n_wall, dim) wall particle positions (m); enough layers to fill the
            kernel support (ceil(radius / spacing)).
        velocities: (n_fluid, dim) (m/s), zero by default.
        wall_velocities: (n_wall, dim) constant wall velocities (m/s), zero by default.
        device: Warp device of the arrays.
    """
    x, xw, v, vw = check_particles(params, "isph", positions, wall_positions, velocities, wall_velocities)
    vec = lambda a: wp.array(as_vec3(a), dtype=wp.vec3d, device=device)
    positions_wp, wall_wp = vec(x), vec(xw)
    rho, surface = _densities(params, positions_wp, wall_wp)
    return ParticleState(
        positions=positions_wp,
        velocities=vec(v),
        accelerations=vec(np.tile(params.gravity, (len(x), 1))),
        densities=rho,
        free_surface=surface,
        pressures=wp.zeros(len(x), dtype=wp.float64, device=device),
        wall_positions=wall_wp,
        wall_velocities=vec(vw),
        wall_pressures=wp.zeros(len(xw), dtype=wp.float64, device=device),
    )


def stable_time_step(params: ISPH, state: ParticleState) -> float:
    """min(cfl h / |u|max, 0.125 h^2 / nu, 0.25 sqrt(h / max(|a|max, |g|))) in s, a over the last step.

    The pressure solve removes the sound speed from the limit; what is left are the advection
    (CFL), viscous diffusion and force conditions of Shao and Lo (2003). Infinite for a fluid
    at rest with no force and no viscosity.
    """
    h = params.h
    u_max = float(np.max(np.linalg.norm(state.velocities.numpy(), axis=1)))
    a_max = float(np.max(np.linalg.norm(state.accelerations.numpy(), axis=1)))
    dt = math.inf
    if u_max > 0.0:
        dt = params.cfl * h / u_max
    if params.viscosity > 0.0:
        dt = min(dt, 0.125 * h * h / params.viscosity)
    a_max = max(a_max, float(np.linalg.norm(params.gravity)))
    if a_max > 0.0:
        dt = min(dt, 0.25 * math.sqrt(h / a_max))
    return dt


def step(
    params: ISPH, state: ParticleState, dt: float | None = None, on_system: SystemCallback | None = None
) -> ParticleState:
    """Advance ``state`` by one projection step of ``dt`` seconds (the stable step if None).

    ``on_system`` receives the step's pressure system as a ``LinearSystem`` (kind
    "isph-pressure", its ``parameters["pinned"]`` the number of floating groups pinned;
    skipped in the degenerate step where no unknown is left). A ``dt`` above
    ``stable_time_step`` raises InputError; a pressure solve that does not reach
    ``params.tolerance`` raises SolverNotConverged.
    """
    stable = stable_time_step(params, state)
    dt = checked_time_step("isph", dt, stable)
    if not math.isfinite(dt):
        raise InputError("isph: no finite stable time step (fluid at rest without forces); pass dt")
    return _step(params, state, dt, on_system, max(dt, stable))


def _assemble(params, c, grid, x_all, v_star, rho, index, n_unknowns, dt, dt_relax):
    """The PPE matrix and right-hand side on the device; the host row offsets (n_unknowns + 1,),
    the device column indices (nnz,) and per row 1 where it is coupled to a p = 0 particle."""
    device = x_all.device
    n_all = len(x_all)
    counts = wp.zeros(n_unknowns, dtype=wp.int32, device=device)
    anchored = wp.zeros(n_unknowns, dtype=wp.int32, device=device)
    wp.launch(eq.count_entries, dim=n_all, inputs=[c, grid.id, x_all, index], outputs=[counts, anchored], device=device)
    offsets_np = np.concatenate([[0], np.cumsum(counts.numpy())]).astype(np.int32)
    nnz = int(offsets_np[-1])
    rows = wp.empty(nnz, dtype=wp.int32, device=device)
    cols = wp.empty(nnz, dtype=wp.int32, device=device)
    values = wp.empty(nnz, dtype=wp.float64, device=device)
    rhs = wp.empty(n_unknowns, dtype=wp.float64, device=device)
    wp.launch(
        eq.fill_entries,
        dim=n_all,
        inputs=[c, grid.id, x_all, v_star, rho, index, wp.array(offsets_np, dtype=wp.int32, device=device)],
        outputs=[wp.float64(1.0 / dt), wp.float64(params.density_relaxation * dt / dt_relax), rows, cols, values, rhs],
        device=device,
    )
    A = wps.bsr_zeros(n_unknowns, n_unknowns, block_type=wp.float64, device=device)
    wps.bsr_set_from_triplets(A, rows, cols, values, prune_numerical_zeros=False)
    return A, rhs, offsets_np, cols, anchored


def _well_posed(params, c, grid, x_all, v_star, rho, index_np, dt, dt_relax):
    """The assembled PPE with every floating group pinned (``isph_floating``): (A, rhs, index,
    pinned), A and rhs on the device (A None when no unknown is left), index the device
    particle -> unknown map (n_particles,) of the solve, pinned the number of pinned particles."""
    device = x_all.device
    index = wp.array(index_np, dtype=wp.int32, device=device)
    n_unknowns = int(np.count_nonzero(index_np >= 0))
    A, rhs, offsets, cols, anchored = _assemble(params, c, grid, x_all, v_star, rho, index, n_unknowns, dt, dt_relax)
    labels = isph_floating.floating_groups(offsets, cols.numpy(), anchored.numpy())
    if labels is None:
        return A, rhs, index, 0
    up = -np.asarray(as_vec3(params.gravity)) / max(float(np.linalg.norm(params.gravity)), 1e-300)
    pinning = isph_floating.pin(labels, rhs.numpy(), index_np, int(c.n_fluid), x_all.numpy() @ up)
    index = wp.array(pinning.index, dtype=wp.int32, device=device)
    if pinning.n_unknowns == 0:
        return None, None, index, len(pinning.pinned)
    # the pinned particles are out of the unknowns now: assemble again, as for a free surface
    A, rhs, *_ = _assemble(params, c, grid, x_all, v_star, rho, index, pinning.n_unknowns, dt, dt_relax)
    rhs = wp.array(rhs.numpy() + pinning.shift, dtype=wp.float64, device=device)
    return A, rhs, index, len(pinning.pinned)


def _step(
    params: ISPH, state: ParticleState, dt: float, on_system: SystemCallback | None, dt_relax: float
) -> ParticleState:
    device = state.positions.device
    n, n_wall = state.n_fluid, len(state.wall_positions)
    c = constants(params, n)
    x_all = _joined(state.positions, state.wall_positions)
    v_all = _joined(state.velocities, state.wall_velocities)
    grid = build_grid(x_all, params.radius, params.dim)

    v_star = wp.empty_like(v_all)
    wp.launch(
        eq.predict, dim=n + n_wall, inputs=[c, grid.id, x_all, v_all, wp.float64(dt)], outputs=[v_star], device=device
    )
    unknown = wp.empty(n + n_wall, dtype=wp.int32, device=device)
    wp.launch(
        eq.mark_unknowns,
        dim=n + n_wall,
        inputs=[c, grid.id, x_all, state.free_surface],
        outputs=[unknown],
        device=device,
    )
    is_unknown = unknown.numpy().astype(bool)
    index_np = np.where(is_unknown, np.cumsum(is_unknown) - 1, -1).astype(np.int32)
    if is_unknown.any():
        A, rhs, index, pinned = _well_posed(params, c, grid, x_all, v_star, state.densities, index_np, dt, dt_relax)
    else:
        A, index = None, wp.array(index_np, dtype=wp.int32, device=device)

    p_all = _joined(state.pressures, state.wall_pressures)
    if A is not None:
        solution = wp.zeros(A.nrow, dtype=wp.float64, device=device)
        wp.launch(eq.gather, dim=n + n_wall, inputs=[index, p_all], outputs=[solution], device=device)
        result = pcg(
            A,
            rhs,
            solution,
            preconditioner=make_preconditioner(params.preconditioner, A),
            tol=params.tolerance,
            max_iters=params.max_iterations,
        )
        if on_system is not None:
            on_system(_system(params, state, dt, A, rhs, solution, result.iterations, pinned))
    else:
        solution = wp.zeros(1, dtype=wp.float64, device=device)
    p_new = wp.empty(n + n_wall, dtype=wp.float64, device=device)
    wp.launch(eq.scatter, dim=n + n_wall, inputs=[index, solution], outputs=[p_new], device=device)

    x_new = wp.empty(n, dtype=wp.vec3d, device=device)
    v_new = wp.empty(n, dtype=wp.vec3d, device=device)
    acc = wp.empty(n, dtype=wp.vec3d, device=device)
    wp.launch(
        eq.project,
        dim=n,
        inputs=[c, grid.id, x_all, v_all, v_star, p_new, wp.float64(dt)],
        outputs=[x_new, v_new, acc],
        device=device,
    )
    wall_new = wp.empty(n_wall, dtype=wp.vec3d, device=device)
    wp.launch(
        move,
        dim=n_wall,
        inputs=[c, state.wall_positions, state.wall_velocities, wp.float64(dt)],
        outputs=[wall_new],
        device=device,
    )
    rho, surface = _densities(params, x_new, wall_new)
    pressures = wp.empty(n, dtype=wp.float64, device=device)
    wall_pressures = wp.empty(n_wall, dtype=wp.float64, device=device)
    wp.copy(pressures, p_new, count=n)
    if n_wall:
        wp.copy(wall_pressures, p_new, src_offset=n, count=n_wall)
    return ParticleState(
        positions=x_new,
        velocities=v_new,
        accelerations=acc,
        densities=rho,
        free_surface=surface,
        pressures=pressures,
        wall_positions=wall_new,
        wall_velocities=state.wall_velocities,
        wall_pressures=wall_pressures,
        time=state.time + dt,
    )


def _system(params, state, dt, A, rhs, solution, iterations, pinned) -> LinearSystem:
    return LinearSystem(
        matrix=bsr_to_csr(A),
        rhs=rhs.numpy().copy(),
        solution=solution.numpy().copy(),
        grid_shape=None,
        kind="isph-pressure",
        parameters={
            "dim": params.dim,
            "spacing": params.spacing,
            "rest_density": params.rest_density,
            "kernel": params.kernel,
            "h_over_spacing": params.h_over_spacing,
            "density_relaxation": params.density_relaxation,
            "preconditioner": params.preconditioner
            if isinstance(params.preconditioner, str)
            else repr(params.preconditioner),
            "tolerance": params.tolerance,
            "iterations": int(iterations),
            "dt": float(dt),
            "time": float(state.time),
            "n_fluid": state.n_fluid,
            "n_wall": len(state.wall_positions),
            "n_unknowns": int(A.nrow),
            "pinned": int(pinned),
        },
    )


def advance(
    params: ISPH,
    state: ParticleState,
    t_end: float,
    on_system: SystemCallback | None = None,
    max_steps: int = 1_000_000,
) -> ParticleState:
    """Step until ``state.time`` reaches ``t_end`` (s), each step remaining / ceil(remaining / stable step)."""
    for _ in range(max_steps):
        remaining = t_end - state.time
        if remaining <= 1e-12 * max(1.0, abs(t_end)):
            return state
        stable = stable_time_step(params, state)
        # equal steps to t_end rather than a sliver at the end: the pressure of a step holds
        # rho0 div(v) / dt, which a very short step would blow up
        dt = remaining / math.ceil(remaining / stable * (1.0 - 1e-12))
        state = _step(params, state, dt, on_system, stable)
    raise InputError(f"isph: t_end = {t_end} s needs more than max_steps = {max_steps} steps")


def density_error(params: ISPH, state: ParticleState) -> float:
    """Mean of |rho_i - rho0| / rho0 over fluid particles off the free surface (dimensionless).

    rho_i = sum_j m W(|x_i - x_j|, h) over fluid and wall particles at the state's positions
    (``state.densities``); a particle is on the free surface, and left out, when rho_i <
    free_surface_density rho0 (``state.free_surface``). 0 when every particle is on it.
    """
    rho = state.densities.numpy()
    inside = state.free_surface.numpy() == 0
    if not np.any(inside):
        return 0.0
    return float(np.mean(np.abs(rho[inside] - params.rest_density)) / params.rest_density)
