"""Solve a set of linear systems with several methods and compare iterations and times.

A *method* is a function ``solve(system, tol) -> Attempt``: it builds whatever it needs for
``system`` (the setup: a factorisation, an AMG hierarchy, a network's forward pass) and then
iterates to relative residual ``tol``. :func:`classical` wraps the engine's preconditioners,
:func:`learned` a trained model file. :func:`evaluate` runs every method on every system, after
one untimed warm-up solve per method (JIT compilation and Warp kernel loading are not part of
a solve), and gathers a :class:`MethodReport` per method.

    methods = {"ic0": classical("ic0")}
    kind, methods[kind] = learned("model.eqx")
    reports = evaluate(open_dataset("data/held_out"), methods, tol=1e-8)
    summary(reports)  # {"ic0": {"iterations_mean": ..., "total_s": ..., "failures": 0}, ...}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import warp as wp

from learnsim.core.errors import InputError, SolverNotConverged
from learnsim.core.systems import LinearSystem, SolveResult
from learnsim.engine.solvers import PRECONDITIONER_NAMES, FactorPreconditioner, csr_to_bsr, make_preconditioner, pcg
from learnsim.learned.checkpoint import load_model
from learnsim.learned.registry import model_kind


@dataclass(frozen=True)
class Attempt:
    """One solve: its result (None when it failed) and its setup and solve wall times in seconds."""

    result: SolveResult | None
    setup_s: float
    solve_s: float


SolveMethod = Callable[[LinearSystem, float], Attempt]


@dataclass
class MethodReport:
    """Per-system records of one method (lists in the order of the systems)."""

    iterations: list[int] = field(default_factory=list)
    setup_s: list[float] = field(default_factory=list)
    solve_s: list[float] = field(default_factory=list)
    residuals: list[np.ndarray] = field(default_factory=list)
    failures: int = 0

    def summary(self) -> dict[str, float | int]:
        """The figures of ``learnsim eval --json``: means over the solved systems, times in seconds."""
        solved = len(self.iterations)
        mean = lambda values: float(np.mean(values)) if solved else float("nan")
        return {
            "iterations_mean": mean(self.iterations),
            "iterations_max": int(max(self.iterations)) if solved else 0,
            "setup_s": mean(self.setup_s),
            "solve_s": mean(self.solve_s),
            "total_s": mean(np.add(self.setup_s, self.solve_s)),
            "failures": self.failures,
            "systems": solved + self.failures,
        }


def _device_system(system: LinearSystem, device) -> tuple:
    A = csr_to_bsr(system.matrix, device=device)
    b = wp.array(np.asarray(system.rhs, dtype=np.float64), dtype=wp.float64, device=device)
    return A, b


def preconditioned(build: Callable[[LinearSystem, object], object], device=None, max_iters: int | None = None):
    """A method running the engine's PCG with the preconditioner ``build(system, A_bsr)`` returns."""

    def solve(system: LinearSystem, tol: float) -> Attempt:
        A, b = _device_system(system, device)
        start = time.perf_counter()
        M = build(system, A)
        wp.synchronize_device(A.device)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        result = pcg(A, b, preconditioner=M, tol=tol, max_iters=max_iters, raise_on_failure=False)
        wp.synchronize_device(A.device)
        elapsed = time.perf_counter() - start
        return Attempt(result if result.converged else None, setup, elapsed)

    return solve


def classical(name: str, device=None, max_iters: int | None = None) -> SolveMethod:
    """PCG with a classical preconditioner: "none", "jacobi", "ic0" or "amg" (pyamg smoothed aggregation)."""
    return preconditioned(lambda system, A: make_preconditioner(name, A), device, max_iters)


def factor_method(module, model, name: str, device=None, max_iters: int | None = None) -> SolveMethod:
    """PCG preconditioned by ``(L L^T)^-1`` with the factor ``module.factor(model, A)`` of a preconditioner kind."""
    return preconditioned(
        lambda system, A: FactorPreconditioner(A, module.factor(model, system.matrix), name=name), device, max_iters
    )


