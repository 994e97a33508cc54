"""Learned modules in JAX (equinox models, optax training) that plug into the engine.

- :mod:`~learnsim.learned.gnn_factor`: neural incomplete factorisation (``GNNFactor``), a graph
  network predicting L on the pattern of tril(A), applied in PCG by two triangular solves;
- :mod:`~learnsim.learned.dcdm` / :mod:`~learnsim.learned.dcdm_solver` /
  :mod:`~learnsim.learned.dcdm_data`: deep conjugate
  directions (``DCDM``, ``dcdm_setup``, ``dcdm_solve``) for systems on 2D and 3D grids;
- :mod:`~learnsim.learned.training`: ``fit`` with validation, checkpoints and resume;
- :mod:`~learnsim.learned.checkpoint`: model files with a JSON sidecar (``save_model``, ``load_model``);
- :mod:`~learnsim.running.evaluate`: iterations and times of learned and classical methods;
- :mod:`~learnsim.learned.train_command`: the recipes behind ``learnsim train``.
"""

from learnsim.learned.checkpoint import load_model, register_model_kind, save_model
from learnsim.learned.dcdm import DCDM, dcdm_loss
from learnsim.learned.dcdm_solver import DCDMSetup, dcdm_setup, dcdm_solve
from learnsim.learned.gnn_factor import GNNFactor, batch_graphs, frobenius_loss, matrix_graph, solution_loss
from learnsim.learned.training import TrainingHistory, fit, plot_loss_curve

__all__ = [
    "DCDM",
    "DCDMSetup",
    "GNNFactor",
    "TrainingHistory",
    "batch_graphs",
    "dcdm_loss",
    "dcdm_setup",
    "dcdm_solve",
    "fit",
    "frobenius_loss",
    "load_model",
    "matrix_graph",
    "plot_loss_curve",
    "register_model_kind",
    "save_model",
    "solution_loss",
]
