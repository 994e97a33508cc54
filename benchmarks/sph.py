"""WCSPH on a 2D dam break: particle-steps per second of learnsim and of jax-sph in one run.

Problem (non-dimensional, a = 1, g = 1, rho0 = 1): a water column a wide and 2a high in the
left corner of a closed 6a x 3a tank, three layers of wall particles (the kernel support), fluid
particles on a cell-centred lattice of spacing dx = a / n (n x 2n fluid particles). Both codes get
the same fluid and wall positions, the quintic spline with h = dx (support 3h), the Tait law with
gamma = 1 and c0 = 20 (10 times u_ref = sqrt(2 g 2a)), continuity for the density, Adami et al.
(2012) walls (pressure extrapolated from the fluid, no-slip velocity), laminar viscosity
nu = 5e-5, artificial viscosity alpha h c with alpha c = 1 (jax-sph's alpha = 0.1 with its
hard-coded c = 10; learnsim's alpha = 0.05 with c0 = 20), no density diffusion (jax-sph has none)
and the same fixed time step dt = 0.25 dx / (c0 + u_ref). Both run in float64 on the CPU.

Each side's own stepping loop is timed: learnsim ``wcsph.step`` (kick-drift-kick: hash grids
rebuilt twice, continuity at the half step, wall extrapolation and momentum at the end) and
jax-sph's jitted ``si_euler`` step (one neighbour-list update and one force evaluation over fluid
and wall particles), checking ``did_buffer_overflow`` after each step as jax-sph's ``simulate``
does. A warm-up (Warp kernel loading, XLA compilation) is excluded; each repeat times ``steps``
consecutive steps (``wp.synchronize`` / ``block_until_ready`` at the end), and the median repeat
is reported. Particle-steps/s counts fluid particles (the same on both sides).

Run it in .venv-bench (``make bench-env``): jax-sph 0.1.0 with the jax it pins (0.4.29) and
learnsim installed without its dependencies (its SPH engine imports no jax; the Makefile says
why). On jax >= 0.6 the benchmark aliases ``jax.tree_map`` (removed there) to ``jax.tree.map``
so that jax-sph imports, and jax-sph steps 15-30 % slower than on its pinned jax.

    .venv-bench/bin/python benchmarks/sph.py              # n = 50 and 100 (5,000 and 20,000 fluid)
    .venv-bench/bin/python benchmarks/sph.py --quick      # smoke run: n = 20, few steps
    .venv-bench/bin/python benchmarks/sph.py --sizes 50 --steps 50 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import warp as wp
from machine import machine, versions  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

from learnsim.engine.sph import wcsph

A, G, RHO0, GAMMA, NU = 1.0, 1.0, 1.0, 1.0, 5e-5
U_REF = float(np.sqrt(2.0 * G * 2.0 * A))  # free-fall speed from the column height 2a
C0 = 10.0 * U_REF
ALPHA_C = 1.0  # artificial viscosity alpha * c: jax-sph uses alpha = 0.1 with c = 10 built in
LAYERS = 3  # wall layers: the quintic support 3h with h = dx
TANK = (6.0 * A, 3.0 * A)


@dataclass
class Geometry:
    """Particle positions of the dam break at resolution n (fluid n x 2n)."""

    dx: float
    fluid: np.ndarray  # (n_fluid, 2)
    walls: np.ndarray  # (n_wall, 2)
    box: np.ndarray  # (2,) jax-sph's periodic box, a gap of 5 dx beyond the walls

    @property
    def dt(self) -> float:
        return float(0.25 * self.dx / (C0 + U_REF))


def lattice(lx: float, ly: float, dx: float) -> np.ndarray:
    """Cell-centred points filling [0, lx] x [0, ly]."""
    i, j = np.meshgrid(np.arange(round(lx / dx)), np.arange(round(ly / dx)), indexing="ij")
    return np.stack([(i.ravel() + 0.5) * dx, (j.ravel() + 0.5) * dx], axis=1)


def geometry(n: int) -> Geometry:
    """Closed tank with LAYERS wall layers on every side; the tank interior starts at LAYERS dx."""
    dx = A / n
    t = LAYERS * dx
    points = lattice(TANK[0] + 2 * t, TANK[1] + 2 * t, dx)
    inside = np.all((points > t) & (points < np.array(TANK) + t), axis=1)
    fluid = t + lattice(A, 2.0 * A, dx)
    box = np.array(TANK) + 2 * t + 5 * dx
    return Geometry(dx=dx, fluid=fluid, walls=points[~inside], box=box)


@dataclass
class Timing:
    """Wall-clock and process CPU seconds per repeat of ``steps`` steps; the fluid's max speed at the end."""

    seconds: list[float]
    cpu_seconds: list[float]
    u_max: float


