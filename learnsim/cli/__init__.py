"""The ``learnsim`` command: ``run``, ``render``, ``scenes`` (:mod:`.simulate`), ``generate``, ``train``
and ``eval`` (:mod:`.learning`).

Exit codes: 0 success, 2 bad input (one line naming the file, key or value), 1 a failure
inside the engine on valid input (e.g. a solver that did not converge).
"""

from __future__ import annotations

import argparse
import os
import sys

from learnsim.cli import learning, simulate
from learnsim.core.errors import EngineError, InputError
from learnsim.core.verbosity import ENVIRONMENT_VARIABLE, verbose


def parser() -> argparse.ArgumentParser:
    """The argument parser, built anew from the registry of model kinds (``learnsim train KIND``)."""
    root = argparse.ArgumentParser(
        prog="learnsim", description="Differentiable FEM and SPH simulation in NVIDIA Warp, with learned solvers."
    )
    root.add_argument("--verbose", action="store_true", help="show Warp's compilation and device messages")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    simulate.add_commands(sub)
    learning.add_commands(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verbose:  # before anything imports Warp; dask workers read it from the environment
        os.environ[ENVIRONMENT_VARIABLE] = "1"
        verbose()
    try:
        return args.handler(args)
    except InputError as err:
        print(f"learnsim: error: {err}", file=sys.stderr)
        return 2
    except EngineError as err:
        print(f"learnsim: engine failure: {err}", file=sys.stderr)
        return 1
