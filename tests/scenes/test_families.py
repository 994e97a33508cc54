"""The built-in scene families of `learnsim generate`: each sample records the systems its run solves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from learnsim.running.generate import family_systems

FAMILIES = [
    # scene, overrides, kinds of the recorded systems, grid_shape of the first system
    ("poisson_obstacles", ["mesh.cells=[16,16]"], {"diffusion"}, (17, 17)),
    ("poisson_obstacles_3d", ["mesh.cells=[6,6,6]"], {"diffusion"}, (7, 7, 7)),
    ("diffusion_cook", ["mesh.cells=[8,8]"], {"diffusion"}, None),
    ("beam_steps", ["time.steps=3", "output.every=3"], {"fem-mass", "fem-implicit"}, None),
    ("dam_break_isph", ["time.end=0.02"], {"isph-pressure"}, None),
]


@pytest.mark.parametrize(("scene", "overrides", "kinds", "grid_shape"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_family_sample_records_its_solves(scene, overrides, kinds, grid_shape):
    systems = family_systems(scene, overrides)(3)
    assert systems and {s.kind for s in systems} == kinds
    assert systems[0].grid_shape == grid_shape
    for system in systems:
        A = system.matrix
        assert abs(A - A.T).max() <= 1e-10 * abs(A).max()  # SPD systems only
        if np.linalg.norm(system.rhs) > 0:
            reference = spla.spsolve(A.tocsc(), system.rhs)
            assert np.linalg.norm(system.solution - reference) <= 1e-6 * np.linalg.norm(reference)
        assert system.parameters["scene"] == scene
