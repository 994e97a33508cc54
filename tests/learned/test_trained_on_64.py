"""Issue 5 acceptance on the real family: models trained by `learnsim train`'s recipes on generated
64x64 poisson_obstacles systems, evaluated on held-out samples (another seed), fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest

from learnsim.io.datasets import open_dataset
from learnsim.learned.train_command import train_model
from learnsim.running import evaluate as ev
from learnsim.running.generate import family_systems, generate_dataset


@pytest.mark.slow
def test_learned_methods_trained_on_64x64_beat_ic0_on_held_out(tmp_path):
    family = family_systems("poisson_obstacles", ["mesh.cells=[64,64]"])
    train = generate_dataset(family, 16, tmp_path / "train", workers=0, seed=0, progress=False)
    held_out = generate_dataset(family, 6, tmp_path / "held_out", workers=0, seed=1, progress=False)
    methods = {"ic0": ev.classical("ic0")}
    for kind, epochs in (("gnn-factor", 30), ("dcdm", 3)):
        model = train_model(kind, train, tmp_path / f"{kind}.eqx", epochs=epochs, progress=False)
        methods[kind] = ev.learned(model)[1]
    reports = ev.evaluate(open_dataset(held_out), methods, tol=1e-8)
    iterations = {name: np.mean(report.iterations) for name, report in reports.items()}
    print("mean CG / DCDM iterations on held-out 64x64:", iterations)
    assert all(report.failures == 0 for report in reports.values())
    assert iterations["gnn-factor"] < iterations["ic0"]
    assert iterations["dcdm"] < iterations["ic0"]
