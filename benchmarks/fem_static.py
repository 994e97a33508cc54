"""3D linear elasticity, assembled and solved by learnsim and by scikit-fem + pyamg in one run.

Problem: the box [0, 4] x [0, 1] x [0, 1] on a structured hex mesh, E = 1000, nu = 0.3,
clamped at x = 0, uniform traction (0, -1, 0) on x = 4. Both codes get the same vertices and
hexes (learnsim's ``box_mesh``, reordered to scikit-fem's local vertex numbering), the same
Lagrange order (Q1 or Q2, 27-node), the same Gauss rule (order 2 * degree), the same
preconditioner (one pyamg smoothed-aggregation V-cycle built with the six rigid body modes and
3 x 3 node blocks) and the same CG stopping rule (||r|| <= 1e-8 ||b||).

Dirichlet conditions are each code's usual SPD route: learnsim keeps the constrained rows as
identity rows (``fem.project_linear_system``), scikit-fem removes them (``condense``).

Phases (seconds, best of N repeats after a warm-up on a tiny mesh that triggers Warp's kernel
compilation, reported once): setup (space, boundary selection, Dirichlet dofs), assembly
(stiffness + traction load), dirichlet, precond (AMG hierarchy), solve (PCG), total.
The peer of every ratio is scikit-fem + pyamg; ratio = learnsim / peer, above 1 means learnsim is slower.

    python benchmarks/fem_static.py                      # both sizes, Q1 and Q2 (about 10 minutes, 2 cores)
    python benchmarks/fem_static.py --sizes small --orders 1
    python benchmarks/fem_static.py --quick              # smoke run: small Q1, one repeat (30 s)
    python benchmarks/fem_static.py --cold --quick       # also time Warp's kernel compilation
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import pyamg
import scipy.sparse.linalg as spla
import skfem
import warp as wp
from machine import machine, versions  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)
from skfem.models.elasticity import linear_elasticity

from learnsim.core.mesh import Mesh, box_mesh
from learnsim.engine.fem.assembly import assemble_boundary_value, assemble_linear_elasticity
from learnsim.engine.fem.boundary import apply_dirichlet, boundary_sides, make_dirichlet
from learnsim.engine.fem.discretization import discretize
from learnsim.engine.fem.materials import LinearElastic
from learnsim.engine.solvers import make_preconditioner, pcg, rigid_body_modes

LENGTH = 4.0
MATERIAL = LinearElastic(E=1000.0, nu=0.3)
TRACTION = (0.0, -1.0, 0.0)
TOL = 1e-8
PHASES = ("setup", "assembly", "dirichlet", "precond", "solve")

# cells along (x, y, z) per size and order; Q1 and Q2 of one size have the same nodes (and dofs)
CELLS = {
    ("small", 1): (64, 16, 16),  # 56,355 dofs
    ("small", 2): (32, 8, 8),
    ("large", 1): (96, 24, 24),  # 181,875 dofs
    ("large", 2): (48, 12, 12),
}
# best of N; a Q2 run takes minutes (scikit-fem's Q2 assembly alone is 30-110 s), so fewer repeats
# to keep the default run near 10 minutes on 2 cores
REPEATS = {("small", 1): 3, ("large", 1): 2, ("small", 2): 2, ("large", 2): 1}
WARMUP_CELLS = {1: (8, 2, 2), 2: (4, 2, 2)}

# scikit-fem's MeshHex1 numbers a hex's corners (0,0,0) (0,0,1) (0,1,0) (1,0,0) (0,1,1) (1,0,1)
# (1,1,0) (1,1,1); learnsim uses VTK's order (bottom face counter-clockwise, then the top face).
VTK_TO_SKFEM_HEX = [0, 4, 3, 1, 7, 5, 2, 6]


@dataclass
class Run:
    """One code's result on one problem: phase times (s), iterations and vertex displacements."""

    times: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    n_dofs: int = 0
    vertex_displacement: np.ndarray | None = None  # (n_points, 3)