def run_learnsim(geo: Geometry, warmup: int, steps: int, repeats: int) -> Timing:
    params = wcsph.WCSPH(
        dim=2,
        spacing=geo.dx,
        sound_speed=C0,
        rest_density=RHO0,
        gamma=GAMMA,
        viscosity=NU,
        artificial_viscosity=ALPHA_C / C0,
        density_diffusion=0.0,
        gravity=(0.0, -G),
        kernel="quintic",
        h_over_spacing=1.0,
    )
    state = wcsph.make_state(params, geo.fluid, geo.walls)
    for _ in range(warmup):
        state = wcsph.step(params, state, geo.dt)
    wp.synchronize()
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            state = wcsph.step(params, state, geo.dt)
        wp.synchronize()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    u_max = float(np.max(np.linalg.norm(state.velocities.numpy(), axis=1)))
    return Timing(seconds, cpu_seconds, u_max)


def import_jax_sph():
    """jax-sph's modules, with the one jax alias it needs on jax >= 0.6."""
    import jax

    # jax-sph's neighbour list scatters int64 into int32 arrays: a FutureWarning on every trace
    warnings.filterwarnings("ignore", category=FutureWarning, module="jax")
    jax.config.update("jax_enable_x64", True)
    if tuple(int(part) for part in jax.__version__.split(".")[:2]) >= (0, 6):
        jax.tree_map = jax.tree.map  # removed in jax 0.6; jax-sph's vendored jax_md imports it
    try:
        from jax_sph import partition
        from jax_sph.case_setup import SimulationSetup
        from jax_sph.defaults import set_defaults
        from jax_sph.integrator import si_euler
        from jax_sph.jax_md.partition import Sparse
        from jax_sph.solver import WCSPH
        from jax_sph.utils import Tag
    except ImportError as error:
        sys.exit(f"sph benchmark: jax-sph is not importable ({error}); run `make bench-env` and use .venv-bench")
    return jax, partition, SimulationSetup, set_defaults, si_euler, Sparse, WCSPH, Tag


