"""The generic training loop (fit) and model files (save_model / load_model), on a linear least-squares toy."""

import json
from types import SimpleNamespace

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learnsim.core.errors import EngineError, InputError
from learnsim.learned.checkpoint import load_model, save_model
from learnsim.learned.registry import ModelKind, register, unregister
from learnsim.learned.training import evaluate, fit, plot_loss_curve


@pytest.fixture(autouse=True)
def linear_kind():
    """A kind "test-linear" (an eqx.nn.Linear) in the registry while each test runs."""
    build = lambda h: eqx.nn.Linear(h["inputs"], 1, key=jax.random.key(0))
    register(ModelKind("test-linear", "solver", SimpleNamespace(build=build)))
    yield
    unregister("test-linear")


RNG = np.random.default_rng(0)
WEIGHTS = np.array([1.5, -2.0, 0.5])
X = RNG.standard_normal((6, 32, 3))
Y = X @ WEIGHTS + 0.3 + 0.01 * RNG.standard_normal((6, 32))
BATCHES = [(jnp.asarray(x), jnp.asarray(y)) for x, y in zip(X, Y, strict=True)]
TRAIN, VALIDATION = BATCHES[:4], BATCHES[4:]


def squared_error(model, batch, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x)[:, 0] - y) ** 2)


def model():
    return eqx.nn.Linear(3, 1, key=jax.random.key(1))


def run(epochs, out=None, resume=False, log=None):
    return fit(
        model(),
        squared_error,
        TRAIN,
        VALIDATION,
        epochs=epochs,
        optimizer=optax.adam(0.05),
        out=out,
        key=jax.random.key(2),
        resume=resume,
        progress=False,
        log=log,
    )


def test_fit_reaches_least_squares_solution_and_keeps_best_model():
    lines = []
    best, history = run(60, log=lines.append)
    assert len(lines) == 60 and lines[0].startswith("epoch 1/60: train loss")
    # least squares on the training data (scipy-free: numpy lstsq), tolerance of the optimiser's last steps
    design = np.concatenate([X[:4].reshape(-1, 3), np.ones((128, 1))], axis=1)
    reference, *_ = np.linalg.lstsq(design, Y[:4].reshape(-1), rcond=None)
    np.testing.assert_allclose(np.r_[best.weight[0], best.bias], reference, atol=2e-2)
    assert history.train_loss[-1] < 1e-2 * history.train_loss[0]
    assert history.best_epoch == int(np.argmin(history.validation_loss))
    # the returned model is the best one: its validation loss is the recorded minimum
    assert evaluate(best, squared_error, VALIDATION, jax.random.key(0)) == pytest.approx(
        min(history.validation_loss), rel=1e-12
    )


def test_resume_continues_the_history_exactly(tmp_path):
    _, uninterrupted = run(6)
    _, first = run(3, out=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "state.json").read_text())["epoch"] == 3
    best, resumed = run(6, out=tmp_path / "run", resume=True)
    assert resumed.epochs == 6
    np.testing.assert_allclose(resumed.train_loss[:3], first.train_loss, rtol=0, atol=0)
    np.testing.assert_allclose(resumed.train_loss, uninterrupted.train_loss, rtol=1e-12)
    np.testing.assert_allclose(resumed.validation_loss, uninterrupted.validation_loss, rtol=1e-12)
    # nothing left to do: a second resume returns the stored state unchanged
    _, again = run(6, out=tmp_path / "run", resume=True)
    assert again.train_loss == resumed.train_loss


def test_resume_errors(tmp_path):
    with pytest.raises(InputError, match="no training checkpoint"):
        run(2, out=tmp_path / "none", resume=True)
    run(1, out=tmp_path / "run")
    (tmp_path / "run" / "state.eqx").write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt training checkpoint"):
        run(2, out=tmp_path / "run", resume=True)


def test_diverging_loss_is_an_engine_error():
    with pytest.raises(EngineError, match="epoch 1"):
        fit(
            model(),
            lambda m, b, k: jnp.log(-jnp.abs(squared_error(m, b, k))),
            TRAIN,
            [],
            epochs=2,
            optimizer=optax.sgd(0.1),
            key=jax.random.key(0),
            progress=False,
        )


def test_loss_curve_png(tmp_path):
    _, history = run(4)
    png = plot_loss_curve(history, tmp_path / "loss.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_load_round_trip(tmp_path):
    trained, history = run(5)
    path = tmp_path / "linear.eqx"
    save_model(path, trained, "test-linear", {"inputs": 3}, {"history": history.to_dict()})
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["format"] == "learnsim-model" and sidecar["version"] == 1 and sidecar["kind"] == "test-linear"
    loaded, read = load_model(path, expected_kind="test-linear")
    np.testing.assert_array_equal(loaded.weight, trained.weight)
    np.testing.assert_array_equal(loaded.bias, trained.bias)
    assert read["training"]["history"]["train_loss"] == history.train_loss


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "linear.eqx"
    with pytest.raises(InputError, match="model file not found"):
        load_model(path)
    save_model(path, model(), "test-linear", {"inputs": 3})
    with pytest.raises(InputError, match="kind is 'test-linear', expected 'dcdm'"):
        load_model(path, expected_kind="dcdm")

    sidecar = path.with_suffix(".json")
    good = sidecar.read_text()
    sidecar.write_text(good.replace('"learnsim-model"', '"something-else"'))
    with pytest.raises(InputError, match="format is 'something-else'"):
        load_model(path)
    sidecar.write_text(good.replace('"test-linear"', '"no-such-kind"'))
    with pytest.raises(InputError, match="unknown model kind 'no-such-kind'"):
        load_model(path)
    sidecar.write_text(good.replace('"inputs": 3', '"inputs": 5'))
    with pytest.raises(InputError, match="corrupt model weights"):
        load_model(path)
    sidecar.write_text(good[:20])
    with pytest.raises(InputError, match="corrupt model sidecar"):
        load_model(path)
    sidecar.unlink()
    with pytest.raises(InputError, match="sidecar not found"):
        load_model(path)

    save_model(path, model(), "test-linear", {"inputs": 3})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match=f"{path.name}: corrupt model weights"):
        load_model(path)
