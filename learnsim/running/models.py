"""Trained models in the engine's solves: ``[solver] preconditioner = "learned:PATH"``.

Loading the scene has checked the file: a :class:`~learnsim.learned.registry.ModelFile` of a
kind whose use is "preconditioner". :func:`engine_preconditioner` loads its weights once per run
and gives the engine a factory ``build(A) -> Preconditioner``, which every solve of the run (FEM
static, implicit and Newton steps, ISPH pressure) calls with the matrix it assembled: the kind's
factor ``L`` of ``A``, applied as ``M = (L L^T)^-1``.
"""

from __future__ import annotations

from learnsim.engine.solvers import FactorPreconditioner, Preconditioner, bsr_to_csr
from learnsim.learned.checkpoint import load_model
from learnsim.learned.registry import ModelFile


class LearnedPreconditioner:
    """``build(A) -> Preconditioner`` for the engine, from a checked model file of a preconditioner kind."""

    def __init__(self, model_file: ModelFile):
        self.model_file = model_file
        self.module = model_file.kind.load()
        self.model, _ = load_model(model_file.path, expected_kind=model_file.kind.name)

    def __call__(self, A) -> Preconditioner:
        L = self.module.factor(self.model, bsr_to_csr(A))
        return FactorPreconditioner(A, L, name=f"learned:{self.model_file.path.name}")

    def __repr__(self) -> str:
        return str(self.model_file)


def engine_preconditioner(choice: str | ModelFile) -> str | LearnedPreconditioner:
    """The engine's preconditioner argument for a checked ``[solver].preconditioner``: a name, or a factory."""
    return LearnedPreconditioner(choice) if isinstance(choice, ModelFile) else choice
