"""Preconditioners and sparse conversions, checked against dense/scipy references."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import warp as wp

from learnsim.core.errors import EngineError, InputError
from learnsim.engine.solvers import (
    PRECONDITIONER_NAMES,
    IncompleteCholeskyPreconditioner,
    bsr_to_csr,
    csr_to_bsr,
    make_preconditioner,
    pcg,
    rigid_body_modes,
)
from learnsim.engine.solvers.incomplete_cholesky import IncompleteCholesky, ordering_permutation

DEVICE = "cpu"

KERSHAW = np.array([[3.0, -2.0, 0.0, 2.0], [-2.0, 3.0, -2.0, 0.0], [0.0, -2.0, 3.0, -2.0], [2.0, 0.0, -2.0, 3.0]])
"""SPD (eigenvalues 3 -+ 2 sqrt(2)) but IC(0) meets a pivot of -5 in its last row (Kershaw, 1978)."""


def poisson_2d(n: int) -> sp.csr_matrix:
    """5-point Laplacian on an n x n grid with Dirichlet boundaries, shape (n^2, n^2)."""
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(t, sp.eye(n)) + sp.kron(sp.eye(n), t)).tocsr()


def elasticity(dim: int, nodes_per_side: int, clamp: bool) -> tuple[sp.csr_matrix, np.ndarray]:
    """P1 linear elasticity stiffness (E = 1, nu = 0.3) on the unit square/cube from scikit-fem.

    Degrees of freedom are node-major (scikit-fem interleaves components), so the matrix is ``dim x dim``
    blocked. With ``clamp`` the nodes on x = 0 are removed (fixed). Returns (K, node positions).
    """
    from skfem import Basis, ElementTetP1, ElementTriP1, ElementVector, MeshTet, MeshTri, asm
    from skfem.models.elasticity import lame_parameters, linear_elasticity

    axes = [np.linspace(0.0, 1.0, nodes_per_side)] * dim
    mesh = MeshTri.init_tensor(*axes) if dim == 2 else MeshTet.init_tensor(*axes)
    element = ElementVector(ElementTriP1() if dim == 2 else ElementTetP1())
    basis = Basis(mesh, element)
    assert basis.nodal_dofs[1, 0] == 1, "expected interleaved (node-major) dofs"
    K = asm(linear_elasticity(*lame_parameters(1.0, 0.3)), basis).tocsr()
    points = mesh.p.T
    keep = np.flatnonzero(points[:, 0] > 1e-12) if clamp else np.arange(points.shape[0])
    dofs = (dim * keep[:, None] + np.arange(dim)).ravel()
    return K[dofs][:, dofs].tocsr(), points[keep]


def ic0_reference(A: sp.spmatrix) -> np.ndarray:
    """Dense textbook IC(0): L_ik = (a_ik - sum_j<k L_ij L_kj) / L_kk on the pattern of tril(A)."""
    dense = A.toarray()
    pattern = sp.csr_matrix((np.ones(A.nnz), A.indices, A.indptr), shape=A.shape).toarray() != 0
    n = dense.shape[0]
    L = np.zeros_like(dense)
    for i in range(n):
        for k in range(i):
            if pattern[i, k]:
                L[i, k] = (dense[i, k] - L[i, :k] @ L[k, :k]) / L[k, k]
        pivot = dense[i, i] - L[i, :i] @ L[i, :i]
        assert pivot > 0.0, f"reference IC(0) broke down at row {i}"
        L[i, i] = np.sqrt(pivot)
    return L


def test_bsr_csr_round_trip_scalar_and_blocks():
    rng = np.random.default_rng(0)
    for block_size in (1, 2, 3):
        n = 12 * block_size
        csr = sp.random(n, n, density=0.2, random_state=rng, format="csr") + sp.eye(n)
        bsr = csr_to_bsr(csr, block_size=block_size, device=DEVICE)
        assert bsr.block_shape == (block_size, block_size)
        assert bsr.shape == (n, n)
        back = bsr_to_csr(bsr)
        assert back.dtype == np.float64
        assert abs(back - csr).max() == 0.0, f"block size {block_size}"
        # The matrix acts the same on a vector in both worlds (node-major layout).
        v = rng.standard_normal(n)
        vector_type = wp.float64 if block_size == 1 else wp.types.vector(block_size, wp.float64)
        v_wp = wp.array(
            v.reshape(bsr.nrow, -1).squeeze(-1) if block_size == 1 else v.reshape(bsr.nrow, -1),
            dtype=vector_type,
            device=DEVICE,
        )
        Av = (bsr @ v_wp).numpy().reshape(-1)
        np.testing.assert_allclose(Av, csr @ v, rtol=1e-13, atol=1e-13)


def test_bsr_to_csr_keeps_explicit_zeros_in_pattern():
    csr = sp.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([0, 1, 1]), np.array([0, 2, 3])), shape=(2, 2))
    back = bsr_to_csr(csr_to_bsr(csr, device=DEVICE))
    assert back.nnz == 3


@pytest.mark.parametrize("matrix", ["poisson", "elasticity"])
def test_ic0_factor_matches_python_reference(matrix):
    A = poisson_2d(7) if matrix == "poisson" else elasticity(3, 3, clamp=True)[0]
    factor = IncompleteCholesky(A, device=DEVICE)
    assert factor.shift == 0.0
    L = factor.lower.to_scipy().toarray()
    L_ref = ic0_reference(sp.tril(A, format="csr"))
    assert np.abs(L - L_ref).max() <= 1e-12 * np.abs(L_ref).max()
    # The upper factor is exactly L^T.
    np.testing.assert_array_equal(factor.upper.to_scipy().toarray(), L.T)


def test_ic0_applies_shift_when_a_pivot_fails():
    # Kershaw blocks coupled along a chain; SPD as a sum of Kronecker products of SPD matrices.
    chain = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    A = sp.csr_matrix(sp.kron(sp.eye(30), sp.csr_matrix(KERSHAW)) + 0.2 * sp.kron(chain, sp.eye(4)))
    A.eliminate_zeros()  # keep IC(0) from using the zero slots of the Kershaw blocks as fill-in
    factor = IncompleteCholesky(A, device=DEVICE)
    assert factor.shift > 0.0
    # The factor is the IC(0) of the shifted matrix A + shift * diag(A).
    shifted = sp.tril(A + factor.shift * sp.diags(A.diagonal()), format="csr")
    L_ref = ic0_reference(shifted)
    assert np.abs(factor.lower.to_scipy().toarray() - L_ref).max() <= 1e-12 * np.abs(L_ref).max()

    # PCG with the shifted factor still converges to the right answer.
    b = np.linspace(1.0, 2.0, A.shape[0])
    result = pcg(
        csr_to_bsr(A, device=DEVICE),
        wp.array(b, dtype=wp.float64, device=DEVICE),
        preconditioner="ic0",
        tol=1e-10,
    )
    assert result.converged
    reference = spla.spsolve(A.tocsc(), b)
    assert np.linalg.norm(result.x.numpy() - reference) <= 1e-8 * np.linalg.norm(reference)


@pytest.mark.parametrize("ordering", ["natural", "rcm"])
@pytest.mark.parametrize("matrix", ["poisson", "elasticity"])
def test_level_scheduled_and_sequential_solves_agree(matrix, ordering):
    if matrix == "poisson":
        A, block_size = poisson_2d(12), 1
    else:
        A, block_size = elasticity(3, 4, clamp=True)[0], 3
    bsr = csr_to_bsr(A, block_size=block_size, device=DEVICE)
    sequential = IncompleteCholeskyPreconditioner(bsr, schedule="sequential", ordering=ordering)
    level = IncompleteCholeskyPreconditioner(bsr, schedule="level", ordering=ordering)
    assert level.factor.lower.n_levels > 1
    assert level.factor.lower.n_levels < A.shape[0], "level scheduling found no parallelism"

    r = np.random.default_rng(1).standard_normal(A.shape[0])
    vector_type = wp.float64 if block_size == 1 else wp.vec3d
    r_wp = wp.array(r.reshape(-1, block_size) if block_size > 1 else r, dtype=vector_type, device=DEVICE)
    outputs = []
    for preconditioner in (sequential, level):
        z = wp.zeros_like(r_wp)
        preconditioner.operator.matvec(r_wp, z, z, 1.0, 0.0)
        outputs.append(z.numpy().reshape(-1))
    scale = np.abs(outputs[0]).max()
    assert np.abs(outputs[0] - outputs[1]).max() <= 1e-12 * scale

    # Both equal P^T (L L^T)^{-1} P r from scipy's triangular solves on the same factor.
    L = sequential.factor.lower.to_scipy()
    perm = sequential.factor.permutation
    if perm is None:
        perm = np.arange(A.shape[0])
    expected = np.empty_like(r)
    expected[perm] = spla.spsolve_triangular(L.T.tocsr(), spla.spsolve_triangular(L, r[perm], lower=True), lower=False)
    assert np.abs(outputs[0] - expected).max() <= 1e-12 * scale


def shuffled_poisson_2d(n: int, seed: int = 0) -> sp.csr_matrix:
    """``poisson_2d(n)`` with its unknowns numbered at random: a poor order for IC(0), like a Lagrange one."""
    shuffle = np.random.default_rng(seed).permutation(n * n)
    return poisson_2d(n)[shuffle][:, shuffle].tocsr()


def bandwidth(A: sp.spmatrix) -> int:
    entries = sp.coo_matrix(A)
    return int(np.abs(entries.row - entries.col).max())


@pytest.mark.parametrize("matrix", ["poisson", "elasticity"])
def test_rcm_factor_is_the_ic0_of_the_permuted_matrix(matrix):
    if matrix == "poisson":
        A, block_size = shuffled_poisson_2d(7), 1
    else:
        A, block_size = elasticity(3, 3, clamp=True)[0], 3
    bsr = csr_to_bsr(A, block_size=block_size, device=DEVICE)
    preconditioner = IncompleteCholeskyPreconditioner(bsr)
    assert preconditioner.ordering == "rcm"
    # The factor sees the scalar form of the blocks, whose stored zeros widen the pattern of A.
    A = bsr_to_csr(bsr)
    perm = preconditioner.factor.permutation
    np.testing.assert_array_equal(np.sort(perm), np.arange(A.shape[0]))
    permuted = A[perm][:, perm].tocsr()
    assert bandwidth(permuted) < bandwidth(A)
    # Tolerance: the same arithmetic in a different summation order, 1e-12 relative.
    L = preconditioner.factor.lower.to_scipy().toarray()
    L_ref = ic0_reference(sp.tril(permuted, format="csr"))
    assert np.abs(L - L_ref).max() <= 1e-12 * np.abs(L_ref).max()


def test_rcm_preconditioner_is_spd_and_undoes_the_permutation():
    A = shuffled_poisson_2d(6)
    n = A.shape[0]
    preconditioner = make_preconditioner("ic0", csr_to_bsr(A, device=DEVICE))
    perm = preconditioner.factor.permutation
    assert perm is not None and not np.array_equal(perm, np.arange(n))
    # M column by column, applied through the operator as CG applies it.
    M = np.empty((n, n))
    for j in range(n):
        e = wp.array(np.eye(n)[j], dtype=wp.float64, device=DEVICE)
        z = wp.zeros_like(e)
        preconditioner.operator.matvec(e, z, z, 1.0, 0.0)
        M[:, j] = z.numpy()
    L = preconditioner.factor.lower.to_scipy().toarray()
    P = np.eye(n)[perm]  # (P x)[i] = x[perm[i]]
    expected = P.T @ np.linalg.inv(L @ L.T) @ P
    assert np.abs(M - expected).max() <= 1e-12 * np.abs(expected).max()
    assert np.abs(M - M.T).max() <= 1e-12 * np.abs(M).max()
    assert np.linalg.eigvalsh(0.5 * (M + M.T)).min() > 0.0


def test_rcm_reduces_pcg_iterations_and_converges_to_the_direct_solution():
    A = shuffled_poisson_2d(20)
    b = np.linspace(1.0, 2.0, A.shape[0])
    reference = spla.spsolve(A.tocsc(), b)
    bsr = csr_to_bsr(A, device=DEVICE)
    iterations = {}
    for ordering in ("natural", "rcm"):
        preconditioner = IncompleteCholeskyPreconditioner(bsr, ordering=ordering)
        result = pcg(bsr, wp.array(b, dtype=wp.float64, device=DEVICE), preconditioner=preconditioner, tol=1e-10)
        assert result.converged
        # tol 1e-10 on the residual and cond(A) ~ 200 bound the error by about 2e-8.
        assert np.linalg.norm(result.x.numpy() - reference) <= 1e-7 * np.linalg.norm(reference), ordering
        iterations[ordering] = result.iterations
    # Measured: 37 iterations in the random order, 26 with RCM.
    assert iterations["rcm"] < iterations["natural"], iterations


def test_ic0_names_rows_in_the_original_numbering():
    A = shuffled_poisson_2d(5).tolil()
    bad_row = 7
    A[bad_row, bad_row] = -1.0
    A = A.tocsr()
    # RCM moves that row, so a message in the reordered numbering would name another row.
    assert np.flatnonzero(ordering_permutation(A, "rcm") == bad_row)[0] != bad_row
    with pytest.raises(EngineError, match=f"row {bad_row} "):
        make_preconditioner("ic0", csr_to_bsr(A, device=DEVICE))


def test_ic0_rejects_unknown_ordering_and_bad_permutation():
    bsr = csr_to_bsr(poisson_2d(3), device=DEVICE)
    with pytest.raises(ValueError, match="ordering must be one of 'rcm', 'natural', got 'metis'"):
        IncompleteCholeskyPreconditioner(bsr, ordering="metis")
    with pytest.raises(ValueError, match="permutation of 0 .. 8"):
        IncompleteCholesky(poisson_2d(3), device=DEVICE, permutation=np.array([0, 1, 2, 3, 4, 5, 6, 7, 7]))


def test_general_matvec_form_alpha_beta():
    A = poisson_2d(6)
    bsr = csr_to_bsr(A, device=DEVICE)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(A.shape[0]), rng.standard_normal(A.shape[0])
    for name in PRECONDITIONER_NAMES:
        M = make_preconditioner(name, bsr).operator
        x_wp, y_wp = (
            wp.array(x, dtype=wp.float64, device=DEVICE),
            wp.array(y, dtype=wp.float64, device=DEVICE),
        )
        Mx = wp.zeros_like(x_wp)
        M.matvec(x_wp, Mx, Mx, 1.0, 0.0)
        z = wp.zeros_like(x_wp)
        M.matvec(x_wp, y_wp, z, -2.0, 0.5)
        np.testing.assert_allclose(z.numpy(), -2.0 * Mx.numpy() + 0.5 * y, rtol=1e-12, atol=1e-12, err_msg=name)
        # In place, as CG calls it with y and z aliased.
        M.matvec(x_wp, y_wp, y_wp, -2.0, 0.5)
        np.testing.assert_allclose(y_wp.numpy(), z.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)


def test_block_jacobi_inverts_each_diagonal_block():
    A, _ = elasticity(3, 3, clamp=True)
    bsr = csr_to_bsr(A, block_size=3, device=DEVICE)
    r = np.random.default_rng(3).standard_normal(A.shape[0])
    r_wp = wp.array(r.reshape(-1, 3), dtype=wp.vec3d, device=DEVICE)
    z = wp.zeros_like(r_wp)
    make_preconditioner("jacobi", bsr).operator.matvec(r_wp, z, z, 1.0, 0.0)
    dense = A.toarray()
    expected = np.concatenate(
        [np.linalg.solve(dense[3 * i : 3 * i + 3, 3 * i : 3 * i + 3], r[3 * i : 3 * i + 3]) for i in range(bsr.nrow)]
    )
    np.testing.assert_allclose(z.numpy().reshape(-1), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dim", [2, 3])
def test_rigid_body_modes_span_the_elasticity_null_space(dim):
    K, points = elasticity(dim, 3, clamp=False)
    modes = rigid_body_modes(points, dim)
    assert modes.shape == (points.shape[0] * dim, 3 if dim == 2 else 6)
    assert np.linalg.matrix_rank(modes) == modes.shape[1]
    # Rigid motions produce no elastic forces.
    assert np.abs(K @ modes).max() <= 1e-12 * abs(K).max() * np.abs(modes).max()


def test_amg_accepts_rigid_body_modes_and_checks_their_shape():
    A, points = elasticity(3, 4, clamp=True)
    bsr = csr_to_bsr(A, block_size=3, device=DEVICE)
    amg = make_preconditioner("amg", bsr, near_nullspace=rigid_body_modes(points, 3))
    assert amg.hierarchy.levels[0].B.shape == (A.shape[0], 6)
    assert amg.setup_seconds > 0.0
    with pytest.raises(ValueError, match="near_nullspace"):
        make_preconditioner("amg", bsr, near_nullspace=np.ones((5, 6)))


def test_unknown_name_raises_input_error_listing_the_valid_ones():
    bsr = csr_to_bsr(poisson_2d(3), device=DEVICE)
    with pytest.raises(InputError, match="ilu.*none, jacobi, ic0, amg"):
        make_preconditioner("ilu", bsr)


@pytest.mark.parametrize("name", ["jacobi", "ic0"])
def test_non_positive_diagonal_is_rejected(name):
    A = poisson_2d(3).tolil()
    A[4, 4] = -1.0
    with pytest.raises(EngineError, match="not positive definite.*row 4"):
        make_preconditioner(name, csr_to_bsr(A.tocsr(), device=DEVICE))
