"""The one registry of learned model kinds, and the model files that name them.

A kind is a name (stored in model sidecars, typed after ``learnsim train``), a *use* (how the
engine takes it) and the module that defines it. Adding a kind is one module plus one entry in
:data:`BUILTIN_KINDS` (or a :func:`register` call from outside learnsim). The command line's choices,
``learnsim eval``, model loading and ``learned:PATH`` in scenes all read this registry.

What the module of a kind defines:

- ``build(hyperparameters: dict) -> eqx.Module``: a model of the right shapes (any weights), which
  loading fills with the stored ones; the model's ``hyperparameters`` property gives that dict back;
- ``recipe(systems: list[LinearSystem], seed: int) -> learnsim.learned.training.Recipe``: the
  model, loss, batches and step size that ``learnsim train`` fits on a dataset;
- for use ``"preconditioner"``: ``factor(model, matrix) -> scipy CSR L``, lower triangular with a
  positive diagonal, applied in the engine's PCG as ``M = (L L^T)^-1``; a scene may name such a
  model as ``[solver] preconditioner = "learned:PATH"``;
- for use ``"solver"``: ``setup(model, matrix, grid_shape)`` (the work done once per matrix) and
  ``solve(model, setup, rhs, *, tol, max_iterations, raise_on_failure) -> SolveResult``: an
  iteration of its own, compared with PCG by ``learnsim eval``.

Modules are named by their dotted path and imported on first use: the kinds are JAX modules,
and a plain FEM run that only checks a scene should not pay for importing JAX.

A model file ``PATH`` has a JSON sidecar ``PATH.with_suffix(".json")``: ``{"format":
"learnsim-model", "version": 1, "kind": NAME, "hyperparameters": {...}, "training": {...}}``
(written by :func:`learnsim.learned.checkpoint.save_model`).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learnsim.core.errors import InputError

USES = ("preconditioner", "solver")
"""How the engine takes a kind: a PCG preconditioner (from a factor), or a solver of its own."""
MODEL_FORMAT = "learnsim-model"
MODEL_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelKind:
    """One kind of learned model.

    Attributes:
        name: the kind as sidecars and ``learnsim train NAME`` spell it, e.g. ``"gnn-factor"``.
        use: one of :data:`USES`.
        module: the dotted name of the module that defines it (see the module docstring), or that
            module itself (any object with its functions, for kinds registered at run time).
        summary: one line for ``learnsim train --help``.
    """

    name: str
    use: str
    module: Any
    summary: str = ""

    def __post_init__(self):
        if self.use not in USES:
            raise ValueError(f"model kind {self.name!r}: use {self.use!r} is not one of {', '.join(USES)}")

    def load(self) -> Any:
        """The module that defines this kind (imported on first use)."""
        return importlib.import_module(self.module) if isinstance(self.module, str) else self.module


BUILTIN_KINDS = (
    ModelKind(
        "gnn-factor",
        "preconditioner",
        "learnsim.learned.gnn_factor",
        "graph network predicting an incomplete Cholesky factor on the pattern of tril(A) (any SPD system)",
    ),
    ModelKind(
        "dcdm",
        "solver",
        "learnsim.learned.dcdm_solver",
        "deep conjugate directions with a learned multigrid V-cycle (systems on 2D/3D grids)",
    ),
)

_KINDS: dict[str, ModelKind] = {kind.name: kind for kind in BUILTIN_KINDS}


def register(kind: ModelKind) -> None:
    """Add ``kind`` (or replace the kind of that name) for this process."""
    _KINDS[kind.name] = kind


def unregister(name: str) -> None:
    """Remove the kind ``name`` (a no-op for unknown names)."""
    _KINDS.pop(name, None)


def model_kinds(use: str | None = None) -> tuple[ModelKind, ...]:
    """The registered kinds (of one ``use``, if given), sorted by name."""
    return tuple(sorted((k for k in _KINDS.values() if use in (None, k.use)), key=lambda k: k.name))


def model_kind(name: str, where: str = "model kind") -> ModelKind:
    """The kind called ``name``.

    Raises:
        InputError: no such kind; ``where`` starts the message (a file name, an option).
    """
    if name not in _KINDS:
        known = ", ".join(k.name for k in model_kinds())
        raise InputError(f"{where}: unknown model kind {name!r} (known kinds: {known})")
    return _KINDS[name]


def sidecar_path(path: Path | str) -> Path:
    """The JSON sidecar of the model file ``path``: same name, suffix ``.json``."""
    return Path(path).with_suffix(".json")


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


@dataclass(frozen=True)
class ModelFile:
    """A trained model a scene names as ``learned:PATH``, checked: its absolute path and its kind."""

    path: Path
    kind: ModelKind

    def __str__(self) -> str:
        return f"learned:{self.path}"


def model_file(path: Path | str, use: str, where: str) -> ModelFile:
    """The model file ``path`` (relative: to the working directory), checked to be of a kind for ``use``.

    Raises:
        InputError: a missing or unreadable file or sidecar, an unknown kind, or a kind of another use;
            ``where`` starts the message (e.g. ``scene.toml: [solver].preconditioner``).
    """
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise InputError(f"{where}: no model file {str(path)!r}")
    try:
        kind = model_kind(read_sidecar(path)["kind"], where=str(sidecar_path(path)))
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    if kind.use != use:
        wanted = ", ".join(k.name for k in model_kinds(use)) or "none registered"
        raise InputError(
            f"{where}: {path.name} is a {kind.name!r} model, a {kind.use} (see `learnsim eval`); "
            f"a {use} needs a model of kind {wanted}"
        )
    return ModelFile(path, kind)
