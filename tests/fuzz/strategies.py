"""Hypothesis strategies for hostile input: values as a TOML override would write them, scene keys,
region formulas, paths and the arguments of every command.

Sizes are drawn small or absurd, never valid and enormous: a valid 1e12-step scene runs (as it
should) for as long as it takes, which a fuzz example cannot wait for; tests/running covers those.
"""

from __future__ import annotations

import json
import math

from hypothesis import strategies as st

NASTY_FLOATS = [0.0, -0.0, -1.0, 1e-320, 1e-300, 1e300, 1e308, -1e308, math.nan, math.inf, -math.inf]
HUGE_INTS = [2**31, 2**63 - 1, -(2**63), 10**20, 10**400]

floats = st.one_of(st.sampled_from(NASTY_FLOATS), st.floats(allow_nan=True, allow_infinity=True))
integers = st.one_of(st.integers(-3, 12), st.sampled_from(HUGE_INTS))
COMMAND_LINE_CHARACTERS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
"""What ``sys.argv`` can hold: no NUL, no lone surrogates (Python maps undecodable bytes to U+DC80..U+DCFF,
which "\\udcff" among the paths stands for)."""
texts = st.one_of(
    st.text(COMMAND_LINE_CHARACTERS, max_size=16),
    st.sampled_from(["", " ", "x < 0.5", "ic0", "learned:", "learned:none.eqx"]),
)
scalars = st.one_of(floats, integers, st.booleans(), texts)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(COMMAND_LINE_CHARACTERS, max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
"""Any TOML value: numbers of every kind, strings, booleans, lists and tables, nested."""


def toml(value) -> str:
    """``value`` written as the right-hand side of a TOML key (what ``--set key=VALUE`` reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


# --- scenes: a small base scene and a few overrides ------------------------------------------------

BASES = {
    "heat_plate": ["mesh.cells=[4,4]"],
    "cantilever": ["mesh.cells=[3,1,1]"],
    "heat_transient": ["mesh.cells=[4,4]", "time.end=0.05"],
    "vibrating_beam": ["mesh.cells=[4,1]", "time.steps=3"],
    "hydrostatic_tank": ["sph.spacing=0.1", "time.end=0.01"],
}
"""Built-in scenes made small enough for an example to take well under a second."""

KEYS = [
    "scene.name", "scene.kind", "scene.dim", "scene.description", "mesh.generator", "mesh.size", "mesh.origin",
    "mesh.element", "mesh.order", "mesh.file", "mesh.corners", "material.model", "material.E", "material.nu",
    "material.density", "material.plane", "material.conductivity", "material.heat_capacity", "bc.0.type",
    "bc.0.region", "bc.0.value", "bc.0.components", "bc.1.value", "bc.5.value", "load.0.type", "load.0.value",
    "load.0.region", "load.0.ramp", "load.0.ramp_time", "solver.preconditioner", "solver.tol", "solver.newton_tol",
    "output.fields", "output.walls", "initial.temperature", "initial.velocity", "sph.scheme", "sph.kernel",
    "sph.viscosity", "sph.rest_density", "sph.gravity", "sph.artificial_viscosity", "sph.domain",
    "sph.periodic", "fluid.0.box", "fluid.0.velocity", "fluid.0.region", "wall.0.kind", "wall.0.box",
    "material", "bc", "solver", "time", "generate.x", "nonsense", "material.Ee", "mesh.cells.0",
]  # fmt: skip
"""Keys that take any value."""
SMALL_OR_ABSURD = {
    "mesh.cells": st.lists(st.sampled_from([-1, 0, 1, 2, 3, 10**12, 2**63 - 1]), min_size=0, max_size=4)
    | st.sampled_from([7, "x", 1.5]),
    "time.steps": st.sampled_from([-1, 0, 1, 2, 1.5, "x", math.nan]),
    "time.end": st.sampled_from([0.0, -1.0, 0.01, 0.03, math.nan, math.inf, "x"]),
    "time.dt": st.sampled_from([0.0, -1.0, 0.01, 1e3, 1e300, math.nan, math.inf, "x"]),
    "sph.spacing": st.sampled_from([0.0, -1.0, 0.12, 0.2, 5.0, 1e-7, math.nan, "x"]),
    "output.frames": st.sampled_from([-1, 0, 1, 3, 1.5]),
    "output.every": st.sampled_from([-1, 0, 1, 2, 1.5]),
    "solver.max_iters": st.sampled_from([-1, 0, 1, 5, 1.5]),
    "solver.load_steps": st.sampled_from([-1, 0, 1, 2]),
    "solver.newton_max_iters": st.sampled_from([-1, 0, 1, 3]),
}
"""Keys that set the size of the work: small valid values, or invalid ones."""


@st.composite
def overrides(draw, max_size: int = 3) -> list[str]:
    """``key=value`` strings for ``--set``."""
    result = []
    for _ in range(draw(st.integers(1, max_size))):
        if draw(st.booleans()):
            key = draw(st.sampled_from(sorted(SMALL_OR_ABSURD)))
            value = draw(SMALL_OR_ABSURD[key])
        else:
            key = draw(st.sampled_from(KEYS) | st.text(COMMAND_LINE_CHARACTERS, min_size=1, max_size=10))
            value = draw(values)
        result.append(f"{key}={toml(value)}" if draw(st.integers(0, 9)) else f"{key}={draw(texts)}")
    return result


# --- region formulas ----------------------------------------------------------------------------------

TOKENS = [
    "x", "y", "z", "pi", "<", ">", "<=", "==", "!=", "and", "or", "not", "(", ")", ",", "+", "-", "*", "/", "**",
    "1", "0.5", "1e308", "1e-320", "nan", "inf", "sqrt(", "abs(", "sin(", "exp(", "log(", "min(", "max(",
    "__import__", "os", ".", "[", "]", "lambda", "'a'", "if", "else", ":", "=", " ", "\n", "\\", "#", "@",
]  # fmt: skip
formulas = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join) | st.text(COMMAND_LINE_CHARACTERS, max_size=24)
