"""Time integration (learnsim.engine.integrate) against closed-form answers, in fp64 on CPU.

Beam: a 2D cantilever 4 x 0.5, Q2 8 x 1, E = 1000, nu = 0.3 (plane strain), rho = 1, whose
first bending period is 6.004 s (generalised eigenvalues of K and M; Euler-Bernoulli with
E / (1 - nu^2) gives 5.976 s). Bar and strip: 1 x 0.1, Q2 20 x 1, reduced to 1D (axial
motion only; temperature varying along x only).
"""

import numpy as np
import pytest
import warp as wp

from learnsim.core.errors import InputError
from learnsim.core.mesh import box_mesh
from learnsim.engine.fem.boundary import make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import Conduction, LinearElastic, NeoHookean
from learnsim.engine.integrate import (
    SCHEMES,
    energies,
    initial_state,
    lumped_mass,
    make_body,
    stable_time_step,
    step,
    stiffness_matrix,
)
from learnsim.engine.solvers import bsr_to_csr
from learnsim.engine.solvers.newton import NewtonReport
from learnsim.scenes.specs import INTEGRATORS

DEVICE = "cpu"
BEAM_PERIOD = 6.004  # s, FE first period of the 8 x 1 Q2 beam (6.028 at 16 x 2, 5.976 Euler-Bernoulli)


def _beam(mass: str, model: str = "linear", cells=(8, 1), size=(4.0, 0.5), E: float = 1000.0):
    mesh = box_mesh(list(size), list(cells), "quad")
    disc = discretize(mesh, 2, components=2, device=DEVICE)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, np.zeros(2))])
    law = NeoHookean(E, 0.3) if model == "neo-hookean" else LinearElastic(E, 0.3)
    return make_body(disc, law, 1.0, bc, mass, preconditioner="amg", tol=1e-12, newton_tol=1e-10)


def _released(body, speed: float = 0.1):
    """The beam at rest in its reference shape, set moving with v_y = speed (x / L)^2 (near mode 1)."""
    x = body.disc.node_positions
    v0 = np.zeros((body.disc.n_nodes, 2))
    v0[:, 1] = speed * (x[:, 0] / x[:, 0].max()) ** 2
    zero = np.zeros_like(v0)
    return initial_state(body, zero, v0, zero), zero


def _rollout(body, state, dt: float, steps: int, scheme: str, f, **kwargs):
    """States after each step (the initial one first)."""
    states = [state]
    for _ in range(steps):
        states.append(step(body, states[-1], dt, scheme, f, f, **kwargs))
    return states


def _total(body, states) -> np.ndarray:
    return np.array([sum(energies(body, s)) for s in states])


def test_integrators_known_to_scenes_are_the_engine_schemes():
    assert INTEGRATORS == SCHEMES == ("explicit", "implicit-euler", "newmark")


def test_newmark_conserves_energy_over_three_periods():
    """Average acceleration conserves K + V exactly for linear elasticity: drift <= 1e-8 (measured 2e-12)."""
    body = _beam("consistent")
    state, f = _released(body)
    states = _rollout(body, state, BEAM_PERIOD / 15, 45, "newmark", f)
    energy = _total(body, states)
    assert energy[0] == pytest.approx(0.5 * 0.1**2 * 0.5 * 4 / 5, rel=1e-12)  # 1/2 rho int v^2 dA = 0.002 J
    assert np.abs(energy / energy[0] - 1).max() < 1e-8
    kinetic = np.array([energies(body, s)[0] for s in states])
    assert kinetic.min() < 0.05 * energy[0]  # it does turn into strain energy (a quarter period in)


def test_stable_time_step_is_just_below_the_critical_step():
    """2 / omega_max from the dense generalised eigenproblem with the lumped mass: 4.781e-3 s;
    stable_time_step returns 0.95 of its (power-iteration) estimate: 4.542e-3 s."""
    body = _beam("lumped")
    K = bsr_to_csr(stiffness_matrix(body)).toarray()
    free = body.free.ravel()
    m = lumped_mass(body).ravel()[free]
    K = K[np.ix_(free, free)]
    omega_max = np.sqrt(np.linalg.eigvalsh(K / np.sqrt(np.outer(m, m))).max())
    critical = 2.0 / omega_max
    limit = stable_time_step(body)
    assert critical == pytest.approx(4.781e-3, rel=1e-3)
    assert 0.93 * critical < limit < critical


def test_explicit_is_stable_below_the_limit_and_blows_up_above():
    body = _beam("lumped")
    limit = stable_time_step(body)
    state, f = _released(body)

    below = _total(body, _rollout(body, state, 0.9 * limit, 200, "explicit", f))
    assert np.abs(below / below[0] - 1).max() < 1e-2

    above = _total(body, _rollout(body, state, 1.1 * limit, 200, "explicit", f))
    assert not np.all(np.isfinite(above)) or above[-1] > 1e6 * above[0]


