"""Plots of solver behaviour, written atomically as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from learnsim.io.atomic import write_atomically


def plot_residual_histories(histories: dict[str, np.ndarray], png: str | Path, title: str = "") -> Path:
    """Relative residual ``||r_k|| / ||b||`` against iteration k, one line per method, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = Path(png)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for name, residuals in histories.items():
        residuals = np.asarray(residuals, dtype=float)
        axes.semilogy(np.arange(len(residuals)), np.maximum(residuals, 1e-300), label=f"{name} ({len(residuals) - 1})")
    axes.set_xlabel("iteration")
    axes.set_ylabel("relative residual")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    try:
        write_atomically(png, lambda file: figure.savefig(file, format="png", dpi=120))
    finally:
        plt.close(figure)
    return png
