"""Warp engine: everything that runs per time step. Imports neither learnsim.learned nor learnsim.io.

Importing it initialises Warp quietly: no banner, no line per kernel module, and no warning from
Warp's native library where no CUDA driver exists (noise on a CPU run that would also break the
command line's one-line errors). ``learnsim.verbose()`` or ``LEARNSIM_VERBOSE=1`` lets them through.
"""

import os
import sys

import warp as wp

from learnsim.core.verbosity import is_verbose, on_change


def _apply(verbose: bool) -> None:
    wp.config.log_level = wp.LOG_INFO if verbose else wp.LOG_ERROR


def _initialise() -> None:
    """``wp.init()``, with stderr silenced at the file-descriptor level unless verbose.

    The CUDA driver warning is printed by the native library, not through Python, so only
    redirecting file descriptor 2 hides it.
    """
    if is_verbose():
        wp.init()
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            wp.init()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


on_change(_apply)
_initialise()
