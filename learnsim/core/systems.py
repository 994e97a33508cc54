"""Linear systems as the engine solves them, handed to whoever records them.

A solver that accepts an ``on_system`` callback calls it once per solve with a
:class:`LinearSystem`; ``learnsim generate`` writes these to a dataset, tests inspect them.
Everything is on the host (scipy CSR and NumPy), so the callback may keep the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class LinearSystem:
    """``matrix @ solution = rhs`` for one solve.

    Attributes:
        matrix: (n, n) scipy CSR, float64; symmetric positive definite for the solves the
            engine records (pressure Poisson equations, implicit FEM steps, diffusion).
        rhs: (n,) float64 right-hand side.
        solution: (n,) float64 solution the engine accepted, or None when not solved.
        grid_shape: cell counts per axis when unknown k lives on a structured grid in C order
            (``numpy.unravel_index(k, grid_shape)``), else None.
        kind: what produced it, e.g. ``"isph-pressure"``, ``"fem-implicit"``, ``"diffusion"``.
        parameters: the generating parameters (JSON-serialisable scalars, strings and lists).
    """

    matrix: sp.csr_matrix
    rhs: np.ndarray
    solution: np.ndarray | None = None
    grid_shape: tuple[int, ...] | None = None
    kind: str = "unknown"
    parameters: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.matrix.shape[0]


SystemCallback = Callable[[LinearSystem], None]
"""Called with every linear system a solver finishes (see ``on_system`` arguments)."""


@dataclass
class SolveResult:
    """Outcome of an iterative solve (the engine's PCG, DCDM).

    Attributes:
        x: the solution, shape ``(A.nrow,)``: a Warp array of ``float64``/``vec2d``/``vec3d`` from the
            engine's :func:`~learnsim.engine.solvers.pcg` (the caller's ``x`` if given), a float64 NumPy
            array from solvers that run on the host (DCDM).
        iterations: CG iterations performed.
        residuals: relative residual norms ``||b - A x_k|| / ||b||`` for ``k = 0 .. iterations``, float64,
            shape ``(iterations + 1,)``. These are CG's recursively updated residuals, equal to the true
            residuals in exact arithmetic (they may drift apart by about ``cond(A) * eps``).
        converged: whether the last residual is at or below the tolerance.
        preconditioner: name of the preconditioner used, e.g. ``"ic0"``.
        solver: what produced ``x``: ``"pcg"``, or, after PCG broke down on a matrix that is not
            positive definite (an indefinite tangent), ``"direct-lu"`` (a sparse LU factorisation,
            ``iterations`` 0) or ``"minres"`` (``iterations`` its own).
        breakdown: the PCG breakdown that sent the solve to ``solver`` (its message), or None.
    """

    x: Any
    iterations: int
    residuals: np.ndarray
    converged: bool
    preconditioner: str
    solver: str = "pcg"
    breakdown: str | None = None
