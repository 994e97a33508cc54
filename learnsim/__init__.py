"""learnsim: differentiable FEM and SPH in NVIDIA Warp, with learned solvers in JAX."""

__version__ = "0.1.0"
