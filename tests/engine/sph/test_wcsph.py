"""Weakly compressible SPH: input checks, the step signature, S2 (hydrostatic tank), S3/S4 (channel start-up),
S8 (rollout gradients).

S5 (dam break) runs the built-in scene, in tests/validation/test_s5_dam_break.py.
"""

import dataclasses
import itertools

import numpy as np
import pytest
import warp as wp

from learnsim.core.errors import InputError
from learnsim.engine.sph import wcsph
from learnsim.engine.sph.particles import ParticleState

G = 9.81


def lattice(nx: int, ny: int, dx: float) -> np.ndarray:
    """Cell-centred (nx * ny, 2) lattice filling [0, nx dx] x [0, ny dx]."""
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    return np.stack([(i.ravel() + 0.5) * dx, (j.ravel() + 0.5) * dx], axis=1)


def tank_walls(nx: int, ny: int, dx: float, layers: int) -> np.ndarray:
    """Wall particles of an open-topped tank [0, nx dx] x [0, ny dx]: bottom and both sides."""
    i, j = np.meshgrid(np.arange(-layers, nx + layers), np.arange(-layers, ny), indexing="ij")
    points = np.stack([(i.ravel() + 0.5) * dx, (j.ravel() + 0.5) * dx], axis=1)
    inside = (points[:, 0] > 0.0) & (points[:, 0] < nx * dx) & (points[:, 1] > 0.0)
    return points[~inside]


def layers_for(params: wcsph.WCSPH) -> int:
    return int(np.ceil(params.radius / params.spacing))


def test_bad_input_is_reported():
    with pytest.raises(InputError, match="viscosity = -1"):
        wcsph.WCSPH(dim=2, spacing=0.1, sound_speed=10.0, viscosity=-1.0)
    with pytest.raises(InputError, match="spacing 2.0 is larger than the domain"):
        wcsph.WCSPH(dim=2, spacing=2.0, sound_speed=10.0, domain=((0.0, 0.0), (1.0, 1.0)))
    with pytest.raises(InputError, match="gravity"):
        wcsph.WCSPH(dim=3, spacing=0.1, sound_speed=10.0, gravity=(0.0, -9.81))
    with pytest.raises(InputError, match="kernel 'gauss'"):
        wcsph.WCSPH(dim=2, spacing=0.1, sound_speed=10.0, kernel="gauss")
    params = wcsph.WCSPH(dim=2, spacing=0.1, sound_speed=10.0, domain=((0.0, 0.0), (1.0, 1.0)))
    with pytest.raises(InputError, match=r"positions\[1\] = \(0.5, 1.5\) is outside the domain"):
        wcsph.make_state(params, [[0.5, 0.5], [0.5, 1.5]], np.zeros((0, 2)))
    state = wcsph.make_state(params, lattice(4, 4, 0.1), np.zeros((0, 2)))
    stable = wcsph.stable_time_step(params, state)
    # at rest: the force condition 0.25 sqrt(h / g) and CFL 0.25 h / c0; CFL is the smaller here
    assert stable == pytest.approx(min(0.25 * params.h / 10.0, 0.25 * np.sqrt(params.h / G)), rel=1e-12)
    with pytest.raises(InputError, match="above|stable limit"):
        wcsph.step(params, state, 2.0 * stable)


def test_step_takes_the_isph_signature():
    """step(params, state, dt=None, on_system=None) as in ISPH, so a caller steps either scheme alike:
    on_system is never called (WCSPH solves no linear system); viscosity and check_stability are
    keyword-only. The state is ISPH's ParticleState, without its free-surface flags."""
    params = wcsph.WCSPH(dim=2, spacing=0.1, sound_speed=10.0)
    state = wcsph.make_state(params, lattice(4, 4, 0.1), tank_walls(4, 6, 0.1, layers_for(params)))
    systems = []
    after = wcsph.step(params, state, None, systems.append)
    assert systems == [] and after.time == wcsph.stable_time_step(params, state)
    assert isinstance(after, ParticleState) and after.free_surface is None
    assert len(after.wall_densities) == len(after.wall_positions) == len(state.wall_positions)
    with pytest.raises(TypeError):
        wcsph.step(params, state, None, None, None)


