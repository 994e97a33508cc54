"""Neural incomplete factorisation: structure of L, the losses against scipy, model files, and CG iterations."""

import time

import equinox as eqx
import jax
import numpy as np
import optax
import pytest
import scipy.sparse as sp
import warp as wp
from grid_family import family

from learnsim.core.errors import InputError
from learnsim.engine.solvers import csr_to_bsr, make_preconditioner, pcg
from learnsim.engine.solvers.factor_preconditioner import FactorPreconditioner
from learnsim.learned.checkpoint import load_model, save_model
from learnsim.learned.gnn_factor import (
    GNNFactor,
    batch_graphs,
    frobenius_loss,
    matrix_graph,
    solution_loss,
)
from learnsim.learned.training import fit

DEVICE = "cpu"


def perturbed(model: GNNFactor, seed: int, size: float = 0.3) -> GNNFactor:
    """The model with every weight moved randomly (an untrained model has zero output layers)."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + size * rng.standard_normal(a.shape) if eqx.is_inexact_array(a) else a, model)


def scaled(system):
    d = np.sqrt(system.matrix.diagonal())
    return sp.diags(1 / d) @ system.matrix @ sp.diags(1 / d), d


def test_untrained_factor_is_symmetric_gauss_seidel():
    system = family(0, 1, (8, 8))[0]
    L = GNNFactor(8, 2, key=jax.random.key(0)).factor(system)
    A = system.matrix
    d = A.diagonal()
    expected = (sp.diags(d) + sp.tril(A, -1)) @ sp.diags(1 / np.sqrt(d))
    np.testing.assert_allclose(L.toarray(), expected.toarray(), rtol=1e-12, atol=0)


def test_factor_has_the_pattern_of_tril_a_and_a_positive_diagonal():
    system = family(1, 1, (10, 10))[0]
    model = perturbed(GNNFactor(8, 3, key=jax.random.key(1)), seed=2, size=1.0)
    L = model.factor(system)
    pattern = sp.tril(system.matrix, format="csr")
    assert sp.issparse(L) and L.dtype == np.float64
    np.testing.assert_array_equal(L.indptr, pattern.indptr)
    np.testing.assert_array_equal(L.indices, pattern.indices)
    assert np.all(L.diagonal() > 0) and np.all(np.isfinite(L.data))
    # the learned part moved the values away from Gauss-Seidel's
    assert np.abs(L - GNNFactor(8, 3, key=jax.random.key(1)).factor(system)).max() > 1e-3


def test_losses_match_scipy():
    systems = family(2, 2, (6, 6))
    model = perturbed(GNNFactor(4, 2, key=jax.random.key(3)), seed=4)
    graphs = [matrix_graph(s) for s in systems]
    expected_solution, expected_frobenius = [], []
    for system in systems:
        A_hat, d = scaled(system)
        L_hat = sp.diags(1 / d) @ model.factor(system)
        x = sp.linalg.spsolve(system.matrix.tocsc(), system.rhs)
        b_hat = system.rhs / d
        norm = np.linalg.norm(b_hat)
        expected_solution.append(np.sum(((L_hat @ L_hat.T) @ (d * x) / norm - b_hat / norm) ** 2))
        expected_frobenius.append(np.sum((L_hat @ L_hat.T - A_hat).toarray() ** 2) / system.n)
    solution_loss_jit, frobenius_loss_jit = eqx.filter_jit(solution_loss), eqx.filter_jit(frobenius_loss)
    for graph, solution, frobenius in zip(graphs, expected_solution, expected_frobenius, strict=True):
        assert float(solution_loss_jit(model, graph)) == pytest.approx(solution, rel=1e-10)
        # Hutchinson estimate with 4000 probes: relative standard error about sqrt(2 / 4000) = 2%
        estimate = float(frobenius_loss_jit(model, graph, jax.random.key(5), probes=4000))
        assert estimate == pytest.approx(frobenius, rel=0.08)
    # a batch of graphs averages the per-system solution losses
    assert float(solution_loss_jit(model, batch_graphs(graphs))) == pytest.approx(np.mean(expected_solution), rel=1e-10)


def test_matrix_graph_rejects_a_non_positive_diagonal():
    A = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 0.0]]))
    with pytest.raises(InputError, match=r"positive diagonal: A\[1, 1\]"):
        matrix_graph(A)


def test_save_load_round_trip_and_errors(tmp_path):
    model = perturbed(GNNFactor(6, 3, key=jax.random.key(6)), seed=7)
    system = family(3, 1, (8, 8))[0]
    path = tmp_path / "factor.eqx"
    save_model(path, model, "gnn-factor", model.hyperparameters, {"epochs": 0})
    loaded, sidecar = load_model(path, expected_kind="gnn-factor")
    assert sidecar["hyperparameters"] == {"width": 6, "layers": 3}
    np.testing.assert_array_equal(loaded.factor(system).toarray(), model.factor(system).toarray())
    with pytest.raises(InputError, match="kind is 'gnn-factor', expected 'dcdm'"):
        load_model(path, expected_kind="dcdm")
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(InputError, match="corrupt model weights"):
        load_model(path)


def cg_iterations(systems, make) -> list[int]:
    counts = []
    for system in systems:
        A = csr_to_bsr(system.matrix, device=DEVICE)
        b = wp.array(system.rhs, dtype=wp.float64, device=DEVICE)
        counts.append(pcg(A, b, preconditioner=make(A, system), tol=1e-8).iterations)
    return counts


@pytest.fixture(scope="module")
def trained() -> tuple[GNNFactor, float]:
    """Width 8, 4 layers; 30 epochs on 16 systems of 16 x 16 (batches of 4), solution-weighted loss."""
    graphs = [matrix_graph(s) for s in family(10, 16, (16, 16))]
    train = [batch_graphs(graphs[i : i + 4]) for i in range(0, 16, 4)]
    validation = [batch_graphs([matrix_graph(s) for s in family(11, 2, (16, 16))])]
    start = time.perf_counter()
    model, history = fit(
        GNNFactor(8, 4, key=jax.random.key(0)),
        solution_loss,
        train,
        validation,
        epochs=30,
        optimizer=optax.adam(1e-2),
        key=jax.random.key(1),
        progress=False,
    )
    assert history.validation_loss[history.best_epoch] < 0.5 * history.validation_loss[0]
    return model, time.perf_counter() - start


def mean_iterations(model: GNNFactor, shape: tuple[int, int], count: int) -> dict[str, float]:
    """Mean PCG iterations to 1e-8 over held-out systems (another seed than training and validation)."""
    held_out = family(1000, count, shape)
    iterations = {
        "jacobi": cg_iterations(held_out, lambda A, s: make_preconditioner("jacobi", A)),
        "ic0": cg_iterations(held_out, lambda A, s: make_preconditioner("ic0", A)),
        "gnn": cg_iterations(held_out, lambda A, s: FactorPreconditioner(A, model.factor(s), name="gnn-factor")),
    }
    return {name: float(np.mean(counts)) for name, counts in iterations.items()}


def test_trained_factor_beats_ic0_on_held_out_64x64(trained):
    """Issue 5 acceptance: trained on 16 x 16, fewer CG iterations than IC(0) on held-out 64 x 64 systems.

    Measured (2-core CPU): jacobi 268.75, ic0 81.25, gnn 56.5 (0.70 of IC(0)); training about 15 s.
    """
    model, seconds = trained
    means = mean_iterations(model, (64, 64), count=4)
    print(f"64x64 mean CG iterations {means}, training {seconds:.1f} s")
    assert means["gnn"] < 0.8 * means["ic0"] < means["jacobi"]


@pytest.mark.slow
def test_trained_factor_beats_ic0_on_held_out_32x32_and_64x64_sets(trained):
    """Wider held-out sets: 8 systems of 32 x 32 and 8 of 64 x 64."""
    model, _ = trained
    for shape in ((32, 32), (64, 64)):
        means = mean_iterations(model, shape, count=8)
        print(f"{shape} mean CG iterations {means}")
        assert means["gnn"] < 0.8 * means["ic0"]
