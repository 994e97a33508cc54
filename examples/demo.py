"""learnsim demo: a 3D cantilever and a 2D heat plate, solved, checked and written for ParaView.

    python examples/demo.py --out out/demo

Prints degrees of freedom, CG iterations per preconditioner, the tip deflection against beam
theory, and writes OUT/<scene>/result.pvd (+ frames) and a PNG of each result.
"""

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from learnsim.core.errors import EngineError
from learnsim.io.render import render
from learnsim.running.run import run_scene, write_result
from learnsim.scenes import load_scene

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", type=Path, default=Path("out/demo"))
args = parser.parse_args()
console = Console(highlight=False)

# 1. Cantilever 10 x 1 x 1, Q2 hexes, with each preconditioner
E, L, I, P, G, A = 1000.0, 10.0, 1.0 / 12.0, 1.0, 500.0, 1.0
euler_bernoulli = P * L**3 / (3 * E * I)
timoshenko = euler_bernoulli + P * L / (5.0 / 6.0 * G * A)
table = Table(title="cantilever: Q2 hexes 20 x 2 x 2, tip shear P = 1")
for column in ("preconditioner", "dofs", "CG iters", "solve (s)", "tip", "vs 4.024"):
    table.add_column(column, justify="right")
with console.status("solving the cantilever with jacobi, ic0 and amg"):
    for name in ("jacobi", "ic0", "amg"):
        result = run_scene(load_scene("cantilever", [f"solver.preconditioner={name}"]))
        X = result.discretization.node_positions
        tip = -result.solution.u[np.isclose(X[:, 0], L), 1].mean()
        solve = result.solution.solves[0]
        table.add_row(
            name,
            str(result.n_dofs),
            str(solve.iterations),
            f"{result.timings['solve']:.2f}",
            f"{tip:.4f}",
            f"{tip / timoshenko - 1:+.3%}",
        )
console.print(table)
console.print(f"beam theory: Euler-Bernoulli {euler_bernoulli:.3f}, Timoshenko {timoshenko:.3f}")

# 2. Heat plate with a conductive disc (k = 1000 inside, 1 outside)
heat = run_scene(load_scene("heat_plate"))
temperature = heat.point_data["temperature"]
console.print(
    f"heat_plate: {heat.n_dofs} dofs, {heat.solution.solves[0].iterations} CG iterations (ic0), "
    f"temperature in [{temperature.min():.3f}, {temperature.max():.3f}]"
)

# 3. Output for ParaView, and pictures
for scene_result in (result, heat):
    pvd = write_result(scene_result, args.out / scene_result.scene.scene.name)
    try:
        png = render(pvd, pvd.with_name("result.png"))
        console.print(f"wrote {pvd} and {png}")
    except EngineError as err:
        console.print(f"wrote {pvd} (no picture: {err})")
