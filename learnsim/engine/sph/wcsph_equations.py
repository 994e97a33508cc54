"""Warp kernels of weakly compressible SPH: equation of state, wall extrapolation, rates, updates.

The equations are written out in ``learnsim.engine.sph.wcsph``, which drives these kernels.
Positions are vec3d with z = 0 in 2D; ``Constants.dim`` only sets the kernel normalisation.
``Constants``, the periodic ``wrap`` and the walls' ``move`` are shared with ISPH, in ``kernels``.
"""

from typing import Any

import warp as wp

from learnsim.engine.sph.kernels import Constants, kernel_gradient, kernel_value, wrap


@wp.func
def eos_pressure(rho: wp.float64, c: Constants):
    """Tait pressure (Pa) of density rho."""
    b = c.rho0 * c.c0 * c.c0 / c.gamma
    return b * (wp.pow(rho / c.rho0, c.gamma) - wp.float64(1.0))


@wp.func
def eos_density(p: wp.float64, c: Constants):
    """Inverse of eos_pressure; pressures below -rho0 c0^2 / gamma map to a tiny density."""
    base = wp.max(wp.float64(1.0) + c.gamma * p / (c.rho0 * c.c0 * c.c0), wp.float64(1.0e-6))
    return c.rho0 * wp.pow(base, wp.float64(1.0) / c.gamma)


WallSums = wp.types.vector(length=8, dtype=wp.float64)
"""Per wall particle: sum W, sum p W, sum rho x_wf W (3), sum v W (3)."""


@wp.kernel
def wall_sums(
    c: Constants,
    image: int,
    shift: wp.vec3d,
    fluid_grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    v: wp.array(dtype=wp.vec3d),
    rho: wp.array(dtype=wp.float64),
    p: wp.array(dtype=wp.float64),
    wall_x: wp.array(dtype=wp.vec3d),
    sums: wp.array2d(dtype=WallSums),
):
    """Kernel-weighted sums over the fluid (seen through periodic image ``shift``) around each
    wall particle (Adami et al. 2012), written to row ``image``.

    Warp's adjoint replays a dynamic loop's body but not its accumulators, and does not replay
    loops nested in a dynamic loop: so sums are used only linearly after the loop, images are
    separate launches, and ``wall_state`` combines the sums.
    """
    w = wp.tid()
    xq = wall_x[w] + shift
    total = WallSums()
    for f in wp.hash_grid_query(fluid_grid, xq, c.radius):
        x_wf = xq - x[f]
        r = wp.length(x_wf)
        if r < c.radius:
            kw = kernel_value(r, c.h, c.dim, c.kernel)
            rx = (rho[f] * kw) * x_wf
            vw = kw * v[f]
            total += WallSums(kw, p[f] * kw, rx[0], rx[1], rx[2], vw[0], vw[1], vw[2])
    sums[image, w] = total


@wp.kernel
def sum_images(parts: wp.array2d(dtype=Any), total: wp.array(dtype=Any)):
    """total[i] = sum over images k of parts[k, i]."""
    i = wp.tid()
    s = parts[0, i]
    for k in range(1, parts.shape[0]):
        s += parts[k, i]
    total[i] = s


@wp.kernel
def wall_state(
    c: Constants,
    wall_v: wp.array(dtype=wp.vec3d),
    sums: wp.array(dtype=WallSums),
    wall_p: wp.array(dtype=wp.float64),
    wall_rho: wp.array(dtype=wp.float64),
    wall_v_noslip: wp.array(dtype=wp.vec3d),
):
    """Wall pressure, density and no-slip velocity from the sums; a wall particle with no
    fluid near it gets p = 0 and its own velocity."""
    w = wp.tid()
    total = sums[w]
    pw = wp.float64(0.0)
    vw = wall_v[w]
    if total[0] > wp.float64(0.0):
        pw = (total[1] + wp.dot(c.gravity, wp.vec3d(total[2], total[3], total[4]))) / total[0]
        vw = wp.vec3d(total[5], total[6], total[7]) / total[0]
    wall_p[w] = pw
    wall_rho[w] = eos_density(pw, c)
    wall_v_noslip[w] = wp.float64(2.0) * wall_v[w] - vw


