"""Linear systems as the engine solves them, handed to whoever records them.

A solver that accepts an ``on_system`` callback calls it once per solve with a
:class:`LinearSystem`; ``learnsim generate`` writes these to a dataset, tests inspect them.
Everything is on the host (scipy CSR and NumPy), so the callback may keep the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