def test_hydrostatic_tank_s2():
    """S2: 900 particles, H = 1 m; gravity ramped in over 0.4 s, then held for 0.4 s.

    c0 = 10 sqrt(g H) makes the column ring with period 4 H / c0 (0.13 s) and tiny velocities
    (Delta p = rho c0 |u|), so pressures are averaged over the last two periods.
    """
    n, height = 30, 1.0
    dx = height / n
    params = wcsph.WCSPH(
        dim=2, spacing=dx, sound_speed=10.0 * np.sqrt(G * height), gravity=(0.0, -G), artificial_viscosity=0.1
    )
    state = wcsph.make_state(params, lattice(n, n, dx), tank_walls(n, n + 5, dx, layers_for(params)))
    ramp, hold = 0.4, 0.4
    period = 4.0 * height / params.sound_speed
    pressure_sum, weight_sum, y_sum = 0.0, 0.0, 0.0
    while state.time < ramp + hold:
        ramped = 0.5 * (np.sin((min(state.time / ramp, 1.0) - 0.5) * np.pi) + 1.0)
        dt = wcsph.stable_time_step(params, state)
        state = wcsph.step(dataclasses.replace(params, gravity=(0.0, -G * ramped)), state, dt)
        if state.time > ramp + hold - 2.0 * period:
            pressure_sum = pressure_sum + dt * state.pressures.numpy()
            y_sum = y_sum + dt * state.positions.numpy()[:, 1]
            weight_sum += dt
    pressure, y = pressure_sum / weight_sum, y_sum / weight_sum
    reference = params.rest_density * G * (height - y)
    scale = params.rest_density * G * height
    bottom = y < dx
    bottom_error = abs(pressure[bottom].mean() - reference[bottom].mean()) / scale
    profile_error = np.sqrt(np.mean((pressure - reference) ** 2)) / scale
    speed = np.max(np.linalg.norm(state.velocities.numpy(), axis=1)) / np.sqrt(G * height)
    print(f"S2: bottom pressure error {bottom_error:.2e}, profile rms {profile_error:.2e}, speed {speed:.2e}")
    assert bottom_error < 0.02
    assert profile_error < 0.02
    assert speed < 1e-2


# S3 / S4 in the non-dimensional form of Morris, Fox and Zhu (1997): channel width L = 1,
# rho = 1, nu = 100; Poiseuille driven by F = 1000, Couette by a top wall at V0 = 1.25.
L, NU, F, V0 = 1.0, 100.0, 1000.0, 1.25
U_MAX = F * L**2 / (8.0 * NU)


def channel(body_force: float, top_wall_speed: float):
    """Params and initial state of a channel periodic in x: 30 particles across, 8 columns.

    The quintic spline with h = dx is the kernel of Morris et al.
    """
    ny, columns = 30, 8
    dx = L / ny
    layers = 3
    params = wcsph.WCSPH(
        dim=2,
        spacing=dx,
        sound_speed=10.0 * U_MAX,
        rest_density=1.0,
        viscosity=NU,
        gravity=(body_force, 0.0),
        kernel="quintic",
        h_over_spacing=1.0,
        domain=((0.0, -layers * dx), (columns * dx, L + layers * dx)),
        periodic=(True, False),
    )
    i, j = np.meshgrid(np.arange(columns), np.arange(-layers, ny + layers), indexing="ij")
    points = np.stack([(i.ravel() + 0.5) * dx, (j.ravel() + 0.5) * dx], axis=1)
    is_wall = (points[:, 1] < 0.0) | (points[:, 1] > L)
    walls = points[is_wall]
    wall_velocities = np.where(walls[:, 1:] > L, [[top_wall_speed, 0.0]], [[0.0, 0.0]])
    return params, wcsph.make_state(params, points[~is_wall], walls, wall_velocities=wall_velocities)


def poiseuille(y, t):
    u = F / (2.0 * NU) * y * (L - y)
    for n in range(100):
        k = 2 * n + 1
        u -= (
            4.0
            * F
            * L**2
            / (NU * np.pi**3 * k**3)
            * np.sin(k * np.pi * y / L)
            * np.exp(-(k**2) * np.pi**2 * NU * t / L**2)
        )
    return u


def couette(y, t):
    u = V0 * y / L
    for n in range(1, 200):
        u += 2.0 * V0 / (n * np.pi) * (-1) ** n * np.sin(n * np.pi * y / L) * np.exp(-(n**2) * np.pi**2 * NU * t / L**2)
    return u


@pytest.mark.parametrize("case", ["poiseuille", "couette"])
def test_channel_start_up_s3_s4(case):
    """S3 and S4: velocity profiles against the series solutions, atol 1e-2 u_max, t = 5e-4, 1e-3, 5e-3."""
    params, state = channel(F, 0.0) if case == "poiseuille" else channel(0.0, V0)
    exact = poiseuille if case == "poiseuille" else couette
    for t in (5e-4, 1e-3, 5e-3):
        state = wcsph.advance(params, state, t)
        x, v = state.positions.numpy(), state.velocities.numpy()
        error = np.max(np.abs(v[:, 0] - exact(x[:, 1], t))) / U_MAX
        print(f"{case} t = {t:.0e}: max |u - u_exact| / u_max = {error:.2e}")
        assert error < 1e-2
        assert np.max(np.abs(v[:, 1])) < 1e-3 * U_MAX