def test_explicit_step_guard_names_the_limit():
    body = _beam("lumped")
    limit = stable_time_step(body)
    state, f = _released(body)
    step(body, state, 0.99 * limit, "explicit", f, f, dt_limit=limit)
    with pytest.raises(InputError, match=f"above the explicit stability limit {limit:.4g} s"):
        step(body, state, 1.1 * limit, "explicit", f, f, dt_limit=limit)


def test_implicit_euler_dissipates_energy_at_every_step():
    body = _beam("consistent")
    state, f = _released(body)
    energy = _total(body, _rollout(body, state, BEAM_PERIOD / 20, 30, "implicit-euler", f))
    assert np.all(np.diff(energy) < 0)
    assert energy[-1] < 0.5 * energy[0]  # first order: strong numerical damping at T / 20


def _axial_bar():
    """Fixed-free bar 1 x 0.1, E = 1, nu = 0, rho = 1: u_x only (u_y held at every node)."""
    mesh = box_mesh([1.0, 0.1], [20, 1], "quad")
    disc = discretize(mesh, 2, components=2, device=DEVICE)
    x = disc.node_positions
    bc = make_dirichlet(disc, [(np.ones(disc.n_nodes, dtype=bool), [1], 0.0), (x[:, 0] < 1e-9, None, np.zeros(2))])
    return disc, bc