def solver_method(module, model, max_iters: int | None = None) -> SolveMethod:
    """The iteration of a solver kind: ``module.setup`` once per matrix (timed as setup), then ``module.solve``."""

    def solve(system: LinearSystem, tol: float) -> Attempt:
        start = time.perf_counter()
        setup = module.setup(model, system.matrix, system.grid_shape)
        setup_s = time.perf_counter() - start
        result = module.solve(model, setup, system.rhs, tol=tol, max_iterations=max_iters, raise_on_failure=False)
        elapsed = time.perf_counter() - start - setup_s
        return Attempt(result if result.converged else None, setup_s, elapsed)

    return solve


def learned(path: str | Path, device=None, max_iters: int | None = None) -> tuple[str, SolveMethod]:
    """(kind name, method) for a trained model file written by ``learnsim train``, by the use of its kind."""
    model, sidecar = load_model(path)
    kind = model_kind(sidecar["kind"], where=str(path))
    module = kind.load()
    if kind.use == "preconditioner":
        return kind.name, factor_method(module, model, kind.name, device, max_iters)
    return kind.name, solver_method(module, model, max_iters)


def evaluate(
    systems: Sequence[LinearSystem],
    methods: dict[str, SolveMethod],
    tol: float = 1e-8,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, MethodReport]:
    """Solve every system with every method; ``progress(method, system_index)`` is called after each solve.

    A solve that does not reach ``tol`` (or breaks down) counts as a failure of that method;
    bad input (e.g. DCDM on a system without a grid) raises :class:`InputError`.
    """
    if len(systems) == 0:
        raise InputError("there are no systems to evaluate")
    reports = {}
    for name, solve in methods.items():
        solve(systems[0], tol)  # warm-up: compilation and kernel loading are not timed
        report = MethodReport()
        for index, system in enumerate(systems):
            try:
                attempt = solve(system, tol)
            except SolverNotConverged:
                attempt = Attempt(None, 0.0, 0.0)
            if attempt.result is None:
                report.failures += 1
            else:
                report.iterations.append(attempt.result.iterations)
                report.setup_s.append(attempt.setup_s)
                report.solve_s.append(attempt.solve_s)
                report.residuals.append(np.array(attempt.result.residuals))
            if progress is not None:
                progress(name, index)
        reports[name] = report
    return reports


def summary(reports: dict[str, MethodReport]) -> dict[str, dict[str, float | int]]:
    """``{method: MethodReport.summary()}``, the JSON that ``learnsim eval --json`` writes."""
    return {name: report.summary() for name, report in reports.items()}


def format_table(reports: dict[str, MethodReport]) -> list[str]:
    """Text rows of the comparison table, one per method, with a header."""
    rows = [f"{'method':12s} {'iters mean':>10s} {'max':>6s} {'setup s':>9s} {'solve s':>9s} {'total s':>9s} failures"]
    for name, figures in summary(reports).items():
        rows.append(
            f"{name:12s} {figures['iterations_mean']:10.1f} {figures['iterations_max']:6d} {figures['setup_s']:9.4f}"
            f" {figures['solve_s']:9.4f} {figures['total_s']:9.4f} {figures['failures']:8d}"
        )
    return rows


def residual_histories(reports: dict[str, MethodReport], system: int = 0) -> dict[str, np.ndarray]:
    """The relative residual history of one system per method (for plotting)."""
    return {name: report.residuals[system] for name, report in reports.items() if len(report.residuals) > system}


def split_methods(names: Iterable[str]) -> list[str]:
    """Parse ``jacobi,ic0,amg`` into names, rejecting unknown baselines."""
    out = [name.strip() for name in names if name.strip()]
    for name in out:
        if name not in PRECONDITIONER_NAMES:
            raise InputError(f"--baselines: unknown method {name!r} (choose from {', '.join(PRECONDITIONER_NAMES)})")
    return out
