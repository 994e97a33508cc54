"""Atomic file writes and output checks.

A file is written to a temporary file beside the target and renamed onto it when complete, so a
crash leaves either the old file or the new one, never half a file. :func:`check_writable` refuses
an output path before any work; :func:`removing_created_folders` leaves no empty folder behind a
command that fails.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from learnsim.core.errors import InputError


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


def check_writable(path: str | os.PathLike, what: str, folder: bool = False) -> Path:
    """Refuse, before any work, an output that cannot be written; the absolute path.

    ``path`` is a file to write (or a ``folder`` to create or fill). Its missing parents are
    created and a probe file is written where the output will go (in the folder itself when it
    exists, and beside it, where results are staged); everything the check created is removed.

    Raises:
        InputError: ``what`` (e.g. ``--out out/run``) is an existing file where a folder is wanted
            or the reverse, a device or pipe (``/dev/null``: the atomic rename would replace it),
            sits below a file, or cannot be created or written (the reason).
    """
    path = Path(path).expanduser().absolute()
    try:
        _check_kind(path, what, folder)
        # probes named like what will be written: the temporary file or staging folder beside the
        # target (a name too long fails here), and a file inside a folder that exists
        probes = [path] + ([path / "probe"] if folder and path.exists() else [])
        with removing_created_folders(path.parent, always=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            for target in probes:
                descriptor, probe = new_temp_file(target, suffix=".staging" if folder else ".tmp")
                os.close(descriptor)
                probe.unlink()
    except FileExistsError:
        blocking = next(p for p in [path.parent, *path.parent.parents] if p.exists())
        raise InputError(f"{what}: {blocking} is a file, so {path} cannot be created") from None
    except OSError as err:
        raise InputError(f"{what}: cannot write {_short(path)} ({err.strerror or err})") from None
    return path


def _check_kind(path: Path, what: str, folder: bool) -> None:
    if folder and path.exists() and not path.is_dir():
        raise InputError(f"{what}: {path} exists and is not a folder")
    if not folder and path.is_dir():
        raise InputError(f"{what}: {path} is a folder, not a file")
    if not folder and path.exists() and not path.is_file():  # a device or a pipe: a rename would replace it
        raise InputError(f"{what}: {path} is not a regular file")


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]}"


@contextmanager
def removing_created_folders(folder: str | os.PathLike, always: bool = False) -> Iterator[None]:
    """Remove the folders of ``folder``'s path created inside the block, if they are empty at its end.

    By default only when the block fails (so a command that stops on bad input leaves no empty
    folder behind); with ``always``, in any case. Folders that hold files are kept.
    """
    folder = Path(folder).expanduser().absolute()
    missing = [p for p in [folder, *folder.parents] if not p.exists()]  # deepest first
    try:
        yield
    except BaseException:
        _remove_empty(missing)
        raise
    if always:
        _remove_empty(missing)


def _remove_empty(folders: list[Path]) -> None:
    for created in folders:
        try:
            created.rmdir()
        except OSError:  # not empty (or already gone): keep it and everything above it
            return
