"""Smoothed particle hydrodynamics in Warp: kernels, neighbour search, weakly compressible and incompressible SPH.

A simulation reads top to bottom: ``WCSPH(...)`` (parameters) -> ``make_state(params,
fluid_points, wall_points)`` -> ``step`` / ``advance``. Positions are vec3d with z = 0 in 2D
(``dim`` sets the kernel normalisation), float64 throughout.

Incompressible SPH (a projection scheme whose pressure Poisson equation is solved by the
engine's PCG) lives in :mod:`learnsim.engine.sph.isph` with the same function names:
``isph.make_state``, ``isph.step``. Both schemes step a ``ParticleState`` with one signature,
``step(params, state, dt=None, on_system=None)`` (WCSPH never calls ``on_system``).
"""

from learnsim.engine.sph import isph, wcsph
from learnsim.engine.sph.kernels import KERNEL_IDS, SUPPORT_FACTOR, evaluate_kernel, kernel_id, support_radius
from learnsim.engine.sph.neighbours import build_grid, make_grid
from learnsim.engine.sph.parameters import ISPH, WCSPH
from learnsim.engine.sph.particles import ParticleState
from learnsim.engine.sph.wcsph import (
    advance,
    density_from_pressure,
    make_state,
    pressure_from_density,
    stable_time_step,
    step,
)

SCHEMES = {"wcsph": wcsph, "isph": isph}
"""The schemes by name, each a module with ``make_state``, ``stable_time_step`` and ``step``."""

__all__ = [
    "ISPH",
    "SCHEMES",
    "ParticleState",
    "isph",
    "KERNEL_IDS",
    "SUPPORT_FACTOR",
    "WCSPH",
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
