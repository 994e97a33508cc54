"""FactorPreconditioner: z = (L L^T)^{-1} x by two Warp triangular solves, against scipy's triangular solves."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import warp as wp

from learnsim.engine.solvers import csr_to_bsr, pcg
from learnsim.engine.solvers.factor_preconditioner import FactorPreconditioner

DEVICE = "cpu"


def poisson_2d(n: int) -> sp.csr_matrix:
    """5-point Laplacian on an n x n grid with Dirichlet boundaries, shape (n^2, n^2)."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(t, sp.eye(n)) + sp.kron(sp.eye(n), t)).tocsr()


def random_factor(A: sp.csr_matrix, seed: int) -> sp.csr_matrix:
    """Random values on the pattern of tril(A), diagonal in [1, 3]: any such L gives an SPD (L L^T)^{-1}."""
    rng = np.random.default_rng(seed)
    lower = sp.tril(A, format="csr").astype(np.float64)
    lower.data = rng.uniform(-1.0, 1.0, lower.nnz)
    lower.setdiag(rng.uniform(1.0, 3.0, A.shape[0]))
    return lower.tocsr()


def reference(L: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    y = spla.spsolve_triangular(L, x, lower=True)
    return spla.spsolve_triangular(L.T.tocsr(), y, lower=False)


@pytest.mark.parametrize("schedule", ["sequential", "level"])
def test_applies_inverse_of_l_lt(schedule):
    A = poisson_2d(9)
    L = random_factor(A, seed=1)
    M = FactorPreconditioner(csr_to_bsr(A, device=DEVICE), L, schedule=schedule)
    assert M.lower.n_levels > 1 and M.upper.n_levels == M.lower.n_levels
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, A.shape[0]))
    expected = reference(L, x)
    z = wp.zeros(A.shape[0], dtype=wp.float64, device=DEVICE)
    M.apply(wp.array(x, dtype=wp.float64, device=DEVICE), z, z, 1.0, 0.0)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    # the general Warp matvec form, z = alpha M x + beta y
    y_wp = wp.array(y, dtype=wp.float64, device=DEVICE)
    z2 = wp.zeros_like(y_wp)
    M.apply(wp.array(x, dtype=wp.float64, device=DEVICE), y_wp, z2, 2.0, -0.5)
    np.testing.assert_allclose(z2.numpy(), 2.0 * expected - 0.5 * y, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def test_exact_cholesky_factor_converges_in_one_iteration():
    A = poisson_2d(6)
    L = sp.csr_matrix(np.linalg.cholesky(A.toarray()))
    b = np.random.default_rng(3).standard_normal(A.shape[0])
    A_wp = csr_to_bsr(A, device=DEVICE)
    result = pcg(A_wp, wp.array(b, dtype=wp.float64, device=DEVICE), preconditioner=FactorPreconditioner(A_wp, L))
    assert result.iterations == 1
    np.testing.assert_allclose(result.x.numpy(), spla.spsolve(A.tocsc(), b), rtol=1e-10)


def test_rejects_factors_that_would_not_give_an_spd_preconditioner():
    A = poisson_2d(4)
    A_wp = csr_to_bsr(A, device=DEVICE)
    L = random_factor(A, seed=4)
    with pytest.raises(ValueError, match="lower triangular"):
        FactorPreconditioner(A_wp, L + sp.triu(A, 1))
    negative = L.copy()
    negative[5, 5] = -1.0
    with pytest.raises(ValueError, match=r"positive diagonal: L\[5, 5\]"):
        FactorPreconditioner(A_wp, negative)
    missing = sp.tril(L, -1, format="csr") + sp.diags(np.r_[1.0, 0.0, np.ones(14)]).tocsr()
    missing.eliminate_zeros()
    with pytest.raises(ValueError, match=r"L\[1, 1\]"):
        FactorPreconditioner(A_wp, missing)
    with pytest.raises(ValueError, match="shape"):
        FactorPreconditioner(A_wp, L[:8, :8])
