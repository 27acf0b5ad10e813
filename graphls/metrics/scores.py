"""Classification scores: accuracy, recall per class, NLL, Brier, ROC AUC, confidence, margin.

Inputs, dtypes and names as in :mod:`graphls.metrics` (``probs`` ``(N, K)``
rows of probabilities, ``y`` ``(N,)`` class indices; each returns a Python
``float`` computed in float64).
"""

from __future__ import annotations

import torch

from graphls._validation import (
    as_tensor,
    check_distribution,
    check_logits,
    check_nonempty,
    check_positive_int,
    fmt_shape,
)
from graphls.metrics import kernels
from graphls.metrics.inputs import check_predictions, check_probs, check_scores

__all__ = [
    "accuracy_score",
    "brier_score",
    "mean_confidence",
    "mean_logit_margin",
    "negative_log_likelihood",
    "recall_per_class",
    "roc_auc_score",
]


def accuracy_score(probs_or_pred: torch.Tensor, y: torch.Tensor) -> float:
    r"""Fraction of nodes whose prediction equals the label.

    .. math::
        \mathrm{acc} = \frac{1}{N} \sum_i \mathbf{1}[\hat y_i = y_i],
        \qquad \hat y_i = \arg\max_k s_{ik}

    Args:
        probs_or_pred: ``(N, K)`` scores (probabilities or logits; argmax is
            taken, first maximum on ties) or ``(N,)`` integer predictions.
        y: ``(N,)`` int64 labels.

    Returns:
        The accuracy in [0, 1].

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        >>> accuracy_score(probs, torch.tensor([0, 1, 1]))
        0.6666666666666666
        >>> accuracy_score([1, 0, 0], [1, 0, 1])  # predictions, as lists (scikit-learn style)
        0.6666666666666666
    """
    pred, t = check_predictions(probs_or_pred, y, "accuracy_score")
    return float((pred == t).to(torch.float64).mean())


def recall_per_class(probs_or_pred: torch.Tensor, y: torch.Tensor,
                     num_classes: int | None = None) -> list[float]:
    r"""Recall of each class: the fraction of its nodes predicted as it.

    .. math::
        \mathrm{recall}_c = \frac{|\{i : y_i = c, \hat y_i = c\}|}{|\{i : y_i = c\}|}

    NaN for a class with no node in ``y`` (scikit-learn's ``recall_score(...,
    average=None)`` with ``zero_division=nan``). A recall of 0 means the model
    never predicts that class for its nodes: accuracy can hide it.

    Args:
        probs_or_pred: ``(N, K)`` scores or ``(N,)`` integer predictions.
        y: ``(N,)`` int64 labels.
        num_classes: K (default: the scores' width, else ``max(y, pred) + 1``).

    Returns:
        K floats.

    Example:
        >>> recall_per_class([0, 0, 1, 0], [0, 1, 1, 2], num_classes=4)
        [1.0, 0.5, 0.0, nan]
    """
    pred, t = check_predictions(probs_or_pred, y, "recall_per_class")
    scores = as_tensor("probs_or_pred", probs_or_pred)
    k = (num_classes if num_classes is not None
         else scores.size(1) if scores.dim() == 2 else int(max(t.max(), pred.max())) + 1)
    k = check_positive_int("num_classes", k)
    if int(t.max()) >= k:
        raise ValueError(f"y must hold labels < num_classes ({k}); got {int(t.max())}")
    support = torch.bincount(t, minlength=k).to(torch.float64)
    hits = torch.bincount(t[pred == t], minlength=k).to(torch.float64)
    return [float(h / n) if n > 0 else float("nan") for h, n in zip(hits, support, strict=True)]


def negative_log_likelihood(probs: torch.Tensor, y: torch.Tensor,
                            eps: float | None = None) -> float:
    r"""Mean negative log-probability of the true class (log loss, natural log).

    .. math::
        \mathrm{NLL} = -\frac{1}{N} \sum_i \log \operatorname{clip}(p_{i y_i}, \varepsilon,
        1 - \varepsilon)

    This equals ``sklearn.metrics.log_loss(y, probs, labels=range(K))``
    (scikit-learn >= 1.5 clips to ``[eps, 1 - eps]`` with ``eps`` the machine
    epsilon of the input dtype, and does not renormalise the rows after
    clipping; only the true-class column enters). The logarithm is taken
    in float64. From logits, :func:`classification_report` uses the exact
    ``log_softmax`` instead, which differs only where ``p_{iy_i} < eps``.

    Args:
        probs: ``(N, K)`` rows of probabilities.
        y: ``(N,)`` int64 labels.
        eps: Clipping bound in [0, 0.5); ``None`` is ``torch.finfo(probs.dtype).eps``
            (2.2e-16 for float64, 1.2e-7 for float32), as scikit-learn.

    Returns:
        The NLL, >= 0 (at most ``-log(eps)``).

    Example:
        >>> probs = torch.tensor([[0.5, 0.5], [0.2, 0.8]], dtype=torch.float64)
        >>> round(negative_log_likelihood(probs, torch.tensor([0, 1])), 6)  # -(ln .5 + ln .8) / 2
        0.458145
    """
    p, t = check_probs(probs, y, "negative_log_likelihood")
    if eps is None:
        eps = torch.finfo(p.dtype).eps
    elif isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 0.5:
        raise ValueError(f"eps must be in [0, 0.5) or None; got {eps!r}")
    py = p.gather(1, t.view(-1, 1)).squeeze(1).clamp(eps, 1 - eps)
    return float(-py.to(torch.float64).log().mean())


