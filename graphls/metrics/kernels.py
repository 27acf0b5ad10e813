"""The metrics' arithmetic, unchecked: float64 in, float64 out.

Each public metric checks its inputs (:mod:`graphls.metrics.inputs`) and then
calls these; :func:`graphls.metrics.classification_report` calls several of
them on one softmax. Nothing here checks a shape, a range or a dtype.
"""

from __future__ import annotations

import torch

__all__ = ["auc", "bins", "brier", "conf_correct", "ece_mce", "margin", "quantile_edges"]


def quantile_edges(conf: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Empirical quantiles at ``b / B`` with linear interpolation (``numpy.percentile``'s)."""
    srt = conf.sort().values
    n = srt.numel()
    # The quantile levels and positions computed as numpy.percentile(conf, linspace(0, 100,
    # B + 1)) does, so the edges agree bit for bit (an edge may coincide with a confidence).
    q = torch.arange(num_bins + 1, dtype=torch.float64, device=conf.device) * (100.0 / num_bins)
    q[-1] = 100.0
    pos = (n - 1) * (q / 100)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n - 1)
    frac = pos - lo.to(torch.float64)
    a, b = srt[lo], srt[hi]
    # numpy's lerp: from the nearer end, so the edges match numpy.percentile's bit for bit.
    return torch.where(frac >= 0.5, b - (b - a) * (1 - frac), a + (b - a) * frac)


def bins(conf: torch.Tensor, correct: torch.Tensor, num_bins: int,
         strategy: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edges, per-bin counts, summed confidence and summed correctness."""
    if strategy == "uniform":
        edges = torch.linspace(0, 1, num_bins + 1, dtype=torch.float64, device=conf.device)
    else:
        edges = quantile_edges(conf, num_bins)
    # bucketize(right=False) over the inner edges: edges[b] < c <= edges[b + 1] -> b;
    # c <= edges[1] -> 0 and c > edges[-2] -> B - 1, so every node lands in a bin.
    idx = torch.bucketize(conf, edges[1:-1].contiguous(), right=False)
    count = torch.bincount(idx, minlength=num_bins)
    sum_conf = torch.zeros(num_bins, dtype=torch.float64, device=conf.device)
    sum_conf.index_add_(0, idx, conf)
    sum_correct = torch.zeros(num_bins, dtype=torch.float64, device=conf.device)
    sum_correct.index_add_(0, idx, correct)
    return edges, count, sum_conf, sum_correct


def conf_correct(probs: torch.Tensor, y: torch.Tensor,
                 pred: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence ``max_k p_ik`` and correctness of ``pred`` (default ``argmax_k p_ik``)."""
    p = probs.to(torch.float64)
    conf = p.max(dim=1).values
    pred = p.argmax(dim=1) if pred is None else pred
    return conf, (pred == y).to(torch.float64)


def ece_mce(conf: torch.Tensor, correct: torch.Tensor, num_bins: int,
            strategy: str) -> tuple[float, float]:
    _, count, sum_conf, sum_correct = bins(conf, correct, num_bins, strategy)
    nonempty = count > 0
    gap = (sum_correct - sum_conf).abs()  # = n_b * |acc_b - conf_b|
    ece = float(gap.sum() / conf.numel())
    mce = float((gap[nonempty] / count[nonempty]).max())
    return ece, mce


def brier(probs: torch.Tensor, y: torch.Tensor) -> float:
    p = probs.to(torch.float64)
    diff = p.clone()
    diff[torch.arange(p.size(0), device=p.device), y] -= 1
    return float(diff.pow(2).sum(dim=1).mean())


def margin(logits: torch.Tensor, y: torch.Tensor) -> float:
    z = logits.to(torch.float64)
    true = z.gather(1, y.view(-1, 1)).squeeze(1)
    others = z.scatter(1, y.view(-1, 1), float("-inf"))
    return float((true - others.max(dim=1).values).mean())


def auc(probs: torch.Tensor, y: torch.Tensor) -> float:
    """ROC AUC from ``(N, K)`` float64 scores (see :func:`roc_auc_score`)."""
    k = probs.size(1)
    columns = [1] if k == 2 else range(k)
    aucs = []
    for c in columns:
        pos = y == c
        n_pos = int(pos.sum())
        n_neg = pos.numel() - n_pos
        if n_pos == 0 or n_neg == 0:
            continue  # undefined for this class: no positive or no negative node
        # Mann-Whitney U with mid-ranks for tied scores: the fraction of
        # (positive, negative) pairs ordered correctly, ties counting one half.
        _, inverse, counts = torch.unique(probs[:, c], return_inverse=True, return_counts=True)
        counts = counts.to(torch.float64)
        mid_rank = torch.cumsum(counts, 0) - (counts - 1) / 2  # 1-based mean rank per value
        rank_sum = float(mid_rank[inverse][pos].sum())
        aucs.append((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return sum(aucs) / len(aucs) if aucs else float("nan")
