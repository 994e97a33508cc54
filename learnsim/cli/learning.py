"""``learnsim generate``, ``train`` and ``eval``: datasets of linear systems, learned models, comparisons.

As in :mod:`.simulate`, commands import the layers they use when they run (JAX and Warp start only then).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from learnsim.core.errors import InputError
from learnsim.core.progress import ProgressBar
from learnsim.learned.registry import model_kinds


def add_commands(sub) -> None:
    """Add the generate, train and eval sub-commands to ``learnsim``'s argument parser."""
    generate = sub.add_parser("generate", help="record the linear systems of a scene family into a dataset")
    generate.add_argument("scene", help="built-in scene name or TOML path, with a [generate] table")
    generate.add_argument("--samples", type=int, required=True, help="number of sampled scenes")
    generate.add_argument("--out", type=Path, required=True, help="dataset folder (manifest.json + HDF5 shards)")
    generate.add_argument("--workers", type=int, help="local dask workers (default: one per core; 0: in-process)")
    generate.add_argument("--scheduler", help="address of an existing dask scheduler, e.g. tcp://host:8786")
    generate.add_argument("--shard-size", type=int, default=16, help="samples per HDF5 shard (default 16)")
    generate.add_argument("--seed", type=int, default=0, help="base random seed (sample i uses (seed, i))")
    generate.add_argument("--device", default="cpu", help="Warp device of the workers")
    generate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    generate.add_argument("--max-memory", help="memory one sample may use, e.g. 64G (default: what is available)")
    generate.set_defaults(handler=generate_command)

    kinds = model_kinds()
    listing = "\n".join(f"  {kind.name:12s} {kind.use}: {kind.summary}" for kind in kinds)
    train = sub.add_parser(
        "train",
        help="train a learned model on a dataset",
        description=f"Train a learned model on a dataset of linear systems.\n\nmodel kinds:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("kind", choices=[kind.name for kind in kinds], help="model kind")
    train.add_argument("--data", type=Path, required=True, help="dataset folder")
    train.add_argument("--out", type=Path, required=True, help="model file, e.g. models/gnn.eqx")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--learning-rate", type=float, default=None, help="Adam step size (default per kind)")
    train.add_argument("--validation", type=float, default=0.2, help="fraction of systems held for validation")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    train.set_defaults(handler=train_command)

    evaluate = sub.add_parser("eval", help="compare a model with classical preconditioners on a dataset")
    evaluate.add_argument("--model", type=Path, help="model file written by `learnsim train`")
    evaluate.add_argument("--data", type=Path, required=True, help="dataset folder")
    evaluate.add_argument("--baselines", default="jacobi,ic0,amg", help="comma-separated: none,jacobi,ic0,amg")
    evaluate.add_argument("--tol", type=float, default=1e-8, help="relative residual to reach (default 1e-8)")
    evaluate.add_argument("--limit", type=int, help="evaluate only the first N systems")
    evaluate.add_argument("--json", type=Path, help="write the per-method figures here")
    evaluate.add_argument(
        "--plot", type=Path, help="residual histories of the first system, PNG (default: beside --json)"
    )
    evaluate.set_defaults(handler=evaluate_command)


def generate_command(args) -> int:
    from learnsim.running.budget import parse_size
    from learnsim.running.generate import family_systems, generate_dataset

    if args.samples < 1:
        raise InputError(f"--samples = {args.samples} must be at least 1")
    max_memory = None if args.max_memory is None else parse_size(args.max_memory)
    family = family_systems(args.scene, args.overrides, device=args.device, max_memory=max_memory)
    out = generate_dataset(
        family,
        args.samples,
        args.out,
        shard_size=args.shard_size,
        workers=args.workers,
        scheduler=args.scheduler,
        seed=args.seed,
        progress=True,
    )
    from learnsim.io.datasets import open_dataset

    print(f"wrote {len(open_dataset(out))} systems from {args.samples} samples to {out}")
    return 0


def train_command(args) -> int:
    from learnsim.learned.train_command import train_model

    train_model(
        args.kind,
        args.data,
        args.out,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        validation=args.validation,
        seed=args.seed,
        resume=args.resume,
        progress=True,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"wrote {args.out}, {args.out.with_suffix('.json')} and {args.out.with_suffix('.loss.png')}")
    return 0


def evaluate_command(args) -> int:
    from learnsim.io.atomic import check_writable, write_atomically
    from learnsim.io.datasets import open_dataset
    from learnsim.io.plots import plot_residual_histories
    from learnsim.running import evaluate as ev

    if not (math.isfinite(args.tol) and 0.0 < args.tol < 1.0):
        raise InputError(f"--tol = {args.tol:g} must be between 0 and 1 (a relative residual)")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit = {args.limit} must be at least 1")
    if args.json is not None:
        args.json = check_writable(args.json, f"--json {args.json}")
        if args.plot is None:
            args.plot = args.json.with_suffix(".png")
    if args.plot is not None:
        args.plot = check_writable(args.plot, f"--plot {args.plot}")
    systems = open_dataset(args.data)
    if args.limit is not None:
        systems = systems[: args.limit]
    methods = {name: ev.classical(name) for name in ev.split_methods(args.baselines.split(","))}
    if args.model is not None:
        kind, method = ev.learned(args.model)
        methods[kind] = method
    if not methods:
        raise InputError("nothing to evaluate: give --model or --baselines")
    with ProgressBar("solving", len(methods) * len(systems), transient=True) as bar:
        reports = ev.evaluate(systems, methods, args.tol, lambda name, i: bar.update(advance=1, description=name))
    print(f"{len(systems)} systems from {args.data}, relative residual {args.tol:g}")
    for row in ev.format_table(reports):
        print(row)
    if args.json is not None:
        text = json.dumps(ev.summary(reports), indent=2) + "\n"
        write_atomically(args.json, lambda file: file.write(text), mode="w")
    if args.plot is not None:
        plot_residual_histories(ev.residual_histories(reports), args.plot, title=f"{args.data.name}: system 0")
    return 0