def brier_score(probs: torch.Tensor, y: torch.Tensor) -> float:
    r"""Multi-class Brier score (lower is better), in [0, 2].

    .. math::
        \mathrm{BS} = \frac{1}{N} \sum_i \sum_k (p_{ik} - \mathbf{1}[k = y_i])^2

    This is Brier's original multi-class form, without the factor 1/2. It
    equals ``sklearn.metrics.brier_score_loss(y, probs, labels=range(K),
    scale_by_half=False)``; scikit-learn's default ``scale_by_half="auto"``
    halves it when ``K = 2``.

    Args:
        probs: ``(N, K)`` rows of probabilities.
        y: ``(N,)`` int64 labels.

    Returns:
        The Brier score.

    Example:
        >>> probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]], dtype=torch.float64)
        >>> round(brier_score(probs, torch.tensor([0, 0])), 6)  # (0.14 + 2) / 2
        1.07
    """
    p, t = check_probs(probs, y, "brier_score")
    return kernels.brier(p, t)


def roc_auc_score(probs: torch.Tensor, y: torch.Tensor) -> float:
    r"""Area under the ROC curve: binary, or macro one-vs-rest for ``K > 2``.

    For one class ``c`` with ``P`` positive and ``Q`` negative nodes, the AUC is
    the fraction of (positive, negative) pairs that ``probs[:, c]`` orders
    correctly, a tie counting one half (the Mann-Whitney statistic):

    .. math::
        \mathrm{AUC}_c = \frac{\sum_{i: y_i = c} r_i - P (P + 1) / 2}{P\,Q}

    with ``r_i`` the mid-rank of node *i*'s score. ``K = 2`` scores class 1 (as
    ``sklearn.metrics.roc_auc_score(y, probs[:, 1])``); ``K > 2`` averages
    :math:`\mathrm{AUC}_c` over the classes that have both positive and negative
    nodes (``roc_auc_score(y, probs, multi_class="ovr")`` when every class
    occurs). It is the usual metric of the imbalanced binary sets
    (Minesweeper, Tolokers; Platonov et al., ICLR 2023), where accuracy can sit
    at the majority-class rate.

    Args:
        probs: ``(N, K)`` probabilities (``K >= 2``).
        y: ``(N,)`` int64 labels of at least two classes.

    Returns:
        The AUC in [0, 1].

    Raises:
        ValueError: ``y`` holds a single class, for which the AUC is undefined
            (as scikit-learn). :func:`classification_report`, which the
            trainer runs on splits that may hold one class, reports NaN there
            instead of raising.

    Example:
        >>> probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
        >>> roc_auc_score(probs, torch.tensor([0, 1, 0, 1]))  # 4 pairs: 4 ordered correctly
        1.0
        >>> roc_auc_score(probs, torch.tensor([0, 0, 0, 0]))
        Traceback (most recent call last):
            ...
        ValueError: y must hold at least two classes for a ROC AUC; got only class 0 (4 nodes)
    """
    p, t = check_probs(probs, y, "roc_auc_score")
    if p.size(1) < 2:
        raise ValueError(f"probs must have at least 2 columns (classes) for a ROC AUC; "
                         f"got shape {fmt_shape(p.shape)}")
    present = torch.unique(t)
    if present.numel() < 2:  # then no class has both a positive and a negative node
        raise ValueError(f"y must hold at least two classes for a ROC AUC; got only class "
                         f"{int(present[0])} ({t.numel()} nodes)")
    return kernels.auc(p.to(torch.float64), t)


def mean_confidence(probs: torch.Tensor) -> float:
    r"""Mean confidence, the average of the largest probability of each row.

    .. math::
        \bar c = \frac{1}{N} \sum_i \max_k p_{ik}

    Args:
        probs: ``(N, K)`` rows of probabilities.

    Returns:
        The mean confidence in [1/K, 1].
    """
    p = check_logits("probs", as_tensor("probs", probs))
    check_nonempty("probs", p)
    check_distribution("probs", p)
    return float(p.to(torch.float64).max(dim=1).values.mean())


def mean_logit_margin(logits: torch.Tensor, y: torch.Tensor) -> float:
    r"""Mean margin of the true-class logit over the largest other logit.

    .. math::
        \bar m = \frac{1}{N} \sum_i \Big( z_{i y_i} - \max_{k \ne y_i} z_{ik} \Big)

    Positive for a correct prediction, negative for a wrong one; invariant to
    adding a constant to a row. Label smoothing bounds it (the optimum of the
    smoothed loss has a finite margin).

    Args:
        logits: ``(N, K)`` raw scores, ``K >= 2``.
        y: ``(N,)`` int64 labels.

    Returns:
        The mean margin.
    """
    z, t = check_scores("logits", logits, y, "mean_logit_margin")
    if z.size(1) < 2:
        raise ValueError("logits must have at least 2 classes for a margin; "
                         f"got shape {fmt_shape(z.shape)}")
    return kernels.margin(z, t)
