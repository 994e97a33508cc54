"""Model files: equinox weights plus a JSON sidecar that says how to rebuild the model.

A model saved as ``PATH`` is two files, each written atomically (temporary file, then ``os.replace``):

- ``PATH``: the leaves of the equinox module (``eqx.tree_serialise_leaves``);
- ``PATH.with_suffix(".json")``: ``{"format": "learnsim-model", "version": 1, "kind": KIND,
  "hyperparameters": {...}, "training": {...}}``.

Loading reads the sidecar, builds an empty skeleton of the right shape from the hyper-parameters through
the registry of model kinds (:func:`register_model_kind`), then fills it with the stored weights. Every
way a model file can be wrong (missing, corrupt sidecar, other format or kind, weights that do not fit)
raises :class:`~learnsim.core.errors.InputError` with one line naming the file.

A module defining a model kind registers it at import time::

    register_model_kind("gnn-factor", lambda hyperparameters: GNNFactor(**hyperparameters, key=jr.key(0)))

The built-in kinds are imported on demand by :func:`load_model`, so loading needs no prior import.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from learnsim.core.errors import InputError
from learnsim.io.atomic import write_atomically

MODEL_FORMAT = "learnsim-model"
MODEL_FORMAT_VERSION = 1

ModelBuilder = Callable[[dict[str, Any]], eqx.Module]
"""Builds a model skeleton (any weights, the right shapes) from its hyper-parameters."""

_REGISTRY: dict[str, ModelBuilder] = {}

BUILTIN_KIND_MODULES = {
    "gnn-factor": "learnsim.learned.gnn_factor",
    "dcdm": "learnsim.learned.dcdm",
}
"""Modules that register the built-in kinds; :func:`load_model` imports them when the kind is unknown."""


def register_model_kind(kind: str, build: ModelBuilder) -> None:
    """Make ``kind`` loadable: ``build(hyperparameters)`` returns a model skeleton of that kind.

    Args:
        kind: the name stored in sidecars, e.g. ``"gnn-factor"`` or ``"dcdm"``.
        build: called with the sidecar's ``hyperparameters`` dict; returns an ``eqx.Module`` whose leaves have
            the shapes and dtypes of the saved weights (their values are overwritten).
    """
    _REGISTRY[kind] = build


def model_kinds() -> tuple[str, ...]:
    """Names of the kinds known now plus the built-in ones, sorted."""
    return tuple(sorted(set(_REGISTRY) | set(BUILTIN_KIND_MODULES)))


def _builder(kind: str) -> ModelBuilder | None:
    if kind not in _REGISTRY and kind in BUILTIN_KIND_MODULES:
        importlib.import_module(BUILTIN_KIND_MODULES[kind])
    return _REGISTRY.get(kind)


def sidecar_path(path: Path | str) -> Path:
    """The JSON sidecar of the model file ``path``: same name, suffix ``.json``."""
    return Path(path).with_suffix(".json")


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
        kind: its registered kind (see :func:`register_model_kind`); ``load_model`` rebuilds it from this.
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


def read_sidecar(path: Path | str) -> dict[str, Any]:
    """Read and check the sidecar of model file ``path`` (format, version, kind, hyper-parameters).

    Raises:
        InputError: missing model file or sidecar, unreadable JSON, wrong format or version.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    json_path = sidecar_path(path)
    if not json_path.is_file():
        raise InputError(f"{json_path}: model sidecar not found (expected beside {path.name})")
    try:
        sidecar = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{json_path}: corrupt model sidecar ({error})") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != MODEL_FORMAT:
        found = sidecar.get("format") if isinstance(sidecar, dict) else type(sidecar).__name__
        raise InputError(f"{json_path}: format is {found!r}, expected {MODEL_FORMAT!r}")
    if sidecar.get("version") != MODEL_FORMAT_VERSION:
        raise InputError(f"{json_path}: version {sidecar.get('version')!r} is not supported (expected 1)")
    if not isinstance(sidecar.get("kind"), str) or not isinstance(sidecar.get("hyperparameters"), dict):
        raise InputError(f"{json_path}: 'kind' (a string) and 'hyperparameters' (an object) are required")
    sidecar.setdefault("training", {})
    return sidecar


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
    build = _builder(kind)
    if build is None:
        raise InputError(f"{path}: unknown model kind {kind!r}; known kinds: {', '.join(model_kinds())}")
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
