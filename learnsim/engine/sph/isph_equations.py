"""Warp kernels of incompressible SPH: kernel-sum densities, prediction, PPE assembly, projection.

The scheme is written out in ``learnsim.engine.sph.isph``, which drives these kernels. Fluid
and wall particles share one array (fluid first, ``Constants.n_fluid`` of them) and one hash
grid. A pressure unknown is a fluid particle off the free surface or a wall particle with a
fluid neighbour; ``index`` maps a particle to its unknown (-1 when it has none, p = 0 there).
``Constants`` and the walls' ``move`` are shared with WCSPH, in ``kernels``.
"""

import warp as wp

from learnsim.engine.sph.kernels import Constants, kernel_gradient, kernel_value


@wp.func
def laplacian_weight(c: Constants, x_ij: wp.vec3d, r: wp.float64):
    """K_ij = -2 m / rho0 x_ij . grad W_ij / (r^2 + eta^2) >= 0 (1 / m^2), symmetric in i and j."""
    grad = kernel_gradient(x_ij, c.h, c.dim, c.kernel)
    return -wp.float64(2.0) * c.mass / c.rho0 * wp.dot(x_ij, grad) / (r * r + c.eta2)


@wp.func
def coupled(c: Constants, i: int, j: int, r: wp.float64):
    """Whether particles i and j at distance r share a Laplacian entry (no wall-wall pairs)."""
    return r > wp.float64(0.0) and r < c.radius and (i < c.n_fluid or j < c.n_fluid)


@wp.kernel
def summation(
    c: Constants,
    grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    rho: wp.array(dtype=wp.float64),
    surface: wp.array(dtype=wp.int32),
):
    """Per fluid particle: rho_i = sum_j m W_ij over fluid and walls, and the free-surface flag."""
    i = wp.tid()
    xi = x[i]
    s = wp.float64(0.0)
    for j in wp.hash_grid_query(grid, xi, c.radius):
        r = wp.length(xi - x[j])
        if r < c.radius:
            s += c.mass * kernel_value(r, c.h, c.dim, c.kernel)
    rho[i] = s
    surface[i] = wp.where(s < c.surface_density, 1, 0)


@wp.kernel
def predict(
    c: Constants,
    grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    v: wp.array(dtype=wp.vec3d),
    dt: wp.float64,
    v_star: wp.array(dtype=wp.vec3d),
):
    """v* = v + dt (g + Morris viscosity) for fluid particles; walls keep their velocity."""
    i = wp.tid()
    vi = v[i]
    if i >= c.n_fluid:
        v_star[i] = vi
        return
    xi = x[i]
    a = c.gravity
    if c.nu > wp.float64(0.0):
        for j in wp.hash_grid_query(grid, xi, c.radius):
            x_ij = xi - x[j]
            r = wp.length(x_ij)
            if r > wp.float64(0.0) and r < c.radius:
                # nu laplacian(v) with the same weights as the pressure Laplacian
                a -= c.nu * laplacian_weight(c, x_ij, r) * (vi - v[j])
    v_star[i] = vi + dt * a


@wp.kernel
def mark_unknowns(
    c: Constants,
    grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    surface: wp.array(dtype=wp.int32),
    unknown: wp.array(dtype=wp.int32),
):
    """1 for a fluid particle off the free surface or a wall particle with a fluid neighbour."""
    i = wp.tid()
    if i < c.n_fluid:
        unknown[i] = 1 - surface[i]
        return
    xi = x[i]
    found = int(0)  # noqa: UP018 (a dynamic Warp variable, assigned in the loop)
    for j in wp.hash_grid_query(grid, xi, c.radius):
        if j < c.n_fluid:
            r = wp.length(xi - x[j])
            if r > wp.float64(0.0) and r < c.radius:
                found = 1
    unknown[i] = found


@wp.kernel
def count_entries(
    c: Constants,
    grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    index: wp.array(dtype=wp.int32),
    counts: wp.array(dtype=wp.int32),
    anchored: wp.array(dtype=wp.int32),
):
    """Stored entries of each unknown's matrix row (the diagonal and one per coupled unknown), and
    whether the row has a coupled particle without an unknown (p = 0 there: a free-surface particle)."""
    i = wp.tid()
    k = index[i]
    if k < 0:
        return
    xi = x[i]
    n = int(1)  # noqa: UP018 (a dynamic Warp variable, assigned in the loop)
    dirichlet = int(0)  # noqa: UP018
    for j in wp.hash_grid_query(grid, xi, c.radius):
        r = wp.length(xi - x[j])
        if coupled(c, i, j, r):
            if index[j] >= 0:
                n += 1
            else:
                dirichlet = 1
    counts[k] = n
    anchored[k] = dirichlet


