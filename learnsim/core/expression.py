"""Safe, vectorised expressions of the coordinates x, y, z, as written in scene files.

A scene selects boundary regions (``"x < 1e-9"``) and describes fields
(``"1 + 999 * (x > 0.5)"``) with short formulas. They are parsed with :mod:`ast` and checked
against a whitelist when the :class:`Expression` is built; evaluation walks the tree with
numpy. User text never reaches ``eval``, ``exec`` or ``compile``.
"""

from __future__ import annotations

import ast
import functools
import json
import warnings

import numpy as np

from learnsim.core.errors import InputError

COORDINATES = ("x", "y", "z")
CONSTANTS = {"pi": np.pi}
FUNCTIONS = {
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "min": lambda *args: functools.reduce(np.minimum, args),
    "max": lambda *args: functools.reduce(np.maximum, args),
}
_VARIADIC = ("min", "max")

_UNARY = {ast.UAdd: np.positive, ast.USub: np.negative, ast.Not: np.logical_not}
_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_BOOLEAN = {ast.And: np.logical_and, ast.Or: np.logical_or}

# Names of common constructs, so a rejection says what the user wrote rather than an AST class.
_DESCRIPTIONS = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment",
    ast.JoinedStr: "a string",
    ast.Starred: "unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class Expression:
    """A formula of x, y, z (metres, or model units) evaluated on arrays of points.

    Allowed: numbers, ``True``/``False``, ``x``, ``y``, ``z``, ``pi``; ``+ - * / **``; unary
    ``+ - not``; comparisons ``< <= > >= == !=`` (chains such as ``0 < x < 1`` too);
    ``and``, ``or``; calls to sqrt, abs, sin, cos, exp, log, tanh, min, max (min and max take
    two or more arguments). Comparisons give booleans, which count as 0 or 1 in arithmetic.

    Args:
        source: the formula text.
        where: prefix for error messages that says where the text came from, for example
            ``'scene.toml: [[bc]][0].region = "x < 0"'``.

    Raises:
        InputError: on a syntax error or any construct outside the whitelist; the message
            is one line that starts with ``where``.
    """

    __slots__ = ("_tree", "source", "where")

    def __init__(self, source: str, where: str = ""):
        self.where = where or f"expression {_quote(source)}"
        if not isinstance(source, str):
            raise InputError(f"{self.where}: expected a string")
        self.source = source
        if not source.strip():
            raise InputError(f"{self.where}: the expression is empty")
        try:
            with warnings.catch_warnings():  # "invalid decimal literal" for "1and": the error says it
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            # Python reports offset 0 when the text ends too early ("x <").
            if not exc.offset:
                at = "the end"
            elif "\n" in source.strip():
                at = f"line {exc.lineno}, column {exc.offset}"
            else:
                at = f"column {exc.offset}"
            raise InputError(f"{self.where}: syntax error at {at}: {exc.msg}") from None
        except (RecursionError, MemoryError, ValueError):
            raise InputError(f"{self.where}: expression is too deeply nested or malformed") from None
        try:
            _check(tree.body, self._fail)
        except RecursionError:
            raise InputError(f"{self.where}: expression is too deeply nested") from None
        self._tree = tree.body

    def _fail(self, node: ast.AST, problem: str) -> None:
        raise InputError(f"{self.where}: {problem}")

    @property
    def is_constant(self) -> bool:
        """True when the formula uses none of x, y, z."""
        return not any(isinstance(n, ast.Name) and n.id in COORDINATES for n in ast.walk(self._tree))

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Evaluate at each point.

        Args:
            points: coordinates, shape (n, dim) with dim 2 or 3; z is 0 in 2D.

        Returns:
            shape (n,): bool for a comparison or logical formula, float64 otherwise.
            Invalid operations (``log(0)``, ``sqrt(-1)``) give inf or nan, silently.
        """
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] not in (2, 3):
            raise ValueError(f"points must have shape (n, 2) or (n, 3), got {points.shape}")
        n = points.shape[0]
        env = {name: points[:, i] if i < points.shape[1] else np.zeros(n) for i, name in enumerate(COORDINATES)}
        with np.errstate(all="ignore"):
            value = np.asarray(_evaluate(self._tree, env))
        return np.broadcast_to(value, (n,)).copy()

    def select(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask of the points where the formula is true (non-zero), shape (n,)."""
        return self.evaluate(points).astype(bool)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __str__(self) -> str:
        return self.source

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(("Expression", self.source))

    def __getstate__(self) -> dict:
        return {"source": self.source, "where": self.where}

    def __setstate__(self, state: dict) -> None:
        # Re-parse instead of pickling the tree, so an unpickled expression is re-checked too.
        self.__init__(state["source"], state["where"])


