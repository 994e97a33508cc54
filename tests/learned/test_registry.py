"""The registry of model kinds: every built-in kind keeps its protocol, and a kind added at run time
is one registry entry away from `learnsim train`, `learnsim eval` and `learned:PATH` in a scene."""

import json

import meshio
import numpy as np
import pytest

from learnsim.core.errors import InputError
from learnsim.learned.registry import BUILTIN_KINDS, USES, ModelKind, model_kind, model_kinds, register, unregister

from ..cli_helpers import run_cli

PROTOCOL = {"preconditioner": ("build", "recipe", "factor"), "solver": ("build", "recipe", "setup", "solve")}


@pytest.mark.parametrize("kind", BUILTIN_KINDS, ids=lambda kind: kind.name)
def test_builtin_kinds_follow_the_protocol_of_their_use(kind):
    assert kind.use in USES and model_kind(kind.name) is kind
    module = kind.load()
    assert all(callable(getattr(module, name)) for name in PROTOCOL[kind.use]), kind.module


def test_unknown_kinds_and_uses():
    with pytest.raises(InputError, match="m.eqx: unknown model kind 'nope' \\(known kinds: dcdm, gnn-factor\\)"):
        model_kind("nope", where="m.eqx")
    with pytest.raises(ValueError, match="use 'material' is not one of"):
        ModelKind("law", "material", "somewhere")
    assert [k.name for k in model_kinds("preconditioner")] == ["gnn-factor"]


@pytest.fixture
def toy_kind():
    register(ModelKind("toy-factor", "preconditioner", "toy_kind", "a scaled Jacobi factor (tests)"))
    yield
    unregister("toy-factor")


def _temperatures(folder):
    return meshio.read(sorted((folder / "frames").glob("*.vtu"))[-1]).point_data["temperature"]


def test_a_registered_kind_trains_evaluates_and_runs_in_scenes(toy_kind, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_code:
        run_cli(capsys, "train", "--help")
    assert exit_code.value.code == 0
    assert "toy-factor   preconditioner: a scaled Jacobi factor (tests)" in capsys.readouterr().out

    data, model = tmp_path / "data", tmp_path / "toy.eqx"
    cells = "mesh.cells=[8,8]"
    code, _, err = run_cli(capsys, "generate", "poisson_obstacles", "--samples", 3, "--workers", 0, "--out", data,
                           "--set", cells)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(capsys, "train", "toy-factor", "--data", data, "--out", model, "--epochs", 3)
    assert code == 0, err
    assert json.loads(model.with_suffix(".json").read_text())["kind"] == "toy-factor"

    report = tmp_path / "eval.json"
    code, out, err = run_cli(
        capsys, "eval", "--model", model, "--data", data, "--baselines", "jacobi", "--json", report
    )
    assert code == 0, err
    figures = json.loads(report.read_text())
    # M = D^-1 / s^2: the same Krylov space as Jacobi's, so the same iterations on every system
    assert figures["toy-factor"]["iterations_mean"] == figures["jacobi"]["iterations_mean"] > 5
    assert "toy-factor" in out

    runs = {}
    for name, choice in (("jacobi", "jacobi"), ("toy", f"learned:{model}")):
        settings = [cells, f'solver.preconditioner="{choice}"', "solver.tol=1e-11"]
        code, out, err = run_cli(capsys, "run", "poisson_obstacles", "--out", tmp_path / name,
                                 *sum((["--set", s] for s in settings), []))  # fmt: skip
        assert code == 0, err
        runs[name] = _temperatures(tmp_path / name)
    assert np.max(np.abs(runs["toy"] - runs["jacobi"])) <= 1e-9 * np.max(np.abs(runs["jacobi"]))

    unregister("toy-factor")  # the scene checks the kind when it is loaded, before any work
    code, out, err = run_cli(capsys, "run", "poisson_obstacles", "--out", tmp_path / "never",
                             "--set", f'solver.preconditioner="learned:{model}"')  # fmt: skip
    assert code == 2 and "unknown model kind 'toy-factor'" in err and not (tmp_path / "never").exists()
