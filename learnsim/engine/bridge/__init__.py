"""Warp <-> JAX bridge: engine operations as differentiable JAX functions.

- :mod:`~learnsim.engine.bridge.operators`: FEM solves, internal forces, stresses (``Problem``);
- :mod:`~learnsim.engine.bridge.rollout`: FEM time stepping with ``lax.scan`` and checkpointing;
- :mod:`~learnsim.engine.bridge.sph`: WCSPH rollouts differentiable with respect to initial
  positions, velocities and viscosity (``SPHProblem``, ``rollout``).
"""
