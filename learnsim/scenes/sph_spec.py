"""The parts of an SPH scene (``[scene] kind = "sph"``), as plain frozen dataclasses.

An SPH scene has no mesh: fluid and wall particles are laid out on a square (cubic) lattice
of ``[sph].spacing`` inside boxes::

    [sph]      scheme, spacing, rest_density, viscosity, sound_speed, gamma, artificial_viscosity,
               density_diffusion, kernel, h_over_spacing, gravity, gravity_ramp, domain, periodic
    [[fluid]]  box = {lower, upper}, region, velocity
    [[wall]]   kind = "block" | "tank", box = {lower, upper}, layers, velocity

They are checked by :mod:`learnsim.scenes.sph_checks` when a scene is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from learnsim.core.expression import Expression
from learnsim.engine.sph import SCHEMES as ENGINE_SCHEMES
from learnsim.engine.sph.kernels import support_radius

SCHEMES = tuple(ENGINE_SCHEMES)
"""SPH schemes: weakly compressible (explicit, equation of state) and incompressible (pressure Poisson)."""
WALL_KINDS = ("block", "tank")
WCSPH_ONLY = ("sound_speed", "gamma", "artificial_viscosity", "density_diffusion")
"""[sph] keys that only the weakly compressible scheme uses."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: ``lower`` and ``upper`` corners, ``dim`` values each (m)."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True)
class SPHSpec:
    """The fluid model and the particle lattice.

    Attributes:
        scheme: "wcsph" (weakly compressible, explicit) or "isph" (incompressible, a pressure
            Poisson solve per step, see ``[solver]``).
        spacing: particle spacing dx (m), positive; every particle has mass rest_density dx^dim.
        rest_density: rho0 (kg/m^3), positive.
        viscosity: kinematic viscosity nu (m^2/s), >= 0 (laminar term of Morris et al. 1997).
        sound_speed: wcsph only: artificial speed of sound c0 (m/s). Default
            10 sqrt(2 |g| H), ten times the free-fall speed over the height H of the fluid
            boxes along gravity (density varies by about 1%); required when gravity is zero.
        gamma: wcsph only: Tait exponent, >= 1; 7 by default.
        artificial_viscosity: wcsph only: Monaghan's alpha, >= 0; 0 by default.
        density_diffusion: wcsph only: delta-SPH delta, >= 0; 0.1 by default.
        kernel: "cubic", "wendland" (default) or "quintic".
        h_over_spacing: smoothing length h / dx, positive; 1.5 by default.
        gravity: body force per unit mass (m/s^2), ``dim`` values; (0, -9.81[, 0]) by default.
        gravity_ramp: s, positive: gravity rises smoothly from 0 over this time (a fluid
            laid out at rest density then settles without a pressure wave); None: at once.
        domain: a :class:`Box` (or ``{lower, upper}``) every particle must stay in; needed
            for ``periodic``.
        periodic: ``dim`` flags; a periodic axis wraps particles across ``domain``.
    """

    spacing: float | None = None
    scheme: str = "wcsph"
    rest_density: float = 1000.0
    viscosity: float = 0.0
    sound_speed: float | None = None
    gamma: float | None = None
    artificial_viscosity: float | None = None
    density_diffusion: float | None = None
    kernel: str = "wendland"
    h_over_spacing: float = 1.5
    gravity: tuple[float, ...] | None = None
    gravity_ramp: float | None = None
    domain: Box | dict | None = None
    periodic: tuple[bool, ...] | None = None

    @property
    def h(self) -> float:
        """Smoothing length (m)."""
        return self.h_over_spacing * self.spacing

    @property
    def wall_layers(self) -> int:
        """Wall layers that fill the kernel support: ceil(radius / spacing)."""
        return math.ceil(support_radius(self.kernel, self.h) / self.spacing - 1e-9)


@dataclass(frozen=True)
class FluidSpec:
    """A block of fluid particles: the lattice points of ``box`` where ``region`` holds.

    Attributes:
        box: :class:`Box` or ``{lower, upper}`` (m); its extents are rounded to whole
            multiples of the spacing, measured from ``lower``.
        region: optional formula of x, y, z: keep only the lattice points where it is true.
        velocity: initial velocity, ``dim`` numbers or formulas of x, y, z (m/s); zero by default.
    """

    box: Box | dict
    region: Expression | str | None = None
    velocity: tuple[float | Expression | str, ...] | None = None


@dataclass(frozen=True)
class WallSpec:
    """Wall particles, moving at a constant velocity.

    Attributes:
        kind: "block": particles fill ``box`` (make it at least ``SPHSpec.wall_layers``
            spacings thick); "tank": an open-top container whose inside is ``box``: walls of
            ``layers`` particles below it and on its sides, open towards +y, as high as the box.
        box: :class:`Box` or ``{lower, upper}`` (m), extents rounded to multiples of the spacing.
        layers: "tank" only: wall thickness in particles; default fills the kernel support.
        velocity: ``dim`` numbers (m/s); zero by default (a moving lid drives a Couette flow).
    """

    box: Box | dict
    kind: str = "block"
    layers: int | None = None
    velocity: tuple[float, ...] | None = None
