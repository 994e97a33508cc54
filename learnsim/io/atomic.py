"""Atomic file writes: a temporary file beside the target, renamed onto it when complete.

A crash leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def new_temp_file(target: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """Create an empty, uniquely named hidden file next to ``target``; returns (fd, path).

    Unlike tempfile.mkstemp (mode 0600) the file gets the usual mode allowed by the umask,
    which it keeps once renamed onto ``target``.
    """
    while True:
        path = target.parent / f".{target.name}.{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue


def write_atomically(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(file)`` on a temporary file beside ``path`` (opened with ``mode``), then rename it.

    The parent folder is created; the data is flushed to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = new_temp_file(path)
    encoding = None if "b" in mode else "utf-8"
    try:
        with os.fdopen(descriptor, mode, encoding=encoding) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
