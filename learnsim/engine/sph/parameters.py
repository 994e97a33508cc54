"""Parameters of the two SPH schemes, ``WCSPH`` and ``ISPH``, and the Warp constants they give.

The dataclasses live here rather than next to their schemes so that every module of the
engine can import them one way: ``wcsph_forces``, ``wcsph`` and ``isph`` import this module,
and this module imports none of them. :func:`constants` fills the one ``kernels.Constants``
struct that the Warp kernels of both schemes read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import warp as wp

from learnsim.core.errors import InputError
from learnsim.engine.solvers.preconditioners import PRECONDITIONER_NAMES
from learnsim.engine.sph.kernels import Constants, kernel_id
from learnsim.engine.sph.particles import ParticleScales, as_vec3, check_parameters


@dataclass(frozen=True)
class WCSPH(ParticleScales):
    """Parameters of a weakly compressible SPH fluid (SI units).

    Attributes:
        dim: 2 or 3 (2D problems keep z = 0).
        spacing: initial particle spacing dx (m); particle mass is rest_density dx^dim.
        sound_speed: artificial speed of sound c0 (m/s), usually 10 |u|max.
        rest_density: rho0 (kg/m^3).
        gamma: Tait exponent (7 for water, 1 for a linear equation of state).
        viscosity: kinematic viscosity nu (m^2/s) of the laminar (Morris) term.
        artificial_viscosity: Monaghan's alpha (dimensionless), fluid and fluid-wall pairs.
        density_diffusion: delta of delta-SPH (dimensionless, 0.1 is usual; 0 turns it off).
        gravity: body force per unit mass (m/s^2), dim components.
        kernel: "cubic" | "wendland" | "quintic".
        h_over_spacing: smoothing length h in units of dx (the support is 2h or 3h, see kernels).
        domain: optional (lower, upper) corners (m); particles outside raise InputError.
        periodic: optional dim flags; a periodic axis (needs ``domain``, at least two support
            radii long) wraps positions into the domain and sees the images of particles
            across it.
    """

    dim: int
    spacing: float
    sound_speed: float
    rest_density: float = 1000.0
    gamma: float = 7.0
    viscosity: float = 0.0
    artificial_viscosity: float = 0.0
    density_diffusion: float = 0.1
    gravity: tuple[float, ...] = (0.0, -9.81)
    kernel: str = "wendland"
    h_over_spacing: float = 1.5
    domain: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    periodic: tuple[bool, ...] | None = None

    def __post_init__(self):
        check_parameters(self, "sph", ("sound_speed",), ("viscosity", "artificial_viscosity", "density_diffusion"))
        if not self.gamma >= 1.0:
            raise InputError(f"sph: gamma = {self.gamma} must be at least 1")
        if self.periodic is not None:
            if len(self.periodic) != self.dim or self.domain is None:
                raise InputError(f"sph: periodic {self.periodic} needs {self.dim} flags and a domain")
            for axis, flag in enumerate(self.periodic):
                length = self.domain[1][axis] - self.domain[0][axis]
                if flag and length < 2.0 * self.radius:
                    raise InputError(
                        f"sph: periodic length {length} along axis {axis} is below two kernel supports"
                        f" ({2.0 * self.radius})"
                    )


@dataclass(frozen=True)
class ISPH(ParticleScales):
    """Parameters of an incompressible SPH fluid (SI units).

    Attributes:
        dim: 2 or 3 (2D problems keep z = 0).
        spacing: initial particle spacing dx (m); particle mass is rest_density dx^dim.
        rest_density: rho0 (kg/m^3).
        viscosity: kinematic viscosity nu (m^2/s).
        gravity: body force per unit mass (m/s^2), dim components.
        kernel: "cubic" | "wendland" | "quintic".
        h_over_spacing: smoothing length h in units of dx.
        domain: optional (lower, upper) corners (m); particles outside raise InputError.
        cfl: Courant number of the velocity condition dt <= cfl h / |u|max.
        tolerance: relative residual of the pressure solve.
        preconditioner: "none" | "jacobi" | "ic0" | "amg", or a factory ``build(A) -> Preconditioner``.
        max_iterations: PCG iteration limit per solve.
        density_relaxation: alpha of the density term of the source (dimensionless, in [0, 1]).
        free_surface_density: kernel sums below this fraction of rho0 mark the free surface.
    """

    dim: int
    spacing: float
    rest_density: float = 1000.0
    viscosity: float = 0.0
    gravity: tuple[float, ...] = (0.0, -9.81)
    kernel: str = "wendland"
    h_over_spacing: float = 1.5
    domain: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    cfl: float = 0.25
    tolerance: float = 1e-8
    preconditioner: str = "ic0"
    max_iterations: int = 2000
    density_relaxation: float = 0.1
    free_surface_density: float = 0.9

    def __post_init__(self):
        check_parameters(self, "isph", ("cfl", "tolerance"), ("viscosity",))
        if not 0.0 <= self.density_relaxation <= 1.0:
            raise InputError(f"isph: density_relaxation = {self.density_relaxation} must be in [0, 1]")
        if not 0.0 < self.free_surface_density < 1.0:
            raise InputError(f"isph: free_surface_density = {self.free_surface_density} must be in (0, 1)")
        if not callable(self.preconditioner) and self.preconditioner not in PRECONDITIONER_NAMES:
            raise InputError(
                f"isph: preconditioner '{self.preconditioner}' is not one of {', '.join(PRECONDITIONER_NAMES)}"
            )
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise InputError(f"isph: max_iterations = {self.max_iterations} must be a positive integer")


def constants(params: WCSPH | ISPH, n_fluid: int = 0) -> Constants:
    """The Warp struct of ``params``' constants (SI units); the fields of the other scheme stay zero.

    n_fluid: ISPH only, the fluid particle count (fluid and wall particles share ISPH's arrays).
    """
    c = Constants()
    c.dim = params.dim
    c.kernel = kernel_id(params.kernel)
    c.h = params.h
    c.radius = params.radius
    c.mass = params.mass
    c.rho0 = params.rest_density
    c.nu = params.viscosity
    c.gravity = wp.vec3d(*as_vec3(params.gravity))
    flags = np.zeros(3, dtype=bool)
    if isinstance(params, WCSPH):
        c.c0 = params.sound_speed
        c.gamma = params.gamma
        c.alpha = params.artificial_viscosity
        c.delta = params.density_diffusion
        flags[: params.dim] = params.periodic or False
    else:
        c.n_fluid = n_fluid
        c.eta2 = 0.01 * params.h**2
        c.surface_density = params.free_surface_density * params.rest_density
    lower = as_vec3(params.domain[0]) if params.domain is not None else np.zeros(3)
    upper = as_vec3(params.domain[1]) if params.domain is not None else np.zeros(3)
    c.period = wp.vec3d(*np.where(flags, upper - lower, 0.0))
    c.lower = wp.vec3d(*lower)
    return c
