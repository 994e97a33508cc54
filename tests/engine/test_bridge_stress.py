"""A constitutive law written in JAX plugs into the engine through per-point stresses.

f(u) = stress_divergence(P(I + displacement_gradient(u))) with a neo-Hookean P written in JAX
must equal the engine's own neo-Hookean internal force, and its gradients (w.r.t. u and the
model's parameters) must match central differences.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learnsim.engine.bridge.operators import (
    Problem,
    displacement_gradient,
    internal_force,
    lame_per_point,
    stress_divergence,
)
from learnsim.engine.fem import NeoHookean, box_mesh, discretize, lame_from_young_poisson


def neo_hookean_stress(F, lam, mu):
    """First Piola-Kirchhoff stress of W = mu/2 (I1 - 3) - mu ln J + lam/2 (ln J)^2, batched over points."""
    F_inv_t = jnp.swapaxes(jnp.linalg.inv(F), -1, -2)
    log_j = jnp.log(jnp.linalg.det(F))[..., None, None]
    return mu * (F - F_inv_t) + lam * log_j * F_inv_t


@pytest.fixture(scope="module", params=[("quad", [3, 2], 2), ("hex", [2, 2, 1], 1)], ids=["quad-Q2", "hex-Q1"])
def setting(request):
    element, cells, order = request.param
    dim = len(cells)
    disc = discretize(box_mesh([1.0] * dim, cells, element), order=order, components=dim)
    problem = Problem(disc, NeoHookean(1.0, 0.3), np.zeros((disc.n_nodes, dim), dtype=bool))
    u = 0.05 * np.random.default_rng(0).standard_normal(problem.shape)
    return problem, jnp.asarray(u)


def jax_model_forces(problem, u, lam, mu):
    grad_u = displacement_gradient(problem, u)
    F = jnp.eye(problem.disc.dim) + grad_u
    return stress_divergence(problem, neo_hookean_stress(F, lam, mu))


def test_jax_stress_reproduces_the_engine_internal_force(setting):
    problem, u = setting
    lam, mu = lame_from_young_poisson(10.0, 0.3)
    ours = jax_model_forces(problem, u, lam, mu)
    engine = internal_force(problem, u, lame_per_point(problem, 10.0, 0.3))
    assert np.abs(ours - engine).max() <= 1e-12 * np.abs(engine).max()


def test_gradients_through_the_jax_model(setting):
    problem, u = setting
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.standard_normal(problem.shape))
    loss = lambda u, mu: jnp.sum(w * jax_model_forces(problem, u, 5.0, mu)) ** 2
    g_u, g_mu = jax.grad(loss, argnums=(0, 1))(u, 4.0)
    d = jnp.asarray(rng.standard_normal(problem.shape))
    h = 1e-6
    fd_u = float(loss(u + h * d, 4.0) - loss(u - h * d, 4.0)) / (2 * h)
    fd_mu = float(loss(u, 4.0 + h) - loss(u, 4.0 - h)) / (2 * h)
    assert float(jnp.sum(g_u * d)) == pytest.approx(fd_u, rel=1e-5)
    assert float(g_mu) == pytest.approx(fd_mu, rel=1e-5)


def test_the_two_maps_are_adjoint(setting):
    """<B u, W P> = <u, B^T W P>: the identity both custom VJPs rely on."""
    problem, u = setting
    dim = problem.disc.dim
    P = jnp.asarray(np.random.default_rng(2).standard_normal((problem.disc.quadrature_points.shape[0], dim, dim)))
    w = jnp.asarray(problem.disc.quadrature_weights)[:, None, None]
    lhs = jnp.sum(displacement_gradient(problem, u) * w * P)
    rhs = jnp.sum(u * stress_divergence(problem, P))
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)
