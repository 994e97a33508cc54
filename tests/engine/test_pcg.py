"""PCG against scipy's direct solver, its residual history, and its failure modes."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import warp as wp

from learnsim.core.errors import EngineError, SolverNotConverged
from learnsim.engine.solvers import (
    IncompleteCholeskyPreconditioner,
    Preconditioner,
    SolverBreakdown,
    csr_to_bsr,
    make_preconditioner,
    pcg,
    rigid_body_modes,
)
from learnsim.engine.solvers.sparse import scalar_view

DEVICE = "cpu"
TOL = 1e-10


def contrast_poisson(n: int, contrast: float = 1e3) -> sp.csr_matrix:
    """Cell-centred 5-point diffusion on an n x n grid, coefficient ``contrast`` in the central square
    and 1 elsewhere, harmonic means on faces, Dirichlet boundaries. SPD, shape (n^2, n^2)."""
    k = np.ones((n, n))
    k[n // 4 : 3 * n // 4, n // 4 : 3 * n // 4] = contrast
    index = np.arange(n * n).reshape(n, n)
    diagonal = np.zeros(n * n)
    rows, cols, vals = [], [], []
    for axis in (0, 1):
        left, right = k.take(range(n - 1), axis=axis), k.take(range(1, n), axis=axis)
        t = (2.0 * left * right / (left + right)).ravel()
        i, j = index.take(range(n - 1), axis=axis).ravel(), index.take(range(1, n), axis=axis).ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-t, -t]
        np.add.at(diagonal, i, t)
        np.add.at(diagonal, j, t)
        for end in (0, n - 1):  # boundary faces, half a cell from the Dirichlet value
            np.add.at(diagonal, index.take(end, axis=axis).ravel(), 2.0 * k.take(end, axis=axis).ravel())
    off = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n))
    return (off + sp.diags(diagonal)).tocsr()


def clamped_elasticity(dim: int, nodes_per_side: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """P1 elasticity (E = 1, nu = 0.3) on the unit square/cube, clamped on x = 0.

    scikit-fem numbers the dofs node-major, so the matrix is made of ``dim x dim`` blocks.
    Returns (K, positions of the free nodes).
    """
    from skfem import Basis, ElementTetP1, ElementTriP1, ElementVector, MeshTet, MeshTri, asm
    from skfem.models.elasticity import lame_parameters, linear_elasticity

    axes = [np.linspace(0.0, 1.0, nodes_per_side)] * dim
    mesh = MeshTri.init_tensor(*axes) if dim == 2 else MeshTet.init_tensor(*axes)
    basis = Basis(mesh, ElementVector(ElementTriP1() if dim == 2 else ElementTetP1()))
    K = asm(linear_elasticity(*lame_parameters(1.0, 0.3)), basis).tocsr()
    keep = np.flatnonzero(mesh.p[0] > 1e-12)
    dofs = (dim * keep[:, None] + np.arange(dim)).ravel()
    return K[dofs][:, dofs].tocsr(), mesh.p.T[keep]


@pytest.fixture(scope="module")
def poisson_system():
    A = contrast_poisson(24)
    b = np.ones(A.shape[0])
    return A, b, spla.spsolve(A.tocsc(), b)


@pytest.fixture(scope="module")
def elasticity_system():
    A, points = clamped_elasticity(3, 5)
    b = np.zeros((A.shape[0] // 3, 3))
    b[:, 2] = -1.0  # uniform downward load
    b = b.ravel()
    return A, b, spla.spsolve(A.tocsc(), b), points


def solve(A, b, block_size, **kwargs):
    bsr = csr_to_bsr(A, block_size=block_size, device=DEVICE)
    vector_type = wp.float64 if block_size == 1 else wp.types.vector(block_size, wp.float64)
    b_wp = wp.array(b if block_size == 1 else b.reshape(-1, block_size), dtype=vector_type, device=DEVICE)
    return pcg(bsr, b_wp, tol=kwargs.pop("tol", TOL), **kwargs)


def check_result(result, A, b, reference):
    x = result.x.numpy().reshape(-1)
    error = np.linalg.norm(x - reference) / np.linalg.norm(reference)
    assert error <= 1e-6, f"{result.preconditioner}: relative error {error:.2e} vs spsolve"
    true_residual = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
    assert true_residual <= 10 * TOL, f"{result.preconditioner}: true relative residual {true_residual:.2e}"
    history = result.residuals
    assert result.converged
    assert history.dtype == np.float64 and history.shape == (result.iterations + 1,)
    assert history[0] == pytest.approx(1.0, rel=1e-12)  # x0 = 0
    assert history[-1] <= TOL
    assert np.all(history[:-1] > TOL), "the solve went on after reaching the tolerance"


@pytest.mark.parametrize("name", ["none", "jacobi", "ic0", "amg"])
def test_contrast_poisson_matches_spsolve(poisson_system, name):
    A, b, reference = poisson_system
    result = solve(A, b, 1, preconditioner=name)
    assert result.preconditioner == name
    check_result(result, A, b, reference)


@pytest.mark.parametrize("name", ["none", "jacobi", "ic0", "amg"])
def test_block_elasticity_matches_spsolve(elasticity_system, name):
    A, b, reference, points = elasticity_system
    bsr = csr_to_bsr(A, block_size=3, device=DEVICE)
    preconditioner = make_preconditioner(name, bsr, near_nullspace=rigid_body_modes(points, 3))
    b_wp = wp.array(b.reshape(-1, 3), dtype=wp.vec3d, device=DEVICE)
    result = pcg(bsr, b_wp, preconditioner=preconditioner, tol=TOL)
    assert result.x.dtype == wp.vec3d
    check_result(result, A, b, reference)


@pytest.mark.parametrize("name", ["ic0", "amg"])
def test_2d_elasticity_with_vec2d_blocks(name):
    A, points = clamped_elasticity(2, 9)
    b = np.tile([0.0, -1.0], A.shape[0] // 2)
    bsr = csr_to_bsr(A, block_size=2, device=DEVICE)
    assert bsr.block_shape == (2, 2)
    preconditioner = make_preconditioner(name, bsr, near_nullspace=rigid_body_modes(points, 2))
    b_wp = wp.array(b.reshape(-1, 2), dtype=wp.vec2d, device=DEVICE)
    result = pcg(bsr, b_wp, preconditioner=preconditioner, tol=TOL)
    check_result(result, A, b, spla.spsolve(A.tocsc(), b))


def test_ic0_and_amg_beat_jacobi_on_contrast_poisson(poisson_system):
    A, b, _ = poisson_system
    counts = {name: solve(A, b, 1, preconditioner=name).iterations for name in ("jacobi", "ic0", "amg")}
    assert counts["ic0"] < counts["jacobi"], f"iterations: {counts}"
    assert counts["amg"] < counts["ic0"], f"iterations: {counts}"


def test_level_scheduled_ic0_in_pcg_matches_sequential(poisson_system):
    A, b, reference = poisson_system
    bsr = csr_to_bsr(A, device=DEVICE)
    results = [
        solve(A, b, 1, preconditioner=IncompleteCholeskyPreconditioner(bsr, schedule=schedule))
        for schedule in ("sequential", "level")
    ]
    assert results[0].iterations == results[1].iterations
    np.testing.assert_allclose(results[1].residuals, results[0].residuals, rtol=1e-9)
    check_result(results[1], A, b, reference)


def test_initial_guess_is_used_and_overwritten(poisson_system):
    A, b, reference = poisson_system
    bsr = csr_to_bsr(A, device=DEVICE)
    x = wp.array(reference * (1.0 + 1e-3), dtype=wp.float64, device=DEVICE)
    result = pcg(bsr, wp.array(b, dtype=wp.float64, device=DEVICE), x=x, preconditioner="ic0", tol=TOL)
    assert result.x is x
    assert result.residuals[0] < 1e-2  # started close to the answer
    assert np.linalg.norm(x.numpy() - reference) <= 1e-6 * np.linalg.norm(reference)


def test_zero_rhs_returns_zero_immediately():
    A = contrast_poisson(4)
    x = wp.array(np.ones(A.shape[0]), dtype=wp.float64, device=DEVICE)
    result = pcg(csr_to_bsr(A, device=DEVICE), wp.zeros(A.shape[0], dtype=wp.float64, device=DEVICE), x=x)
    assert result.converged and result.iterations == 0
    np.testing.assert_array_equal(result.residuals, [0.0])
    np.testing.assert_array_equal(x.numpy(), 0.0)


def test_non_convergence_raises_with_iterations_and_residual(poisson_system):
    A, b, _ = poisson_system
    with pytest.raises(SolverNotConverged, match=r"PCG\(jacobi\) did not converge.*after 3 iterations") as info:
        solve(A, b, 1, preconditioner="jacobi", max_iters=3)
    assert info.value.iterations == 3
    assert info.value.residual > TOL and f"{info.value.residual:.3e}" in str(info.value)

    result = solve(A, b, 1, preconditioner="jacobi", max_iters=3, raise_on_failure=False)
    assert not result.converged and result.iterations == 3 and result.residuals.shape == (4,)
    assert result.residuals[-1] == pytest.approx(info.value.residual, rel=1e-12)


def test_indefinite_matrix_raises_instead_of_returning_garbage():
    # Laplacian shifted into its spectrum: symmetric, nonsingular, 34 of 100 eigenvalues negative.
    # CG's guarantees need SPD, so the first non-positive curvature p.Ap stops the solve.
    A = (contrast_poisson(10, contrast=1.0) - 3.7 * sp.eye(100)).tocsr()
    eigenvalues = np.linalg.eigvalsh(A.toarray())
    assert eigenvalues.min() < 0.0 and np.abs(eigenvalues).min() > 1e-2
    for name in ("none", "jacobi"):
        with pytest.raises(SolverBreakdown, match="not positive definite") as info:
            solve(A, np.ones(100), 1, preconditioner=name)
        assert info.value.iterations >= 1


def test_nan_residual_raises_breakdown():
    A = contrast_poisson(4).tolil()
    A[3, 2] = A[2, 3] = np.nan
    with pytest.raises(SolverBreakdown, match="not finite"):
        solve(A.tocsr(), np.ones(16), 1, preconditioner="none")


def test_breakdown_is_an_engine_error():
    assert issubclass(SolverBreakdown, SolverNotConverged) and issubclass(SolverBreakdown, EngineError)


def test_custom_preconditioner_subclass_plugs_in(poisson_system):
    """What a learned preconditioner does: subclass, implement apply, pass the instance."""
    A, b, reference = poisson_system
    bsr = csr_to_bsr(A, device=DEVICE)
    inverse_diagonal = wp.array(1.0 / A.diagonal(), dtype=wp.float64, device=DEVICE)

    class DiagonalFromHost(Preconditioner):
        name = "custom"

        def apply(self, x, y, z, alpha, beta):
            out = alpha * inverse_diagonal.numpy() * scalar_view(x).numpy()
            if beta != 0.0:
                out = out + beta * scalar_view(y).numpy()
            scalar_view(z).assign(out)

    result = pcg(bsr, wp.array(b, dtype=wp.float64, device=DEVICE), preconditioner=DiagonalFromHost(bsr), tol=TOL)
    jacobi = solve(A, b, 1, preconditioner="jacobi")
    assert result.preconditioner == "custom"
    assert result.iterations == jacobi.iterations
    check_result(result, A, b, reference)
