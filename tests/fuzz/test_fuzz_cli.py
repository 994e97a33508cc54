"""Fuzzing the arguments of every command: options present or not, in any order, with hostile values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .outcome import DEEP, DEFAULT, run_command
from .strategies import overrides, texts
from .test_fuzz_files import _prepared, artifacts  # noqa: F401  (the module-scoped fixture)

NUMBERS = st.sampled_from(["0", "-1", "1", "2", "1.5", "nan", "inf", "-inf", "1e308", "x", "", "9" * 30])
SMALL_SCENES = st.sampled_from(["heat_plate", "cantilever", "nowhere", "r/result.pvd", "afile", "adir", ""])

OPTIONS = {
    "run": {
        "--out": st.sampled_from(["out", "afile", "adir", "adir/new"]),
        "--device": st.sampled_from(["cpu", "cuda:0", "gpu", "", "cpu:7"]),
    },
    "render": {"--out": st.sampled_from(["p.png", "adir", "afile"]), "--field": texts},
    "scenes": {},
    "generate": {
        "--samples": NUMBERS,
        "--workers": st.sampled_from(["0", "-1", "x", ""]),
        "--shard-size": NUMBERS,
        "--seed": NUMBERS,
        "--device": st.sampled_from(["cpu", "cuda:0", "x"]),
        "--scheduler": texts,
        "--out": st.sampled_from(["data2", "afile", "adir"]),
    },  # fmt: skip
    "train": {
        "--data": st.sampled_from(["data", "nowhere", "afile", "r"]),
        "--out": st.sampled_from(["m2.eqx", "adir"]),
        "--epochs": NUMBERS,
        "--learning-rate": NUMBERS,
        "--validation": NUMBERS,
        "--seed": NUMBERS,
        "--resume": st.just(None),
    },  # fmt: skip
    "eval": {
        "--model": st.sampled_from(["m.eqx", "nowhere.eqx", "afile", "m.json"]),
        "--data": st.sampled_from(["data", "nowhere", "afile"]),
        "--baselines": texts | st.sampled_from(["jacobi,ic0,amg", "none", "amg,amg", ",", "ic0,x"]),
        "--tol": NUMBERS,
        "--limit": NUMBERS,
        "--json": st.sampled_from(["e.json", "adir"]),
        "--plot": st.sampled_from(["p.png", "adir"]),
    },  # fmt: skip
}
POSITIONAL = {
    "run": SMALL_SCENES,
    "render": st.sampled_from(["r/result.pvd", "nowhere.pvd", "afile", "adir", "m.json"]),
    "generate": st.sampled_from(["poisson_obstacles", "heat_plate", "dam_break", "nowhere"]),
    "train": st.sampled_from(["gnn-factor", "dcdm", "nope", ""]),
}
SIZES = {"run": "mesh.cells=[3,3]", "generate": "mesh.cells=[3,3]"}
"""Keeps the work small; an --set a fuzzer draws comes after it, and may break it."""


@st.composite
def arguments(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command]
    if command in POSITIONAL and draw(st.integers(0, 9)):  # now and then left out
        argv.append(draw(POSITIONAL[command]))
    if command in SIZES:
        argv += ["--set", SIZES[command]]
    if command == "generate":
        argv += ["--workers", "0", "--samples", "1"]  # a local cluster would cost seconds per example
    names = sorted(OPTIONS[command])
    for option in draw(st.lists(st.sampled_from(names), unique=True, max_size=5)) if names else []:
        value = draw(OPTIONS[command][option])
        argv += [option] if value is None else [option, value]
    if command in SIZES and draw(st.booleans()):
        argv += [arg for item in draw(overrides(max_size=2)) for arg in ("--set", item)]
    if draw(st.integers(0, 7)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--verbose", "--help", "-x", "--", "run"])))
    return argv


def command_arguments(artifacts, argv):  # noqa: F811
    if "--verbose" in argv:  # --verbose shows tracebacks of internal errors on purpose: the outcome is the same
        argv = [a for a in argv if a != "--verbose"]
    run_command(argv, setup=_prepared(artifacts))


CASES = given(argv=arguments())
test_command_arguments = DEFAULT(CASES(command_arguments))
test_command_arguments_deep = pytest.mark.slow(DEEP(CASES(command_arguments)))
