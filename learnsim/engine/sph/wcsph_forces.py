"""Right-hand side of weakly compressible SPH: launches of the Warp kernels in ``wcsph_equations``.

``rates`` gives the density rate or the acceleration of every fluid particle, summed over the
periodic images; ``walls_and_accelerations`` first extrapolates the wall particles' pressure,
density and no-slip velocity from the fluid (Adami et al. 2012).
"""

from __future__ import annotations

import numpy as np
import warp as wp

from learnsim.engine.sph import wcsph_equations as eq
from learnsim.engine.sph.neighbours import build_grid
from learnsim.engine.sph.parameters import WCSPH


def viscosity_array(params: WCSPH, device=None, requires_grad: bool = False) -> wp.array:
    """(1,) float64 array holding ``params.viscosity`` (m^2/s), the form the rates kernel reads."""
    return wp.array([params.viscosity], dtype=wp.float64, device=device, requires_grad=requires_grad)


def image_shifts(params: WCSPH) -> list[wp.vec3d]:
    """Offsets of the periodic images of the domain, the zero offset first (one per 3^k)."""
    shifts = [np.zeros(3)]
    for axis, flag in enumerate(params.periodic or ()):
        if flag:
            step = np.zeros(3)
            step[axis] = params.domain[1][axis] - params.domain[0][axis]
            shifts = [s + k * step for k in (0.0, -1.0, 1.0) for s in shifts]
    return [wp.vec3d(*s) for s in shifts]


def neighbour_grids(params: WCSPH, x: wp.array, wall_x: wp.array):
    # Fresh grids per evaluation: a recorded tape replays each kernel with the grid it used.
    # Kernels see a grid only by its id, so an active tape is handed a no-op backward step
    # that holds the grids alive until the tape goes (a freed grid crashes the replay).
    grids = build_grid(x, params.radius, params.dim), build_grid(wall_x, params.radius, params.dim)
    tape = wp._src.context.runtime.tape
    if tape is not None:
        tape.record_func(lambda grids=grids: None, [])
    return grids


def rates(params, c, momentum, grids, x, v, rho, p, walls, nu=None):
    """Density rate (momentum = 0) or acceleration (1), summed over the periodic images.

    walls: (positions, prescribed velocities, no-slip velocities, densities, pressures).
    nu: (1,) kinematic viscosity array (m^2/s); None uses ``params.viscosity``.
    """
    device, grad = x.device, x.requires_grad
    if nu is None:
        nu = viscosity_array(params, device)
    shifts = image_shifts(params)
    dtype = wp.vec3d if momentum else wp.float64
    parts = wp.empty((len(shifts), len(x)), dtype=dtype, device=device, requires_grad=grad)
    drho, acc = (None, parts) if momentum else (parts, None)
    for image, shift in enumerate(shifts):
        wp.launch(
            eq.rates,
            dim=len(x),
            inputs=[c, nu, momentum, image, shift, grids[0].id, grids[1].id, x, v, rho, p, *walls],
            outputs=[drho, acc],
            device=device,
        )
    total = wp.empty(len(x), dtype=dtype, device=device, requires_grad=grad)
    wp.launch(eq.sum_images, dim=len(x), inputs=[parts], outputs=[total], device=device)
    return total


def walls_and_accelerations(params, c, x, v, rho, p, wall_x, wall_v, nu=None):
    """Wall extrapolation then accelerations at (x, v, rho, p) with walls at wall_x moving at wall_v.

    nu: (1,) kinematic viscosity array (m^2/s); None uses ``params.viscosity``.

    Returns ((wall pressures, wall densities), accelerations).
    """
    device, grad = x.device, x.requires_grad
    n_wall = len(wall_x)
    grids = neighbour_grids(params, x, wall_x)
    shifts = image_shifts(params)
    parts = wp.empty((len(shifts), n_wall), dtype=eq.WallSums, device=device, requires_grad=grad)
    for image, shift in enumerate(shifts):
        wp.launch(
            eq.wall_sums,
            dim=n_wall,
            inputs=[c, image, shift, grids[0].id, x, v, rho, p, wall_x],
            outputs=[parts],
            device=device,
        )
    sums = wp.empty(n_wall, dtype=eq.WallSums, device=device, requires_grad=grad)
    wp.launch(eq.sum_images, dim=n_wall, inputs=[parts], outputs=[sums], device=device)
    wall_p = wp.empty(n_wall, dtype=wp.float64, device=device, requires_grad=grad)
    wall_rho = wp.empty(n_wall, dtype=wp.float64, device=device, requires_grad=grad)
    wall_v_noslip = wp.empty(n_wall, dtype=wp.vec3d, device=device, requires_grad=grad)
    wp.launch(
        eq.wall_state,
        dim=n_wall,
        inputs=[c, wall_v, sums],
        outputs=[wall_p, wall_rho, wall_v_noslip],
        device=device,
    )
    walls = (wall_x, wall_v, wall_v_noslip, wall_rho, wall_p)
    return (wall_p, wall_rho), rates(params, c, 1, grids, x, v, rho, p, walls, nu)
