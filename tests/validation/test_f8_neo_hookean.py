"""F8: single-element compressible neo-Hookean, W = mu/2 (I1 - 3) - mu ln J + lambda/2 (ln J)^2.

Uniaxial F = diag(s, 1, 1) has P11 = mu (s - 1/s) + lambda ln(s) / s and P22 = P33 = lambda ln(s).
Tolerance: 1e-12 relative (machine precision), fp64.
"""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from learnsim.core.mesh import box_mesh
from learnsim.engine.fem.assembly import lame_per_point
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import NeoHookean, first_piola

MATERIAL = NeoHookean(E=210.0, nu=0.3)
LAM, MU = MATERIAL.lame(3)
RTOL = 1e-12


@pytest.mark.parametrize("s", [0.5, 0.8, 1.0, 1.3, 2.0])
def test_uniaxial_stretch_matches_closed_form(s):
    P = first_piola(MATERIAL, np.diag([s, 1.0, 1.0]))[0]
    expected = np.diag([MU * (s - 1.0 / s) + LAM * np.log(s) / s, LAM * np.log(s), LAM * np.log(s)])
    assert np.abs(P - expected).max() <= RTOL * max(MU, np.abs(expected).max())


def test_zero_stress_at_rest_and_under_rigid_rotation():
    rotations = Rotation.random(20, random_state=0).as_matrix()
    F = np.concatenate([np.eye(3)[None], rotations])
    P = first_piola(MATERIAL, F)
    assert np.abs(P).max() <= RTOL * MU


def test_rotating_the_deformation_rotates_the_stress():
    rng = np.random.default_rng(1)
    F = np.eye(3) + 0.3 * rng.standard_normal((50, 3, 3))
    F = F[np.linalg.det(F) > 0.2]
    R = Rotation.random(len(F), random_state=2).as_matrix()
    P = first_piola(MATERIAL, F)
    P_rotated = first_piola(MATERIAL, R @ F)
    assert np.abs(P_rotated - R @ P).max() <= RTOL * np.abs(P).max()


@pytest.mark.parametrize("order", [1, 2])
def test_single_hex_reaction_equals_first_piola(order):
    """Affine motion of one unit hex: the internal force summed over the face x = 1 is P e_x."""
    disc = discretize(box_mesh([1.0, 1.0, 1.0], [1, 1, 1], "hex"), order=order, components=3)
    X = disc.node_positions
    s = 1.3
    F = Rotation.from_rotvec([0.2, -0.4, 0.3]).as_matrix() @ np.diag([s, 1.0, 1.0])
    u = X @ (F - np.eye(3)).T
    lame = np.array(MATERIAL.lame(3))
    forces = MATERIAL.internal_force(disc, disc.nodal(u), lame_per_point(disc, lame)).numpy()
    reaction = forces[np.isclose(X[:, 0], 1.0)].sum(axis=0)
    P = first_piola(MATERIAL, F)[0]
    assert np.abs(reaction - P[:, 0]).max() <= RTOL * np.abs(P).max()
    # the interior balance: forces on all nodes sum to zero (no body force)
    assert np.abs(forces.sum(axis=0)).max() <= 1e-12 * np.abs(P).max()
    # stored energy of a homogeneous deformation of the unit cube is W(F)
    J = np.linalg.det(F)
    W = 0.5 * MU * (np.trace(F.T @ F) - 3.0) - MU * np.log(J) + 0.5 * LAM * np.log(J) ** 2
    assert MATERIAL.energy(disc, disc.nodal(u), lame_per_point(disc, lame)) == pytest.approx(W, rel=RTOL)
