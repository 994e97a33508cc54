"""Learned preconditioners (GNN factor, DCDM) against Jacobi, IC(0) and pyamg SA-AMG, on CPU, in one run.

Problem: the built-in ``poisson_obstacles`` family (2D diffusion, Q1 on an N x N grid, random smooth
log-normal conductivity with one to four obstacles of conductivity 1e-3, Dirichlet nodes as identity
rows). The product's own pieces do everything:

- data: ``learnsim.running.generate`` (``family_systems`` + ``generate_dataset``) writes a training set
  on the training grid (seed 0) and HELD-OUT sets on every evaluation grid (seed 1, so no held-out
  sample is a training sample), cached under ``--cache`` and reused when present;
- models: ``learnsim.learned.train_command.train_model`` (the recipes of ``learnsim train``) on the
  training set, cached beside the data (``--retrain`` trains again);
- evaluation: ``learnsim.running.evaluate``: every method solves every held-out system to relative
  residual 1e-8 after one untimed warm-up solve; setup (factorisation, AMG hierarchy, the GNN's
  forward pass, DCDM's multigrid hierarchy) and solve are timed separately, total = setup + solve,
  means over the systems. DCDM's network runs once per iteration, in its solve time.
  Times are per system the fastest of 3 runs (the machine is shared).

Sizes (cells per side; systems have (N + 1)^2 unknowns): training on 64, all methods on 64 and 128,
DCDM with IC(0) and AMG for reference on 256 (size generalisation: a DCDM trained on 64 x 64, its mean
iterations on 256 over those on 64, target <= 1.5). Goals from issue 5, per learned method and size:
mean iterations at or below half of IC(0)'s, total time at or below AMG's.

    python benchmarks/preconditioners.py            # full run: 5 minutes on 2 cores (2.5 with cached models)
    python benchmarks/preconditioners.py --quick    # smoke run: 16 -> 16, 32 and 64, tiny training (1 minute)
    python benchmarks/preconditioners.py --retrain  # train again (a change to any file of learnsim/learned
                                                    # already does: the cache key hashes them)
    python benchmarks/preconditioners.py --learned gnn-factor   # only some learned methods
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import jax
import numpy as np
import warp as wp
from machine import machine, versions  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

from learnsim.core.errors import EngineError, InputError
from learnsim.io.datasets import SystemDataset, open_dataset
from learnsim.learned import train_command
from learnsim.learned.registry import BUILTIN_KINDS
from learnsim.learned.train_command import train_model
from learnsim.running import evaluate as ev
from learnsim.running.generate import family_systems, generate_dataset

TOL = 1e-8
TRAIN_SEED, HELD_OUT_SEED = 0, 1
CLASSICAL = ("jacobi", "ic0", "amg")
LEARNED = tuple(kind.name for kind in BUILTIN_KINDS)


@dataclass(frozen=True)
class Plan:
    """What one run measures: grids (cells per side), sample counts, epochs, iteration cap."""

    train_cells: int
    eval_cells: tuple[int, ...]  # all five methods
    general_cells: int  # DCDM (with IC(0) and AMG for reference) only
    train_samples: int
    held_out: int  # held-out systems per evaluation grid
    general_held_out: int
    epochs: dict[str, int | None]  # None: the default of the ``learnsim train`` recipe
    max_iters: int
    repeats: int  # timings: per system, the fastest of this many runs


FULL = Plan(64, (64, 128), 256, 32, 8, 4, {"gnn-factor": None, "dcdm": None}, 2000, 3)
QUICK = Plan(16, (16, 32), 64, 8, 2, 2, {"gnn-factor": 2, "dcdm": 2}, 1000, 1)


def source_state() -> str:
    """The learnsim commit and the files under learnsim/learned that differ from it (read-only git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        changed = subprocess.run(
            ["git", "status", "--porcelain", "learnsim/learned"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return "unknown (no git)"
    edits = [line[3:] for line in changed.stdout.splitlines()]
    return f"commit {head.stdout.strip() or 'unknown'}" + (f" + uncommitted {', '.join(edits)}" if edits else "")


def dataset(cache: Path, cells: int, samples: int, seed: int, workers: int) -> tuple[Path, SystemDataset]:
    """(folder, systems): ``samples`` poisson_obstacles systems on ``cells`` x ``cells``, existing shards kept."""
    folder = cache / f"poisson{cells}-seed{seed}-n{samples}"
    family = family_systems("poisson_obstacles", [f"mesh.cells=[{cells},{cells}]"])
    start = time.perf_counter()
    generate_dataset(family, samples, folder, workers=workers, seed=seed, progress=False)
    systems = open_dataset(folder)
    seconds = time.perf_counter() - start
    print(f"data {folder}: {len(systems)} systems of n = {systems[0].matrix.shape[0]:,} ({seconds:.1f} s)")
    return folder, systems


def model(kind: str, data: Path, cache: Path, epochs: int | None, retrain: bool) -> Path:
    """The model file of ``kind`` trained on ``data`` with the ``learnsim train`` recipe (cached).

    The file name carries a hash of the learned layer's sources (models, recipes, training loop), so
    a change to any of them trains a new model; ``epochs=None`` keeps the recipe's default.
    """
    sources = sorted(Path(train_command.__file__).parent.glob("*.py"))
    digest = hashlib.sha256(b"".join(source.read_bytes() for source in sources)).hexdigest()[:8]
    path = cache / f"{kind}-{data.name}-e{epochs or 'default'}-{digest}.eqx"
    if retrain or not path.exists() or not path.with_suffix(".json").exists():
        options = {} if epochs is None else {"epochs": epochs}
        train_model(kind, data, path, seed=0, progress=False, **options)
    training = json.loads(path.with_suffix(".json").read_text())["training"]
    print(
        f"model {path}: {training['epochs']} epochs on {training['systems']} systems "
        f"({training['validation_systems']} for validation), best epoch {training['best_epoch']}, "
        f"trained in {training['seconds']:.0f} s"
    )
    return path


def best_of(runs: list[ev.MethodReport]) -> ev.MethodReport:
    """The first run, with each system's setup and solve time the minimum over ``runs``.

    Iterations do not change between runs (every method is deterministic); a run with other
    failures than the first is left out.
    """
    first = runs[0]
    same = [run for run in runs if run.failures == first.failures and run.iterations == first.iterations]
    return ev.MethodReport(
        iterations=first.iterations,
        setup_s=list(np.min([run.setup_s for run in same], axis=0)),
        solve_s=list(np.min([run.solve_s for run in same], axis=0)),
        residuals=first.residuals,
        failures=first.failures,
    )


def measure(systems, models: dict[str, Path], names, plan: Plan) -> dict[str, dict]:
    """``learnsim.running.evaluate.summary`` of each method in ``names`` on ``systems``, best of ``plan.repeats``.

    Each repeat runs every method over all systems in turn, so load from other processes that comes
    and goes hits every method; a system's times are its fastest setup and fastest solve.
    """
    methods = {}
    for name in names:
        if name in CLASSICAL:
            methods[name] = ev.classical(name, max_iters=plan.max_iters)
        else:
            methods[name] = ev.learned(models[name], max_iters=plan.max_iters)[1]
    start = time.perf_counter()
    runs = [ev.evaluate(list(systems), methods, TOL) for _ in range(plan.repeats)]
    seconds = time.perf_counter() - start
    print(f"({len(systems)} systems, best of {plan.repeats}, {seconds:.0f} s including warm-up solves)")
    return ev.summary({name: best_of([run[name] for run in runs]) for name in methods})


def table(cells: int, n: int, figures: dict[str, dict]) -> None:
    """Markdown table: iterations, times, total / AMG's, iterations / IC(0)'s."""
    amg, ic0 = figures["amg"]["total_s"], figures["ic0"]["iterations_mean"]
    print(f"\n## {cells} x {cells} cells, n = {n:,}: held-out systems, relative residual {TOL:g}")
    print("| method     | iters mean | max  | setup s | solve s | total s | total / AMG | iters / IC(0) | failures |")
    print("|------------|-----------:|-----:|--------:|--------:|--------:|------------:|--------------:|---------:|")
    for name, f in figures.items():
        print(
            f"| {name:<10} | {f['iterations_mean']:10.1f} | {f['iterations_max']:4d} | {f['setup_s']:7.4f} "
            f"| {f['solve_s']:7.4f} | {f['total_s']:7.4f} | {f['total_s'] / amg:11.2f} "
            f"| {f['iterations_mean'] / ic0:13.2f} | {f['failures']:>4d} / {f['systems']} |"
        )


def goals(cells: int, figures: dict[str, dict]) -> list[str]:
    """MET / NOT MET lines for each learned method in ``figures``."""
    amg, ic0 = figures["amg"], figures["ic0"]
    lines = []
    for name in LEARNED:
        if name not in figures:
            continue
        f = figures[name]
        ok = f["failures"] == 0
        iters = ok and f["iterations_mean"] <= 0.5 * ic0["iterations_mean"]
        total = ok and f["total_s"] <= amg["total_s"]
        failed = f" ({f['failures']} of {f['systems']} not converged)" if not ok else ""
        lines.append(
            f"{cells:>3}: {name:<10} iterations {f['iterations_mean']:.1f} <= IC(0)/2 = "
            f"{0.5 * ic0['iterations_mean']:.1f}: {'MET' if iters else 'NOT MET'}; "
            f"total {f['total_s']:.4f} s <= AMG {amg['total_s']:.4f} s: {'MET' if total else 'NOT MET'}{failed}"
        )
    return lines


def generalisation(results: dict[int, dict], plan: Plan) -> str:
    """The size-generalisation line: DCDM's mean iterations on the large grid over those on the training grid."""
    small, large = (results[cells].get("dcdm") for cells in (plan.train_cells, plan.general_cells))
    if small is None or large is None:
        return "size generalisation: NOT MET (no DCDM model)"
    ratio = large["iterations_mean"] / small["iterations_mean"]
    converged = small["failures"] == 0 and large["failures"] == 0
    verdict = "MET" if converged and ratio <= 1.5 else "NOT MET"
    return (
        f"size generalisation: DCDM mean iterations {plan.general_cells} / {plan.train_cells} = "
        f"{large['iterations_mean']:.1f} / {small['iterations_mean']:.1f} = {ratio:.2f} <= 1.5: {verdict}"
        + ("" if converged else " (not every system converged)")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny grids and training: a smoke run")
    parser.add_argument("--retrain", action="store_true", help="train the models again even when cached")
    parser.add_argument("--cache", type=Path, default=None, help="data and models (default out/bench[-quick])")
    parser.add_argument("--workers", type=int, default=0, help="dask workers for generation (0: in-process)")
    parser.add_argument(
        "--learned", default=",".join(LEARNED), help=f"comma-separated learned methods (default {','.join(LEARNED)})"
    )
    parser.add_argument("--repeats", type=int, default=None, help="runs per timing (default 3, --quick 1)")
    args = parser.parse_args()
    kinds = [kind for kind in args.learned.split(",") if kind]
    if set(kinds) - set(LEARNED):
        parser.error(f"--learned: unknown method(s) {sorted(set(kinds) - set(LEARNED))} (choose from {LEARNED})")
    plan = QUICK if args.quick else FULL
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error(f"--repeats = {args.repeats} must be at least 1")
        plan = replace(plan, repeats=args.repeats)
    cache = args.cache or Path("out/bench-quick" if args.quick else "out/bench")

    wp.config.quiet = True
    wp.config.log_level = wp.LOG_ERROR
    wp.set_device("cpu")
    print("# Learned preconditioners vs Jacobi, IC(0), pyamg SA-AMG: poisson_obstacles, CPU")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine()}; Warp device cpu, JAX {jax.default_backend()}")
    print(f"versions: {versions('warp-lang', 'jax', 'pyamg', 'scipy', 'numpy')}")
    print(f"learnsim: {source_state()}")
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"plan: {plan}")
    start = time.perf_counter()

    train_folder, _ = dataset(cache, plan.train_cells, plan.train_samples, TRAIN_SEED, args.workers)
    models, broken = {}, {}
    for kind in kinds:
        try:
            models[kind] = model(kind, train_folder, cache, plan.epochs[kind], args.retrain)
        except (InputError, EngineError) as err:  # e.g. a diverged training: measure the others
            broken[kind] = f"{type(err).__name__}: {err}"
            print(f"model {kind}: NOT AVAILABLE ({broken[kind]})")

    results, lines = {}, []
    for cells in plan.eval_cells:
        _, systems = dataset(cache, cells, plan.held_out, HELD_OUT_SEED, args.workers)
        results[cells] = measure(systems, models, (*CLASSICAL, *models), plan)
        table(cells, systems[0].matrix.shape[0], results[cells])
        lines += goals(cells, results[cells])
    cells = plan.general_cells
    _, systems = dataset(cache, cells, plan.general_held_out, HELD_OUT_SEED, args.workers)
    results[cells] = measure(systems, models, ("ic0", "amg", *models.keys() & {"dcdm"}), plan)
    table(cells, systems[0].matrix.shape[0], results[cells])
    lines += goals(cells, results[cells])

    print(f"\n## Goals (learned methods trained on {plan.train_cells} x {plan.train_cells})")
    for line in lines:
        print(line)
    for kind, reason in broken.items():
        print(f"{kind}: NOT MET (no model: {reason})")
    print(generalisation(results, plan))
    print(f"\nbenchmark wall time {time.perf_counter() - start:.0f} s; load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
