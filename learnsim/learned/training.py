"""A generic optax training loop for equinox models: validation, checkpoints, resume, best model.

:func:`fit` runs ``epochs`` passes over a list of batches. A batch is any pytree the loss understands
(arrays are traced, other leaves are static: batches of a new shape compile the step once more). After each
epoch it evaluates the validation loss, keeps the model with the lowest one, and, when ``out`` is given,
writes a checkpoint there (model, best model, optimizer state, history) atomically, so that ``resume=True``
continues an interrupted run exactly where it stopped: per-epoch random keys are ``fold_in(key, epoch)``,
so a resumed run draws the same numbers as an uninterrupted one.

Checkpoint folder ``out``: ``state.eqx`` (equinox leaves of ``(model, best_model, opt_state)``) and
``state.json`` (``{"format": "learnsim-training", "version": 1, "epoch": completed epochs, "history": ...}``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from learnsim.core.errors import EngineError, InputError
from learnsim.core.progress import ProgressBar
from learnsim.io.atomic import write_atomically

LossFunction = Callable[[eqx.Module, Any, jax.Array], jax.Array]
"""``loss(model, batch, key) -> scalar``; differentiated with respect to the model's inexact arrays."""

TRAINING_FORMAT = "learnsim-training"
_VALIDATION_STREAM = 2**31 - 1  # fold_in index of the validation key, distinct from every epoch index


@dataclass
class TrainingHistory:
    """Per-epoch record of a :func:`fit` run (JSON-friendly through :meth:`to_dict`).

    Attributes:
        train_loss: mean training loss of each epoch (over its batches, as the model changed during it).
        validation_loss: mean validation loss after each epoch, same random key every epoch (nan if none).
        epoch_seconds: wall time of each epoch, validation and checkpoint included, in seconds.
        best_epoch: 0-based epoch with the lowest validation loss (or training loss without validation);
            -1 before the first epoch.
    """

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_loss(self) -> float:
        """The loss that chose the best epoch (validation, or training when there was no validation)."""
        if self.best_epoch < 0:
            return float("inf")
        losses = self._selection_losses()
        return losses[self.best_epoch]

    def _selection_losses(self) -> list[float]:
        if self.validation_loss and not all(np.isnan(self.validation_loss)):
            return self.validation_loss
        return self.train_loss

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingHistory:
        return cls(
            train_loss=[float(v) for v in data["train_loss"]],
            validation_loss=[float(v) for v in data["validation_loss"]],
            epoch_seconds=[float(v) for v in data["epoch_seconds"]],
            best_epoch=int(data["best_epoch"]),
        )


@dataclass(frozen=True)
class Recipe:
    """How ``learnsim train`` fits one kind of model on a dataset (each kind's ``recipe`` gives one).

    Attributes:
        model: the untrained model.
        loss: ``loss(model, batch, key) -> scalar`` (see :data:`LossFunction`).
        batches: ``batches(systems) -> list`` of batches for :func:`fit`, from a list of
            :class:`~learnsim.core.systems.LinearSystem` (the training or the validation part).
        learning_rate: the default Adam step size.
    """

    model: eqx.Module
    loss: LossFunction
    batches: Callable[[Sequence[Any]], list]
    learning_rate: float


def _trainable(model: eqx.Module) -> Any:
    return eqx.filter(model, eqx.is_inexact_array)


def _make_step(loss: LossFunction, optimizer: optax.GradientTransformation) -> Callable:
    @eqx.filter_jit
    def step(model, opt_state, batch, key):
        value, grads = eqx.filter_value_and_grad(loss)(model, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, _trainable(model))
        return eqx.apply_updates(model, updates), opt_state, value

    return step


