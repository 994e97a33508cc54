"""F1: patch test. A linear field prescribed on the boundary of a distorted mesh is reproduced
exactly inside (diffusion: u = a.x + c; elasticity: u = G x + c, a constant strain), for
tri/quad/tet/hex and orders 1 and 2. Tolerance: nodal error <= 1e-10; the von Mises stress of
the constant strain is reproduced in every cell to 1e-10 relative.
"""

import numpy as np
import pytest

from learnsim.engine.fem.assembly import assemble_diffusion, assemble_linear_elasticity
from learnsim.engine.fem.boundary import make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import LinearElastic
from learnsim.engine.fem.postprocess import von_mises_per_cell
from learnsim.engine.fem.statics import solve_linear_static

from .helpers import boundary_nodes, distorted_box

MESHES = {
    "tri": ([1.0, 1.0], [4, 4]),
    "quad": ([1.0, 1.0], [4, 4]),
    "tet": ([1.0, 1.0, 1.0], [3, 3, 3]),
    "hex": ([1.0, 1.0, 1.0], [3, 3, 3]),
}
CASES = [(element, order) for element in MESHES for order in (1, 2)]


def _von_mises(sigma):
    dev = sigma - np.trace(sigma) / 3.0 * np.eye(3)
    return np.sqrt(1.5 * np.sum(dev * dev))


@pytest.mark.parametrize(("element", "order"), CASES)
def test_diffusion_patch(element, order):
    mesh = distorted_box(*MESHES[element], element)
    disc = discretize(mesh, order=order, components=1)
    a = np.array([0.3, -1.2, 0.7])[: mesh.dim]
    exact = disc.node_positions @ a + 0.25
    bc = make_dirichlet(disc, [(boundary_nodes(disc), None, exact)])
    result = solve_linear_static(disc, assemble_diffusion(disc, 2.5), disc.zeros(), bc, "amg", tol=1e-14)
    assert np.abs(result.u - exact).max() <= 1e-10


@pytest.mark.parametrize(("element", "order"), CASES)
def test_elasticity_patch(element, order):
    mesh = distorted_box(*MESHES[element], element)
    dim = mesh.dim
    disc = discretize(mesh, order=order, components=dim)
    G = np.array([[1.0, 0.4, -0.3], [0.2, -0.5, 0.6], [0.1, 0.3, 0.8]])[:dim, :dim] * 1e-2
    exact = disc.node_positions @ G.T + 0.1
    bc = make_dirichlet(disc, [(boundary_nodes(disc), None, exact)])
    material = LinearElastic(E=200.0, nu=0.3)
    K = assemble_linear_elasticity(disc, material.lame(dim))
    result = solve_linear_static(disc, K, disc.zeros(), bc, "amg", tol=1e-14)
    assert np.abs(result.u - exact).max() <= 1e-10

    # constant strain -> the same von Mises stress in every cell (2D: plane strain)
    lam, mu = material.lame(dim)
    eps = np.zeros((3, 3))
    eps[:dim, :dim] = 0.5 * (G + G.T)
    sigma = lam * np.trace(eps) * np.eye(3) + 2 * mu * eps
    vm = von_mises_per_cell(disc, result.u, material)
    assert np.abs(vm - _von_mises(sigma)).max() <= 1e-10 * _von_mises(sigma)
