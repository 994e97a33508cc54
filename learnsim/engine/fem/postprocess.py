"""Derived fields for output: stresses per cell."""

from __future__ import annotations

import numpy as np

from learnsim.engine.fem import forms
from learnsim.engine.fem.assembly import evaluate_at_points, lame_per_point, make_field
from learnsim.engine.fem.discretization import Discretization
from learnsim.engine.fem.materials import LinearElastic, NeoHookean


def von_mises_per_cell(disc: Discretization, u: np.ndarray, material: LinearElastic | NeoHookean) -> np.ndarray:
    """Cell-averaged von Mises stress (Pa), shape (n_cells,), of the displacement ``u`` (n_nodes, dim)."""
    fields = {"u": make_field(disc, disc.nodal(u))}
    lame = lame_per_point(disc, material.lame(disc.dim))
    if isinstance(material, NeoHookean):
        values = evaluate_at_points(disc, forms.neo_hookean_von_mises, fields, {"lame": lame})
    else:
        c = material.out_of_plane_lambda(disc.dim)
        values = evaluate_at_points(disc, forms.linear_von_mises, fields, {"lame": lame, "out_of_plane_lambda": c})
    return disc.cell_average(values)
