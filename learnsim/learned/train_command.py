"""``learnsim train``: a learned preconditioner from a dataset of linear systems, with its recipe.

:func:`train_model` reads the dataset, splits off a validation part (whole samples stay on one
side), builds batches for the model kind, runs :func:`~learnsim.learned.training.fit` with a
checkpoint folder beside the model (``MODEL.ckpt/``, so ``--resume`` continues), and writes
the best model, its JSON sidecar and the loss curve (``MODEL.loss.png``).

Recipes (defaults; the sidecar records what was used):

- ``gnn-factor``: :class:`~learnsim.learned.gnn_factor.GNNFactor` of width 8 and 4 layers,
  solution-weighted loss ``||L L^T x - b||``, batches of 4 systems, Adam 1e-2;
- ``dcdm``: :class:`~learnsim.learned.dcdm.DCDM` of width 16 on the dataset's grid dimension,
  unsupervised loss ``||r - alpha A f(r)||``, batches of 16 residuals, Adam 1e-2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import optax

from learnsim.core.errors import InputError
from learnsim.io.datasets import open_dataset
from learnsim.learned.checkpoint import save_model
from learnsim.learned.training import fit, plot_loss_curve

KINDS = ("gnn-factor", "dcdm")


def _gnn_factor(systems, seed: int):
    from learnsim.learned.gnn_factor import KIND, GNNFactor, batch_graphs, matrix_graph, solution_loss

    def batches(part):
        graphs = [matrix_graph(system) for system in part]
        return [batch_graphs(graphs[i : i + 4]) for i in range(0, len(graphs), 4)]

    model = GNNFactor(8, 4, key=jax.random.key(seed))
    return KIND, model, solution_loss, batches, 1e-2


def _dcdm(systems, seed: int):
    from learnsim.learned.dcdm import DCDM, KIND, dcdm_loss
    from learnsim.learned.dcdm_data import training_batches

    shapes = {system.grid_shape for system in systems}
    if None in shapes:
        raise InputError("dcdm trains on grid systems: this dataset has systems without grid_shape")
    dims = {len(shape) for shape in shapes}
    if len(dims) != 1:
        raise InputError(f"dcdm trains on one grid dimension; this dataset mixes {sorted(dims)}")
    model = DCDM(dim=dims.pop(), width=16, key=jax.random.key(seed))
    return KIND, model, dcdm_loss, lambda part: training_batches(list(part), seed=seed), 1e-2


RECIPES = {"gnn-factor": _gnn_factor, "dcdm": _dcdm}


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
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train a ``kind`` model on the dataset folder ``data`` and write it to ``out``; returns ``out``."""
    if kind not in RECIPES:
        raise InputError(f"unknown model kind {kind!r} (choose from {', '.join(KINDS)})")
    if not 0.0 <= validation < 1.0:
        raise InputError(f"--validation = {validation} must be in [0, 1)")
    out = Path(out)
    dataset = open_dataset(data)
    validation_part, train_part = dataset.split(validation, seed=seed) if validation > 0 else ([], dataset)
    if len(train_part) == 0:
        raise InputError(f"{data}: no systems left for training after holding out {validation:.0%}")
    systems = list(train_part)
    name, model, loss, batches, default_rate = RECIPES[kind](systems, seed)
    rate = default_rate if learning_rate is None else learning_rate
    if not (np.isfinite(rate) and rate > 0):
        raise InputError(f"--learning-rate = {rate} must be a positive number")
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    best, history = fit(
        model,
        loss,
        batches(systems),
        batches(list(validation_part)) if len(validation_part) else [],
        epochs=epochs,
        optimizer=optax.adam(rate),
        out=out.with_suffix(".ckpt"),
        key=jax.random.key(seed + 1),
        resume=resume,
        progress=progress,
        log=log,
    )
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
    save_model(out, best, name, best.hyperparameters, training)
    plot_loss_curve(history, out.with_suffix(".loss.png"))
    return out
