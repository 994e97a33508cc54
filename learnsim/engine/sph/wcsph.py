"""Weakly compressible SPH (WCSPH) in 2D and 3D, float64.

Physics, per fluid particle i (sums over neighbours j within the kernel support):

- equation of state (Tait): p = rho0 c0^2 / gamma ((rho / rho0)^gamma - 1); gamma = 7 for
  water, gamma = 1 gives the linear law p = c0^2 (rho - rho0);
- continuity: d rho_i / dt = sum_j m (v_i - v_j) . grad W_ij + delta-SPH diffusion
  delta h c0 sum_j V_j psi_ij . grad W_ij with psi_ij = 2 (rho_j - rho_i - rho^H_ji) x_ji / r^2
  (Molteni and Colagrossi 2009); rho^H_ji = rho0 g . x_ji / c0^2 removes the hydrostatic
  part (the linearised correction of Fourtakas et al. 2019), so a tank at rest does not
  diffuse. Only fluid pairs diffuse;
- momentum: dv_i/dt = -sum_j m (p_i / rho_i^2 + p_j / rho_j^2) grad W_ij
  + laminar viscosity (Morris, Fox and Zhu 1997)
    sum_j m (mu_i + mu_j) / (rho_i rho_j) x_ij . grad W_ij / (r^2 + 0.01 h^2) v_ij, mu = rho nu,
  + artificial viscosity (Monaghan 1992), -sum_j m Pi_ij grad W_ij with
    Pi_ij = -alpha c0 h v_ij . x_ij / ((r^2 + 0.01 h^2) rho_ij) when v_ij . x_ij < 0, on fluid
    pairs and on fluid-wall pairs (as DualSPHysics applies it to boundary pairs; a wall is seen
    at its no-slip velocity, like in the laminar term),
  + gravity g.

Walls are layers of particles (Adami, Hu and Adams 2012): before each momentum evaluation
every wall particle w takes a pressure extrapolated from the fluid,
p_w = (sum_f p_f W_wf + g . sum_f rho_f x_wf W_wf) / sum_f W_wf, the density that pressure
gives through the equation of state, and for the viscous term the velocity
2 v_w - sum_f v_f W_wf / sum_f W_wf (no slip). Walls move at their given constant velocity v_w
(the wall acceleration in Adami's formula is zero); the continuity equation sees v_w.

Time integration is kick-drift-kick (velocity Verlet, as in Adami et al. 2012):
v^{n+1/2} = v^n + dt/2 a^n, x^{n+1/2} = x^n + dt/2 v^{n+1/2}, rho^{n+1} = rho^n + dt
drho(x^{n+1/2}, v^{n+1/2}), x^{n+1} = x^{n+1/2} + dt/2 v^{n+1/2}, a^{n+1} = a(x^{n+1},
rho^{n+1}, v^{n+1/2}), v^{n+1} = v^{n+1/2} + dt/2 a^{n+1}. The state carries a^n so each step
evaluates the continuity equation once and the momentum equation once. The stable step is
min(0.25 h / (c0 + |u|max), 0.125 h^2 / nu, 0.25 sqrt(h / |a|max)).

Periodic axes (``periodic`` with a ``domain``) wrap positions into the domain; each particle
then also sees the neighbours of its images shifted by -L and +L (one launch per image).

Every step allocates new arrays and new hash grids and overwrites nothing, so a rollout
built with ``make_state(..., requires_grad=True)`` can be recorded on a ``wp.Tape`` and
differentiated (the neighbour sets carry no derivative); passing the viscosity as a (1,)
array (``viscosity=`` of ``make_state`` and ``step``) gives its gradient too (a Warp tape gives
none for a struct member); ``learnsim.engine.bridge.sph.rollout`` wraps such a rollout for JAX.
Warp's adjoint replays a dynamic loop's body but not its accumulators, so the kernels use
neighbour sums only linearly and combine them in separate launches.

The parameters ``WCSPH`` (from ``parameters``) and the state ``ParticleState`` (from
``particles``, shared with ISPH) are imported here, so ``wcsph.WCSPH`` and
``wcsph.ParticleState`` name them too.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import warp as wp

from learnsim.core.errors import InputError
from learnsim.core.systems import SystemCallback
from learnsim.engine.sph import wcsph_equations as eq
from learnsim.engine.sph import wcsph_forces as forces
from learnsim.engine.sph.kernels import move
from learnsim.engine.sph.parameters import WCSPH, constants
from learnsim.engine.sph.particles import ParticleState, as_vec3, check_particles, checked_time_step


def pressure_from_density(params: WCSPH, density) -> np.ndarray:
    """Tait pressure (Pa) of densities (kg/m^3), NumPy."""
    rho0, c0, gamma = params.rest_density, params.sound_speed, params.gamma
    return rho0 * c0**2 / gamma * ((np.asarray(density) / rho0) ** gamma - 1.0)


def density_from_pressure(params: WCSPH, pressure) -> np.ndarray:
    """Density (kg/m^3) at which the Tait law gives ``pressure`` (Pa), NumPy."""
    rho0, c0, gamma = params.rest_density, params.sound_speed, params.gamma
    return rho0 * (1.0 + gamma * np.asarray(pressure) / (rho0 * c0**2)) ** (1.0 / gamma)


def make_state(
    params: WCSPH,
    positions,
    wall_positions,
    velocities=None,
    densities=None,
    wall_velocities=None,
    device=None,
    requires_grad: bool = False,
    viscosity: wp.array | None = None,
) -> ParticleState:
    """The initial state, with walls extrapolated and accelerations evaluated.

    Args:
        positions: (n_fluid, dim) fluid particle positions (m).
        wall_positions: (n_wall, dim) wall particle positions (m); enough layers to fill the
            kernel support (ceil(radius / spacing)).
        velocities: (n_fluid, dim) (m/s), zero by default.
        densities: (n_fluid,) (kg/m^3), rest density by default.
        wall_velocities: (n_wall, dim) constant wall velocities (m/s), zero by default.
        device: Warp device of the arrays.
        requires_grad: allocate gradients, so that steps can be recorded on a ``wp.Tape``.
        viscosity: optional (1,) float64 array of the kinematic viscosity (m^2/s) replacing
            ``params.viscosity``; with ``requires_grad`` a tape gives its gradient.
    """
    x, xw, v, vw = check_particles(params, "sph", positions, wall_positions, velocities, wall_velocities)
    rho = np.full(len(x), params.rest_density) if densities is None else np.asarray(densities, dtype=np.float64)
    if rho.shape != (len(x),):
        raise InputError("sph: densities must match the particle count")
    if not np.all(rho > 0.0):
        raise InputError("sph: densities must be positive")
    vec = lambda a: wp.array(as_vec3(a), dtype=wp.vec3d, device=device, requires_grad=requires_grad)
    scalar = lambda a: wp.array(a, dtype=wp.float64, device=device, requires_grad=requires_grad)
    c = constants(params)
    rho_wp = scalar(rho)
    p_wp = wp.empty_like(rho_wp)
    wp.launch(eq.pressure, dim=len(x), inputs=[c, rho_wp], outputs=[p_wp], device=device)
    state = ParticleState(
        positions=vec(x),
        velocities=vec(v),
        accelerations=wp.zeros(len(x), dtype=wp.vec3d, device=device, requires_grad=requires_grad),
        densities=rho_wp,
        pressures=p_wp,
        wall_positions=vec(xw),
        wall_velocities=vec(vw),
        wall_pressures=wp.zeros(len(xw), dtype=wp.float64, device=device, requires_grad=requires_grad),
        wall_densities=scalar(np.full(len(xw), params.rest_density)),
    )
    walls, acc = forces.walls_and_accelerations(
        params,
        c,
        state.positions,
        state.velocities,
        rho_wp,
        p_wp,
        state.wall_positions,
        state.wall_velocities,
        viscosity,
    )
    return replace(state, accelerations=acc, wall_pressures=walls[0], wall_densities=walls[1])


def stable_time_step(params: WCSPH, state: ParticleState) -> float:
    """min(0.25 h / (c0 + |u|max), 0.125 h^2 / nu, 0.25 sqrt(h / |a|max)) in s."""
    h = params.h
    u_max = float(np.max(np.linalg.norm(state.velocities.numpy(), axis=1)))
    a_max = float(np.max(np.linalg.norm(state.accelerations.numpy(), axis=1)))
    dt = 0.25 * h / (params.sound_speed + u_max)
    if params.viscosity > 0.0:
        dt = min(dt, 0.125 * h * h / params.viscosity)
    if a_max > 0.0:
        dt = min(dt, 0.25 * math.sqrt(h / a_max))
    return dt


def step(
    params: WCSPH,
    state: ParticleState,
    dt: float | None = None,
    on_system: SystemCallback | None = None,
    *,
    viscosity: wp.array | None = None,
    check_stability: bool = True,
) -> ParticleState:
    """Advance ``state`` by one kick-drift-kick step of ``dt`` seconds (the stable step if None).

    The signature is ISPH's (``isph.step``), so that a caller steps either scheme alike:
    ``on_system`` is never called, since WCSPH solves no linear system.
    A ``dt`` above ``stable_time_step`` raises InputError, unless ``check_stability`` is False
    (a fixed-step rollout checked once at its start; the check reads the arrays back to the host).
    ``viscosity``: optional (1,) float64 array of the kinematic viscosity (m^2/s) replacing
    ``params.viscosity`` (differentiable on a tape; the stable step still reads ``params.viscosity``).
    """
    if dt is not None and not check_stability:
        return _step(params, state, dt, viscosity)
    return _step(params, state, checked_time_step("sph", dt, stable_time_step(params, state)), viscosity)


def _step(params: WCSPH, state: ParticleState, dt: float, viscosity: wp.array | None = None) -> ParticleState:
    c = constants(params)
    device, grad = state.positions.device, state.positions.requires_grad
    n, n_wall = state.n_fluid, len(state.wall_positions)
    half = wp.float64(0.5 * dt)

    x_half = wp.empty(n, dtype=wp.vec3d, device=device, requires_grad=grad)
    v_half = wp.empty(n, dtype=wp.vec3d, device=device, requires_grad=grad)
    wp.launch(
        eq.kick_drift,
        dim=n,
        inputs=[c, state.positions, state.velocities, state.accelerations, half, half],
        outputs=[x_half, v_half],
        device=device,
    )
    wall_half = wp.empty(n_wall, dtype=wp.vec3d, device=device, requires_grad=grad)
    wall_new = wp.empty(n_wall, dtype=wp.vec3d, device=device, requires_grad=grad)
    wp.launch(
        move,
        dim=n_wall,
        inputs=[c, state.wall_positions, state.wall_velocities, half],
        outputs=[wall_half],
        device=device,
    )
    wp.launch(
        move,
        dim=n_wall,
        inputs=[c, state.wall_positions, state.wall_velocities, wp.float64(dt)],
        outputs=[wall_new],
        device=device,
    )

    # the continuity equation sees the walls' prescribed velocities only
    walls = (wall_half, state.wall_velocities, state.wall_velocities, state.wall_densities, state.wall_pressures)
    grids = forces.neighbour_grids(params, x_half, wall_half)
    drho = forces.rates(params, c, 0, grids, x_half, v_half, state.densities, state.pressures, walls, viscosity)
    rho = wp.empty(n, dtype=wp.float64, device=device, requires_grad=grad)
    p = wp.empty(n, dtype=wp.float64, device=device, requires_grad=grad)
    wp.launch(
        eq.update_density, dim=n, inputs=[c, state.densities, drho, wp.float64(dt)], outputs=[rho, p], device=device
    )

    x_new = wp.empty(n, dtype=wp.vec3d, device=device, requires_grad=grad)
    v_tmp = wp.empty(n, dtype=wp.vec3d, device=device, requires_grad=grad)
    wp.launch(
        eq.kick_drift,
        dim=n,
        inputs=[c, x_half, v_half, v_half, wp.float64(0.0), half],
        outputs=[x_new, v_tmp],
        device=device,
    )
    walls, acc = forces.walls_and_accelerations(
        params, c, x_new, v_half, rho, p, wall_new, state.wall_velocities, viscosity
    )
    v_new = wp.empty(n, dtype=wp.vec3d, device=device, requires_grad=grad)
    x_same = wp.empty(n, dtype=wp.vec3d, device=device, requires_grad=grad)
    wp.launch(
        eq.kick_drift,
        dim=n,
        inputs=[c, x_new, v_half, acc, half, wp.float64(0.0)],
        outputs=[x_same, v_new],
        device=device,
    )
    return ParticleState(
        positions=x_new,
        velocities=v_new,
        accelerations=acc,
        densities=rho,
        pressures=p,
        wall_positions=wall_new,
        wall_velocities=state.wall_velocities,
        wall_pressures=walls[0],
        wall_densities=walls[1],
        time=state.time + dt,
    )


def advance(params: WCSPH, state: ParticleState, t_end: float, max_steps: int = 1_000_000) -> ParticleState:
    """Step with the stable time step until ``state.time`` reaches ``t_end`` (s); the last step is shortened."""
    for _ in range(max_steps):
        remaining = t_end - state.time
        if remaining <= 1e-12 * max(1.0, abs(t_end)):
            return state
        state = _step(params, state, min(stable_time_step(params, state), remaining))
    raise InputError(f"sph: t_end = {t_end} s needs more than max_steps = {max_steps} steps")
