"""``learnsim run``, ``render`` and ``scenes``: simulate scenes and look at the results.

Commands import the layers they use when they run: ``learnsim --help`` and ``learnsim scenes``
start in a fraction of a second, and ``--verbose`` takes effect before Warp starts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learnsim.core.progress import ProgressBar


def add_commands(sub) -> None:
    """Add the run, render and scenes sub-commands to ``learnsim``'s argument parser."""
    run = sub.add_parser("run", help="simulate a scene and write DIR/result.pvd")
    run.add_argument("scene", help="built-in scene name (see `learnsim scenes`) or path to a TOML file")
    run.add_argument("--out", type=Path, help="output folder (default: out/<scene name>)")
    run.add_argument("--device", default="cpu", help="Warp device: cpu (default) or cuda:0")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a scene key, e.g. --set material.E=2000 (repeatable)",
    )
    run.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory the run may use, e.g. 64G, 500M, 2.5GiB (default: what the machine has available); "
        "a scene whose estimate is larger stops before anything is allocated",
    )
    run.set_defaults(handler=_run)

    render = sub.add_parser("render", help="draw the last frame of a result off screen")
    render.add_argument("pvd", type=Path, help="DIR/result.pvd written by `learnsim run`")
    render.add_argument("--out", type=Path, help="PNG path (default: beside the .pvd, result.png)")
    render.add_argument("--field", help="array to colour by (default: von_mises, displacement or temperature)")
    render.set_defaults(handler=_render)

    sub.add_parser("scenes", help="list the built-in scenes").set_defaults(handler=_scenes)


def _scenes(args) -> int:
    from learnsim.scenes import builtin_scenes

    for name, description in builtin_scenes():
        print(f"{name:16s} {description}")
    return 0


def _run(args) -> int:
    from rich.console import Console

    from learnsim.io.atomic import check_writable
    from learnsim.running.budget import parse_size
    from learnsim.running.run import run_scene
    from learnsim.scenes import load_scene

    max_memory = None if args.max_memory is None else parse_size(args.max_memory)
    scene = load_scene(args.scene, args.overrides)
    console = Console(highlight=False)
    out = args.out if args.out is not None else Path("out") / scene.scene.name
    check_writable(out, f"--out {out}", folder=True)  # before any work: nothing is computed for nothing
    title = f"running {scene.scene.name} ({scene.kind}, {scene.dim}D)"
    if scene.is_dynamic:
        # SPH scenes estimate the number of steps as they go, so each update sets the total
        detail = "steps, t = {task.fields[time]:.4g} s"
        with ProgressBar(title, None, detail=detail, fields={"time": 0.0}, console=console) as bar:

            def progress(step: int, steps: int, time: float) -> None:
                bar.update(step, total=steps, time=time)  # SPH: steps is an estimate, revised as it goes

            result = run_scene(scene, device=args.device, out_dir=out, progress=progress, max_memory=max_memory)
    else:
        with console.status(title):
            result = run_scene(scene, device=args.device, out_dir=out, max_memory=max_memory)
    _print_summary(console, result, result.pvd)
    return 0


def _print_summary(console, result, pvd: Path) -> None:
    from rich.table import Table

    s = result.scene
    if s.kind == "sph":
        table = Table(title=f"{s.scene.name}: {s.dim}D particles", show_header=False)
        for label, value in [*result.summary_rows(), ("written", str(pvd))]:
            table.add_row(label, value)
        console.print(table)
        return
    table = Table(
        title=f"{s.scene.name}: {result.mesh.n_cells} {result.mesh.element} cells, order {s.mesh.order}",
        show_header=False,
    )
    table.add_row("degrees of freedom", f"{result.n_dofs}")
    table.add_row("preconditioner", str(s.solver.preconditioner))
    if result.solution is not None:
        solves = result.solution.solves
        table.add_row("CG iterations", f"{result.solution.linear_iterations} in {len(solves)} solve(s)")
        if result.solution.newton_residuals:
            table.add_row("Newton iterations", f"{len(solves)}")
        indefinite = {}
        for solve in solves:
            if solve.breakdown is not None:
                indefinite[solve.solver] = indefinite.get(solve.solver, 0) + 1
        _robustness_rows(table, indefinite, result.solution.load_cuts, "load step cuts")
    else:
        _dynamic_rows(table, result)
    for name, values in result.point_data.items():
        scale = float(np.abs(values).max()) or 1.0  # scaled first: squares of 1e200 or 1e-200 overflow or vanish
        magnitude = np.abs(values) if values.ndim == 1 else np.linalg.norm(values / scale, axis=1) * scale
        table.add_row(f"max |{name}|" + (" (last frame)" if s.is_dynamic else ""), f"{magnitude.max():.6g}")
    for name, values in result.cell_data.items():
        table.add_row(f"max {name}" + (" (last frame)" if s.is_dynamic else ""), f"{values.max():.6g}")
    table.add_row("time (s)", ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()))
    table.add_row("written", str(pvd))
    console.print(table)


def _dynamic_rows(table, result) -> None:
    time, stats = result.scene.time, result.stats
    table.add_row("integrator", f"{time.integrator}, {time.mass} mass")
    table.add_row("time steps", f"{stats.steps} x dt = {time.dt:g} s, end t = {result.frame_times[-1]:g} s")
    if result.dt_limit is not None:
        table.add_row("stability limit", f"dt <= {result.dt_limit:.4g} s")
    table.add_row("frames", f"{len(result.frame_times)} (every {result.scene.output.every} steps)")
    if stats.linear_solves:
        table.add_row("CG iterations", f"{stats.linear_iterations} in {stats.linear_solves} solve(s)")
    if stats.newton_iterations:
        table.add_row("Newton iterations", f"{stats.newton_iterations} (at most {stats.max_newton_iterations} a step)")
    _robustness_rows(table, stats.indefinite_solves, stats.step_cuts, "step cuts")
    if result.energies:
        first, last = sum(result.energies[0]), sum(result.energies[-1])
        change = f" ({(last - first) / first:+.2e} relative)" if first > 0 else ""
        table.add_row("energy (kinetic + stored, J)", f"{first:.6g} -> {last:.6g}{change}")


_SOLVER_WORDS = {"direct-lu": "direct LU", "minres": "MINRES"}


def _robustness_rows(table, indefinite: dict[str, int], cuts: int, cuts_label: str) -> None:
    """Rows for what kept a nonlinear run going, shown only when it happened: solves that PCG broke
    down on (an indefinite tangent) and who finished them, and steps cut in two."""
    if indefinite:
        by = ", ".join(f"{n} solve(s) by {_SOLVER_WORDS.get(name, name)}" for name, n in sorted(indefinite.items()))
        table.add_row("indefinite tangents", f"{by} (PCG broke down: non-positive curvature)")
    if cuts:
        table.add_row(cuts_label, f"{cuts} (a step Newton could not solve, taken in halves)")


def _render(args) -> int:
    from learnsim.io.atomic import check_writable
    from learnsim.io.render import render

    out = args.out if args.out is not None else args.pvd.with_name("result.png")
    check_writable(out, f"--out {out}")
    path = render(args.pvd, out, field=args.field)
    print(f"wrote {path}")
    return 0
