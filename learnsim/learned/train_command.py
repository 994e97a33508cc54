"""``learnsim train``: a learned model of a registered kind from a dataset of linear systems.

:func:`train_model` reads the dataset, splits off a validation part (whole samples stay on one
side), takes the kind's recipe (model, loss, batches, step size; see
:mod:`learnsim.learned.registry`), runs :func:`~learnsim.learned.training.fit` with a checkpoint
folder beside the model (``MODEL.ckpt/``, so ``--resume`` continues), and writes the best model,
its JSON sidecar and the loss curve (``MODEL.loss.png``). The sidecar records what was used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import optax

from learnsim.core.errors import InputError
from learnsim.io.atomic import check_writable, removing_created_folders
from learnsim.io.datasets import open_dataset
from learnsim.learned.checkpoint import save_model
from learnsim.learned.registry import model_kind
from learnsim.learned.training import fit, plot_loss_curve


def train_model(
    kind: str,
    data: str | Path,
    out: str | Path,
    *,
    epochs: int = 20,
    learning_rate: float | None = None,
    validation: float = 0.2,
    seed: int = 0,
    resume: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train a ``kind`` model on the dataset folder ``data`` and write it to ``out``; returns ``out``.

    ``progress`` shows a progress bar on stderr; ``log`` is called with one line per epoch.
    Every argument and output path is checked before any work: a failure on input leaves nothing
    behind, and an interrupted run keeps its checkpoint (``resume=True`` goes on from it).
    """
    module = model_kind(kind).load()
    if not 0.0 <= validation < 1.0:
        raise InputError(f"--validation = {validation} must be in [0, 1)")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InputError(f"--epochs = {epochs} must be a positive integer")
    if not 0 <= seed < 2**31:  # a JAX random key takes a 32-bit seed
        raise InputError(f"--seed = {seed} must be between 0 and 2^31 - 1")
    if learning_rate is not None and not (np.isfinite(learning_rate) and learning_rate > 0):
        raise InputError(f"--learning-rate = {learning_rate} must be a positive number")
    out = _check_outputs(Path(out), resume)
    dataset = open_dataset(data)
    validation_part, train_part = dataset.split(validation, seed=seed) if validation > 0 else ([], dataset)
    if len(train_part) == 0:
        raise InputError(f"{data}: no systems left for training after holding out {validation:.0%}")
    systems = list(train_part)
    recipe = module.recipe(systems, seed)
    rate = recipe.learning_rate if learning_rate is None else learning_rate
    start = time.perf_counter()
    with removing_created_folders(out.parent):
        best, history = _fit(recipe, systems, validation_part, out, epochs, rate, seed, resume, progress, log)
    training = {
        "data": str(Path(data).resolve()),
        "systems": len(train_part),
        "validation_systems": len(validation_part),
        "epochs": history.epochs,
        "learning_rate": rate,
        "seed": seed,
        "best_epoch": history.best_epoch + 1,
        "seconds": time.perf_counter() - start,
        "history": history.to_dict(),
    }
    save_model(out, best, kind, best.hyperparameters, training)
    plot_loss_curve(history, out.with_suffix(".loss.png"))
    return out


def _check_outputs(out: Path, resume: bool) -> Path:
    """The model path, refused now when it or the files beside it cannot be written."""
    if out.suffix == ".json":
        raise InputError(f"--out {out}: the model's JSON sidecar would be the same file; name it e.g. {out.stem}.eqx")
    out = check_writable(out, f"--out {out}")
    for beside in (out.with_suffix(".json"), out.with_suffix(".loss.png")):
        check_writable(beside, f"--out {out}: {beside.name}")
    checkpoint = check_writable(out.with_suffix(".ckpt"), f"--out {out}: {out.with_suffix('.ckpt').name}", folder=True)
    if resume and not (checkpoint / "state.json").is_file():
        raise InputError(f"--resume: no training checkpoint to resume in {checkpoint}")
    return out


def _fit(recipe, systems, validation_part, out, epochs, rate, seed, resume, progress, log):
    return fit(
        recipe.model,
        recipe.loss,
        recipe.batches(systems),
        recipe.batches(list(validation_part)) if len(validation_part) else [],
        epochs=epochs,
        optimizer=optax.adam(rate),
        out=out.with_suffix(".ckpt"),
        key=jax.random.key(seed + 1),
        resume=resume,
        progress=progress,
        log=log,
    )
