"""Warp <-> JAX bridge: engine operations as differentiable JAX functions."""