@wp.kernel
def fill_entries(
    c: Constants,
    grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    v_star: wp.array(dtype=wp.vec3d),
    rho: wp.array(dtype=wp.float64),
    index: wp.array(dtype=wp.int32),
    offsets: wp.array(dtype=wp.int32),
    inv_dt: wp.float64,
    relaxation: wp.float64,
    rows: wp.array(dtype=wp.int32),
    cols: wp.array(dtype=wp.int32),
    values: wp.array(dtype=wp.float64),
    rhs: wp.array(dtype=wp.float64),
):
    """Row index[i] of A p = b as triplets from offsets[index[i]] (the diagonal first), and b.

    A_kk = sum_j K_ij over coupled j (free-surface neighbours included: p_j = 0 is eliminated
    symmetrically), A_kl = -K_ij for a coupled unknown j. Fluid rows: b = -rho0 div(v*) / dt
    + relaxation (rho_i - rho0) / dt^2, the wall terms of div(v*) taken without the gravity
    kick g dt; wall rows: b = sum_f K_wf rho0 g . x_wf (hydrostatic).
    """
    i = wp.tid()
    k = index[i]
    if k < 0:
        return
    xi = x[i]
    vi = v_star[i]
    fluid = i < c.n_fluid
    slot = offsets[k] + 1
    diagonal = wp.float64(0.0)
    divergence = wp.float64(0.0)
    hydrostatic = wp.float64(0.0)
    for j in wp.hash_grid_query(grid, xi, c.radius):
        x_ij = xi - x[j]
        r = wp.length(x_ij)
        if coupled(c, i, j, r):
            weight = laplacian_weight(c, x_ij, r)
            diagonal += weight
            if index[j] >= 0:
                rows[slot] = k
                cols[slot] = index[j]
                values[slot] = -weight
                slot += 1
            if not fluid:
                hydrostatic += weight * c.rho0 * wp.dot(c.gravity, x_ij)
            else:
                grad = kernel_gradient(x_ij, c.h, c.dim, c.kernel)
                v_ij = v_star[j] - vi
                if j >= c.n_fluid:
                    # the wall rows already hold the fluid up against gravity
                    v_ij = v_ij + c.gravity / inv_dt
                divergence += c.mass / c.rho0 * wp.dot(v_ij, grad)
    rows[offsets[k]] = k
    cols[offsets[k]] = k
    values[offsets[k]] = diagonal
    if fluid:
        rhs[k] = -c.rho0 * divergence * inv_dt + relaxation * (rho[i] - c.rho0) * inv_dt * inv_dt
    else:
        rhs[k] = hydrostatic


@wp.kernel
def gather(index: wp.array(dtype=wp.int32), p: wp.array(dtype=wp.float64), out: wp.array(dtype=wp.float64)):
    """out[index[i]] = p[i] for particles with an unknown (the warm start of the solve)."""
    i = wp.tid()
    k = index[i]
    if k >= 0:
        out[k] = p[i]


@wp.kernel
def scatter(index: wp.array(dtype=wp.int32), solution: wp.array(dtype=wp.float64), p: wp.array(dtype=wp.float64)):
    """p[i] = solution[index[i]], or 0 on the free surface and on walls away from the fluid."""
    i = wp.tid()
    k = index[i]
    value = wp.float64(0.0)
    if k >= 0:
        value = solution[k]
    p[i] = value


@wp.kernel
def project(
    c: Constants,
    grid: wp.uint64,
    x: wp.array(dtype=wp.vec3d),
    v: wp.array(dtype=wp.vec3d),
    v_star: wp.array(dtype=wp.vec3d),
    p: wp.array(dtype=wp.float64),
    dt: wp.float64,
    x_out: wp.array(dtype=wp.vec3d),
    v_out: wp.array(dtype=wp.vec3d),
    a_out: wp.array(dtype=wp.vec3d),
):
    """v = v* - dt / rho0 grad(p)_i, x = x + dt v, a = (v - v^n) / dt (fluid particles).

    grad(p)_i = M_i^-1 sum_j V_j (p_j - p_i) grad W_ij with M_i = sum_j V_j grad W_ij (x_j - x_i)^T,
    V_j = m / rho0: exact for linear pressure fields, also where the free surface truncates the
    kernel support (Bonet and Lok 1999). M_i is replaced by I when nearly singular (det < 0.05).
    """
    i = wp.tid()
    xi = x[i]
    pi = p[i]
    volume = c.mass / c.rho0
    g = wp.vec3d()
    m = wp.mat33d()
    for j in wp.hash_grid_query(grid, xi, c.radius):
        x_ij = xi - x[j]
        r = wp.length(x_ij)
        if r > wp.float64(0.0) and r < c.radius:
            grad = kernel_gradient(x_ij, c.h, c.dim, c.kernel)
            g += (volume * (p[j] - pi)) * grad
            m -= volume * wp.outer(grad, x_ij)
    if c.dim == 2:
        m[2, 2] = wp.float64(1.0)
    grad_p = g
    if wp.determinant(m) > wp.float64(0.05):
        grad_p = wp.inverse(m) * g
    vn = v_star[i] - (dt / c.rho0) * grad_p
    v_out[i] = vn
    x_out[i] = xi + dt * vn
    a_out[i] = (vn - v[i]) / dt
