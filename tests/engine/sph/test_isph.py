"""Incompressible SPH: input checks, the pressure systems, S2 (hydrostatic tank) and S5 (dam break).

Density errors are means of |rho_i - rho0| / rho0 over fluid particles. For ISPH, rho_i is the
kernel sum over fluid and wall particles and free-surface particles (kernel sum below 0.9 rho0)
are left out (``isph.density_error``). WCSPH carries its density by the continuity equation;
its error is measured on those densities over all fluid particles.
"""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from learnsim.core.errors import InputError
from learnsim.engine.sph import isph, wcsph
from learnsim.running.particles import build_particles
from learnsim.running.sph import make_params
from learnsim.scenes import load_scene

from ...validation.test_s5_dam_break import MARTIN_MOYCE
from .test_wcsph import lattice, layers_for, tank_walls

G = 9.81


def tank(n: int, **options):
    """ISPH params and state of an n x n column (H = 1 m) at rest in a tank n wide, n + 5 high."""
    dx = 1.0 / n
    params = isph.ISPH(dim=2, spacing=dx, gravity=(0.0, -G), **options)
    walls = tank_walls(n, n + 5, dx, layers_for(params))
    return params, isph.make_state(params, lattice(n, n, dx), walls)


def test_bad_input_is_reported():
    with pytest.raises(InputError, match="viscosity = -1"):
        isph.ISPH(dim=2, spacing=0.1, viscosity=-1.0)
    with pytest.raises(InputError, match="preconditioner 'ilu'"):
        isph.ISPH(dim=2, spacing=0.1, preconditioner="ilu")
    with pytest.raises(InputError, match="gravity"):
        isph.ISPH(dim=3, spacing=0.1)
    params = isph.ISPH(dim=2, spacing=0.1, domain=((0.0, 0.0), (1.0, 1.0)))
    with pytest.raises(InputError, match=r"positions\[1\] = \(0.5, 1.5\) is outside the domain"):
        isph.make_state(params, [[0.5, 0.5], [0.5, 1.5]], np.zeros((0, 2)))
    state = isph.make_state(params, lattice(4, 4, 0.1), np.zeros((0, 2)))
    # at rest only the force condition 0.25 sqrt(h / g) applies
    assert isph.stable_time_step(params, state) == pytest.approx(0.25 * np.sqrt(params.h / G), rel=1e-12)
    with pytest.raises(InputError, match="stable limit"):
        isph.step(params, state, 2.0 * isph.stable_time_step(params, state))


def cube_tank(n: int):
    """3D: an n^3 block of fluid in a box open at the top, walls filling the kernel support."""
    dx = 1.0 / n
    params = isph.ISPH(dim=3, spacing=dx, gravity=(0.0, -G, 0.0))
    layers = layers_for(params)
    cells = np.array(
        list(itertools.product(range(-layers, n + layers), range(-layers, n + 2), range(-layers, n + layers)))
    )
    points = (cells + 0.5) * dx
    inside_xz = np.all((cells[:, [0, 2]] >= 0) & (cells[:, [0, 2]] < n), axis=1)
    fluid = inside_xz & (cells[:, 1] >= 0) & (cells[:, 1] < n)
    wall = ~(inside_xz & (cells[:, 1] >= 0))
    return params, isph.make_state(params, points[fluid], points[wall])


@pytest.mark.parametrize("dim", [2, 3])
def test_pressure_systems_are_spd_and_solved(dim):
    """Every system handed to on_system: symmetric, positive diagonal, positive definite, |A x - b| <= tol |b|;
    the same step with Jacobi and IC(0) gives the same pressures to the solver tolerance."""
    params, state = tank(12) if dim == 2 else cube_tank(4)
    systems = []
    for _ in range(3):
        state = isph.step(params, state, on_system=systems.append)
    assert len(systems) == 3
    for system in systems:
        A, b, x = system.matrix, system.rhs, system.solution
        assert system.kind == "isph-pressure" and system.parameters["dim"] == dim
        assert isinstance(A, sp.csr_matrix) and A.shape == (len(b), len(b))
        assert abs(A - A.T).max() <= 1e-14 * abs(A).max()
        assert np.all(A.diagonal() > 0.0)
        # positive definite: Cholesky of the Jacobi-scaled matrix (walls at the edge of the
        # support have diagonals ~1e-13 of the largest, below round-off of unscaled eigenvalues)
        scaled = A.toarray() / np.sqrt(np.outer(A.diagonal(), A.diagonal()))
        np.linalg.cholesky(scaled)
        assert np.linalg.eigvalsh(scaled)[0] > 1e-4
        # CG's recursive residual may drift from the true one by about cond(A) eps
        assert np.linalg.norm(A @ x - b) <= 10.0 * params.tolerance * np.linalg.norm(b)
    pressures = {}
    for name in ("jacobi", "ic0"):
        other = isph.ISPH(**{**params.__dict__, "preconditioner": name})
        pressures[name] = isph.step(other, state).pressures.numpy().copy()
    scale = np.abs(pressures["ic0"]).max()
    assert np.abs(pressures["jacobi"] - pressures["ic0"]).max() <= 1e-6 * scale


