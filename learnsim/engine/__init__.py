"""Warp engine: everything that runs per time step. Imports neither learnsim.learned nor learnsim.io."""

import os
import sys


def quiet_warp(verbose: bool = False) -> None:
    """Initialise Warp without its console noise (the command line and examples call this first).

    Warp logs every kernel module it loads, and its native library warns on stderr when no CUDA
    driver exists: noise on a CPU run that would break the one-line error contract. Warp is
    initialised with stderr silenced at the file-descriptor level (the warning does not go
    through Python). ``verbose=True`` keeps Warp's messages.
    """
    import warp as wp

    wp.config.log_level = wp.LOG_INFO if verbose else wp.LOG_ERROR
    if verbose:
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
