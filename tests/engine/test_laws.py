"""The finite-strain laws on the material interface: uniaxial closed forms, the priors every law must
keep (no stress at F = I, objectivity), the tangent and the internal force against finite differences
of the internal force and of the energy, and the patch test on distorted meshes, in 2D and 3D."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from learnsim.core.mesh import make_mesh
from learnsim.engine.fem import discretize
from learnsim.engine.fem.materials import (
    MooneyRivlin,
    NeoHookean,
    SaintVenantKirchhoff,
    first_piola,
    lame_from_young_poisson,
)
from learnsim.engine.solvers import bsr_to_csr

LAWS = {
    "neo-hookean": NeoHookean(210.0, 0.3),
    "saint-venant-kirchhoff": SaintVenantKirchhoff(210.0, 0.3),
    "mooney-rivlin": MooneyRivlin(30.0, 10.0, 300.0),
}
RTOL = 1e-12


def uniaxial_p11(law, s: float) -> float:
    """P11 of F = diag(s, 1, 1) in closed form."""
    if isinstance(law, SaintVenantKirchhoff):
        lam, mu = lame_from_young_poisson(law.E, law.nu)
        return s * (lam + 2.0 * mu) * 0.5 * (s * s - 1.0)
    if isinstance(law, MooneyRivlin):
        c1, c2, lam = law.point_parameters(3)
        i1 = s * s + 2.0
        return 2 * c1 * s + 2 * c2 * (i1 * s - s**3) + (lam * np.log(s) - 2 * (c1 + 2 * c2)) / s
    lam, mu = lame_from_young_poisson(law.E, law.nu)
    return mu * (s - 1.0 / s) + lam * np.log(s) / s


@pytest.mark.parametrize("name", sorted(LAWS))
@pytest.mark.parametrize("s", [0.6, 1.0, 1.7])
def test_uniaxial_stretch_matches_the_closed_form(name, s):
    law = LAWS[name]
    P = first_piola(law, np.diag([s, 1.0, 1.0]))[0]
    assert P[0, 0] == pytest.approx(uniaxial_p11(law, s), rel=RTOL, abs=1e-12 * law.point_parameters(3).max())
    assert abs(P[0, 1]) + abs(P[1, 0]) + abs(P[0, 2]) <= 1e-12 * max(1.0, abs(P[0, 0]))


@pytest.mark.parametrize("name", sorted(LAWS))
@pytest.mark.parametrize("dim", [2, 3])
def test_no_stress_at_rest_and_objectivity(name, dim):
    law = LAWS[name]
    scale = law.point_parameters(dim).max()
    assert np.abs(first_piola(law, np.eye(dim))).max() <= 1e-13 * scale
    rng = np.random.default_rng(1)
    F = np.eye(dim) + 0.2 * rng.standard_normal((4, dim, dim))
    F[np.linalg.det(F) < 0] *= -1.0 if dim == 3 else 1.0
    rotation = Rotation.from_rotvec([0.3, -0.5, 0.7]).as_matrix()
    if dim == 2:
        rotation = Rotation.from_rotvec([0.0, 0.0, 0.7]).as_matrix()[:2, :2]
    # P(Q F) = Q P(F)
    assert np.abs(first_piola(law, rotation @ F) - rotation @ first_piola(law, F)).max() <= 1e-11 * scale


def _distorted(dim: int):
    """A small mesh of distorted quads or hexes filling the box [0, 2]^d (a patch-test mesh)."""
    if dim == 2:
        points = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1.2, 0.9], [2, 1], [0, 2], [0.9, 2], [2, 2]], float)
        cells = np.array([[0, 1, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [4, 5, 8, 7]])
        return make_mesh(points, cells, "quad")
    grid = np.stack(np.meshgrid(*[np.arange(3.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    grid[13] += [0.15, -0.1, 0.12]  # the middle node
    index = np.arange(27).reshape(3, 3, 3)
    cells = [
        [index[i, j, k], index[i + 1, j, k], index[i + 1, j + 1, k], index[i, j + 1, k],
         index[i, j, k + 1], index[i + 1, j, k + 1], index[i + 1, j + 1, k + 1], index[i, j + 1, k + 1]]
        for i in range(2) for j in range(2) for k in range(2)
    ]  # fmt: skip
    return make_mesh(grid, np.array(cells), "hex")


@pytest.mark.parametrize("name", sorted(LAWS))
@pytest.mark.parametrize(("dim", "order"), [(2, 2), (3, 1)])
def test_patch_test_affine_motion_has_no_interior_force(name, dim, order):
    law = LAWS[name]
    disc = discretize(_distorted(dim), order=order, components=dim)
    X = disc.node_positions
    F = np.eye(dim) + np.array([[0.08, 0.03, -0.02], [-0.04, 0.05, 0.01], [0.02, 0.0, -0.06]])[:dim, :dim]
    u = X @ (F - np.eye(dim)).T
    forces = law.internal_force(disc, disc.nodal(u), law.parameters(disc)).numpy()
    lo, hi = X.min(axis=0), X.max(axis=0)
    interior = np.all((X > lo + 1e-9) & (X < hi - 1e-9), axis=1)
    scale = np.abs(forces).max()
    assert interior.any() and np.abs(forces[interior]).max() <= 1e-10 * scale
    # virtual work of the affine motion: f . u = P : (F - I) times the volume (the patch is a 2^d box)
    P = first_piola(law, F)[0]
    work = float(np.sum(forces * u))
    assert work == pytest.approx(float(np.sum(P * (F - np.eye(dim)))) * 2.0**dim, rel=1e-11)
    assert np.abs(forces.sum(axis=0)).max() <= 1e-11 * scale  # no body force: the forces balance


@pytest.mark.parametrize("name", sorted(LAWS))
@pytest.mark.parametrize(("dim", "order"), [(2, 2), (3, 1)])
def test_tangent_and_force_against_finite_differences(name, dim, order):
    law = LAWS[name]
    disc = discretize(_distorted(dim), order=order, components=dim)
    params = law.parameters(disc)
    rng = np.random.default_rng(4)
    u = 0.05 * rng.standard_normal((disc.n_nodes, dim))
    du = rng.standard_normal((disc.n_nodes, dim))
    h = 1e-6

    def force(x):
        return law.internal_force(disc, disc.nodal(x), params).numpy()

    K = bsr_to_csr(law.tangent(disc, disc.nodal(u), params))
    central = (force(u + h * du) - force(u - h * du)) / (2 * h)
    exact = (K @ du.ravel()).reshape(du.shape)
    assert np.abs(exact - central).max() <= 1e-6 * np.abs(exact).max()
    # the force is the gradient of the stored energy: dW/du . du = f . du
    energy = lambda x: law.energy(disc, disc.nodal(x), params)  # noqa: E731
    slope = (energy(u + h * du) - energy(u - h * du)) / (2 * h)
    assert slope == pytest.approx(float(np.sum(force(u) * du)), rel=1e-6)
    # and the tangent is symmetric (a hyperelastic law)
    assert abs(K - K.T).max() <= 1e-12 * abs(K).max()


@pytest.mark.parametrize("dim", [2, 3])
def test_mooney_rivlin_without_c01_is_neo_hookean(dim):
    E, nu = 210.0, 0.3
    lam, mu = lame_from_young_poisson(E, nu)
    mooney = MooneyRivlin(C10=mu / 2.0, C01=0.0, K=lam + 2.0 * mu / 3.0)
    disc = discretize(_distorted(dim), order=1, components=dim)
    u = 0.1 * np.random.default_rng(5).standard_normal((disc.n_nodes, dim))
    forces = [
        law.internal_force(disc, disc.nodal(u), law.parameters(disc)).numpy() for law in (mooney, LAWS["neo-hookean"])
    ]
    np.testing.assert_allclose(forces[0], forces[1], rtol=0, atol=1e-10 * np.abs(forces[1]).max())
