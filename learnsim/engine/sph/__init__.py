"""Smoothed particle hydrodynamics in Warp: kernels, neighbour search and weakly compressible SPH.

A simulation reads top to bottom: ``WCSPH(...)`` (parameters) -> ``make_state(params,
fluid_points, wall_points)`` -> ``step`` / ``advance``. Positions are vec3d with z = 0 in 2D
(``dim`` sets the kernel normalisation), float64 throughout.
"""

from learnsim.engine.sph.kernels import KERNEL_IDS, SUPPORT_FACTOR, evaluate_kernel, kernel_id, support_radius
from learnsim.engine.sph.neighbours import build_grid, make_grid
from learnsim.engine.sph.wcsph import (
    WCSPH,
    FluidState,
    advance,
    density_from_pressure,
    make_state,
    pressure_from_density,
    stable_time_step,
    step,
)

__all__ = [
    "KERNEL_IDS",
    "SUPPORT_FACTOR",
    "WCSPH",
    "FluidState",
    "advance",
    "build_grid",
    "density_from_pressure",
    "evaluate_kernel",
    "kernel_id",
    "make_grid",
    "make_state",
    "pressure_from_density",
    "stable_time_step",
    "step",
    "support_radius",
]