@wp.kernel
def rates(
    c: Constants,
    nu: wp.array(dtype=wp.float64),
    momentum: int,
    image: int,
    shift: wp.vec3d,
    fluid_grid: wp.uint64,
    wall_grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    v: wp.array(dtype=wp.vec3d),
    rho: wp.array(dtype=wp.float64),
    p: wp.array(dtype=wp.float64),
    wall_x: wp.array(dtype=wp.vec3d),
    wall_v: wp.array(dtype=wp.vec3d),
    wall_v_noslip: wp.array(dtype=wp.vec3d),
    wall_rho: wp.array(dtype=wp.float64),
    wall_p: wp.array(dtype=wp.float64),
    drho: wp.array2d(dtype=wp.float64),
    acc: wp.array2d(dtype=wp.vec3d),
):
    """Contributions of the neighbours seen through periodic image ``shift`` (image 0 is the
    zero shift and adds the body force), written to row ``image``.

    momentum = 0: density rate only (drho); momentum = 1: acceleration only (acc).
    nu: (1,) kinematic viscosity (m^2/s) of the laminar term, an array so that it has a gradient.
    """
    i = wp.tid()
    xi = x[i]
    vi = v[i]
    rhoi = rho[i]
    pi_rho2 = p[i] / (rhoi * rhoi)
    # not c.eta2 (ISPH's): (0.01 h) h and 0.01 (h h) can differ in the last bit
    eta2 = wp.float64(0.01) * c.h * c.h
    rate = wp.float64(0.0)
    a = wp.vec3d()
    if image == 0:
        a = c.gravity
    xq = xi + shift
    for j in wp.hash_grid_query(fluid_grid, xq, c.radius):
        x_ij = xq - x[j]
        r = wp.length(x_ij)
        if r > wp.float64(0.0) and r < c.radius:
            grad = kernel_gradient(x_ij, c.h, c.dim, c.kernel)
            v_ij = vi - v[j]
            rhoj = rho[j]
            if momentum == 0:
                rate += c.mass * wp.dot(v_ij, grad)
                hydrostatic = c.rho0 * wp.dot(c.gravity, -x_ij) / (c.c0 * c.c0)
                psi = (wp.float64(-2.0) * (rhoj - rhoi - hydrostatic) / (r * r)) * x_ij
                rate += c.delta * c.h * c.c0 * (c.mass / rhoj) * wp.dot(psi, grad)
            else:
                a -= (c.mass * (pi_rho2 + p[j] / (rhoj * rhoj))) * grad
                x_dot_grad = wp.dot(x_ij, grad) / (r * r + eta2)
                a += (c.mass * nu[0] * (rhoi + rhoj) / (rhoi * rhoj) * x_dot_grad) * v_ij
                v_dot_x = wp.dot(v_ij, x_ij)
                if v_dot_x < wp.float64(0.0):
                    mu = c.h * v_dot_x / (r * r + eta2)
                    a += (c.mass * c.alpha * c.c0 * mu / (wp.float64(0.5) * (rhoi + rhoj))) * grad
    for w in wp.hash_grid_query(wall_grid, xq, c.radius):
        x_iw = xq - wall_x[w]
        r = wp.length(x_iw)
        if r < c.radius:
            grad = kernel_gradient(x_iw, c.h, c.dim, c.kernel)
            if momentum == 0:
                rate += c.mass * wp.dot(vi - wall_v[w], grad)
            else:
                rhow = wall_rho[w]
                a -= (c.mass * (pi_rho2 + wall_p[w] / (rhow * rhow))) * grad
                x_dot_grad = wp.dot(x_iw, grad) / (r * r + eta2)
                # viscous terms see the wall's no-slip (ghost) velocity
                v_iw = vi - wall_v_noslip[w]
                a += (c.mass * nu[0] * (rhoi + rhow) / (rhoi * rhow) * x_dot_grad) * v_iw
                v_dot_x = wp.dot(v_iw, x_iw)
                if v_dot_x < wp.float64(0.0):
                    mu = c.h * v_dot_x / (r * r + eta2)
                    a += (c.mass * c.alpha * c.c0 * mu / (wp.float64(0.5) * (rhoi + rhow))) * grad
    if momentum == 0:
        drho[image, i] = rate
    else:
        acc[image, i] = a


@wp.kernel
def kick_drift(
    c: Constants,
    x: wp.array(dtype=wp.vec3d),
    v: wp.array(dtype=wp.vec3d),
    a: wp.array(dtype=wp.vec3d),
    dt_kick: wp.float64,
    dt_drift: wp.float64,
    x_out: wp.array(dtype=wp.vec3d),
    v_out: wp.array(dtype=wp.vec3d),
):
    """v_out = v + dt_kick a, then x_out = x + dt_drift v_out."""
    i = wp.tid()
    vn = v[i] + dt_kick * a[i]
    v_out[i] = vn
    x_out[i] = wrap(c, x[i] + dt_drift * vn)


@wp.kernel
def update_density(
    c: Constants,
    rho: wp.array(dtype=wp.float64),
    drho: wp.array(dtype=wp.float64),
    dt: wp.float64,
    rho_out: wp.array(dtype=wp.float64),
    p_out: wp.array(dtype=wp.float64),
):
    i = wp.tid()
    r = rho[i] + dt * drho[i]
    rho_out[i] = r
    p_out[i] = eos_pressure(r, c)


@wp.kernel
def pressure(c: Constants, rho: wp.array(dtype=wp.float64), p_out: wp.array(dtype=wp.float64)):
    i = wp.tid()
    p_out[i] = eos_pressure(rho[i], c)
