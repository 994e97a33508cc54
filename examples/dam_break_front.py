"""The dam_break scene's surge front against Martin and Moyce (1952): S5 of VALIDATION.md as a plot.

    python examples/dam_break_front.py [--spacing 0.05 [0.025 ...]] [--end 4.1] [--out out/dam_break_front]

Steps the built-in ``dam_break`` scene (WCSPH, a 1 x 2 m column in a 6 x 3 m tank) once per
``--spacing`` and records the front Z = (x_max + dx / 2) / a of the fluid every 0.05 in
T = t sqrt(2 g / a), up to T = ``--end``. Draws Z against T for each spacing with the experiment's
points and their +-10 % band (the tolerance of S5), and writes the curves to ``front.csv``.
The scene's own spacing (0.05 m, 800 fluid particles) takes about 20 s; halving it, about 8x that.
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from learnsim.engine.sph import wcsph
from learnsim.io.atomic import write_atomically
from learnsim.running.particles import build_particles
from learnsim.running.sph import make_params
from learnsim.scenes import load_scene

A = 1.0  # column width (m) of the dam_break scene
MARTIN_MOYCE = [(0.832, 1.217), (1.219, 1.474), (1.997, 2.292), (2.547, 2.995), (3.345, 4.134), (4.034, 4.944)]
"""(T, Z) for a column of height 2a (n^2 = 2), as listed in VALIDATION.md."""


def front_history(spacing: float, end: float, every: float = 0.05) -> tuple[np.ndarray, np.ndarray, int]:
    """(T, Z, fluid particles) of the dam_break scene at ``spacing`` (m), from T = 0 to ``end``."""
    scene = load_scene("dam_break", [f"sph.spacing={spacing!r}"])
    params, particles = make_params(scene), build_particles(scene)
    seconds_per_T = np.sqrt(A / (2.0 * -params.gravity[1]))
    state = wcsph.make_state(params, particles.fluid, particles.walls)
    record = [T for T, _ in MARTIN_MOYCE if T <= end]  # exact values at the experiment's times
    times = np.union1d(np.arange(0.0, end + 0.5 * every, every), record)
    fronts = []
    for T in times:
        state = wcsph.advance(params, state, T * seconds_per_T)
        fronts.append((state.positions.numpy()[:, 0].max() + 0.5 * spacing) / A)
    return times, np.array(fronts), len(particles.fluid)


def plot(curves: dict[float, tuple[np.ndarray, np.ndarray, int]], png: Path) -> None:
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    T_ref, Z_ref = np.array(MARTIN_MOYCE).T
    axes.fill_between(T_ref, 0.9 * Z_ref, 1.1 * Z_ref, color="0.85", label="Martin and Moyce ±10 %")
    axes.plot(T_ref, Z_ref, "ko", label="Martin and Moyce (1952)")
    for spacing, (T, Z, n) in curves.items():
        axes.plot(T, Z, label=f"learnsim WCSPH, dx = {spacing:g} m ({n} particles)")
    axes.set_xlabel("T = t sqrt(2g/a)")
    axes.set_ylabel("Z = front / a")
    axes.set_title("dam break, column a x 2a: surge front")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left")
    figure.tight_layout()
    try:
        write_atomically(png, lambda file: figure.savefig(file, format="png", dpi=120))
    finally:
        plt.close(figure)


def write_csv(curves: dict[float, tuple[np.ndarray, np.ndarray, int]], path: Path) -> None:
    def write(file):
        writer = csv.writer(file)
        writer.writerow(["spacing_m", "fluid_particles", "T", "Z"])
        for spacing, (T, Z, n) in curves.items():
            writer.writerows((spacing, n, f"{t:.4f}", f"{z:.5f}") for t, z in zip(T, Z, strict=True))

    write_atomically(path, write, mode="w")


def main(argv: list[str] | None = None) -> dict[float, tuple[np.ndarray, np.ndarray, int]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, nargs="+", default=[0.05], help="particle spacings (m)")
    parser.add_argument("--end", type=float, default=4.1, help="last T = t sqrt(2 g / a)")
    parser.add_argument("--out", type=Path, default=Path("out/dam_break_front"))
    args = parser.parse_args(argv)
    curves = {}
    for spacing in args.spacing:
        curves[spacing] = front_history(spacing, args.end)
        T, Z, n = curves[spacing]
        errors = [f"{100.0 * (np.interp(t, T, Z) / z - 1.0):+.1f}%" for t, z in MARTIN_MOYCE if t <= T[-1]]
        print(f"dx = {spacing:g} m, {n} fluid particles: front vs Martin and Moyce {', '.join(errors)}")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(curves, args.out / "front.png")
    write_csv(curves, args.out / "front.csv")
    print(f"wrote {args.out / 'front.png'} and {args.out / 'front.csv'}")
    return curves


if __name__ == "__main__":
    main()
