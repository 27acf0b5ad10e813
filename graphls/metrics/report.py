"""The classification report: every metric of a split from its logits, with one softmax.

It is what the trainer records per split (:mod:`graphls.engine`).
"""

from __future__ import annotations

import torch

from graphls.metrics import kernels
from graphls.metrics.inputs import check_binning, check_scores

__all__ = ["classification_report"]


def classification_report(logits: torch.Tensor, y: torch.Tensor, num_bins: int = 15,
                          strategy: str = "uniform") -> dict[str, float]:
    r"""Every metric of a split, from logits, with one softmax (in float64).

    Keys:

    - ``accuracy``: :func:`accuracy_score`.
    - ``nll``: :math:`-\frac{1}{N}\sum_i \log\mathrm{softmax}(z_i)_{y_i}`, the exact
      cross-entropy from ``log_softmax`` (equal to ``F.cross_entropy`` and, unless a
      true-class probability is below 2.2e-16, to :func:`negative_log_likelihood`).
    - ``brier``: :func:`brier_score`.
    - ``ece`` / ``mce``: :func:`expected_calibration_error` /
      :func:`maximum_calibration_error` with ``num_bins`` and ``strategy``.
    - ``confidence``: :func:`mean_confidence`.
    - ``margin``: :func:`mean_logit_margin` (NaN when ``K = 1``).
    - ``roc_auc``: :func:`roc_auc_score`, but NaN where that raises: when
      ``K = 1`` or ``y`` holds a single class (a split of one class is common
      on small or imbalanced graphs, and the report must still give the
      other metrics).

    Args:
        logits: ``(N, K)`` raw scores.
        y: ``(N,)`` int64 labels.
        num_bins: Number of calibration bins (15, as every reported ECE).
        strategy: ``"uniform"`` or ``"quantile"``.

    Returns:
        ``{"accuracy", "nll", "brier", "ece", "mce", "confidence", "margin",
        "roc_auc"}`` as Python floats.
    """
    z, t = check_scores("logits", logits, y, "classification_report")
    num_bins, strategy = check_binning(num_bins, strategy)
    z = z.detach().to(torch.float64)
    log_probs = z.log_softmax(dim=1)
    probs = log_probs.exp()
    # Predictions from the logits themselves: softmax is monotone, but rounding
    # could tie two nearly equal probabilities that the logits still order.
    conf, correct = kernels.conf_correct(probs, t, pred=z.argmax(dim=1))
    ece, mce = kernels.ece_mce(conf, correct, num_bins, strategy)
    return {
        "accuracy": float(correct.mean()),
        "nll": float(-log_probs.gather(1, t.view(-1, 1)).mean()),
        "brier": kernels.brier(probs, t),
        "ece": ece,
        "mce": mce,
        "confidence": float(conf.mean()),
        "margin": kernels.margin(z, t) if z.size(1) >= 2 else float("nan"),
        "roc_auc": kernels.auc(probs, t) if z.size(1) >= 2 else float("nan"),
    }
