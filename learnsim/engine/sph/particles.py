"""What WCSPH and ISPH share: the particle state, particle scales and the checks of inputs.

Both parameter dataclasses (``learnsim.engine.sph.parameters``) have ``dim``, ``spacing``,
``rest_density``, ``kernel``, ``h_over_spacing``, ``gravity`` and an optional ``domain``;
:class:`ParticleScales` gives them the smoothing length, support radius and particle mass, and
the ``check_*`` functions raise :class:`~learnsim.core.errors.InputError` with one line
prefixed by the scheme (``who``). Both schemes step a :class:`ParticleState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import warp as wp

from learnsim.core.errors import InputError
from learnsim.engine.sph.kernels import kernel_id, support_radius


@dataclass(frozen=True, eq=False)
class ParticleState:
    """One instant of an SPH fluid, WCSPH or ISPH. Arrays live on one Warp device, positions as vec3d (z = 0 in 2D).

    Attributes:
        positions, velocities: (n_fluid,) vec3d (m, m/s).
        accelerations: (n_fluid,) vec3d (m/s^2). WCSPH: the momentum equation at this state (the
            next step's first kick); ISPH: (v^{n+1} - v^n) / dt of the last step (g at start).
        densities: (n_fluid,) float64 (kg/m^3). WCSPH: carried by the continuity equation; ISPH:
            kernel sums sum_j m W_ij over fluid and walls at these positions.
        pressures: (n_fluid,) float64 (Pa). WCSPH: the equation of state of the densities; ISPH:
            the last pressure solve (0 at start).
        wall_positions, wall_velocities: (n_wall,) vec3d (m, m/s); walls move at constant velocity.
        wall_pressures: (n_wall,) float64 (Pa). WCSPH: extrapolated from the fluid; ISPH: the last
            pressure solve (0 at start).
        wall_densities: WCSPH only, (n_wall,) float64 (kg/m^3), the density the extrapolated wall
            pressure gives through the equation of state; None in ISPH.
        free_surface: ISPH only, (n_fluid,) int32, 1 where densities < free_surface_density rho0;
            None in WCSPH.
        time: s.
    """

    positions: wp.array
    velocities: wp.array
    accelerations: wp.array
    densities: wp.array
    pressures: wp.array
    wall_positions: wp.array
    wall_velocities: wp.array
    wall_pressures: wp.array
    wall_densities: wp.array | None = None
    free_surface: wp.array | None = None
    time: float = 0.0

    @property
    def n_fluid(self) -> int:
        return len(self.positions)


class ParticleScales:
    """Mixin: ``h``, ``radius`` and ``mass`` from ``spacing``, ``h_over_spacing``, ``kernel``, ``rest_density``."""

    @property
    def h(self) -> float:
        """Smoothing length (m)."""
        return self.h_over_spacing * self.spacing

    @property
    def radius(self) -> float:
        """Kernel support radius (m)."""
        return support_radius(self.kernel, self.h)

    @property
    def mass(self) -> float:
        """Mass of one particle (kg, or kg/m in 2D)."""
        return self.rest_density * self.spacing**self.dim


def as_vec3(values) -> np.ndarray:
    """(n, 2) or (n, 3) -> (n, 3) float64, or a 2/3-vector -> a 3-vector (z = 0 in 2D)."""
    a = np.asarray(values, dtype=np.float64)
    out = np.zeros(a.shape[:-1] + (3,))
    out[..., : a.shape[-1]] = a
    return out


def check_parameters(params, who: str, positive: tuple[str, ...], non_negative: tuple[str, ...]) -> None:
    """dim, kernel, gravity and domain of ``params``, and the named fields positive / non-negative finite."""
    if params.dim not in (2, 3):
        raise InputError(f"{who}: dim = {params.dim} must be 2 or 3")
    kernel_id(params.kernel)
    for name in ("spacing", "rest_density", "h_over_spacing", *positive):
        value = getattr(params, name)
        if not (math.isfinite(value) and value > 0.0):
            raise InputError(f"{who}: {name} = {value} must be a positive finite number")
    for name in non_negative:
        value = getattr(params, name)
        if not (math.isfinite(value) and value >= 0.0):
            raise InputError(f"{who}: {name} = {value} must be non-negative")
    if len(params.gravity) != params.dim:
        raise InputError(f"{who}: gravity {params.gravity} must have {params.dim} components")
    if params.domain is not None:
        lower, upper = (np.asarray(c, dtype=float) for c in params.domain)
        if lower.shape != (params.dim,) or upper.shape != (params.dim,) or np.any(upper <= lower):
            raise InputError(f"{who}: domain {params.domain} must be two corners (lower, upper) of {params.dim} values")
        if np.any(upper - lower < params.spacing):
            raise InputError(
                f"{who}: particle spacing {params.spacing} is larger than the domain {tuple(upper - lower)}"
            )


def check_points(params, who: str, name: str, points) -> np.ndarray:
    """``points`` as a finite float64 ``(n, dim)`` array."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != params.dim:
        raise InputError(f"{who}: {name} must have shape (n, {params.dim}), got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise InputError(f"{who}: {name} holds non-finite values")
    return points


def check_particles(
    params, who: str, positions, wall_positions, velocities=None, wall_velocities=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fluid and wall positions and velocities as checked ``(n, dim)`` arrays (velocities zero by default).

    Raises InputError for malformed or non-finite arrays, no fluid particles, velocity arrays that do not
    match the particle counts, and particles outside ``params.domain``.
    """
    x = check_points(params, who, "positions", positions)
    xw = check_points(params, who, "wall_positions", wall_positions)
    if len(x) == 0:
        raise InputError(f"{who}: there are no fluid particles")
    v = np.zeros_like(x) if velocities is None else check_points(params, who, "velocities", velocities)
    vw = np.zeros_like(xw) if wall_velocities is None else check_points(params, who, "wall_velocities", wall_velocities)
    if v.shape != x.shape or vw.shape != xw.shape:
        raise InputError(f"{who}: velocities and wall velocities must match the particle counts")
    check_inside(params, who, positions=x, wall_positions=xw)
    return x, xw, v, vw


def check_inside(params, who: str, **named_points: np.ndarray) -> None:
    """Every point inside ``params.domain`` (when there is one); the first one outside is named."""
    if params.domain is None:
        return
    lower, upper = (np.asarray(corner, dtype=float) for corner in params.domain)
    for name, points in named_points.items():
        outside = np.any((points < lower) | (points > upper), axis=1)
        if np.any(outside):
            k = int(np.argmax(outside))
            raise InputError(f"{who}: {name}[{k}] = {tuple(points[k].tolist())} is outside the domain {params.domain}")


def checked_time_step(who: str, dt: float | None, stable: float) -> float:
    """``dt`` (s), or the stable step ``stable`` (s) when None; InputError unless 0 < dt <= stable."""
    if dt is None:
        return stable
    if not (dt > 0.0 and dt <= stable * (1.0 + 1e-12)):
        raise InputError(f"{who}: time step dt = {dt:.3e} s must be in (0, {stable:.3e}] (the stable limit)")
    return dt