@pytest.mark.parametrize("dim", [2, 3])
def test_hydrostatic_layer_periodic_2d_3d(dim):
    """S2 on a layer periodic across (one code path for 2D and 3D): 12 particles deep, 6 wide."""
    n, columns, layers, height = 12, 6, 3, 1.0
    dx = height / n
    lower, upper, gravity = [0.0] * dim, [columns * dx] * dim, [0.0] * dim
    lower[1], upper[1], gravity[1] = -layers * dx, 2.0 * height, -G
    params = wcsph.WCSPH(
        dim=dim,
        spacing=dx,
        sound_speed=10.0 * np.sqrt(G * height),
        gravity=tuple(gravity),
        artificial_viscosity=0.1,
        domain=(tuple(lower), tuple(upper)),
        periodic=tuple(axis != 1 for axis in range(dim)),
    )

    def block(heights):
        axes = [range(columns) if axis != 1 else heights for axis in range(dim)]
        return (np.array(list(itertools.product(*axes)), dtype=float) + 0.5) * dx

    state = wcsph.make_state(params, block(range(n)), block(range(-layers, 0)))
    ramp, period = 0.3, 4.0 * height / params.sound_speed
    pressure_sum, y_sum, weight_sum = 0.0, 0.0, 0.0
    while state.time < 2.0 * ramp:
        ramped = 0.5 * (np.sin((min(state.time / ramp, 1.0) - 0.5) * np.pi) + 1.0)
        dt = wcsph.stable_time_step(params, state)
        state = wcsph.step(dataclasses.replace(params, gravity=tuple(ramped * g for g in gravity)), state, dt)
        if state.time > 2.0 * ramp - 2.0 * period:
            pressure_sum = pressure_sum + dt * state.pressures.numpy()
            y_sum = y_sum + dt * state.positions.numpy()[:, 1]
            weight_sum += dt
    pressure, y = pressure_sum / weight_sum, y_sum / weight_sum
    reference = params.rest_density * G * (height - y)
    scale = params.rest_density * G * height
    bottom = y < dx
    assert abs(pressure[bottom].mean() - reference[bottom].mean()) / scale < 0.02
    assert np.sqrt(np.mean((pressure - reference) ** 2)) / scale < 0.02
    assert np.max(np.linalg.norm(state.velocities.numpy(), axis=1)) / np.sqrt(G * height) < 1e-2


@wp.kernel
def _weighted_sum(x: wp.array(dtype=wp.vec3d), weights: wp.array(dtype=wp.vec3d), out: wp.array(dtype=wp.float64)):
    i = wp.tid()
    wp.atomic_add(out, 0, wp.dot(x[i], weights[i]))


@pytest.mark.parametrize("periodic", [False, True])
def test_rollout_gradient_matches_central_differences(periodic):
    """d(w . x after 40 steps) / d(initial velocities) along a random direction, against central differences."""
    dx, columns, rows = 0.1, 8, 5
    params = wcsph.WCSPH(
        dim=2,
        spacing=dx,
        sound_speed=20.0,
        gravity=(0.0, -G),
        viscosity=1e-3,
        artificial_viscosity=0.05,
        domain=((0.0, -1.0), (columns * dx, 1.0)) if periodic else None,
        periodic=(True, False) if periodic else None,
    )
    rng = np.random.default_rng(1)
    walls = lattice(columns, 3, dx) - [0.0, 3 * dx]
    velocities = 0.3 * rng.standard_normal((columns * rows, 2))
    state = wcsph.make_state(params, lattice(columns, rows, dx), walls, velocities=velocities, requires_grad=True)
    dt = 0.5 * wcsph.stable_time_step(params, state)
    weights = wp.array(np.pad(rng.standard_normal((columns * rows, 2)), ((0, 0), (0, 1))), dtype=wp.vec3d)

    def objective(start):
        for _ in range(40):
            start = wcsph.step(params, start, dt)
        out = wp.zeros(1, dtype=wp.float64, requires_grad=True)
        wp.launch(_weighted_sum, dim=len(weights), inputs=[start.positions, weights], outputs=[out])
        return out

    tape = wp.Tape()
    with tape:
        out = objective(state)
    tape.backward(loss=out)
    direction = np.pad(rng.standard_normal((columns * rows, 2)), ((0, 0), (0, 1)))
    derivative = np.sum(state.velocities.grad.numpy() * direction)
    eps = 1e-6

    def perturbed(sign):
        v = wp.array(state.velocities.numpy() + sign * eps * direction, dtype=wp.vec3d)
        return objective(dataclasses.replace(state, velocities=v)).numpy()[0]

    central = (perturbed(1.0) - perturbed(-1.0)) / (2.0 * eps)
    print(f"periodic={periodic}: tape {derivative:.10e}, central differences {central:.10e}")
    assert abs(derivative - central) <= 1e-6 * abs(central)
