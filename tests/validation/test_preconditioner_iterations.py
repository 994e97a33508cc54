"""IC(0) and AMG reduce CG iterations against Jacobi, on two problems built through the scene API.

- The built-in 3D cantilever: Q2 hexes 20 x 2 x 2, E = 1000, nu = 0, unit tip shear, tol 1e-10. Its tip
  deflection is 4.024 (Timoshenko, see cantilever.toml); every preconditioner must give it within 0.5%.
- 2D Poisson on the unit square, 48 x 48 Q1 quads, conductivity 1 or 1000 on a 4 x 4 checkerboard,
  T = 0 at x = 0 and T = 1 at x = 1, tol 1e-8.

Measured on CPU (CG iterations, jacobi / ic0 / amg): cantilever 182 / 103 / 32 (IC(0) in the natural
numbering: 185), Poisson 160 / 48 / 10 (natural numbering: 48 too, a Q1 grid is already well ordered).
"""

import numpy as np
import pytest

from learnsim.running.run import run_scene
from learnsim.scenes import load_scene, scene_from_dict

DEVICE = "cpu"
PRECONDITIONERS = ("jacobi", "ic0", "amg")
TIP_DEFLECTION = 4.024
"""Timoshenko tip deflection of the cantilever, m (cantilever.toml)."""
TIP_RTOL = 5e-3
SOLUTION_RTOL = 1e-6
"""Solutions of the three preconditioners agree to this, relative in the 2-norm (far above the CG tolerances)."""

# sin(4 pi x) sin(4 pi y) changes sign on the lines x, y = k / 4: a 4 x 4 checkerboard whose edges
# fall on cell edges of the 48 x 48 mesh, so no quadrature point sees both conductivities.
CHECKERBOARD_POISSON = {
    "scene": {"name": "checkerboard_poisson", "kind": "diffusion", "dim": 2},
    "mesh": {"generator": "box", "size": [1.0, 1.0], "cells": [48, 48], "element": "quad", "order": 1},
    "material": {"conductivity": "1 + 999 * (sin(4 * pi * x) * sin(4 * pi * y) > 0)"},
    "bc": [
        {"type": "fixed", "region": "x < 1e-9", "value": 0.0},
        {"type": "fixed", "region": "x > 1 - 1e-9", "value": 1.0},
    ],
    "solver": {"tol": 1e-8},
}


def solve_cantilever(preconditioner: str):
    return run_scene(load_scene("cantilever", [f"solver.preconditioner={preconditioner}"]), device=DEVICE)


def solve_poisson(preconditioner: str):
    data = {**CHECKERBOARD_POISSON, "solver": {**CHECKERBOARD_POISSON["solver"], "preconditioner": preconditioner}}
    return run_scene(scene_from_dict(data, source="checkerboard_poisson"), device=DEVICE)


PROBLEMS = {"cantilever": solve_cantilever, "poisson": solve_poisson}


@pytest.fixture(scope="module")
def results():
    """Run results by problem and preconditioner, each solved once for the whole module."""
    return {problem: {name: solve(name) for name in PRECONDITIONERS} for problem, solve in PROBLEMS.items()}


@pytest.mark.parametrize("problem", PROBLEMS)
def test_ic0_and_amg_need_fewer_iterations_than_jacobi(results, problem):
    iterations = {name: results[problem][name].solution.solves[0].iterations for name in PRECONDITIONERS}
    assert all(results[problem][name].solution.solves[0].converged for name in PRECONDITIONERS)
    counts = ", ".join(f"{name} {count}" for name, count in iterations.items())
    assert iterations["ic0"] < iterations["jacobi"], f"{problem}: CG iterations {counts}"
    assert iterations["amg"] < iterations["jacobi"], f"{problem}: CG iterations {counts}"


@pytest.mark.parametrize("problem", PROBLEMS)
def test_preconditioners_agree_on_the_solution(results, problem):
    reference = results[problem]["jacobi"].solution.u
    for name in ("ic0", "amg"):
        u = results[problem][name].solution.u
        error = np.linalg.norm(u - reference) / np.linalg.norm(reference)
        assert error <= SOLUTION_RTOL, f"{problem}: {name} differs from jacobi by {error:.2e} (relative)"


@pytest.mark.parametrize("name", PRECONDITIONERS)
def test_cantilever_tip_deflection_matches_timoshenko(results, name):
    result = results["cantilever"][name]
    positions, u = result.discretization.node_positions, result.solution.u
    tip = np.isclose(positions[:, 0], 10.0)
    deflection = -u[tip, 1].mean()
    assert abs(deflection - TIP_DEFLECTION) <= TIP_RTOL * TIP_DEFLECTION, f"{name}: tip deflection {deflection:.5f}"
