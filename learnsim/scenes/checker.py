"""One-line error messages for scene values: ``SOURCE: [table].key = VALUE problem``.

:class:`Checker` raises :class:`~learnsim.core.errors.InputError` with the source file, the key
and the value written as TOML would write it (:func:`format_value`), so a scene built in Python
and one read from a file fail with the same words.
"""

from __future__ import annotations

import json
import math
import numbers
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from learnsim.core.errors import InputError
from learnsim.core.expression import Expression

MISSING = object()
"""Marks an argument that was not given (None is a value a key can have)."""


def format_value(value: Any) -> str:
    """Write a value the way TOML would, on one line: ``"hard"``, ``0.5``, ``[1, 2]``, ``nan``."""
    if isinstance(value, str | Path):
        return _quote(str(value))
    if isinstance(value, Expression):
        return _quote(value.source)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "None"
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, tuple | list | np.ndarray):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {format_value(v)}" for k, v in value.items()) + "}"
    return _quote(repr(value))


def _quote(text: str) -> str:
    # JSON string syntax is TOML's basic string syntax, and it escapes newlines.
    return json.dumps(text, ensure_ascii=False)


class Checker:
    """Raises one-line InputErrors that name the source file, key and value."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, problem: str, value: Any = MISSING) -> NoReturn:
        """``SOURCE: KEY problem``, or ``SOURCE: KEY = VALUE problem`` when a value is given.

        A problem starting with ':' (": expected a number") follows the value directly.
        """
        if value is MISSING:
            raise InputError(f"{self.source}: {key} {problem}")
        sep = "" if problem.startswith(":") else " "
        raise InputError(f"{self.source}: {key} = {format_value(value)}{sep}{problem}")

    def string(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            self.fail(key, ": expected a string", value)
        return value

    def choice(self, key: str, value: Any, options) -> str:
        if self.string(key, value) not in options:
            self.fail(key, f": expected one of {', '.join(options)}", value)
        return value

    def number(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self.fail(key, ": expected a number", value)
        if not math.isfinite(value):
            self.fail(key, ": expected a finite number", value)
        return float(value)

    def positive(self, key: str, value: Any) -> float:
        if self.number(key, value) <= 0:
            self.fail(key, "must be positive", value)
        if value < sys.float_info.min:  # a subnormal has lost its digits: what is computed from it under/overflows
            self.fail(key, f"is below {sys.float_info.min:.3g}, the smallest normal double", value)
        return float(value)

    def non_negative(self, key: str, value: Any) -> float:
        if self.number(key, value) < 0.0:
            self.fail(key, "must not be negative", value)
        return float(value)

    def integer(self, key: str, value: Any, positive: bool = True) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            self.fail(key, ": expected an integer", value)
        if positive and value < 1:
            self.fail(key, "must be positive", value)
        return int(value)

    def sequence(self, key: str, value: Any, what: str) -> list:
        if not isinstance(value, tuple | list | np.ndarray):
            self.fail(key, f": expected a list of {what}", value)
        return list(value)

    def numbers(self, key: str, value: Any, length: int, what: str) -> tuple[float, ...]:
        items = self.sequence(key, value, "numbers")
        if len(items) != length:
            self.fail(key, f": expected {length} numbers ({what})", value)
        if any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in items):
            self.fail(key, ": expected numbers", value)
        if not all(math.isfinite(v) for v in items):
            self.fail(key, ": expected finite numbers", value)
        return tuple(float(v) for v in items)

    def expression(self, key: str, value: Any) -> Expression:
        if isinstance(value, Expression):
            return value
        if not isinstance(value, str):
            self.fail(key, ": expected a formula of x, y, z in a string", value)
        return Expression(value, where=f"{self.source}: {key} = {format_value(value)}")

    def required(self, key: str, value: Any, why: str = "") -> Any:
        if value is None:
            self.fail(key, f"is required {why}".rstrip())
        return value