class PhaseTimer:
    """Times consecutive phases; the device is synchronised so GPU work is counted where it runs."""

    def __init__(self, run: Run):
        self.run = run
        self.start = time.perf_counter()
        self.last = self.start

    def lap(self, phase: str) -> None:
        wp.synchronize()
        now = time.perf_counter()
        self.run.times[phase] = now - self.last
        self.last = now

    def finish(self) -> None:
        self.run.times["total"] = self.last - self.start


def tip_vertex(mesh: Mesh) -> int:
    """The vertex at (L, 1/2, 1/2) (cells per side are even): where the tip deflection is read."""
    return int(np.argmin(np.linalg.norm(mesh.points - np.array([LENGTH, 0.5, 0.5]), axis=1)))


def run_learnsim(mesh: Mesh, order: int, preconditioner: str = "amg") -> Run:
    """The same steps as ``solve_linear_static``, split into phases."""
    run = Run()
    timer = PhaseTimer(run)
    disc = discretize(mesh, order=order, components=3)
    sides, _ = boundary_sides(disc, lambda c: c[:, 0] > LENGTH - 1e-9)
    bc = make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, 0.0)])
    timer.lap("setup")
    K = assemble_linear_elasticity(disc, MATERIAL.lame(3))
    f = assemble_boundary_value(disc, sides, TRACTION)
    timer.lap("assembly")
    apply_dirichlet(K, f, disc, bc)
    timer.lap("dirichlet")
    modes = rigid_body_modes(disc.node_positions, 3) if preconditioner == "amg" else None
    precond = make_preconditioner(preconditioner, K, near_nullspace=modes)
    timer.lap("precond")
    result = pcg(K, f, x=disc.zeros(), preconditioner=precond, tol=TOL)
    timer.lap("solve")
    timer.finish()
    run.iterations = result.iterations
    run.n_dofs = disc.n_dofs
    # the mesh vertices are the first nodes of learnsim's space
    run.vertex_displacement = result.x.numpy()[: mesh.n_points]
    return run


def run_skfem(mesh: Mesh, order: int) -> Run:
    """scikit-fem assembly, ``condense``, pyamg SA hierarchy on 3 x 3 blocks, scipy CG with the V-cycle."""
    run = Run()
    timer = PhaseTimer(run)
    sk_mesh = skfem.MeshHex(
        np.ascontiguousarray(mesh.points.T), np.ascontiguousarray(mesh.cells[:, VTK_TO_SKFEM_HEX].T)
    )
    element = skfem.ElementVector(skfem.ElementHex1() if order == 1 else skfem.ElementHex2())
    # scikit-fem's default rule would be exact for the (non-affine) worst case: 4^3 or 7^3 points
    basis = skfem.Basis(sk_mesh, element, intorder=2 * order)
    tip_facets = sk_mesh.facets_satisfying(lambda x: x[0] > LENGTH - 1e-9, boundaries_only=True)
    facet_basis = skfem.FacetBasis(sk_mesh, element, facets=tip_facets, intorder=2 * order)
    clamped = basis.get_dofs(lambda x: x[0] < 1e-9).all()
    timer.lap("setup")
    K = linear_elasticity(*MATERIAL.lame(3)).assemble(basis)
    traction = np.array(TRACTION)

    @skfem.LinearForm
    def traction_form(v, w):
        return sum(traction[i] * v.value[i] for i in range(3))

    f = traction_form.assemble(facet_basis)
    timer.lap("assembly")
    K_free, f_free, u, free = skfem.condense(K, f, D=clamped)
    timer.lap("dirichlet")
    # ElementVector numbers the three components of a node consecutively, and whole nodes are
    # clamped, so the free system still has 3 x 3 node blocks.
    positions = basis.doflocs[:, free[::3]].T
    hierarchy = pyamg.smoothed_aggregation_solver(
        K_free.tobsr(blocksize=(3, 3)), B=rigid_body_modes(positions, 3), symmetry="hermitian"
    )
    cycle = hierarchy.aspreconditioner(cycle="V")
    timer.lap("precond")
    iterations = [0]

    def count(_):
        iterations[0] += 1

    u_free, info = spla.cg(K_free, f_free, rtol=TOL, atol=0.0, M=cycle, callback=count, maxiter=10_000)
    if info != 0:
        raise RuntimeError(f"scikit-fem + pyamg: CG did not converge (info = {info})")
    u[free] = u_free
    timer.lap("solve")
    timer.finish()
    run.iterations = iterations[0]
    run.n_dofs = basis.N
    run.vertex_displacement = u[basis.nodal_dofs].T
    return run


