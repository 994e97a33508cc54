"""Packages whose public names are imported on first access (PEP 562), so importing one stays cheap."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, homes: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``, whose name ``N`` lives in its submodule ``homes[N]``.

    The submodule is imported when ``package.N`` is first read. A name must not be the name of a
    submodule too: once that submodule is imported, Python binds the module to the name.
    """

    def __getattr__(name: str):
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return __getattr__, __dir__
