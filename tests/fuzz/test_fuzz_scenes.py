"""Fuzzing scenes: hostile values for every scene key, and hostile region formulas."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnsim.core.errors import InputError
from learnsim.core.expression import Expression

from .outcome import DEEP, DEFAULT, run_command
from .strategies import BASES, formulas, overrides, toml


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def scene_values(base, extra):
    run_command(["run", base, *_sets(BASES[base] + extra), "--out", "result"])


def region_formulas(formula, key):
    run_command(["run", "heat_plate", *_sets([*BASES["heat_plate"], f"{key}={toml(formula)}"]), "--out", "result"])


def expressions(formula):
    """Below the command line: any text either is refused (InputError) or evaluates to one value per point."""
    try:
        expression = Expression(formula)
    except InputError as err:
        assert "\n" not in str(err)
        return
    points = np.random.default_rng(0).uniform(-2, 2, (7, 3))
    with np.errstate(all="ignore"):
        assert expression.evaluate(points).shape == (7,)
        assert expression.select(points).dtype == bool


SCENE_VALUES = given(base=st.sampled_from(sorted(BASES)), extra=overrides())
REGIONS = given(formula=formulas, key=st.sampled_from(["bc.0.region", "material.conductivity", "load.0.region"]))
test_scene_values = DEFAULT(SCENE_VALUES(scene_values))
test_scene_values_deep = pytest.mark.slow(DEEP(SCENE_VALUES(scene_values)))
test_region_formulas = DEFAULT(REGIONS(region_formulas))
test_region_formulas_deep = pytest.mark.slow(DEEP(REGIONS(region_formulas)))
test_expressions = DEFAULT(given(formula=formulas)(expressions))
test_expressions_deep = pytest.mark.slow(DEEP(given(formula=formulas)(expressions)))
