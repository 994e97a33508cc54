"""What every fuzzed command must end with: exit 0 with complete outputs, or exit 2 / 1 with one line.

:func:`run_command` runs ``learnsim ARGV`` in-process in a fresh folder and checks the outcome:

- exit 0: whatever the command writes is complete (a result series whose frames all exist, a
  dataset that opens, a model that loads);
- exit 2: stderr is one ``learnsim: error:`` line (argparse's usage line may come before it);
- exit 1: stderr is one ``learnsim: engine failure:`` line;
- in every case: no traceback, no ``internal error``, and nothing left half-done in the folder (no
  staging folder, temporary file or empty folder that was not there before).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings

from learnsim.cli import main
from learnsim.io.datasets import open_dataset
from learnsim.io.vtu import read_pvd
from learnsim.learned.checkpoint import load_model

LEFTOVERS = (".staging", ".tmp", ".partial", ".check")

DEFAULT = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
"""The default suite: a fixed, bounded set of examples (the same in every run)."""
DEEP = settings(DEFAULT, max_examples=150, derandomize=False)
"""``pytest -m slow``: new random examples every run, many more of them."""


def _snapshot(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def _check_clean(root: Path, before: set[Path]) -> None:
    for path in root.rglob("*"):
        assert not path.name.endswith(LEFTOVERS), f"left behind: {path}"
        created = path.relative_to(root) not in before
        if created and path.is_dir():
            assert any(path.iterdir()), f"an empty folder was left: {path}"


def _check_complete(root: Path) -> None:
    """Every output found below ``root`` is whole."""
    for pvd in root.rglob("result.pvd"):
        frames = read_pvd(pvd)
        assert frames and all(path.is_file() for _, path in frames), pvd
    for manifest in root.rglob("manifest.json"):
        assert len(open_dataset(manifest.parent)) >= 0
    for sidecar in root.rglob("*.json"):
        weights = sidecar.with_suffix(".eqx")
        if weights.exists() and '"learnsim-model"' in sidecar.read_text():
            load_model(weights)


def check_outcome(code: int, out: str, err: str) -> None:
    """The exit code and the stderr lines of one command (see the module docstring)."""
    assert "Traceback" not in out + err and "internal error" not in err, err
    lines = err.splitlines()
    if code == 0:
        return
    assert code in (1, 2), (code, err)
    if lines and lines[0].startswith("usage: "):  # argparse's own refusal
        assert code == 2 and re.match(r"learnsim( \w+)?: error: ", lines[-1]), err
        return
    prefix = "learnsim: error: " if code == 2 else "learnsim: engine failure: "
    assert len(lines) == 1 and lines[0].startswith(prefix), err


def run_command(argv: list, setup=None) -> tuple[int, str, str]:
    """``learnsim ARGV`` in a fresh folder (``setup(folder)`` prepares it first); checks the outcome."""
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        if setup is not None:
            setup(root)
        before = _snapshot(root)
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(root)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main([str(a) for a in argv])
                except SystemExit as exit_:  # argparse: --help (0) or bad arguments (2)
                    code = exit_.code
        finally:
            os.chdir(cwd)
        check_outcome(code, out.getvalue(), err.getvalue())
        _check_clean(root, before)
        if code == 0:
            _check_complete(root)
        return code, out.getvalue(), err.getvalue()
