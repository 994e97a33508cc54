"""J2 (von Mises) elastoplasticity, small strain, with linear isotropic and kinematic hardening.

The return mapping of Simo and Hughes (Computational Inelasticity, box 3.2), per quadrature point:

- trial: eps_e = eps - eps_p, sigma_tr = lambda tr(eps_e) I + 2 mu eps_e, xi = dev(sigma_tr) - beta;
- yield function f = |xi| - sqrt(2/3) (sigma_y + H alpha); elastic where f <= 0;
- else the radial return: dgamma = f / (2 mu + 2/3 (H + H_kin)), n = xi / |xi|,
  sigma = sigma_tr - 2 mu dgamma n, eps_p += dgamma n, alpha += sqrt(2/3) dgamma,
  beta += 2/3 H_kin dgamma n;
- the consistent tangent C = K I(x)I + 2 mu theta I_dev - 2 mu theta_bar n(x)n with
  theta = 1 - 2 mu dgamma / |xi| and theta_bar = 1 / (1 + (H + H_kin) / (3 mu)) - (1 - theta),
  which gives Newton its quadratic convergence.

H and H_kin are the plastic moduli of a uniaxial test (d sigma / d eps_p = H + H_kin). Tensors are 3D
throughout: in 2D (plane strain) eps_zz = 0 while the plastic strain and the stress have zz parts.

The history of a point, carried from one converged step to the next, is a vector of 13: the
equivalent plastic strain alpha, then eps_p and beta in the order xx, yy, zz, xy, yz, xz.

Constants are built from integers inside the kernels (a float literal there is single precision).

This module must not use ``from __future__ import annotations``: its kernels' annotations name
their closures' types, which Warp resolves at definition.
"""

import functools

import warp as wp
import warp.fem as fem

from learnsim.engine.fem import forms

vec5d = wp.types.vector(length=5, dtype=wp.float64)
"""Parameters of a point: (lambda, mu, sigma_y, H, H_kin), Pa."""
vec13d = wp.types.vector(length=13, dtype=wp.float64)
"""History of a point: alpha, eps_p (6), beta (6)."""

HISTORY_SIZE = 13


@wp.func
def _sym(h: vec13d, o: int):
    """The symmetric tensor stored at h[o:o + 6] (xx, yy, zz, xy, yz, xz)."""
    return wp.mat33d(h[o], h[o + 3], h[o + 5], h[o + 3], h[o + 1], h[o + 4], h[o + 5], h[o + 4], h[o + 2])


@wp.func
def _strain(H: wp.mat22d):
    """Small strain, embedded in 3D (plane strain: eps_zz = 0)."""
    zero = wp.float64(0.0)
    e01 = wp.float64(0.5) * (H[0, 1] + H[1, 0])
    return wp.mat33d(H[0, 0], e01, zero, e01, H[1, 1], zero, zero, zero, zero)


@wp.func
def _strain(H: wp.mat33d):  # noqa: F811 (Warp overload)
    return wp.float64(0.5) * (H + wp.transpose(H))


@wp.func
def _block(like: wp.mat22d, t: wp.mat33d):
    """The in-plane part of a 3D tensor."""
    return wp.mat22d(t[0, 0], t[0, 1], t[1, 0], t[1, 1])


@wp.func
def _block(like: wp.mat33d, t: wp.mat33d):  # noqa: F811
    return t


@wp.func
def _dev(t: wp.mat33d):
    return t - (wp.trace(t) / wp.float64(3.0)) * wp.identity(n=3, dtype=wp.float64)


@wp.func
def _elastic(eps_e: wp.mat33d, p: vec5d):
    return p[0] * wp.trace(eps_e) * wp.identity(n=3, dtype=wp.float64) + wp.float64(2.0) * p[1] * eps_e


@wp.func
def _return_map(eps: wp.mat33d, p: vec5d, h: vec13d):
    """(sigma, dgamma, n, |xi|) of the radial return from the committed history h."""
    sigma_tr = _elastic(eps - _sym(h, 1), p)
    xi = _dev(sigma_tr) - _sym(h, 7)
    norm = wp.sqrt(wp.ddot(xi, xi))
    f = norm - wp.sqrt(wp.float64(2.0) / wp.float64(3.0)) * (p[2] + p[3] * h[0])
    if f <= wp.float64(0.0):
        return sigma_tr, wp.float64(0.0), wp.mat33d(), norm
    n = xi / norm
    dgamma = f / (wp.float64(2.0) * p[1] + (wp.float64(2.0) / wp.float64(3.0)) * (p[3] + p[4]))
    return sigma_tr - wp.float64(2.0) * p[1] * dgamma * n, dgamma, n, norm


