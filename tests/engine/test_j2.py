"""J2 elastoplasticity: a uniaxial bar through loading and unloading against the analytic bilinear
path, the permanent strain, the reverse yield of kinematic hardening, and the consistent tangent."""

import numpy as np
import pytest

from learnsim.core.mesh import box_mesh
from learnsim.engine.fem.assembly import assemble_boundary_value
from learnsim.engine.fem.boundary import boundary_sides, make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import J2Plasticity
from learnsim.engine.fem.statics import solve_nonlinear_static

E, NU, SIGMA_Y, H, H_KIN = 200e3, 0.3, 250.0, 10e3, 5e3


def _bar(dim: int):
    disc = discretize(box_mesh([1.0] * dim, [2] * dim, "hex" if dim == 3 else "quad"), 1, components=dim)
    x = disc.node_positions
    symmetry = [(np.isclose(x[:, d], 0.0), [d], 0.0) for d in range(dim)]
    return disc, x, symmetry


def _solve(disc, material, load, bc, start):
    return solve_nonlinear_static(disc, material, None, load, bc, "jacobi", 1e-13, None, 1e-12, 30, 2, start=start)


def test_uniaxial_bar_follows_the_bilinear_path_and_keeps_the_exact_permanent_strain():
    disc, x, symmetry = _bar(3)
    material = J2Plasticity(E, NU, SIGMA_Y, H, H_KIN)
    bc = make_dirichlet(disc, symmetry)
    end, _ = boundary_sides(disc, lambda c: np.isclose(c[:, 0], 1.0))
    result = None
    plastic = H + H_KIN
    for stress in (200.0, 280.0, 100.0, 0.0):  # elastic, plastic, unloading, unloaded (force control)
        load = assemble_boundary_value(disc, end, [stress, 0.0, 0.0])
        result = _solve(disc, material, load, bc, result)
        strain = result.u[np.isclose(x[:, 0], 1.0), 0].mean()
        eps_p = max(280.0 - SIGMA_Y, 0.0) / plastic if stress != 200.0 else 0.0
        expected = stress / E + eps_p
        assert strain == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # after unloading to zero force only the plastic strain is left: (sigma_max - sigma_y) / (H + H_kin)
    assert abs(strain - 30.0 / plastic) < 1e-10
    alpha = material.internal_variables(disc, result.history)["equivalent_plastic_strain"]
    np.testing.assert_allclose(alpha, 30.0 / plastic, rtol=1e-9)


def test_reverse_yield_of_kinematic_hardening_under_uniaxial_strain_in_plane_strain():
    """Uniaxial strain (u_y = 0) in 2D: the closed-form radial return, loading then reversed."""
    disc, x, symmetry = _bar(2)
    material = J2Plasticity(E, NU, SIGMA_Y, H, H_KIN)
    lam, mu = E * NU / ((1 + NU) * (1 - 2 * NU)), E / (2 * (1 + NU))
    bulk, root = lam + 2 * mu / 3, np.sqrt(2.0 / 3.0)
    result = None
    end, _ = boundary_sides(disc, lambda c: np.isclose(c[:, 0], 1.0))
    e_max = 0.004
    gamma = (2 * mu * e_max * root - root * SIGMA_Y) / (2 * mu + 2 * (H + H_KIN) / 3)
    s_max = 2 * mu * (e_max * root - gamma) * root  # deviatoric sigma_xx at the peak
    for e in (0.001, e_max, e_max - 0.001):
        bc = make_dirichlet(disc, [*symmetry, (np.ones(len(x), bool), [1], 0.0), (np.isclose(x[:, 0], 1.0), [0], e)])
        result = _solve(disc, material, disc.zeros(), bc, result)
        force = material.internal_force(disc, disc.nodal(result.u), material.parameters(disc), history=result.history)
        sigma_xx = force.numpy()[np.isclose(x[:, 0], 1.0), 0].sum()
        if e == 0.001:
            expected = (lam + 2 * mu) * e
        elif e == e_max:
            expected = bulk * e + s_max
        else:  # elastic unloading from the peak
            expected = bulk * e_max + s_max - (lam + 2 * mu) * 0.001
        assert sigma_xx == pytest.approx(expected, rel=1e-9)
    assert end is not None


@pytest.mark.parametrize("dim", [2, 3])
def test_consistent_tangent_matches_finite_differences_of_the_internal_force(dim):
    rng = np.random.default_rng(dim)
    disc = discretize(box_mesh([1.0] * dim, [2] * dim, "hex" if dim == 3 else "quad"), 1, components=dim)
    material = J2Plasticity(E, NU, SIGMA_Y, H, H_KIN)
    params = material.parameters(disc)
    x = disc.node_positions
    u = 0.004 * x * (1.0 + 0.3 * np.sin(3.0 * x[:, ::-1]))  # yields everywhere, non-uniformly
    history = material.updated_history(disc, disc.nodal(0.6 * u), params, material.initial_history(disc))
    assert material.internal_variables(disc, history)["equivalent_plastic_strain"].max() > 0.0
    du = rng.standard_normal(u.shape)
    K = material.tangent(disc, disc.nodal(u), params, history=history)
    from learnsim.engine.solvers import bsr_to_csr

    Kdu = bsr_to_csr(K) @ du.reshape(-1)
    h = 1e-7

    def force(v):
        return material.internal_force(disc, disc.nodal(v), params, history=history).numpy().reshape(-1)

    fd = (force(u + h * du) - force(u - h * du)) / (2 * h)
    assert np.linalg.norm(Kdu - fd) <= 1e-6 * np.linalg.norm(fd)
