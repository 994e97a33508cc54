"""learnsim: differentiable FEM and SPH in NVIDIA Warp, with learned solvers in JAX.

The library prints nothing unless asked: ``learnsim.verbose()`` (or ``LEARNSIM_VERBOSE=1``) shows
Warp's start-up and kernel-loading messages.
"""

from learnsim.core.verbosity import verbose

__version__ = "0.1.0"
__all__ = ["verbose"]