def test_hydrostatic_tank_s2():
    """S2 with ISPH: 900 particles, H = 1 m, gravity from the start, held for 1 s.

    Free-surface particles (p = 0) sit dx / 2 below the surface, which costs about dx / (2 H)
    of the bottom pressure; the fluid also swells by the kernel-sum bias of the lattice (0.5 %).
    """
    n = 30
    params, state = tank(n)
    state = isph.advance(params, state, 1.0)
    pressure, y = state.pressures.numpy(), state.positions.numpy()[:, 1]
    reference = params.rest_density * G * (1.0 - y)
    scale = params.rest_density * G
    bottom = y < 1.0 / n
    bottom_error = abs(pressure[bottom].mean() - reference[bottom].mean()) / scale
    profile_error = np.sqrt(np.mean((pressure - reference) ** 2)) / scale
    speed = np.max(np.linalg.norm(state.velocities.numpy(), axis=1)) / np.sqrt(G)
    error = isph.density_error(params, state)
    print(
        f"ISPH S2: bottom error {bottom_error:.2e}, profile rms {profile_error:.2e},"
        f" speed {speed:.2e}, density {error:.2e}"
    )
    assert bottom_error < 0.02
    assert profile_error < 0.02
    assert speed < 5e-2
    assert error < 0.01


def isph_dam_break(n: int, t_end: float):
    """(T, Z reference, Z computed) at the Martin and Moyce times and the largest mean density error."""
    a, dx = 1.0, 1.0 / n
    params = isph.ISPH(dim=2, spacing=dx, gravity=(0.0, -G))
    state = isph.make_state(params, lattice(n, 2 * n, dx), tank_walls(6 * n, 3 * n, dx, layers_for(params)))
    worst, rows = isph.density_error(params, state), []
    for T, Z in MARTIN_MOYCE:
        if T > t_end:
            break
        while state.time < T * np.sqrt(a / (2.0 * G)) - 1e-12:
            remaining = T * np.sqrt(a / (2.0 * G)) - state.time
            state = isph.step(params, state, min(isph.stable_time_step(params, state), remaining))
            worst = max(worst, isph.density_error(params, state))
        rows.append((T, Z, (state.positions.numpy()[:, 0].max() + 0.5 * dx) / a))
    print("ISPH S5 (T, Z ref, Z):", [tuple(round(v, 3) for v in row) for row in rows], f"max density error {worst:.2e}")
    return rows, worst


def test_dam_break_isph_density_error():
    """S5 with ISPH, 800 particles to T = 2: the mean density error stays below 1 % at every step.

    The front runs ahead of the experiment (as WCSPH's does): by about 11 to 18 % here.
    """
    rows, worst = isph_dam_break(20, 2.0)
    assert worst < 0.01
    for T, Z, front in rows:
        assert Z <= front <= 1.25 * Z, (T, Z, front)


@pytest.mark.slow
def test_dam_break_wcsph_density_error():
    """WCSPH's target: mean density error below 1 % with c0 = 10 u_max (c0 = 10 sqrt(2 g H) =
    20 sqrt(g a) in the dam_break scene, u_max ~ 2 sqrt(g a), so (u / c0)^2 ~ 1 %); the built-in
    scene (800 fluid particles, alpha = 0.1) to T = 2.

    Measured: 1.9e-3 (ISPH, kernel sums: 5.9e-3, most of it the 0.5 % lattice bias of the sum).
    """
    scene = load_scene("dam_break")
    params, particles = make_params(scene), build_particles(scene)
    state = wcsph.make_state(params, particles.fluid, particles.walls)
    t_end, worst = 2.0 * np.sqrt(1.0 / (2.0 * G)), 0.0
    while state.time < t_end - 1e-12:
        state = wcsph.step(params, state, min(wcsph.stable_time_step(params, state), t_end - state.time))
        worst = max(worst, np.mean(np.abs(state.densities.numpy() / params.rest_density - 1.0)))
    print(f"WCSPH S5: max mean density error {worst:.2e}")
    assert worst < 0.01
