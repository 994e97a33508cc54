"""SPH smoothing kernels: cubic spline, Wendland C2 and quintic spline, in 2D and 3D.

Conventions. ``h`` is the smoothing length; a kernel is zero beyond its support radius
``support_factor * h``: 2h for the cubic spline (Monaghan 1992) and Wendland C2 (Wendland
1995, in the form of Dehnen and Aly 2012 with q = r/h in [0, 2]), 3h for the quintic spline
(Morris, Fox and Zhu 1997). With q = r / h,

    W(r, h) = sigma_d / h^d * f(q),     grad_i W(x_i - x_j, h) = sigma_d / h^(d+1) f'(q) (x_i - x_j) / r.

Positions are always ``wp.vec3d``; 2D problems keep z = 0 and pass ``dim = 2``, which only
changes the normalisation sigma_d. That keeps one implementation for 2D and 3D and lets the
neighbour search use ``wp.HashGrid`` (which is 3D) unchanged.

The kernel is chosen at run time by an integer id (``KERNEL_IDS``) so that every kernel
shares one compiled module.

This module also holds what the Warp kernels of both schemes (``wcsph_equations``,
``isph_equations``) read or launch alike, so that sharing them adds no compiled module: the
``Constants`` struct (filled by ``learnsim.engine.sph.parameters.constants``), the periodic
``wrap`` and the ``move`` kernel of the wall particles.
"""

from __future__ import annotations

import numpy as np
import warp as wp

from learnsim.core.errors import InputError

KERNEL_IDS = {"cubic": 0, "wendland": 1, "quintic": 2}
SUPPORT_FACTOR = {"cubic": 2.0, "wendland": 2.0, "quintic": 3.0}


def kernel_id(name: str) -> int:
    """The integer id of kernel ``name`` ("cubic" | "wendland" | "quintic")."""
    if name not in KERNEL_IDS:
        raise InputError(f"kernel '{name}' is not one of {', '.join(KERNEL_IDS)}")
    return KERNEL_IDS[name]


def support_radius(name: str, h: float) -> float:
    """Radius beyond which kernel ``name`` with smoothing length ``h`` vanishes (same unit as h)."""
    kernel_id(name)
    return SUPPORT_FACTOR[name] * h


@wp.func
def _pow5(x: wp.float64):
    x2 = x * x
    return x2 * x2 * x


@wp.func
def kernel_normalisation(h: wp.float64, dim: int, kernel: int):
    """sigma_d / h^d."""
    pi = wp.float64(3.141592653589793)
    sigma = wp.float64(0.0)
    if kernel == 0:
        if dim == 2:
            sigma = wp.float64(10.0) / (wp.float64(7.0) * pi)
        else:
            sigma = wp.float64(1.0) / pi
    elif kernel == 1:
        if dim == 2:
            sigma = wp.float64(7.0) / (wp.float64(4.0) * pi)
        else:
            sigma = wp.float64(21.0) / (wp.float64(16.0) * pi)
    else:
        if dim == 2:
            sigma = wp.float64(7.0) / (wp.float64(478.0) * pi)
        else:
            sigma = wp.float64(1.0) / (wp.float64(120.0) * pi)
    hd = h * h
    if dim == 3:
        hd = hd * h
    return sigma / hd


@wp.func
def kernel_shape(q: wp.float64, kernel: int):
    """f(q), the kernel profile before normalisation."""
    zero = wp.float64(0.0)
    one = wp.float64(1.0)
    two = wp.float64(2.0)
    f = zero
    if kernel == 0:
        if q < one:
            f = one - wp.float64(1.5) * q * q + wp.float64(0.75) * q * q * q
        elif q < two:
            t = two - q
            f = wp.float64(0.25) * t * t * t
    elif kernel == 1:
        if q < two:
            t = one - wp.float64(0.5) * q
            f = t * t * t * t * (two * q + one)
    else:
        if q < wp.float64(3.0):
            f = _pow5(wp.float64(3.0) - q)
            if q < two:
                f = f - wp.float64(6.0) * _pow5(two - q)
            if q < one:
                f = f + wp.float64(15.0) * _pow5(one - q)
    return f


@wp.func
def kernel_shape_derivative(q: wp.float64, kernel: int):
    """df/dq."""
    zero = wp.float64(0.0)
    one = wp.float64(1.0)
    two = wp.float64(2.0)
    d = zero
    if kernel == 0:
        if q < one:
            d = -wp.float64(3.0) * q + wp.float64(2.25) * q * q
        elif q < two:
            t = two - q
            d = -wp.float64(0.75) * t * t
    elif kernel == 1:
        if q < two:
            t = one - wp.float64(0.5) * q
            # d/dq [t^4 (2q + 1)] = -2 t^3 (2q + 1) + 2 t^4 = -5 q t^3
            d = -wp.float64(5.0) * q * t * t * t
    else:
        if q < wp.float64(3.0):
            t = wp.float64(3.0) - q
            d = -wp.float64(5.0) * t * t * t * t
            if q < two:
                t = two - q
                d = d + wp.float64(30.0) * t * t * t * t
            if q < one:
                t = one - q
                d = d - wp.float64(75.0) * t * t * t * t
    return d


