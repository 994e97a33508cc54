"""The shape of the package: its layer contract, the Warp-free layers, a quiet library, small files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "learnsim"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contracts (pyproject.toml in ``root``) over ``root/learnsim``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_layer_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the engine must not know the learned layer (here through a function-level import, which counts)
        ("engine/fem/forms.py", "def _hidden():\n    import learnsim.learned.registry\n", "layers:"),
        ("io/datasets.py", "from learnsim.running import run_scene\n", "layers:"),
        # mesh imports errors; errors importing mesh back is a cycle inside core
        ("core/errors.py", "from learnsim.core import mesh\n", "no import cycles"),
    ],
)
def test_a_deliberate_violation_breaks_the_contract(tmp_path, module, line, broken):
    shutil.copytree(PACKAGE, tmp_path / "learnsim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "learnsim" / module
    target.write_text(target.read_text() + "\n" + line)
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    verdicts = [line for line in result.stdout.splitlines() if line.startswith(broken)]
    assert verdicts and verdicts[0].endswith("BROKEN"), result.stdout


def _imported_after(statement: str) -> set[str]:
    """Top-level packages in sys.modules after running ``statement`` in a fresh interpreter."""
    code = f"import sys\n{statement}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import learnsim.learned",
        "import learnsim.io.datasets",
        "import learnsim.io",
        "import learnsim.core.mesh, learnsim.core.systems, learnsim.core.progress",
        "from learnsim.learned import gnn_factor, dcdm_solver, checkpoint, train_command, registry",
    ],
)
def test_the_learned_and_io_layers_do_not_import_warp(statement):
    assert "warp" not in _imported_after(statement)


def test_checking_a_scene_does_not_import_jax():
    # the registry, which learned:PATH needs, names its kinds' modules and imports them on first use
    modules = _imported_after(
        "import learnsim.learned.registry, learnsim.scenes; learnsim.scenes.load_scene('cantilever')"
    )
    assert "jax" not in modules and "equinox" not in modules


SCRIPT = """
{before}
from learnsim.running import run_scene
from learnsim.scenes import load_scene

run_scene(load_scene("heat_plate", ["mesh.cells=[6,6]"]))
run_scene(load_scene("hydrostatic_tank", ["sph.spacing=0.1", "time.end=0.01"]))
"""


def _run_script(before: str = "", **env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "LEARNSIM_VERBOSE"} | env
    script = SCRIPT.format(before=before)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=environment, check=True
    )


def test_a_script_that_runs_scenes_prints_nothing():
    result = _run_script()
    assert result.stdout == "" and result.stderr == ""


@pytest.mark.parametrize(
    ("before", "env"), [("import learnsim; learnsim.verbose()", {}), ("", {"LEARNSIM_VERBOSE": "1"})]
)
def test_warp_speaks_when_asked(before, env):
    result = _run_script(before, **env)
    assert "Warp " in result.stdout and "initialized" in result.stdout  # the banner
    assert "Module learnsim.engine" in result.stdout  # a line per kernel module, cached or compiled


def test_files_stay_small():
    sizes = {path.relative_to(PACKAGE): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    large = {str(path): lines for path, lines in sizes.items() if lines > 450}
    assert not large, f"files over 450 lines: {large}"
    for layer in ("scenes", "running"):
        total = sum(lines for path, lines in sizes.items() if path.parts[0] == layer)
        assert total <= 2000, f"learnsim/{layer} has {total} lines"


@pytest.mark.parametrize("package", ["learnsim.learned", "learnsim.io"])
def test_lazy_packages_resolve_every_public_name(package):
    module = __import__(package, fromlist=["_"])
    for name in module.__all__:
        assert getattr(module, name).__name__ == name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018
