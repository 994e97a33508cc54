"""Linear solvers in Warp: PCG with its residual history, and the preconditioners it takes."""

from learnsim.core.errors import SolverBreakdown
from learnsim.core.systems import LinearSystem, SolveResult, SystemCallback
from learnsim.engine.solvers.factor_preconditioner import FactorPreconditioner
from learnsim.engine.solvers.incomplete_cholesky import IncompleteCholesky
from learnsim.engine.solvers.pcg import pcg
from learnsim.engine.solvers.preconditioners import (
    PRECONDITIONER_NAMES,
    AMGPreconditioner,
    IdentityPreconditioner,
    IncompleteCholeskyPreconditioner,
    JacobiPreconditioner,
    Preconditioner,
    ReusedPreconditioner,
    make_preconditioner,
    rigid_body_modes,
)
from learnsim.engine.solvers.sparse import bsr_to_csr, csr_to_bsr

__all__ = [
    "FactorPreconditioner",
    "PRECONDITIONER_NAMES",
    "ReusedPreconditioner",
    "AMGPreconditioner",
    "IdentityPreconditioner",
    "IncompleteCholesky",
    "IncompleteCholeskyPreconditioner",
    "JacobiPreconditioner",
    "LinearSystem",
    "Preconditioner",
    "SolveResult",
    "SolverBreakdown",
    "SystemCallback",
    "bsr_to_csr",
    "csr_to_bsr",
    "make_preconditioner",
    "pcg",
    "rigid_body_modes",
]
