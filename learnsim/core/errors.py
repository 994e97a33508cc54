"""The two kinds of failure the command line tells apart.

``InputError`` (exit code 2): the user's input is wrong (a scene key, a mesh file, a value).
``EngineError`` (exit code 1): the input was valid but the engine failed, for example a
solver that did not converge.
"""


class InputError(ValueError):
    """Bad user input. The message is one line that names the file, key or value at fault."""


class EngineError(RuntimeError):
    """A failure inside the engine on valid input (no convergence, breakdown)."""


class SolverNotConverged(EngineError):
    """An iterative solve stopped at ``max_iters`` above its tolerance."""

    def __init__(self, solver: str, iterations: int, residual: float, tol: float):
        self.solver = solver
        self.iterations = iterations
        self.residual = residual
        self.tol = tol
        super().__init__(
            f"{solver} did not converge: relative residual {residual:.3e} after {iterations} "
            f"iterations (tolerance {tol:.1e})"
        )


class SolverBreakdown(SolverNotConverged):
    """An iterative solve broke down: a non-finite residual, or non-positive curvature ``p . A p`` (``A`` not SPD).

    Attributes (besides those of SolverNotConverged):
        reason: what broke, in words.
    """

    def __init__(self, solver: str, iterations: int, residual: float, tol: float, reason: str):
        super().__init__(solver, iterations, residual, tol)
        self.reason = reason
        self.args = (
            f"{solver} broke down at iteration {iterations}: {reason} "
            f"(relative residual {residual:.3e}, tolerance {tol:.1e})",
        )


class NonPositiveCurvature(SolverBreakdown):
    """CG met a direction with ``p . A p <= 0``: the matrix (or its preconditioner) is not positive definite,
    e.g. the tangent of a structure past a limit point. A solver for symmetric indefinite systems may still solve it."""
