"""``[solver] preconditioner = "learned:PATH"``: a trained model as the engine's preconditioner.

The scene names a model file written by ``learnsim train`` (a relative path is relative to the
scene file). Only models that give a preconditioner for PCG qualify: a ``gnn-factor`` model
predicts a factor L for each matrix the engine assembles, applied as M = (L L^T)^-1.
"""

from __future__ import annotations

from pathlib import Path

from learnsim.core.errors import InputError
from learnsim.engine.solvers import FactorPreconditioner, Preconditioner, bsr_to_csr
from learnsim.scenes.specs import LEARNED_PREFIX


class LearnedPreconditioner:
    """``build(A) -> Preconditioner`` for the engine, from a trained ``gnn-factor`` model file."""

    def __init__(self, path: Path, source: str = "<scene>"):
        from learnsim.learned.checkpoint import load_model, read_sidecar

        self.path = Path(path)
        kind = read_sidecar(self.path).get("kind")
        if kind != "gnn-factor":
            raise InputError(
                f"{source}: [solver].preconditioner = 'learned:{path}' is a {kind!r} model; a PCG preconditioner "
                "needs a gnn-factor model (dcdm is a solver of its own, see `learnsim eval`)"
            )
        self.model, _ = load_model(self.path, expected_kind="gnn-factor")

    def __call__(self, A) -> Preconditioner:
        return FactorPreconditioner(A, self.model.factor(bsr_to_csr(A)), name=f"learned:{self.path.name}")

    def __repr__(self) -> str:
        return f"learned:{self.path}"


def engine_preconditioner(name: str, source: str = "<scene>") -> str | LearnedPreconditioner:
    """The engine's preconditioner argument for a checked ``[solver].preconditioner`` value."""
    if name.startswith(LEARNED_PREFIX):
        return LearnedPreconditioner(Path(name[len(LEARNED_PREFIX) :]), source)
    return name