def _quote(text: object) -> str:
    """Quote a string the way TOML and JSON do, escaping newlines so messages stay one line."""
    return json.dumps(text, ensure_ascii=False) if isinstance(text, str) else repr(text)


def _snippet(node: ast.AST) -> str:
    return _quote(ast.unparse(node))


def _check(node: ast.AST, fail) -> None:
    """Reject any node outside the whitelist; ``fail(node, problem)`` raises."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return
        if isinstance(node.value, int | float):
            try:
                float(node.value)
            except OverflowError:
                fail(node, f"number {str(node.value)[:20]}... is too large")
            return
        kind = "a string" if isinstance(node.value, str | bytes) else "the constant"
        fail(node, f"{kind} {_snippet(node)} is not allowed (only numbers)")
    elif isinstance(node, ast.Name):
        if node.id not in COORDINATES and node.id not in CONSTANTS:
            fail(node, f"name '{node.id}' is not allowed (use x, y, z)")
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            fail(node, f"operator in {_snippet(node)} is not allowed")
        _check(node.operand, fail)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            fail(node, f"operator in {_snippet(node)} is not allowed (use + - * / **)")
        _check(node.left, fail)
        _check(node.right, fail)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                fail(node, f"comparison in {_snippet(node)} is not allowed (use < <= > >= == !=)")
        for child in (node.left, *node.comparators):
            _check(child, fail)
    elif isinstance(node, ast.BoolOp):
        for child in node.values:
            _check(child, fail)
    elif isinstance(node, ast.Call):
        _check_call(node, fail)
    else:
        what = _DESCRIPTIONS.get(type(node), type(node).__name__)
        fail(node, f"{what} is not allowed: {_snippet(node)}")


def _check_call(node: ast.Call, fail) -> None:
    allowed = ", ".join(FUNCTIONS)
    if not isinstance(node.func, ast.Name):
        fail(node, f"call {_snippet(node)} is not allowed (only {allowed})")
    name = node.func.id
    if name not in FUNCTIONS:
        fail(node, f"function '{name}' is not allowed (use {allowed})")
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        fail(node, f"{_snippet(node)}: keyword arguments and unpacking are not allowed")
    if name in _VARIADIC and len(node.args) < 2:
        fail(node, f"{_snippet(node)}: {name} needs two or more arguments")
    if name not in _VARIADIC and len(node.args) != 1:
        fail(node, f"{_snippet(node)}: {name} takes exactly one argument")
    for arg in node.args:
        _check(arg, fail)


def _numeric(value):
    """Booleans count as 0/1 in arithmetic (numpy would otherwise add them as logical or)."""
    value = np.asarray(value)
    return value.astype(np.float64) if value.dtype == bool else value


def _evaluate(node: ast.AST, env: dict[str, np.ndarray]):
    """Evaluate a checked tree; coordinates come from ``env`` (name -> shape (n,) array)."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, bool) else np.float64(node.value)
    if isinstance(node, ast.Name):
        return env[node.id] if node.id in env else CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, env)
        if isinstance(node.op, ast.Not):
            return np.logical_not(operand)
        return _UNARY[type(node.op)](_numeric(operand))
    if isinstance(node, ast.BinOp):
        left = _numeric(_evaluate(node.left, env))
        right = _numeric(_evaluate(node.right, env))
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        # a < b < c means (a < b) and (b < c), with b evaluated once.
        result = True
        left = _evaluate(node.left, env)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, env)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return result
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, env) for v in node.values]
        return functools.reduce(_BOOLEAN[type(node.op)], values)
    if isinstance(node, ast.Call):
        args = [_numeric(_evaluate(a, env)) for a in node.args]
        return FUNCTIONS[node.func.id](*args)
    raise AssertionError(f"unchecked node {type(node).__name__}")  # _check rejects everything else
