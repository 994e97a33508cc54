"""F3: 3D cantilever 10 x 1 x 1, E = 1000, nu = 0, unit tip shear, clamped at x = 0.

Reference tip deflection: Euler-Bernoulli P L^3 / (3 E I) = 4.000; with Timoshenko shear
P L / (kappa G A), kappa = 5/6: 4.024. Q2 hexes and P2 tets at 20x2x2 must be within 0.5% of
4.024; P1 tets lock (far too stiff) and refinement reduces the error.
"""

import numpy as np
import pytest

from learnsim.running.run import run_scene
from learnsim.scenes import load_scene

TIMOSHENKO = 4.0 + 1.0 * 10.0 / (5.0 / 6.0 * 500.0 * 1.0)  # 4.024


def tip_deflection(*overrides):
    result = run_scene(load_scene("cantilever", list(overrides)))
    X = result.discretization.node_positions
    return -result.solution.u[np.isclose(X[:, 0], 10.0), 1].mean()


def test_reference_value():
    assert TIMOSHENKO == pytest.approx(4.024)


@pytest.mark.parametrize("element", ["hex", "tet"])
def test_quadratic_elements_within_half_percent(element):
    tip = tip_deflection(f"mesh.element={element}", "mesh.order=2")
    assert tip == pytest.approx(TIMOSHENKO, rel=5e-3), f"{element} order 2: tip {tip:.5f}"


def test_linear_tets_lock_and_refinement_reduces_it():
    coarse = tip_deflection("mesh.element=tet", "mesh.order=1")
    fine = tip_deflection("mesh.element=tet", "mesh.order=1", "mesh.cells=[40,4,4]")
    coarse_error, fine_error = coarse / TIMOSHENKO - 1.0, fine / TIMOSHENKO - 1.0
    message = f"P1 tet tip: 20x2x2 {coarse:.4f} ({coarse_error:+.1%}), 40x4x4 {fine:.4f} ({fine_error:+.1%})"
    assert coarse_error < -0.25, message  # locks: far too stiff
    assert fine_error < 0 and abs(fine_error) < 0.6 * abs(coarse_error), message