def evaluate(model: eqx.Module, loss: LossFunction, batches: Sequence[Any], key: jax.Array) -> float:
    """Mean of ``loss(model, batch, fold_in(key, i))`` over ``batches`` (nan when there are none).

    ``loss`` may already be wrapped in ``eqx.filter_jit`` (``fit`` does so once, to compile it once).
    """
    if not batches:
        return float("nan")
    value = loss if isinstance(loss, eqx.Module) else eqx.filter_jit(loss)
    return float(np.mean([float(value(model, batch, jax.random.fold_in(key, i))) for i, batch in enumerate(batches)]))


def fit(
    model: eqx.Module,
    loss: LossFunction,
    train: Sequence[Any],
    validation: Sequence[Any],
    *,
    epochs: int,
    optimizer: optax.GradientTransformation,
    out: Path | str | None = None,
    key: jax.Array,
    resume: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[eqx.Module, TrainingHistory]:
    """Train ``model`` on ``train`` for ``epochs`` epochs, keeping the model with the best validation loss.

    Args:
        model: the equinox module; its inexact arrays are trained, everything else stays.
        loss: ``loss(model, batch, key) -> scalar``, a JAX-traceable function.
        train: training batches; each epoch visits all of them once in a random order, one optimizer step each.
        validation: batches for the validation loss after each epoch (may be empty: then the training
            loss picks the best model).
        epochs: total number of epochs (a resumed run counts the epochs already done).
        optimizer: an optax transformation, e.g. ``optax.adam(1e-3)``.
        out: checkpoint folder (see the module docstring), written after every epoch; None for none.
        key: ``jax.random`` key; epoch ``e`` shuffles and draws with ``fold_in(key, e)``.
        resume: continue from the checkpoint in ``out`` (which must exist); ``model`` only supplies the
            structure and must have the hyper-parameters of the checkpointed one.
        progress: show a rich progress bar (on stderr).
        log: called with one line of text after each epoch, e.g. ``print``.

    Returns:
        ``(best_model, history)``: the model after the epoch with the lowest validation loss, and the
        per-epoch :class:`TrainingHistory` (including the epochs of a resumed run).

    Raises:
        InputError: ``resume`` without a readable checkpoint in ``out``, or no training batches.
        EngineError: the training loss became NaN or infinite (the message names the epoch).
    """
    if not train:
        raise InputError("fit: no training batches")
    if epochs < 1:
        raise InputError(f"fit: epochs must be at least 1, got {epochs}")
    out = Path(out) if out is not None else None
    opt_state = optimizer.init(_trainable(model))
    best_model = model
    history = TrainingHistory()
    if resume:
        if out is None:
            raise InputError("fit: resume=True needs the checkpoint folder 'out'")
        model, best_model, opt_state, history = load_training_state(out, model, opt_state)

    step = _make_step(loss, optimizer)
    validation_key = jax.random.fold_in(key, _VALIDATION_STREAM)
    validation_loss_function = eqx.filter_jit(loss)
    total = (epochs - history.epochs) * len(train)
    with ProgressBar("training", total, enabled=progress and total > 0) as bar:
        for epoch in range(history.epochs, epochs):
            start = time.perf_counter()
            epoch_key = jax.random.fold_in(key, epoch)
            order_key, step_key = jax.random.split(epoch_key)
            order = np.asarray(jax.random.permutation(order_key, len(train)))
            values = []
            for i, index in enumerate(order):
                model, opt_state, value = step(model, opt_state, train[int(index)], jax.random.fold_in(step_key, i))
                values.append(value)
                bar.update(advance=1, description=f"epoch {epoch + 1}/{epochs}")
            train_loss = float(jnp.mean(jnp.stack(values)))
            if not np.isfinite(train_loss):
                raise EngineError(f"training diverged: loss {train_loss} in epoch {epoch + 1}")
            validation_loss = evaluate(model, validation_loss_function, validation, validation_key)
            history.train_loss.append(train_loss)
            history.validation_loss.append(validation_loss)
            selection = history._selection_losses()
            if history.best_epoch < 0 or selection[-1] < selection[history.best_epoch]:
                history.best_epoch = epoch
                best_model = model
            history.epoch_seconds.append(0.0)
            if out is not None:
                save_training_state(out, model, best_model, opt_state, history)
            history.epoch_seconds[-1] = time.perf_counter() - start
            if log is not None:
                log(
                    f"epoch {epoch + 1}/{epochs}: train loss {train_loss:.4e}, validation loss "
                    f"{validation_loss:.4e}, {history.epoch_seconds[-1]:.1f} s"
                    + (" (best)" if history.best_epoch == epoch else "")
                )
    if out is not None and history.epochs:
        save_training_state(out, model, best_model, opt_state, history)  # with the final epoch's time
    return best_model, history


def save_training_state(
    out: Path | str, model: eqx.Module, best_model: eqx.Module, opt_state: Any, history: TrainingHistory
) -> None:
    """Write the checkpoint folder ``out`` (weights first, then the JSON that points at a complete epoch)."""
    out = Path(out)
    write_atomically(out / "state.eqx", lambda file: eqx.tree_serialise_leaves(file, (model, best_model, opt_state)))
    record = {"format": TRAINING_FORMAT, "version": 1, "epoch": history.epochs, "history": history.to_dict()}
    write_atomically(out / "state.json", lambda file: file.write(json.dumps(record, indent=1) + "\n"), mode="w")


def load_training_state(
    out: Path | str, model: eqx.Module, opt_state: Any
) -> tuple[eqx.Module, eqx.Module, Any, TrainingHistory]:
    """Read the checkpoint folder ``out`` into the structure of ``model`` and ``opt_state``.

    Returns:
        ``(model, best_model, opt_state, history)``.

    Raises:
        InputError: missing or corrupt checkpoint, or one written for a model of another shape.
    """
    out = Path(out)
    state_json, state_eqx = out / "state.json", out / "state.eqx"
    if not state_json.is_file() or not state_eqx.is_file():
        raise InputError(f"{out}: no training checkpoint to resume (state.json and state.eqx expected)")
    try:
        record = json.loads(state_json.read_text())
        if record.get("format") != TRAINING_FORMAT:
            raise ValueError(f"format {record.get('format')!r}")
        history = TrainingHistory.from_dict(record["history"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(f"{state_json}: corrupt training checkpoint ({error})") from None
    like = (model, model, opt_state)
    try:
        loaded = eqx.tree_deserialise_leaves(state_eqx, like)
    except Exception as error:  # numpy raises several types on a truncated or foreign file
        raise InputError(f"{state_eqx}: corrupt training checkpoint ({type(error).__name__}: {error})") from None
    for expected, found in zip(jax.tree_util.tree_leaves(like), jax.tree_util.tree_leaves(loaded), strict=True):
        if np.shape(expected) != np.shape(found):
            raise InputError(
                f"{state_eqx}: checkpoint does not fit this model (array of shape {np.shape(found)}, "
                f"expected {np.shape(expected)})"
            )
    return (*loaded, history)


def plot_loss_curve(history: TrainingHistory, png: Path | str) -> Path:
    """Draw training and validation loss per epoch (log scale) into ``png``, written atomically.

    Needs matplotlib (imported here, so the rest of the module works without it).

    Raises:
        InputError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("plotting the loss curve needs matplotlib (pip install matplotlib)") from None
    png = Path(png)
    epochs = np.arange(1, history.epochs + 1)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(epochs, history.train_loss, marker="o", label="training")
    if history.validation_loss and not all(np.isnan(history.validation_loss)):
        axes.plot(epochs, history.validation_loss, marker="s", label="validation")
    if history.best_epoch >= 0:
        axes.axvline(history.best_epoch + 1, color="grey", linestyle=":", label="best")
    losses = np.asarray(history.train_loss + history.validation_loss, dtype=float)
    if np.all(losses[np.isfinite(losses)] > 0):
        axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.legend()
    figure.tight_layout()
    write_atomically(png, lambda file: figure.savefig(file, format="png", dpi=100))
    plt.close(figure)
    return png
