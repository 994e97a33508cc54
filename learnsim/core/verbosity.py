"""Whether learnsim lets Warp speak: quiet by default, verbose on request.

Warp prints a line for every kernel module it loads ("Module ... load on device 'cpu' took ...
(cached)"), a banner when it starts, and, on a machine without a CUDA driver, a warning from its
native library. A library that calls it should print none of that unless asked:

    import learnsim
    learnsim.verbose()          # or run with LEARNSIM_VERBOSE=1 in the environment

Layers that own a noisy dependency (the engine owns Warp) subscribe with :func:`on_change` and
apply the setting themselves; nothing here imports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable

ENVIRONMENT_VARIABLE = "LEARNSIM_VERBOSE"
_FALSE = ("", "0", "false", "no", "off")

_listeners: list[Callable[[bool], None]] = []
_verbose = [os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() not in _FALSE]


def verbose(enabled: bool = True) -> None:
    """Show Warp's messages from now on (``enabled=False``: hide them again)."""
    _verbose[0] = bool(enabled)
    for listener in _listeners:
        listener(_verbose[0])


def is_verbose() -> bool:
    """Whether :func:`verbose` (or ``LEARNSIM_VERBOSE``) asked for Warp's messages."""
    return _verbose[0]


def on_change(listener: Callable[[bool], None]) -> None:
    """Call ``listener(verbose)`` now and whenever :func:`verbose` changes the setting."""
    _listeners.append(listener)
    listener(_verbose[0])
