"""Model files: equinox weights plus a JSON sidecar that says how to rebuild the model.

A model saved as ``PATH`` is two files, each written atomically (temporary file, then ``os.replace``):

- ``PATH``: the leaves of the equinox module (``eqx.tree_serialise_leaves``);
- ``PATH.with_suffix(".json")``: ``{"format": "learnsim-model", "version": 1, "kind": KIND,
  "hyperparameters": {...}, "training": {...}}``.

Loading reads the sidecar, builds an empty skeleton of the right shape from the hyper-parameters with the
``build`` of its kind (see :mod:`learnsim.learned.registry`), then fills it with the stored weights. Every
way a model file can be wrong (missing, corrupt sidecar, other format or kind, weights that do not fit)
raises :class:`~learnsim.core.errors.InputError` with one line naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from learnsim.core.errors import InputError
from learnsim.io.atomic import write_atomically
from learnsim.learned.registry import MODEL_FORMAT, MODEL_FORMAT_VERSION, model_kind, read_sidecar, sidecar_path


def save_model(
    path: Path | str,
    model: eqx.Module,
    kind: str,
    hyperparameters: dict[str, Any],
    training: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``path`` and its sidecar to ``path.with_suffix(".json")``.

    Args:
        path: the weights file, e.g. ``model.eqx``.
        model: the equinox module.
        kind: its kind's name in :mod:`learnsim.learned.registry`; ``load_model`` rebuilds it from this.
        hyperparameters: JSON-serialisable arguments that ``build`` of ``kind`` needs to recreate the
            skeleton (layer widths, depths, ...).
        training: JSON-serialisable record of how it was trained (data set, epochs, losses, time).

    Returns:
        The sidecar path.

    Raises:
        ValueError: ``hyperparameters`` or ``training`` is not JSON-serialisable.
    """
    path = Path(path)
    sidecar = {
        "format": MODEL_FORMAT,
        "version": MODEL_FORMAT_VERSION,
        "kind": kind,
        "hyperparameters": hyperparameters,
        "training": training or {},
    }
    try:
        text = json.dumps(sidecar, indent=2, allow_nan=True)
    except TypeError as error:
        raise ValueError(f"model sidecar for {path} is not JSON-serialisable: {error}") from None
    write_atomically(path, lambda file: eqx.tree_serialise_leaves(file, model))
    write_atomically(sidecar_path(path), lambda file: file.write(text + "\n"), mode="w")
    return sidecar_path(path)


def load_model(path: Path | str, expected_kind: str | None = None) -> tuple[eqx.Module, dict[str, Any]]:
    """Load a model saved by :func:`save_model`.

    Args:
        path: the weights file.
        expected_kind: if given, the sidecar's kind must be this one (e.g. ``"dcdm"``).

    Returns:
        ``(model, sidecar)``, the sidecar as the dict described in the module docstring.

    Raises:
        InputError: missing file, missing or corrupt sidecar, wrong format, wrong or unknown kind, bad
            hyper-parameters, weights that are corrupt or do not fit the hyper-parameters.
    """
    path = Path(path)
    sidecar = read_sidecar(path)
    kind = sidecar["kind"]
    if expected_kind is not None and kind != expected_kind:
        raise InputError(f"{path}: model kind is {kind!r}, expected {expected_kind!r}")
    build = model_kind(kind, where=str(path)).load().build
    try:
        skeleton = build(sidecar["hyperparameters"])
    except (TypeError, ValueError, KeyError) as error:
        raise InputError(f"{sidecar_path(path)}: bad hyper-parameters for {kind!r} ({error})") from None
    try:
        with open(path, "rb") as file:
            model = eqx.tree_deserialise_leaves(file, skeleton)
            trailing = len(file.read(1)) > 0
    except Exception as error:  # numpy raises several types on a truncated or foreign file
        raise InputError(f"{path}: corrupt model weights ({type(error).__name__}: {error})") from None
    if trailing:
        raise InputError(f"{path}: corrupt model weights (more data than the hyper-parameters account for)")
    _check_leaves_match(path, skeleton, model)
    return model, sidecar


def _check_leaves_match(path: Path, skeleton: Any, loaded: Any) -> None:
    """The stored arrays must have the skeleton's shapes (deserialisation alone does not check)."""
    for expected, found in zip(
        jax.tree_util.tree_leaves(eqx.filter(skeleton, eqx.is_array)),
        jax.tree_util.tree_leaves(eqx.filter(loaded, eqx.is_array)),
        strict=True,
    ):
        if np.shape(expected) != np.shape(found):
            raise InputError(
                f"{path}: corrupt model weights (an array of shape {np.shape(found)} where the hyper-parameters "
                f"give {np.shape(expected)})"
            )
