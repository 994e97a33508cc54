"""Gradient memory of a differentiable rollout: 100 vs 1000 steps, checkpointed segments vs one segment.

Problem: a 2D cantilever [0, 4] x [0, 0.5] (Q1 quads, 128 x 16 cells, 4,386 dofs, plane strain,
E = 1000, nu = 0.3, rho = 1), clamped at x = 0, with a tip traction ramped from 0 to (0, -1);
Newmark steps of dt = 0.02. Loss: sum over steps of the squared tip deflection plus |v_final|^2;
its gradient with respect to (E, load scale) goes through ``learnsim.engine.bridge.rollout``
(``lax.scan`` over ``jax.checkpoint`` segments, each step one Warp solve through ``pure_callback``
and one adjoint solve on the way back).

Each measurement runs in its own subprocess, so one run's allocations cannot hide in another's
free lists. Views of memory, all in MiB:

- ``XLA temp``: ``compiled.memory_analysis().temp_size_in_bytes`` of the jitted value-and-grad,
  JAX's own count of the buffers it holds (scan residuals, checkpointed carries). The CPU device
  has no ``memory_stats()`` (it returns None), so this is the JAX-side number.
- ``run peak``: peak RSS during one gradient evaluation minus RSS just before it (the peak is reset
  by writing 5 to /proc/self/clear_refs after a 5-step warm-up gradient and the AOT compile), i.e.
  everything the evaluation allocates: XLA buffers, callback copies, Warp and pyamg temporaries.
  Measured on the second evaluation of the compiled gradient; ``1st run`` is the first, which also
  grows the allocators' pools once (RSS stays there; a forward-only rollout shows the same).
- ``child peak``: the subprocess's lifetime peak RSS (``ru_maxrss``) minus that of a baseline
  subprocess that only sets up and runs a jitted 1-step forward. It includes one-off costs that
  do not depend on the number of steps (compiling the gradient program, loading the adjoint
  kernels), so its ratio understates the growth; it is printed because it is the simplest
  whole-process number.

"one segment" (segment = n_steps) is the contrast: the whole rollout is one checkpointed block, so
the backward pass holds every step's residuals, as without checkpointing.

    python benchmarks/rollout_memory.py           # 100 and 1000 steps, segment 25 (about 12 minutes, 2 cores)
    python benchmarks/rollout_memory.py --quick   # 20 and 200 steps, segment 10 (about 4 minutes)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time

from machine import machine, versions  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

CELLS = (128, 16)
LENGTH, HEIGHT = 4.0, 0.5
E, NU, DENSITY = 1000.0, 0.3, 1.0
DT = 0.02
SCHEME = "newmark"
TOL = 1e-10
WARMUP_STEPS = 5


def build_loss():
    """(loss(E, load_scale, n_steps, segment), n_dofs): the rollout loss on the cantilever."""
    import jax.numpy as jnp
    import numpy as np

    from learnsim.engine.bridge import rollout
    from learnsim.engine.bridge.operators import Problem, lame_per_point, per_point
    from learnsim.engine.fem import (
        LinearElastic,
        assemble_boundary_value,
        boundary_sides,
        box_mesh,
        discretize,
        make_dirichlet,
    )

    disc = discretize(box_mesh([LENGTH, HEIGHT], CELLS, "quad"), order=1, components=2)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, 0.0)])
    sides, _ = boundary_sides(disc, lambda c: c[:, 0] > LENGTH - 1e-9)
    traction = jnp.asarray(assemble_boundary_value(disc, sides, [0.0, -1.0]).numpy())
    problem = Problem(disc, LinearElastic(1.0, 0.3), bc.mask, tol=TOL)
    tip = jnp.asarray(np.isclose(disc.node_positions[:, 0], LENGTH))
    zero = jnp.zeros(problem.shape)

    def loss(young, load_scale, n_steps: int, segment: int):
        coefficient = lame_per_point(problem, young, NU)
        density = per_point(problem, DENSITY)
        state = rollout.initial_state(problem, zero, zero, 0.0 * traction, zero, coefficient, density)
        final, tip_deflection = rollout.rollout(
            problem, SCHEME, DT, n_steps, state, coefficient, density, load_scale * traction,
            jnp.linspace(0.0, 1.0, n_steps + 1), zero,
            observe=lambda s: jnp.sum(jnp.where(tip, s.u[:, 1], 0.0)), segment=segment,
        )  # fmt: skip
        return jnp.sum(tip_deflection**2) + jnp.sum(final.v**2)

    return loss, disc.n_dofs


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith(field + ":")))


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM, and ru_maxrss with it); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def child(n_steps: int, segment: int) -> dict:
    """Measure one configuration in this process; n_steps = 0 is the baseline (a 1-step forward)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import warp as wp

    wp.config.log_level = wp.LOG_ERROR
    loss, n_dofs = build_loss()
    args = (E, 1.0)
    if n_steps == 0:
        jax.block_until_ready(jax.jit(lambda e, p: loss(e, p, 1, 1))(*args))
        return {"n_dofs": n_dofs, "lifetime_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}

    # warm-up: builds the engine's caches (body, system matrix, AMG hierarchy) and loads every kernel
    warm = jax.jit(jax.value_and_grad(lambda e, p: loss(e, p, WARMUP_STEPS, WARMUP_STEPS), argnums=(0, 1)))
    jax.block_until_ready(warm(*args))
    start = time.perf_counter()
    grad = jax.jit(jax.value_and_grad(lambda e, p: loss(e, p, n_steps, segment), argnums=(0, 1)))
    compiled = grad.lower(*args).compile()
    compile_s = time.perf_counter() - start
    temp = compiled.memory_analysis().temp_size_in_bytes

    # two evaluations: the first also grows the allocators' pools for good (1-2 MiB at 1,170 dofs, seen
    # with forward-only rollouts too), the second is the steady state that a training loop sees
    lifetime_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run_s, run_extra = [], []
    for _ in range(2):
        gc.collect()
        lifetime_peak = max(lifetime_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        rss_before = _status_kib("VmRSS")
        reset = _reset_peak_rss()
        start = time.perf_counter()
        value, (d_young, d_load) = jax.block_until_ready(compiled(*args))
        run_s.append(time.perf_counter() - start)
        run_extra.append(_status_kib("VmHWM") - rss_before if reset else None)
    return {
        "n_dofs": n_dofs,
        "compile_s": compile_s,
        "run_s": min(run_s),
        "xla_temp_bytes": temp,
        "first_run_extra_kib": run_extra[0],
        "run_extra_kib": run_extra[1],
        "lifetime_peak_kib": max(lifetime_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "loss": float(value),
        "grad": [float(d_young), float(d_load)],
    }


def spawn(n_steps: int, segment: int) -> dict:
    """Run ``child`` in a fresh interpreter and return its JSON result."""
    command = [sys.executable, os.path.abspath(__file__), "--child", str(n_steps), str(segment)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {n_steps} steps, segment {segment} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(rows: list, baseline: dict, short: int, long: int, segment: int) -> None:
    """Print the table, the ratios, where the XLA buffers go, and the gradient agreement of the modes."""
    print(f"\n| {'mode':<12} | {'steps':>5} | {'segment':>7} | {'grad s':>7} | {'ms/step':>7} | "
          f"{'XLA temp MiB':>12} | {'run peak MiB':>12} | {'1st run MiB':>11} | {'child peak MiB':>14} |")  # fmt: skip
    print(f"|{'-' * 14}|{'-' * 7}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 14}|{'-' * 14}|{'-' * 13}|{'-' * 16}|")
    for label, n, seg, r in rows:
        child_extra = (r["lifetime_peak_kib"] - baseline["lifetime_peak_kib"]) / 1024
        run_extra, first_extra = (
            "n/a" if r[key] is None else f"{r[key] / 1024:.1f}" for key in ("run_extra_kib", "first_run_extra_kib")
        )
        print(
            f"| {label:<12} | {n:>5} | {seg:>7} | {r['run_s']:7.1f} | {1e3 * r['run_s'] / n:7.0f} | "
            f"{r['xla_temp_bytes'] / 2**20:12.2f} | {run_extra:>12} | {first_extra:>11} | {child_extra:14.1f} |"
        )
    by_mode = {label: tuple(r for lab, _, _, r in rows if lab == label) for label, *_ in rows}
    print(f"\nratio {long}/{short} steps (acceptance: checkpointed <= 3):")
    for label, (a, b) in by_mode.items():

        def ratio(key, a=a, b=b, offset=0.0):
            if a[key] is None or b[key] is None:
                return "n/a"
            return f"{(b[key] - offset) / max(a[key] - offset, 1e-9):.2f}"

        print(
            f"  {label:<12}: XLA temp {ratio('xla_temp_bytes')}, run peak {ratio('run_extra_kib')}, "
            f"1st run peak {ratio('first_run_extra_kib')}, "
            f"child peak - baseline {ratio('lifetime_peak_kib', offset=baseline['lifetime_peak_kib'])}"
        )
    # where the XLA buffers go, from the growth between the two lengths, in nodal arrays (n_dofs float64)
    nodal = 8.0 * baseline["n_dofs"]
    growth = {label: (b["xla_temp_bytes"] - a["xla_temp_bytes"]) / nodal for label, (a, b) in by_mode.items()}
    print(
        f"XLA growth from {short} to {long} steps: checkpointed {growth['checkpointed']:.1f} nodal arrays "
        f"= {growth['checkpointed'] / ((long - short) // segment):.2f} per extra segment (the carried state u, v, a)"
        + (
            f"; one segment {growth['one segment']:.0f} = {growth['one segment'] / (long - short):.2f} per extra "
            "step (the residuals u, u_pred that solve_implicit's custom VJP keeps)"
            if "one segment" in growth
            else ""
        )
    )
    for n in (short, long) if "one segment" in by_mode else ():
        a, b = (r for _, m, _, r in rows if m == n)
        diff = max(abs(x - y) / abs(y) for x, y in zip([a["loss"], *a["grad"]], [b["loss"], *b["grad"]], strict=True))
        print(f"{n} steps: loss {a['loss']:.10e}, dloss/dE {a['grad'][0]:.6e}, dloss/dP {a['grad'][1]:.6e}; "
              f"checkpointed vs one segment, max relative difference {diff:.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default=None, help="short,long step counts (default 100,1000)")
    parser.add_argument("--segment", type=int, default=None, help="steps per checkpointed segment (default 25)")
    parser.add_argument("--quick", action="store_true", help="20 and 200 steps, segment 10")
    parser.add_argument(
        "--one-segment", action=argparse.BooleanOptionalAction, default=True, help="also run the one-segment contrast"
    )
    parser.add_argument("--child", nargs=2, type=int, metavar=("STEPS", "SEGMENT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    short, long = (int(s) for s in (args.steps or ("20,200" if args.quick else "100,1000")).split(","))
    segment = args.segment or (10 if args.quick else 25)
    for n in (short, long):
        if n % segment:
            parser.error(f"{n} steps is not a multiple of segment {segment}")

    print("# Gradient memory of a rollout: checkpointed segments vs one segment")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine()}")
    print(f"versions: {versions('warp-lang', 'jax', 'numpy')}")
    start = time.perf_counter()
    spawn(WARMUP_STEPS, WARMUP_STEPS)  # fills Warp's kernel cache, so no measured child compiles kernels
    baseline = spawn(0, 0)
    print(
        f"problem: 2D cantilever, Q1 {CELLS[0]} x {CELLS[1]}, {baseline['n_dofs']:,} dofs, {SCHEME}, dt = {DT}; "
        f"baseline (set-up + jitted 1-step forward) peak RSS {baseline['lifetime_peak_kib'] / 1024:.0f} MiB"
    )
    rows = []
    modes = [("checkpointed", lambda n: segment)] + ([("one segment", lambda n: n)] if args.one_segment else [])
    for label, seg_of in modes:
        for n in (short, long):
            rows.append((label, n, seg_of(n), spawn(n, seg_of(n))))

    report(rows, baseline, short, long, segment)
    print(f"\nbenchmark wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
