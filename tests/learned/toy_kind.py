"""A toy model kind for the registry tests: a scaled Jacobi factor ``L = s sqrt(diag(A))``, ``s`` learned.

As a PCG preconditioner ``M = (L L^T)^-1 = D^-1 / s^2`` it takes exactly Jacobi's iterations, whatever
``s``: a number the tests can check. Training fits ``s^2 D x = b`` in least squares.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from learnsim.learned.training import Recipe


class ToyFactor(eqx.Module):
    log_scale: jax.Array

    @property
    def hyperparameters(self) -> dict:
        return {}


def build(hyperparameters: dict) -> ToyFactor:
    return ToyFactor(jnp.zeros(()))


def _loss(model: ToyFactor, batch, key) -> jax.Array:
    diagonal, solution, rhs = batch
    return jnp.mean((jnp.exp(2.0 * model.log_scale) * diagonal * solution - rhs) ** 2)


def recipe(systems, seed: int) -> Recipe:
    def batches(part):
        return [(s.matrix.diagonal(), s.solution, s.rhs) for s in part]

    return Recipe(build({}), _loss, batches, 0.1)


def factor(model: ToyFactor, matrix) -> sp.csr_matrix:
    scale = float(np.exp(model.log_scale))
    return sp.diags(scale * np.sqrt(matrix.diagonal()), format="csr")