def run_jax_sph(geo: Geometry, warmup: int, steps: int, repeats: int) -> Timing:
    jax, partition, SimulationSetup, set_defaults, si_euler, Sparse, WCSPH, Tag = import_jax_sph()
    import jax.numpy as jnp

    class DamBreak(SimulationSetup):
        """The geometry above as a jax-sph case (2D only), walls tagged SOLID_WALL."""

        def _box_size2D(self, n_walls):
            return geo.box

        def _init_pos2D(self, box_size, dx, n_walls):
            r = np.concatenate([geo.walls, geo.fluid])
            tag = np.concatenate([np.full(len(geo.walls), Tag.SOLID_WALL), np.full(len(geo.fluid), Tag.FLUID)])
            return jnp.asarray(r), jnp.asarray(tag)

        def _init_velocity2D(self, r):
            return jnp.zeros_like(r)

        def _external_acceleration_fn(self, r):
            return jnp.zeros_like(r).at[:, 1].set(-self.case.g_ext_magnitude)

        def _boundary_conditions_fn(self, state):
            wall = state["tag"] == Tag.SOLID_WALL
            for key in ("u", "v", "dudt", "dvdt"):
                state[key] = jnp.where(wall[:, None], 0.0, state[key])
            state["p"] = jnp.where(wall, 0.0, state["p"])
            return state

        def _box_size3D(self, n_walls):
            raise NotImplementedError

        _init_walls_2d = _init_walls_3d = _init_velocity3D = _box_size3D

    cfg = set_defaults()
    cfg.config = "dam_break.yaml"
    cfg.case.dim, cfg.case.dx, cfg.case.rho_ref = 2, geo.dx, RHO0
    cfg.case.g_ext_magnitude, cfg.case.u_ref, cfg.case.viscosity = G, U_REF, NU * RHO0
    cfg.eos.gamma, cfg.solver.n_walls = GAMMA, LAYERS
    cfg.solver.is_bc_trick, cfg.solver.density_evolution = True, True
    cfg.solver.artificial_alpha = ALPHA_C / 10.0
    cfg.solver.dt, cfg.solver.t_end = geo.dt, geo.dt * (warmup + steps * repeats)  # floats, not numpy
    with contextlib.redirect_stdout(io.StringIO()):  # initialize() prints its time step limits
        cfg, box, state, g_ext_fn, bc_fn, nw_fn, eos, _, displacement_fn, shift_fn = DamBreak(cfg).initialize()
    c = cfg.case, cfg.solver
    solver = WCSPH(
        displacement_fn, eos, g_ext_fn, c[0].dx, c[0].dim, c[1].dt, c[0].c_ref, c[1].eta_limiter, c[1].name,
        cfg.kernel.name, c[1].is_bc_trick, c[1].density_evolution, c[1].artificial_alpha, c[1].free_slip,
        c[1].density_renormalize, c[1].heat_conduction,
    )  # fmt: skip
    neighbor_fn = partition.neighbor_list(
        displacement_fn,
        box,
        r_cutoff=solver._kernel_fn.cutoff,
        backend=cfg.nl.backend,
        capacity_multiplier=1.25,
        mask_self=False,
        format=Sparse,
        num_particles_max=state["r"].shape[0],
        num_partitions=cfg.nl.num_partitions,
        pbc=np.array(cfg.case.pbc),
    )
    n_real = int((state["tag"] != Tag.PAD_VALUE).sum())
    neighbors = neighbor_fn.allocate(state["r"], num_particles=n_real)
    advance = jax.jit(si_euler(cfg.solver.tvf, solver.forward_wrapper(), shift_fn, bc_fn, nw_fn))

    def one_step(state, neighbors):
        """simulate()'s loop body: reallocate and redo the step when the neighbour list overflowed."""
        new_state, new_neighbors = advance(geo.dt, state, neighbors)
        if new_neighbors.did_buffer_overflow:
            neighbors = neighbor_fn.allocate(state["r"], num_particles=n_real)
            new_state, new_neighbors = advance(geo.dt, state, neighbors)
        return new_state, new_neighbors

    for _ in range(warmup):
        state, neighbors = one_step(state, neighbors)
    jax.block_until_ready(state)
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            state, neighbors = one_step(state, neighbors)
        jax.block_until_ready(state)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    fluid = np.asarray(state["tag"]) == Tag.FLUID
    u_max = float(np.max(np.linalg.norm(np.asarray(state["u"])[fluid], axis=1)))
    return Timing(seconds, cpu_seconds, u_max)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,100", help="column resolutions n (n x 2n fluid particles)")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (the median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation)")
    parser.add_argument("--quick", action="store_true", help="smoke run: n = 20, 10 steps, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.steps, args.repeats, args.warmup = "20", 10, 1, 2
    print(f"machine: {machine()}; device {wp.get_device()}; {versions('warp-lang', 'jax', 'jax-sph', 'numpy')}")
    print(f"steps per repeat {args.steps}, median of {args.repeats}, after {args.warmup} warm-up steps; float64")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        geo = geometry(n)
        ours = run_learnsim(geo, args.warmup, args.steps, args.repeats)
        peer = run_jax_sph(geo, args.warmup, args.steps, args.repeats)
        rows.append((geo, ours, peer))
        print(f"n = {n}: dx = {geo.dx:.4g}, dt = {geo.dt:.3e}, fluid max |u| at the end", end=" ")
        print(f"learnsim {ours.u_max:.5f}, jax-sph {peer.u_max:.5f}")
        for name, t in (("learnsim", ours), ("jax-sph", peer)):
            print(f"  {name:8} wall s {[round(s, 3) for s in t.seconds]}, cpu s {[round(s, 3) for s in t.cpu_seconds]}")
    print()
    print("particle-steps/s = fluid particles x steps / median seconds of a repeat; ratio = learnsim / jax-sph")
    print("(above 1: learnsim is faster); 'cpu' divides by the process CPU time instead of the wall clock.")
    print()
    print("| fluid  | walls | steps | learnsim p-steps/s | jax-sph p-steps/s | ratio | ratio (cpu) |")
    print("|--------|-------|-------|--------------------|-------------------|-------|-------------|")
    for geo, ours, peer in rows:
        work = len(geo.fluid) * args.steps
        wall = [work / statistics.median(t.seconds) for t in (ours, peer)]
        cpu = [work / statistics.median(t.cpu_seconds) for t in (ours, peer)]
        print(
            f"| {len(geo.fluid):>6,} | {len(geo.walls):>5,} | {args.steps:>5} | {wall[0]:>18,.0f} "
            f"| {wall[1]:>17,.0f} | {wall[0] / wall[1]:>5.2f} | {cpu[0] / cpu[1]:>11.2f} |"
        )


if __name__ == "__main__":
    main()
