"""F2: manufactured solutions, u = sin(pi x) sin(pi y) (3D: times sin(pi z)), zero on the boundary.

Poisson -lap u = f and linear elasticity (every displacement component equal to u, body force
f = -div sigma(u) computed analytically). Errors in L2 and the H1 seminorm over 4 refinements;
the fitted rates must be within 0.15 of p + 1 (L2) and p (H1), for P1/P2 (tri, tet) and Q1/Q2
(quad, hex).
"""

import numpy as np
import pytest
import warp as wp

from learnsim.core.mesh import box_mesh
from learnsim.engine.fem import forms
from learnsim.engine.fem.assembly import (
    assemble_diffusion,
    assemble_linear_elasticity,
    assemble_source,
    evaluate_at_points,
)
from learnsim.engine.fem.boundary import make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import LinearElastic
from learnsim.engine.fem.statics import solve_linear_static

from .helpers import boundary_nodes, field_of

MATERIAL = LinearElastic(E=10.0, nu=0.3)


def phi(X):
    return np.prod(np.sin(np.pi * X), axis=1)


def grad_phi(X):
    s, c = np.sin(np.pi * X), np.cos(np.pi * X)
    dim = X.shape[1]
    return np.stack([np.pi * c[:, i] * np.prod(np.delete(s, i, axis=1), axis=1) for i in range(dim)], axis=1)


def hessian_phi(X):
    s, c = np.sin(np.pi * X), np.cos(np.pi * X)
    n, dim = X.shape
    H = np.empty((n, dim, dim))
    for i in range(dim):
        for j in range(dim):
            if i == j:
                H[:, i, j] = -(np.pi**2) * phi(X)
            else:
                rest = np.prod(np.delete(s, [i, j], axis=1), axis=1) if dim == 3 else 1.0
                H[:, i, j] = np.pi**2 * c[:, i] * c[:, j] * rest
    return H


def solve(element, order, n, elasticity):
    dim = 2 if element in ("tri", "quad") else 3
    mesh = box_mesh([1.0] * dim, [n] * dim, element)
    disc = discretize(mesh, order=order, components=dim if elasticity else 1, quadrature_order=2 * order + 2)
    X = disc.quadrature_points
    if elasticity:
        lam, mu = MATERIAL.lame(dim)
        H = hessian_phi(X)
        # u_i = phi for every i: -div sigma = -(lam + mu) grad(div u) - mu lap(u)
        source = -(lam + mu) * H.sum(axis=2) - mu * np.trace(H, axis1=1, axis2=2)[:, None]
        K = assemble_linear_elasticity(disc, (lam, mu))
    else:
        source = dim * np.pi**2 * phi(X)[:, None]
        K = assemble_diffusion(disc, 1.0)
    bc = make_dirichlet(disc, [(boundary_nodes(disc), None, 0.0)])
    u = solve_linear_static(disc, K, assemble_source(disc, source), bc, "amg", tol=1e-12).u
    return disc, u


def errors(disc, u):
    """(L2 error, H1 seminorm error) against phi in every component."""
    dim, comps = disc.dim, disc.components
    value_type = disc.value_type
    grad_type = wp.types.vector(dim, wp.float64) if comps == 1 else wp.types.matrix((dim, dim), wp.float64)
    field = field_of(disc, u)
    uh = evaluate_at_points(disc, forms.field_value, {"u": field}, {}, dtype=value_type).reshape(-1, comps)
    gh = evaluate_at_points(disc, forms.field_gradient, {"u": field}, {}, dtype=grad_type).reshape(-1, comps, dim)
    X, w = disc.quadrature_points, disc.quadrature_weights
    l2 = np.sqrt(np.sum(w[:, None] * (uh - phi(X)[:, None]) ** 2))
    h1 = np.sqrt(np.sum(w[:, None, None] * (gh - grad_phi(X)[:, None, :]) ** 2))
    return l2, h1


# refinements sized so each case runs in a few seconds on 2 cores once kernels are compiled
LEVELS = {
    ("tri", 1): [4, 8, 16, 32],
    ("tri", 2): [2, 4, 8, 16],
    ("quad", 1): [4, 8, 16, 32],
    ("quad", 2): [2, 4, 8, 16],
    ("tet", 1): [2, 4, 8, 12],
    ("tet", 2): [2, 3, 4, 6],
    ("hex", 1): [2, 4, 8, 12],
    ("hex", 2): [2, 3, 4, 6],
}


def fitted_rates(element, order, elasticity):
    levels = LEVELS[(element, order)]
    e = np.array([errors(*solve(element, order, n, elasticity)) for n in levels])
    h = 1.0 / np.array(levels, dtype=float)
    # fit on the three finest levels: the coarsest is often pre-asymptotic
    l2_rate = np.polyfit(np.log(h[1:]), np.log(e[1:, 0]), 1)[0]
    h1_rate = np.polyfit(np.log(h[1:]), np.log(e[1:, 1]), 1)[0]
    return l2_rate, h1_rate, e


@pytest.mark.parametrize("elasticity", [False, True], ids=["poisson", "elasticity"])
@pytest.mark.parametrize(("element", "order"), list(LEVELS))
def test_convergence_rates(element, order, elasticity):
    l2_rate, h1_rate, e = fitted_rates(element, order, elasticity)
    message = f"L2 rate {l2_rate:.3f}, H1 rate {h1_rate:.3f}, errors {e.tolist()}"
    assert abs(l2_rate - (order + 1)) <= 0.15, message
    assert abs(h1_rate - order) <= 0.15, message
