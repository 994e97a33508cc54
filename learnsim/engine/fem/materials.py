"""Constitutive laws: parameter values (dataclasses) and their Warp point functions.

The point functions are overloaded on ``wp.mat22d`` / ``wp.mat33d`` so that one integrand
serves 2D and 3D. All stresses are first Piola-Kirchhoff (equal to Cauchy for the linear
law); units follow the inputs (E in Pa gives stresses in Pa).

2D is plane strain unless the linear law is asked for plane stress, which replaces
lambda by 2 lambda mu / (lambda + 2 mu).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import warp as wp

from learnsim.core.errors import InputError


@dataclass(frozen=True)
class LinearElastic:
    """Isotropic Hooke law. E: Young's modulus (Pa); nu: Poisson ratio in (-1, 0.5)."""

    E: float
    nu: float
    plane: str = "strain"  # 2D only: "strain" | "stress"

    def __post_init__(self):
        _check_young_poisson(self.E, self.nu)
        if self.plane not in ("strain", "stress"):
            raise InputError(f"material: plane = '{self.plane}' must be 'strain' or 'stress'")

    def lame(self, dim: int) -> tuple[float, float]:
        """Effective (lambda, mu) in Pa for a problem of dimension ``dim``."""
        lam, mu = lame_from_young_poisson(self.E, self.nu)
        if dim == 2 and self.plane == "stress":
            lam = 2.0 * lam * mu / (lam + 2.0 * mu)
        return lam, mu

    def out_of_plane_lambda(self, dim: int) -> float:
        """Coefficient c of sigma_zz = c tr(eps) in 2D (plane strain: lambda; plane stress: 0)."""
        return lame_from_young_poisson(self.E, self.nu)[0] if dim == 2 and self.plane == "strain" else 0.0


@dataclass(frozen=True)
class NeoHookean:
    """Compressible neo-Hookean, W = mu/2 (I1 - 3) - mu ln J + lambda/2 (ln J)^2.

    In 2D this is plane strain (F_zz = 1, so I1 = tr(F^T F) + 1).
    """

    E: float
    nu: float

    def __post_init__(self):
        _check_young_poisson(self.E, self.nu)

    def lame(self, dim: int) -> tuple[float, float]:
        return lame_from_young_poisson(self.E, self.nu)


def lame_from_young_poisson(E: float, nu: float) -> tuple[float, float]:
    """(lambda, mu) in Pa from Young's modulus E (Pa) and Poisson ratio nu."""
    return E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), E / (2.0 * (1.0 + nu))


def _check_young_poisson(E: float, nu: float) -> None:
    if not (math.isfinite(E) and E > 0.0):
        raise InputError(f"material: E = {E} must be a positive finite number")
    if E < sys.float_info.min:
        # A subnormal modulus has already lost its significant digits (1e-320 keeps three), and the
        # stiffness built from it underflows: its reciprocal, which every solver forms, overflows.
        raise InputError(
            f"material: E = {E} is below {sys.float_info.min:.3g}, the smallest normal double: "
            "the stiffness would underflow"
        )
    if not math.isfinite(nu) or nu >= 0.5 or nu <= -1.0:
        raise InputError(f"material: nu = {nu} must be in (-1, 0.5)")


# ---------------------------------------------------------------------------------------
# Warp point functions, overloaded for 2D (mat22d) and 3D (mat33d)


@wp.func
def identity_like(g: wp.mat22d):
    return wp.identity(n=2, dtype=wp.float64)


@wp.func
def identity_like(g: wp.mat33d):  # noqa: F811 (Warp overload)
    return wp.identity(n=3, dtype=wp.float64)


@wp.func
def missing_stretch(g: wp.mat22d):
    """Contribution of the out-of-plane direction to I1 (plane strain: F_zz = 1)."""
    return wp.float64(1.0)


@wp.func
def missing_stretch(g: wp.mat33d):  # noqa: F811
    return wp.float64(0.0)


@wp.func
def hooke_stress(grad_u: Any, lame: wp.vec2d):
    """sigma = lambda tr(eps) I + 2 mu eps with eps = sym(grad u)."""
    eps = wp.float64(0.5) * (grad_u + wp.transpose(grad_u))
    return lame[0] * wp.trace(eps) * identity_like(grad_u) + wp.float64(2.0) * lame[1] * eps


@wp.func
def neo_hookean_stress(F: Any, lame: wp.vec2d):
    """First Piola-Kirchhoff stress P = mu (F - F^-T) + lambda ln(J) F^-T."""
    F_inv_t = wp.transpose(wp.inverse(F))
    log_j = wp.log(wp.determinant(F))
    return lame[1] * (F - F_inv_t) + lame[0] * log_j * F_inv_t


@wp.func
def neo_hookean_stress_delta(F: Any, dF: Any, lame: wp.vec2d):
    """Directional derivative dP[dF] of the neo-Hookean first Piola-Kirchhoff stress."""
    F_inv = wp.inverse(F)
    F_inv_t = wp.transpose(F_inv)
    log_j = wp.log(wp.determinant(F))
    return (
        lame[1] * dF
        + (lame[1] - lame[0] * log_j) * F_inv_t * wp.transpose(dF) * F_inv_t
        + lame[0] * wp.trace(F_inv * dF) * F_inv_t
    )


@wp.func
def neo_hookean_energy(F: Any, lame: wp.vec2d):
    """Strain energy density W(F) in J/m^3; +inf-like (NaN) for J <= 0 by construction of log."""
    log_j = wp.log(wp.determinant(F))
    i1 = wp.ddot(F, F) + missing_stretch(F)
    return (
        wp.float64(0.5) * lame[1] * (i1 - wp.float64(3.0)) - lame[1] * log_j + wp.float64(0.5) * lame[0] * log_j * log_j
    )


@wp.func
def von_mises(sigma: wp.mat22d, sigma_zz: wp.float64):
    """Von Mises stress of a 2D stress state with out-of-plane normal stress sigma_zz."""
    a = sigma[0, 0] - sigma[1, 1]
    b = sigma[1, 1] - sigma_zz
    c = sigma_zz - sigma[0, 0]
    shear = wp.float64(0.5) * (sigma[0, 1] + sigma[1, 0])
    return wp.sqrt(wp.float64(0.5) * (a * a + b * b + c * c) + wp.float64(3.0) * shear * shear)


@wp.func
def von_mises(sigma: wp.mat33d, sigma_zz: wp.float64):  # noqa: F811
    dev = sigma - wp.trace(sigma) / wp.float64(3.0) * wp.identity(n=3, dtype=wp.float64)
    sym = wp.float64(0.5) * (dev + wp.transpose(dev))
    return wp.sqrt(wp.float64(1.5) * wp.ddot(sym, sym))


@wp.kernel
def _neo_hookean_stress_kernel(F: wp.array(dtype=wp.mat33d), lame: wp.vec2d, P: wp.array(dtype=wp.mat33d)):
    i = wp.tid()
    P[i] = neo_hookean_stress(F[i], lame)


def neo_hookean_first_piola(material: NeoHookean, F, device=None):
    """First Piola-Kirchhoff stress (Pa) of deformation gradients F, shape (n, 3, 3) -> (n, 3, 3)."""
    F = np.ascontiguousarray(F, dtype=np.float64).reshape(-1, 3, 3)
    lam, mu = material.lame(3)
    F_wp = wp.array(F, dtype=wp.mat33d, device=device)
    P = wp.empty_like(F_wp)
    wp.launch(_neo_hookean_stress_kernel, dim=F.shape[0], inputs=[F_wp, wp.vec2d(lam, mu), P], device=device)
    return P.numpy()
