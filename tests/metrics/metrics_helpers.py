"""Shared helpers of the graphls.metrics tests: random rows, numpy reference loops."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st


def random_probs(n: int, k: int, seed: int, scale: float = 3.0):
    """Softmax of random float64 logits, and labels drawn so accuracy is neither 0 nor 1."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    probs = z.softmax(-1)
    y = torch.multinomial(probs, 1, generator=g).view(-1)
    return z, probs, y


def numpy_bins(conf: np.ndarray, correct: np.ndarray, num_bins: int, strategy: str):
    """Direct loop: bin b is (e_b, e_{b+1}], the first open below and the last open above."""
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, num_bins + 1)
    else:
        edges = np.percentile(conf, np.linspace(0, 100, num_bins + 1))
    out = []
    for b in range(num_bins):
        lo = -np.inf if b == 0 else edges[b]
        hi = np.inf if b == num_bins - 1 else edges[b + 1]
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            out.append((int(mask.sum()), correct[mask].mean(), conf[mask].mean()))
        else:
            out.append((0, np.nan, np.nan))
    return edges, out


def numpy_ece_mce(probs: torch.Tensor, y: torch.Tensor, num_bins: int, strategy: str):
    p = probs.numpy().astype(np.float64)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y.numpy()).astype(np.float64)
    _, bins = numpy_bins(conf, correct, num_bins, strategy)
    ece = sum(n / len(conf) * abs(acc - c) for n, acc, c in bins if n > 0)
    mce = max(abs(acc - c) for n, acc, c in bins if n > 0)
    return ece, mce


@st.composite
def probs_and_labels(draw):
    n = draw(st.integers(1, 30))
    k = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.floats(0.0, 20.0))
    g = torch.Generator().manual_seed(seed)
    probs = (torch.randn(n, k, generator=g, dtype=torch.float64) * scale).softmax(-1)
    y = torch.randint(0, k, (n,), generator=g)
    return probs, y