def _zero_crossings(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Times where y changes sign, by linear interpolation between samples."""
    i = np.nonzero(np.sign(y[:-1]) * np.sign(y[1:]) < 0)[0]
    return t[i] - y[i] * (t[i + 1] - t[i]) / (y[i + 1] - y[i])


@pytest.mark.parametrize("scheme, mass", [("newmark", "consistent"), ("explicit", "lumped")])
def test_axial_bar_period(scheme, mass):
    """First axial mode of a fixed-free bar: T = 4 L / sqrt(E / rho) = 4 s. Released with v = sin(pi x / 2L),
    the tip's zero crossings are half a period apart (measured 4.005 Newmark at dt = T / 50, 3.99996 explicit
    at half the stable step: 2% allowed)."""
    disc, bc = _axial_bar()
    body = make_body(disc, LinearElastic(1.0, 0.0), 1.0, bc, mass, preconditioner="amg", tol=1e-12)
    x = disc.node_positions
    v0 = np.zeros((disc.n_nodes, 2))
    v0[:, 0] = np.sin(np.pi * x[:, 0] / 2)
    zero = np.zeros_like(v0)
    dt = 0.08 if scheme == "newmark" else 0.5 * stable_time_step(body)
    steps = int(np.ceil(5.2 / dt))  # past the crossings at 2 and 4 s
    states = _rollout(body, initial_state(body, zero, v0, zero), dt, steps, scheme, zero)
    tip = np.argmax(x[:, 0] + x[:, 1])
    crossings = _zero_crossings(dt * np.arange(steps + 1), np.array([s.u[tip, 0] for s in states]))
    crossings = crossings[crossings > 1e-9]
    assert len(crossings) == 2
    period = 2 * (crossings[1] - crossings[0])
    assert period == pytest.approx(4.0, rel=2e-2)
    assert crossings[0] == pytest.approx(2.0, rel=2e-2)


def _strip(left: float, right: float | None):
    """Heat strip 1 x 0.1, Q2 20 x 1, k = 1, rho c = 1: T fixed at x = 0 (and at x = 1 unless right is None)."""
    mesh = box_mesh([1.0, 0.1], [20, 1], "quad")
    disc = discretize(mesh, 2, components=1, device=DEVICE)
    x = disc.node_positions[:, 0]
    constraints = [(x < 1e-9, None, np.array([left]))]
    if right is not None:
        constraints.append((x > 1 - 1e-9, None, np.array([right])))
    return disc, make_dirichlet(disc, constraints)


@pytest.mark.parametrize("scheme, tolerance", [("implicit-euler", 3e-2), ("newmark", 1e-3)])
def test_heat_first_mode_decay(scheme, tolerance):
    """T0 = sin(pi x) with T = 0 at both ends decays as exp(-k pi^2 t / (rho c L^2)) = exp(-9.87 t).
    Over 40 steps of 0.005 s the measured amplitude follows each scheme's own amplification factor,
    1 / (1 + l dt) (implicit Euler) and (1 - l dt / 2) / (1 + l dt / 2) (Crank-Nicolson), to 1e-5
    (measured 2e-6), and the measured rate is the exact pi^2 within 3% (implicit Euler, first order:
    measured -2.4%) and 1e-3 (Crank-Nicolson: measured +2e-4)."""
    disc, bc = _strip(0.0, 0.0)
    body = make_body(disc, Conduction(1.0), 1.0, bc, "consistent", preconditioner="amg", tol=1e-12)
    x = disc.node_positions[:, 0]
    t0 = np.sin(np.pi * x)
    zero = np.zeros_like(t0)
    dt, steps = 0.005, 40
    states = _rollout(body, initial_state(body, t0, zero, zero), dt, steps, scheme, zero)
    middle = np.argmin(np.abs(x - 0.5) + np.abs(disc.node_positions[:, 1]))
    amplitude = np.array([s.u[middle] for s in states]) / t0[middle]
    lam = np.pi**2
    factor = 1 / (1 + lam * dt) if scheme == "implicit-euler" else (1 - lam * dt / 2) / (1 + lam * dt / 2)
    n = np.arange(steps + 1)
    np.testing.assert_allclose(amplitude, factor**n, rtol=1e-5)
    rate = -np.log(amplitude[-1]) / (steps * dt)
    assert rate == pytest.approx(lam, rel=tolerance)
    # the shape stays sin(pi x)
    np.testing.assert_allclose(states[-1].u, amplitude[-1] * t0, atol=1e-4 * amplitude[-1])


def test_heat_converges_to_the_steady_solution():
    """T = 0 at x = 0, T = 1 at x = 1, starting cold: T(x, t) -> x (to 1e-6 after 40 implicit Euler steps of 0.05 s)."""
    disc, bc = _strip(0.0, 1.0)
    body = make_body(disc, Conduction(1.0), 1.0, bc, "consistent", preconditioner="amg", tol=1e-12)
    zero = np.zeros(disc.n_nodes)
    states = _rollout(body, initial_state(body, zero, zero, zero), 0.05, 40, "implicit-euler", zero)
    x = disc.node_positions[:, 0]
    assert states[0].u[x > 1 - 1e-9] == pytest.approx(1.0)  # Dirichlet values from the start
    assert np.abs(states[5].u - x).max() > 1e-2  # still on its way
    np.testing.assert_allclose(states[-1].u, x, atol=1e-6)
    assert np.abs(states[-1].v).max() < 1e-5  # dT/dt -> 0


def test_neo_hookean_steps_converge_and_match_linear_at_small_amplitude():
    """A 1 x 1 block, Q2 2 x 2, E = 100: at a tip speed of 1 (displacements ~ 0.06) Newmark's Newton converges in
    3 iterations a step and keeps the energy to 1e-3 (measured 5e-5); at 1e-5 it follows the linear law to 1e-4."""
    results = {}
    for model in ("neo-hookean", "linear"):
        for speed in (1.0, 1e-5):
            body = _beam("consistent", model, cells=(2, 2), size=(1.0, 1.0), E=100.0)
            state, f = _released(body, speed)
            iterations = []
            states = [state]
            for _ in range(5):
                report = NewtonReport()
                states.append(step(body, states[-1], 0.02, "newmark", f, f, report=report))
                iterations.append(len(report.solves))
            results[model, speed] = (body, states, iterations)

    body, states, iterations = results["neo-hookean", 1.0]
    assert all(2 <= n <= 8 for n in iterations)
    energy = _total(body, states)
    assert np.abs(energy / energy[0] - 1).max() < 1e-3
    assert np.abs(states[-1].u).max() > 0.05  # large enough to be nonlinear

    nonlinear, linear = results["neo-hookean", 1e-5][1][-1].u, results["linear", 1e-5][1][-1].u
    np.testing.assert_allclose(nonlinear, linear, atol=1e-4 * np.abs(linear).max())
    # and at large amplitude the laws differ
    big_nonlinear, big_linear = results["neo-hookean", 1.0][1][-1].u, results["linear", 1.0][1][-1].u
    assert np.abs(big_nonlinear - big_linear).max() > 1e-3 * np.abs(big_linear).max()


def test_float64_throughout():
    body = _beam("lumped")
    assert body.density.dtype == wp.float64
    state, _ = _released(body)
    assert state.u.dtype == state.v.dtype == state.a.dtype == np.float64


def test_p2_tet_lumped_mass_is_positive_and_density_gradients_refuse_hrz():
    """Row sums of a P2 tet mass are not positive, so HRZ lumping is used: positive, total mass kept;
    the density adjoint assumes row sums and must refuse rather than return a wrong gradient."""
    from learnsim.core.errors import EngineError
    from learnsim.engine import integrate
    from learnsim.engine.adjoint import mass_vjp

    disc = discretize(box_mesh([1.0, 1.0, 1.0], [1, 1, 1], "tet"), order=2, components=3)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, 0.0)])
    body = integrate.make_body(disc, LinearElastic(1.0, 0.3), 2.0, bc, mass="lumped", parameters=(1.0, 1.0))
    assert integrate.lumped_mass_is_hrz(body)
    m = integrate.lumped_mass(body)
    assert m.min() > 0.0 and m[:, 0].sum() == pytest.approx(2.0, rel=1e-12)  # density 2 x unit volume
    with pytest.raises(EngineError, match="HRZ"):
        mass_vjp(body, np.ones_like(m), np.ones_like(m))
