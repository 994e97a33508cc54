"""Derived fields for output: stresses per cell."""

from __future__ import annotations

import numpy as np

from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.materials import Material


def von_mises_per_cell(
    disc: Discretization, u: np.ndarray, material: Material, parameters=None, history=None
) -> np.ndarray:
    """Cell-averaged von Mises stress (Pa), shape (n_cells,), of the displacement ``u`` (n_nodes, dim);
    ``parameters`` per point (None: the material's own); ``history``: the law's internal variables."""
    params = material.parameters(disc) if parameters is None else parameters
    return disc.cell_average(material.von_mises(disc, disc.nodal(u), params, history=history))
