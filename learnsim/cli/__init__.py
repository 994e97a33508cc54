"""The ``learnsim`` command: ``run``, ``render``, ``scenes`` (:mod:`.simulate`), ``generate``, ``train``
and ``eval`` (:mod:`.learning`).

Exit codes: 0 success; 2 bad input (one line naming the file, key or value); 1 a failure inside the
engine on valid input (e.g. a solver that did not converge); 130 interrupted (Ctrl-C, SIGINT) and
143 terminated (SIGTERM), with one line ``learnsim: interrupted``. Whatever fails, stderr gets one
line and no traceback (``--verbose`` shows the traceback of an internal error), and an output that
was not finished is removed: results are staged and published only when complete; ``generate`` and
``train`` keep the shards and checkpoints they finished, so running them again resumes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from learnsim.cli import learning, simulate
from learnsim.core.errors import EngineError, InputError
from learnsim.core.verbosity import ENVIRONMENT_VARIABLE, verbose

INTERRUPTED, TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so that every ``with`` block cleans up."""


def parser() -> argparse.ArgumentParser:
    """The argument parser, built anew from the registry of model kinds (``learnsim train KIND``)."""
    root = argparse.ArgumentParser(
        prog="learnsim", description="Differentiable FEM and SPH simulation in NVIDIA Warp, with learned solvers."
    )
    root.add_argument("--verbose", action="store_true", help="show Warp's messages, warnings and internal tracebacks")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    simulate.add_commands(sub)
    learning.add_commands(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verbose:  # before anything imports Warp; dask workers read it from the environment
        os.environ[ENVIRONMENT_VARIABLE] = "1"
        verbose()
    previous = _terminate_as_exception()
    try:
        with warnings.catch_warnings():
            if not args.verbose:  # library warnings (overflow in a check, a deprecation) are not the user's
                warnings.simplefilter("ignore")
            return args.handler(args)
    except InputError as err:
        return _fail(f"learnsim: error: {err}", 2)
    except EngineError as err:
        return _fail(f"learnsim: engine failure: {err}", 1)
    except OSError as err:  # a path the user gave that the system refuses (too long, gone, a full disk)
        where = f"{_short(err.filename)}: " if err.filename else ""
        return _fail(f"learnsim: error: {where}{err.strerror or _one_line(err)}", 2)
    except MemoryError:
        return _fail("learnsim: engine failure: out of memory (a smaller problem, or more memory)", 1)
    except Terminated:
        return _fail("learnsim: interrupted (terminated)", TERMINATED)
    except KeyboardInterrupt:
        return _fail("learnsim: interrupted", INTERRUPTED)
    except Exception as err:
        if args.verbose:
            raise
        return _fail(f"learnsim: internal error: {type(err).__name__}: {_one_line(err)} (--verbose shows where)", 1)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate_as_exception():
    """Turn SIGTERM into :class:`Terminated` for this command; the previous handler (None off the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        return None


def _raise_terminated(signum, frame):
    raise Terminated


def _fail(line: str, code: int) -> int:
    # one line whatever the input held: a key typed with a carriage return is shown escaped
    print("".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in line), file=sys.stderr)
    return code


def _short(name) -> str:
    text = str(name)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]}"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:300] + ("..." if len(text) > 300 else "")