def best_of(runs: list[Run]) -> Run:
    """The last run, with each phase's (and the total's) minimum over ``runs``."""
    best = runs[-1]
    best.times = {key: min(r.times[key] for r in runs) for key in runs[0].times}
    return best


def measure(mesh: Mesh, order: int, repeats: int) -> tuple[Run, Run]:
    """Best of ``repeats`` for learnsim and scikit-fem, alternating so that load drift hits both."""
    ours, peer = [], []
    for _ in range(repeats):
        ours.append(run_learnsim(mesh, order))
        peer.append(run_skfem(mesh, order))
    return best_of(ours), best_of(peer)


def warm_up(order: int) -> tuple[float, float]:
    """First (compiling) run of each code on a tiny mesh; returns (learnsim s, scikit-fem s)."""
    mesh = box_mesh([LENGTH, 1.0, 1.0], WARMUP_CELLS[order], "hex")
    return run_learnsim(mesh, order).times["total"], run_skfem(mesh, order).times["total"]


def report(size: str, order: int, cells, ours: Run, peer: Run, tip: int) -> None:
    print(f"\n## {size}, Q{order}: {cells[0]} x {cells[1]} x {cells[2]} hexes, {ours.n_dofs:,} dofs")
    if ours.n_dofs != peer.n_dofs:
        print(f"WARNING: dof counts differ (scikit-fem {peer.n_dofs:,})")
    print(f"| {'phase':<9} | {'learnsim s':>10} | {'scikit-fem s':>12} | {'ratio':>6} |")
    print(f"|{'-' * 11}|{'-' * 12}|{'-' * 14}|{'-' * 8}|")
    for phase in (*PHASES, "total"):
        a, b = ours.times[phase], peer.times[phase]
        print(f"| {phase:<9} | {a:10.3f} | {b:12.3f} | {a / b:6.2f} |")
    print(f"PCG iterations: learnsim {ours.iterations}, scikit-fem {peer.iterations}")
    w_ours, w_peer = ours.vertex_displacement[tip, 1], peer.vertex_displacement[tip, 1]
    field_diff = np.abs(ours.vertex_displacement - peer.vertex_displacement).max()
    field_scale = np.abs(peer.vertex_displacement).max()
    print(
        f"tip deflection u_y(L, 1/2, 1/2): learnsim {w_ours:.8e}, scikit-fem {w_peer:.8e}, "
        f"relative difference {abs(w_ours - w_peer) / abs(w_peer):.1e}; "
        f"max vertex difference / max |u| = {field_diff / field_scale:.1e}"
    )


def assembled_system(order: int, cells) -> tuple:
    """learnsim's projected stiffness, load and discretisation on the box with ``cells``."""
    disc = discretize(box_mesh([LENGTH, 1.0, 1.0], cells, "hex"), order=order, components=3)
    sides, _ = boundary_sides(disc, lambda c: c[:, 0] > LENGTH - 1e-9)
    K = assemble_linear_elasticity(disc, MATERIAL.lame(3))
    f = assemble_boundary_value(disc, sides, TRACTION)
    apply_dirichlet(K, f, disc, make_dirichlet(disc, [(disc.node_positions[:, 0] < 1e-9, None, 0.0)]))
    return disc, K, f


