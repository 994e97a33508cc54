"""Constitutive laws as Warp point functions, overloaded for 2D (``wp.mat22d``) and 3D (``wp.mat33d``).

Every law of :mod:`learnsim.engine.fem.materials` is a few of these: the first Piola-Kirchhoff
stress of the displacement gradient ``H = grad u`` (``F = I + H``), its directional derivative, the
strain energy density, and the Cauchy stress and out-of-plane normal stress that von Mises needs.
Parameters arrive as one small vector per quadrature point (``wp.vec2d`` (lambda, mu) in Pa for the
elastic laws). 2D is plane strain: ``F_zz = 1``.
"""

from typing import Any

import warp as wp


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
def neo_hookean_sigma_zz(F: Any, lame: wp.vec2d):
    """Cauchy out-of-plane stress of plane strain (F_zz = 1): lambda ln J / J."""
    J = wp.determinant(F)
    return lame[0] * wp.log(J) / J


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


# --- St. Venant-Kirchhoff: S = lambda tr(E) I + 2 mu E, E = (F^T F - I) / 2, P = F S --------------


@wp.func
def green_strain(F: Any):
    return wp.float64(0.5) * (wp.transpose(F) * F - identity_like(F))


@wp.func
def svk_stress(F: Any, lame: wp.vec2d):
    """P = F S with S = lambda tr(E) I + 2 mu E (2D plane strain: E_zz = 0)."""
    E = green_strain(F)
    return F * (lame[0] * wp.trace(E) * identity_like(F) + wp.float64(2.0) * lame[1] * E)


@wp.func
def svk_stress_delta(F: Any, dF: Any, lame: wp.vec2d):
    """dP[dF] = dF S + F dS, dS = lambda tr(dE) I + 2 mu dE, dE = sym(F^T dF)."""
    E = green_strain(F)
    S = lame[0] * wp.trace(E) * identity_like(F) + wp.float64(2.0) * lame[1] * E
    dE = wp.float64(0.5) * (wp.transpose(dF) * F + wp.transpose(F) * dF)
    dS = lame[0] * wp.trace(dE) * identity_like(F) + wp.float64(2.0) * lame[1] * dE
    return dF * S + F * dS


@wp.func
def svk_energy(F: Any, lame: wp.vec2d):
    """W = lambda/2 (tr E)^2 + mu E : E (J/m^3)."""
    E = green_strain(F)
    tr = wp.trace(E)
    return wp.float64(0.5) * lame[0] * tr * tr + lame[1] * wp.ddot(E, E)


@wp.func
def svk_sigma_zz(F: Any, lame: wp.vec2d):
    """Plane strain (E_zz = 0): S_zz = lambda tr(E), sigma_zz = S_zz / J."""
    return lame[0] * wp.trace(green_strain(F)) / wp.determinant(F)


# --- compressible Mooney-Rivlin ---------------------------------------------------------------------
# W = c1 (I1 - 3) + c2 (I2 - 3) - 2 (c1 + 2 c2) ln J + lambda/2 (ln J)^2, parameters (c1, c2, lambda):
# stress free at F = I, neo-Hookean with mu = 2 c1 when c2 = 0, small-strain shear modulus 2 (c1 + c2).
# In 2D plane strain C_zz = 1 adds 1 to I1, and I2 = (I1^2 - tr(C^2) - 1) / 2.


@wp.func
def mooney_rivlin_stress(F: Any, p: wp.vec3d):
    """P = 2 c1 F + 2 c2 (I1 F - F C) + (lambda ln J - 2 (c1 + 2 c2)) F^-T."""
    C = wp.transpose(F) * F
    i1 = wp.trace(C) + missing_stretch(F)
    F_inv_t = wp.transpose(wp.inverse(F))
    volumetric = p[2] * wp.log(wp.determinant(F)) - wp.float64(2.0) * (p[0] + wp.float64(2.0) * p[1])
    return wp.float64(2.0) * p[0] * F + wp.float64(2.0) * p[1] * (i1 * F - F * C) + volumetric * F_inv_t


@wp.func
def mooney_rivlin_stress_delta(F: Any, dF: Any, p: wp.vec3d):
    """Directional derivative of :func:`mooney_rivlin_stress` in the direction dF."""
    C = wp.transpose(F) * F
    dC = wp.transpose(dF) * F + wp.transpose(F) * dF
    i1 = wp.trace(C) + missing_stretch(F)
    d_i1 = wp.float64(2.0) * wp.ddot(F, dF)
    F_inv = wp.inverse(F)
    F_inv_t = wp.transpose(F_inv)
    volumetric = p[2] * wp.log(wp.determinant(F)) - wp.float64(2.0) * (p[0] + wp.float64(2.0) * p[1])
    return (
        wp.float64(2.0) * p[0] * dF
        + wp.float64(2.0) * p[1] * (d_i1 * F + i1 * dF - dF * C - F * dC)
        + p[2] * wp.trace(F_inv * dF) * F_inv_t
        - volumetric * F_inv_t * wp.transpose(dF) * F_inv_t
    )


@wp.func
def mooney_rivlin_energy(F: Any, p: wp.vec3d):
    C = wp.transpose(F) * F
    extra = missing_stretch(F)
    i1 = wp.trace(C) + extra
    i2 = wp.float64(0.5) * (i1 * i1 - wp.ddot(C, C) - extra)
    log_j = wp.log(wp.determinant(F))
    three = wp.float64(3.0)
    return (
        p[0] * (i1 - three)
        + p[1] * (i2 - three)
        - wp.float64(2.0) * (p[0] + wp.float64(2.0) * p[1]) * log_j
        + wp.float64(0.5) * p[2] * log_j * log_j
    )


@wp.func
def mooney_rivlin_sigma_zz(F: Any, p: wp.vec3d):
    """Plane strain (F_zz = 1): P_zz = 2 c1 + 2 c2 (I1 - 1) + lambda ln J - 2 (c1 + 2 c2), sigma_zz = P_zz / J."""
    J = wp.determinant(F)
    i1 = wp.trace(wp.transpose(F) * F) + wp.float64(1.0)
    two = wp.float64(2.0)
    return (two * p[0] + two * p[1] * (i1 - wp.float64(1.0)) + p[2] * wp.log(J) - two * (p[0] + two * p[1])) / J
