"""Plots of solver behaviour, written atomically as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from learnsim.io.vtu import new_temp_file


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
    handle, temporary = new_temp_file(png, ".png")
    os.close(handle)
    try:
        figure.savefig(temporary, format="png", dpi=120)
        os.replace(temporary, png)
    finally:
        plt.close(figure)
        if temporary.exists():
            temporary.unlink()
    return png