@wp.func
def kernel_value(r: wp.float64, h: wp.float64, dim: int, kernel: int):
    """W(r, h) (1 / length^dim)."""
    return kernel_normalisation(h, dim, kernel) * kernel_shape(r / h, kernel)


@wp.func
def kernel_derivative(r: wp.float64, h: wp.float64, dim: int, kernel: int):
    """dW/dr (1 / length^(dim+1)); zero at r = 0 for all three kernels."""
    return kernel_normalisation(h, dim, kernel) * kernel_shape_derivative(r / h, kernel) / h


@wp.func
def kernel_gradient(r_ij: wp.vec3d, h: wp.float64, dim: int, kernel: int):
    """grad_i W(|r_ij|, h) with r_ij = x_i - x_j; the zero vector when r_ij = 0."""
    r = wp.length(r_ij)
    if r <= wp.float64(1.0e-12) * h:
        return wp.vec3d(wp.float64(0.0), wp.float64(0.0), wp.float64(0.0))
    return (kernel_derivative(r, h, dim, kernel) / r) * r_ij


@wp.kernel
def _evaluate_kernel(
    r_ij: wp.array(dtype=wp.vec3d),
    h: wp.float64,
    dim: int,
    kernel: int,
    values: wp.array(dtype=wp.float64),
    gradients: wp.array(dtype=wp.vec3d),
):
    i = wp.tid()
    values[i] = kernel_value(wp.length(r_ij[i]), h, dim, kernel)
    gradients[i] = kernel_gradient(r_ij[i], h, dim, kernel)


def evaluate_kernel(name: str, r_ij: np.ndarray, h: float, dim: int, device=None) -> tuple[np.ndarray, np.ndarray]:
    """W and grad W of kernel ``name`` at offsets ``r_ij`` ((n, dim) or (n, 3), length unit of h).

    Returns (values (n,), gradients (n, 3)). Meant for tests and post-processing; the solver
    calls the Warp functions directly.
    """
    if dim not in (2, 3):
        raise InputError(f"dim = {dim} must be 2 or 3")
    if not h > 0.0:
        raise InputError(f"smoothing length h = {h} must be positive")
    r = np.zeros((len(r_ij), 3))
    r[:, : np.shape(r_ij)[1]] = r_ij
    offsets = wp.array(r, dtype=wp.vec3d, device=device)
    values = wp.empty(len(r), dtype=wp.float64, device=device)
    gradients = wp.empty(len(r), dtype=wp.vec3d, device=device)
    wp.launch(
        _evaluate_kernel,
        dim=len(r),
        inputs=[offsets, wp.float64(h), dim, kernel_id(name)],
        outputs=[values, gradients],
        device=device,
    )
    return values.numpy(), gradients.numpy()


# --- shared by the kernels of both schemes -----------------------------------------------


@wp.struct
class Constants:
    """Fluid constants of either scheme in SI units; kernel is an id of KERNEL_IDS.

    The fields of the other scheme are zero. ``nu`` is the kinematic viscosity of ``params``;
    WCSPH's ``rates`` reads nu from a (1,) array instead, because a Warp tape gives no gradient
    for a struct member.
    """

    dim: int
    kernel: int
    h: wp.float64
    radius: wp.float64
    mass: wp.float64
    rho0: wp.float64
    nu: wp.float64
    gravity: wp.vec3d
    period: wp.vec3d  # period along each axis, 0 where the axis is not periodic (always 0 in ISPH)
    lower: wp.vec3d  # corner the periodic axes wrap to
    # WCSPH only
    c0: wp.float64  # artificial speed of sound (m/s)
    gamma: wp.float64  # Tait exponent
    alpha: wp.float64  # Monaghan's artificial viscosity
    delta: wp.float64  # delta-SPH density diffusion
    # ISPH only
    n_fluid: int  # fluid particles, first in the joined fluid-and-wall arrays
    eta2: wp.float64  # regularisation of 1 / r^2 (m^2)
    surface_density: wp.float64  # kernel sums below this mark the free surface (kg/m^3)


@wp.func
def _periods_below(x: wp.float64, lower: wp.float64, period: wp.float64):
    k = wp.float64(0.0)
    if period > wp.float64(0.0):
        k = wp.floor((x - lower) / period)
    return k


@wp.func
def wrap(c: Constants, x: wp.vec3d):
    """x brought back into [lower, lower + period) along the periodic axes (derivative: identity)."""
    k = wp.vec3d(
        _periods_below(x[0], c.lower[0], c.period[0]),
        _periods_below(x[1], c.lower[1], c.period[1]),
        _periods_below(x[2], c.lower[2], c.period[2]),
    )
    return x - wp.cw_mul(k, c.period)


@wp.kernel
def move(
    c: Constants,
    x: wp.array(dtype=wp.vec3d),
    v: wp.array(dtype=wp.vec3d),
    dt: wp.float64,
    x_out: wp.array(dtype=wp.vec3d),
):
    """x_out = x + dt v (m), wrapped along the periodic axes: particles at constant velocity v (m/s)."""
    i = wp.tid()
    x_out[i] = wrap(c, x[i] + dt * v[i])
