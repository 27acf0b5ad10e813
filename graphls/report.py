"""Plots and markdown from results and studies (matplotlib, Agg backend).

Imported only by the commands that write reports; ``import graphls`` never
imports matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = ["plot_reliability"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_reliability(curves: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                     path: str | Path, *, num_bins: int = 15, title: str | None = None) -> Path:
    """Reliability diagram: per-bin accuracy vs confidence, one line per entry of ``curves``.

    Args:
        curves: ``label -> (probs (N, K), y (N,))``.
        path: PNG file to write.
        num_bins: Equal-width confidence bins (15, as every reported ECE).
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    from graphls.metrics import expected_calibration_error, reliability_bins

    plt = _pyplot()
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(5.2, 6.2), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    for label, (probs, y) in curves.items():
        bins = reliability_bins(probs, y, num_bins=num_bins)
        conf = torch.as_tensor(bins.confidence, dtype=torch.float64)
        acc = torch.as_tensor(bins.accuracy, dtype=torch.float64)
        count = torch.as_tensor(bins.count, dtype=torch.float64)
        keep = count > 0
        ece = expected_calibration_error(probs, y, num_bins=num_bins)
        ax.plot(conf[keep].numpy(), acc[keep].numpy(), marker="o", ms=4,
                label=f"{label} (ECE {100 * ece:.1f}%)")
        edges = torch.as_tensor(bins.edges, dtype=torch.float64)
        centers = ((edges[:-1] + edges[1:]) / 2).numpy()
        axh.bar(centers, (count / count.sum()).numpy(), width=(1 / num_bins) * 0.9,
                alpha=0.5, label=label)
    ax.set_ylabel("accuracy in bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    axh.set_xlabel(f"confidence ({num_bins} equal-width bins)")
    axh.set_ylabel("fraction")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
