"""Learned modules in JAX (equinox models, optax training) that plug into the engine. Warp-free.

- :mod:`~learnsim.learned.registry`: the one registry of model kinds (name, use, module) and the
  model-file sidecars that name them;
- :mod:`~learnsim.learned.gnn_factor`: neural incomplete factorisation (``GNNFactor``), a graph
  network predicting L on the pattern of tril(A), applied in PCG by two triangular solves;
- :mod:`~learnsim.learned.dcdm` / :mod:`~learnsim.learned.dcdm_solver` /
  :mod:`~learnsim.learned.dcdm_data`: deep conjugate directions (``DCDM``, ``dcdm_setup``,
  ``dcdm_solve``) for systems on 2D and 3D grids;
- :mod:`~learnsim.learned.training`: ``fit`` with validation, checkpoints and resume, and the
  ``Recipe`` each kind gives;
- :mod:`~learnsim.learned.checkpoint`: model files with a JSON sidecar (``save_model``, ``load_model``);
- :mod:`~learnsim.learned.train_command`: ``train_model``, behind ``learnsim train``.

The names below are imported on first access, so ``import learnsim.learned.registry`` (which a
scene naming a model needs) does not load JAX.
"""

from learnsim.core.lazy import lazy_exports

_HOMES = {
    "DCDM": "dcdm",
    "dcdm_loss": "dcdm",
    "DCDMSetup": "dcdm_solver",
    "dcdm_setup": "dcdm_solver",
    "dcdm_solve": "dcdm_solver",
    "GNNFactor": "gnn_factor",
    "batch_graphs": "gnn_factor",
    "frobenius_loss": "gnn_factor",
    "matrix_graph": "gnn_factor",
    "solution_loss": "gnn_factor",
    "Recipe": "training",
    "TrainingHistory": "training",
    "fit": "training",
    "plot_loss_curve": "training",
    "load_model": "checkpoint",
    "save_model": "checkpoint",
    "ModelKind": "registry",
    "model_kind": "registry",
    "model_kinds": "registry",
    "register": "registry",
    "train_model": "train_command",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