@wp.func
def _tangent_action(dE: wp.mat33d, p: vec5d, dgamma: wp.float64, n: wp.mat33d, norm: wp.float64):
    """C : dE with C the consistent tangent (the elastic one where the point did not yield)."""
    if dgamma <= wp.float64(0.0):
        return _elastic(dE, p)
    mu = p[1]
    bulk = p[0] + (wp.float64(2.0) / wp.float64(3.0)) * mu
    theta = wp.float64(1.0) - wp.float64(2.0) * mu * dgamma / norm
    theta_bar = wp.float64(1.0) / (wp.float64(1.0) + (p[3] + p[4]) / (wp.float64(3.0) * mu)) - (wp.float64(1.0) - theta)
    I = wp.identity(n=3, dtype=wp.float64)
    return (
        bulk * wp.trace(dE) * I
        + wp.float64(2.0) * mu * theta * _dev(dE)
        - wp.float64(2.0) * mu * theta_bar * wp.ddot(n, dE) * n
    )


@wp.func
def _packed(alpha: wp.float64, eps_p: wp.mat33d, beta: wp.mat33d):
    return vec13d(
        alpha,
        eps_p[0, 0], eps_p[1, 1], eps_p[2, 2], eps_p[0, 1], eps_p[1, 2], eps_p[0, 2],
        beta[0, 0], beta[1, 1], beta[2, 2], beta[0, 1], beta[1, 2], beta[0, 2],
    )  # fmt: skip


@functools.cache
def point_kernel(matrix, dim: int):
    """The return mapping at every point: stress, consistent tangent table (d^2 x d^2, row-major in
    grad u), updated history, von Mises stress and stored elastic energy density."""

    def j2_points(
        grad_u: wp.array(dtype=matrix),
        params: wp.array(dtype=vec5d),
        history: wp.array(dtype=vec13d),
        stress: wp.array(dtype=matrix),
        tangents: wp.array3d(dtype=wp.float64),
        updated: wp.array(dtype=vec13d),
        von_mises: wp.array(dtype=wp.float64),
        energy: wp.array(dtype=wp.float64),
    ):
        q = wp.tid()
        p, h, H = params[q], history[q], grad_u[q]
        eps = _strain(H)
        sigma, dgamma, n, norm = _return_map(eps, p, h)
        stress[q] = _block(H, sigma)
        for k in range(dim):
            for m in range(dim):
                dH = matrix()
                dH[k, m] = wp.float64(1.0)
                dsigma = _block(H, _tangent_action(_strain(dH), p, dgamma, n, norm))
                for i in range(dim):
                    for j in range(dim):
                        tangents[q, i * dim + j, k * dim + m] = dsigma[i, j]
        eps_p = _sym(h, 1) + dgamma * n
        beta = _sym(h, 7) + (wp.float64(2.0) / wp.float64(3.0)) * p[4] * dgamma * n
        updated[q] = _packed(h[0] + wp.sqrt(wp.float64(2.0) / wp.float64(3.0)) * dgamma, eps_p, beta)
        s = _dev(sigma)
        von_mises[q] = wp.sqrt(wp.float64(1.5) * wp.ddot(s, s))
        energy[q] = wp.float64(0.5) * wp.ddot(sigma, eps - eps_p)

    j2_points.__name__ = j2_points.__qualname__ = f"j2_points_{dim}d"
    return wp.kernel(j2_points)


@functools.cache
def stress_form(matrix, dim: int):
    """sigma : grad v with sigma given per quadrature point as an array of ``matrix``."""

    def j2_stress_form(s: fem.Sample, v: fem.Field, stress: wp.array(dtype=matrix)):
        return wp.ddot(fem.grad(v, s), stress[s.qp_index])

    return forms.named_integrand(j2_stress_form, f"j2_stress_form_{dim}d")
