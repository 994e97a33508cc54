"""Shared test set-up: fp64 in JAX, skip GPU tests where no CUDA device exists."""

import jax
import pytest
import warp as wp

import learnsim.engine  # noqa: F401  (initialises Warp quietly, before anything else starts it)

# gradient checks and validation run in float64
jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    if wp.is_cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
