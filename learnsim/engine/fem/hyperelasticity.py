"""Neo-Hookean solids: internal forces, tangent stiffness and stored energy on warp.fem."""

from __future__ import annotations

import numpy as np
import warp as wp
import warp.fem as fem

from learnsim.engine.fem import forms
from learnsim.engine.fem.assembly import make_field
from learnsim.engine.fem.discretization import Discretization


def neo_hookean_residual(disc: Discretization, u: wp.array, lame: wp.array, external: np.ndarray) -> np.ndarray:
    """f_int(u) - f_ext as (n_nodes, dim) numpy."""
    u_field = make_field(disc, u)
    internal = fem.integrate(
        forms.neo_hookean_residual_form,
        quadrature=disc.quadrature,
        fields={"u_cur": u_field, "v": fem.make_test(disc.space, domain=disc.cells)},
        values={"lame": lame},
        output_dtype=disc.value_type,
    )
    return internal.numpy() - external


def neo_hookean_tangent(disc: Discretization, u: wp.array, lame: wp.array):
    """Tangent stiffness d f_int / d u at u (BSR, float64 blocks)."""
    return fem.integrate(
        forms.neo_hookean_tangent_form,
        quadrature=disc.quadrature,
        fields={
            "u_cur": make_field(disc, u),
            "u": fem.make_trial(disc.space, domain=disc.cells),
            "v": fem.make_test(disc.space, domain=disc.cells),
        },
        values={"lame": lame},
        output_dtype=wp.float64,
    )


def neo_hookean_energy(disc: Discretization, u: wp.array, lame: wp.array) -> float:
    """Stored energy (J) of the nodal displacement ``u``; ``lame`` per quadrature point (vec2d)."""
    return float(
        fem.integrate(
            forms.neo_hookean_energy_form,
            quadrature=disc.quadrature,
            fields={"u_cur": make_field(disc, u)},
            values={"lame": lame},
            output_dtype=wp.float64,
        )
    )