def preconditioner_context(order: int) -> None:
    """learnsim's Jacobi, IC(0) and AMG on one assembled small system, each after a tiny warm-up."""
    names = ("jacobi", "ic0", "amg")
    disc, K, f = assembled_system(order, WARMUP_CELLS[order])
    for name in names:
        pcg(K, f, preconditioner=make_preconditioner(name, K, near_nullspace=rigid_body_modes(disc.node_positions, 3)))
    cells = CELLS[("small", order)]
    disc, K, f = assembled_system(order, cells)
    shape = " x ".join(str(c) for c in cells)
    print(f"\n## learnsim preconditioners, small Q{order} ({shape} hexes, {disc.n_dofs:,} dofs)")
    print(f"| {'precond':<7} | {'iterations':>10} | {'setup s':>8} | {'solve s':>8} | {'ms/iter':>8} |")
    print(f"|{'-' * 9}|{'-' * 12}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for name in names:
        start = time.perf_counter()
        precond = make_preconditioner(name, K, near_nullspace=rigid_body_modes(disc.node_positions, 3))
        setup = time.perf_counter() - start
        start = time.perf_counter()
        result = pcg(K, f, x=disc.zeros(), preconditioner=precond, tol=TOL)
        wp.synchronize()
        solve = time.perf_counter() - start
        print(
            f"| {name:<7} | {result.iterations:>10} | {setup:8.3f} | {solve:8.3f} | "
            f"{1e3 * solve / max(result.iterations, 1):8.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=None, help="comma-separated: small (~56k dofs), large (~182k dofs)")
    parser.add_argument("--orders", default=None, help="comma-separated element orders: 1, 2 (default both)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default: see REPEATS)")
    parser.add_argument(
        "--quick", action="store_true", help="small Q1 only (unless given), one repeat, no Jacobi/IC(0)"
    )
    parser.add_argument("--cold", action="store_true", help="compile Warp kernels into an empty cache first")
    parser.add_argument("--device", default="cpu", help="Warp device for learnsim (default cpu)")
    args = parser.parse_args()
    sizes = (args.sizes or ("small" if args.quick else "small,large")).split(",")
    orders = [int(o) for o in (args.orders or ("1" if args.quick else "1,2")).split(",")]
    for key in [(s, o) for s in sizes for o in orders]:
        if key not in CELLS:
            parser.error(f"unknown size/order {key}; sizes: small, large; orders: 1, 2")

    # Warp logs every module it loads and warns when there is no CUDA driver: noise here
    wp.config.log_level = wp.LOG_ERROR
    if args.cold:
        # an empty kernel cache, so the first run below includes compiling every kernel; the
        # directory is removed when the object is collected at exit
        cold_cache = tempfile.TemporaryDirectory(prefix="warp-cache-")
        wp.config.kernel_cache_dir = cold_cache.name
    wp.set_device(args.device)
    device = wp.get_device()
    print("# learnsim vs scikit-fem + pyamg: 3D linear elasticity, cantilever [0,4]x[0,1]x[0,1]")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine()}; learnsim on Warp device {device.alias}")
    print(f"versions: {versions('warp-lang', 'scikit-fem', 'pyamg', 'scipy', 'numpy')}")
    # other processes on the machine inflate and scatter the timings: record how busy it was
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    what = "compiles" if args.cold else "loads (from its kernel cache) or compiles"
    for order in orders:
        ours, peer = warm_up(order)
        print(
            f"first run, Q{order}, tiny mesh (Warp {what} its kernels): learnsim {ours:.2f} s, scikit-fem {peer:.2f} s"
        )

    start = time.perf_counter()
    for size in sizes:
        for order in orders:
            repeats = 1 if args.quick else args.repeats or REPEATS[(size, order)]
            cells = CELLS[(size, order)]
            mesh = box_mesh([LENGTH, 1.0, 1.0], cells, "hex")
            ours, peer = measure(mesh, order, repeats)
            report(size, order, cells, ours, peer, tip_vertex(mesh))
            print(f"(best of {repeats})")
    if not args.quick and "small" in sizes:
        preconditioner_context(min(orders))
    print(f"\nbenchmark wall time {time.perf_counter() - start:.0f} s; load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
