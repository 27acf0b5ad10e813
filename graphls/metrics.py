r"""Accuracy and calibration metrics for node classification.

Every function takes

- ``probs``: a floating ``(N, K)`` tensor whose rows are probability
  distributions (non-negative, summing to 1 within ``max(1e-4, (2 + ln K)·eps)``
  for the dtype's machine epsilon, so float16 and bfloat16 softmax outputs
  pass; see :func:`graphls._validation.distribution_tolerance`), e.g.
  ``logits.softmax(-1)``; and
- ``y``: a 1-D integer ``(N,)`` tensor of class indices in ``[0, K)``
  (OGB's ``(N, 1)`` labels must be flattened with ``y.view(-1)`` first),

and returns a Python ``float``, computed in float64. The prediction of a
node is ``argmax_k probs[i, k]`` (the first maximum on ties, as
``torch.argmax``) and its confidence is ``max_k probs[i, k]``.

NumPy arrays and (nested) Python lists are accepted wherever a tensor is,
as scikit-learn users pass them: they go through ``torch.as_tensor`` (a
float64 array stays float64; a list of Python floats becomes float64).
Mind the argument order: scores first, labels second (scikit-learn's
``(y_true, y_score)`` is the reverse); a call whose arguments look swapped
(1-D labels where the scores go and 2-D floats where the labels go) is
refused with a message that says so.

Names follow scikit-learn: ``*_score`` is higher-is-better,
``*_error``/``*_loss`` lower-is-better; ``brier_score`` (lower is better)
and ``negative_log_likelihood`` keep their usual names.

:func:`classification_report` computes every metric from logits with one
softmax; it is what the trainer records per split.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from graphls._validation import (
    as_tensor,
    check_choice,
    check_distribution,
    check_labels,
    check_logits,
    check_positive_int,
    check_same_length,
    fmt_dtype,
    fmt_shape,
)

__all__ = [
    "STRATEGIES",
    "ReliabilityBins",
    "accuracy_score",
    "brier_score",
    "classification_report",
    "expected_calibration_error",
    "maximum_calibration_error",
    "mean_confidence",
    "mean_logit_margin",
    "negative_log_likelihood",
    "recall_per_class",
    "reliability_bins",
    "roc_auc_score",
]

STRATEGIES = ("uniform", "quantile")
"""The binning strategies of the calibration metrics."""


class ReliabilityBins(NamedTuple):
    """Per-bin statistics of a reliability diagram (all float64 except ``count``).

    Attributes:
        edges: ``(B + 1,)`` bin edges; bin ``b`` is ``(edges[b], edges[b + 1]]``
            (the first bin also takes anything at or below ``edges[0]``, the
            last anything above ``edges[-1]``).
        confidence: ``(B,)`` mean confidence of the nodes in each bin; NaN if empty.
        accuracy: ``(B,)`` fraction of correct predictions in each bin; NaN if empty.
        count: ``(B,)`` int64 number of nodes in each bin (sums to N).
    """

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def _check_nonempty(name: str, t: torch.Tensor) -> None:
    if t.size(0) == 0:
        raise ValueError(f"{name} must have at least one row; got shape {fmt_shape(t.shape)}")


def _check_not_swapped(caller: str, name: str, first: torch.Tensor, y: torch.Tensor, *,
                       predictions: bool = False) -> None:
    """Refuse ``caller(y, scores)``, scikit-learn's ``(y_true, y_score)`` order.

    The arguments look swapped when ``name`` is 1-D and ``y`` holds 2-D
    floating scores (at least two columns, so OGB's ``(N, 1)`` labels are
    not mistaken for scores), or, where ``name`` must be 2-D scores
    (``predictions=False``), when ``name`` is 1-D integer labels and ``y`` 1-D
    floating scores (scikit-learn's binary ``y_score``).
    """
    if first.dim() != 1:
        return
    two_d_scores = y.dim() == 2 and y.is_floating_point() and y.size(1) >= 2
    binary_scores = (not predictions and y.dim() == 1 and y.is_floating_point()
                     and not first.is_floating_point() and first.dtype != torch.bool)
    if two_d_scores or binary_scores:
        raise TypeError(
            f"{name} and y look swapped: got {name} {fmt_dtype(first.dtype)} of shape "
            f"{fmt_shape(first.shape)} and y {fmt_dtype(y.dtype)} of shape "
            f"{fmt_shape(y.shape)}; the order is {caller}({name}, y), scores (N, K) first, "
            f"labels (N,) second (scikit-learn's (y_true, y_score) is the reverse)"
        )


def _check_scores(name: str, scores: object, y: object,
                  caller: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Shapes, label range and non-emptiness of ``(N, K)`` scores and ``(N,)`` labels.

    Array-likes are converted first; the labels come back as int64.
    """
    s = as_tensor(name, scores)
    t = as_tensor("y", y)
    _check_not_swapped(caller, name, s, t)
    s = check_logits(name, s)
    t = check_labels("y", t, check_range=False)
    check_same_length(name, s, "y", t)
    _check_nonempty(name, s)
    check_labels("y", t, s.size(1))
    return s.detach(), t.long()


def _check_probs(probs: object, y: object, caller: str) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = _check_scores("probs", probs, y, caller)
    check_distribution("probs", p)
    return p, t


def _check_binning(num_bins: object, strategy: object) -> tuple[int, str]:
    return check_positive_int("num_bins", num_bins), check_choice("strategy", strategy, STRATEGIES)


# ---------------------------------------------------------------------------
# unchecked kernels (float64 in, float64 out)
# ---------------------------------------------------------------------------

def _quantile_edges(conf: torch.Tensor, num_bins: int) -> torch.Tensor:
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


def _bins(conf: torch.Tensor, correct: torch.Tensor, num_bins: int,
          strategy: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edges, per-bin counts, summed confidence and summed correctness."""
    if strategy == "uniform":
        edges = torch.linspace(0, 1, num_bins + 1, dtype=torch.float64, device=conf.device)
    else:
        edges = _quantile_edges(conf, num_bins)
    # bucketize(right=False) over the inner edges: edges[b] < c <= edges[b + 1] -> b;
    # c <= edges[1] -> 0 and c > edges[-2] -> B - 1, so every node lands in a bin.
    idx = torch.bucketize(conf, edges[1:-1].contiguous(), right=False)
    count = torch.bincount(idx, minlength=num_bins)
    sum_conf = torch.zeros(num_bins, dtype=torch.float64, device=conf.device)
    sum_conf.index_add_(0, idx, conf)
    sum_correct = torch.zeros(num_bins, dtype=torch.float64, device=conf.device)
    sum_correct.index_add_(0, idx, correct)
    return edges, count, sum_conf, sum_correct


def _conf_correct(probs: torch.Tensor, y: torch.Tensor,
                  pred: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence ``max_k p_ik`` and correctness of ``pred`` (default ``argmax_k p_ik``)."""
    p = probs.to(torch.float64)
    conf = p.max(dim=1).values
    pred = p.argmax(dim=1) if pred is None else pred
    return conf, (pred == y).to(torch.float64)


def _ece_mce(conf: torch.Tensor, correct: torch.Tensor, num_bins: int,
             strategy: str) -> tuple[float, float]:
    _, count, sum_conf, sum_correct = _bins(conf, correct, num_bins, strategy)
    nonempty = count > 0
    gap = (sum_correct - sum_conf).abs()  # = n_b * |acc_b - conf_b|
    ece = float(gap.sum() / conf.numel())
    mce = float((gap[nonempty] / count[nonempty]).max())
    return ece, mce


def _brier(probs: torch.Tensor, y: torch.Tensor) -> float:
    p = probs.to(torch.float64)
    diff = p.clone()
    diff[torch.arange(p.size(0), device=p.device), y] -= 1
    return float(diff.pow(2).sum(dim=1).mean())


def _margin(logits: torch.Tensor, y: torch.Tensor) -> float:
    z = logits.to(torch.float64)
    true = z.gather(1, y.view(-1, 1)).squeeze(1)
    others = z.scatter(1, y.view(-1, 1), float("-inf"))
    return float((true - others.max(dim=1).values).mean())


def _auc(probs: torch.Tensor, y: torch.Tensor) -> float:
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


# ---------------------------------------------------------------------------
# public metrics
# ---------------------------------------------------------------------------

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
    pred, t = _predictions(probs_or_pred, y, "accuracy_score")
    return float((pred == t).to(torch.float64).mean())


def _predictions(probs_or_pred: object, y: object, caller: str
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predictions, labels)`` from ``(N, K)`` scores (argmax) or ``(N,)`` predictions."""
    s = as_tensor("probs_or_pred", probs_or_pred)
    if s.dim() == 2:
        s, t = _check_scores("probs_or_pred", s, y, caller)
        return s.argmax(dim=1), t
    if s.dim() == 1:
        t = as_tensor("y", y)
        _check_not_swapped(caller, "probs_or_pred", s, t, predictions=True)
        pred = check_labels("probs_or_pred", s, check_range=False)
        t = check_labels("y", t)
        check_same_length("probs_or_pred", pred, "y", t)
        _check_nonempty("probs_or_pred", pred)
        return pred, t
    raise ValueError("probs_or_pred must be (N,) predictions or (N, K) scores; "
                     f"got shape {fmt_shape(s.shape)}")


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
    pred, t = _predictions(probs_or_pred, y, "recall_per_class")
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
    p, t = _check_probs(probs, y, "negative_log_likelihood")
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
    p, t = _check_probs(probs, y, "brier_score")
    return _brier(p, t)


def reliability_bins(probs: torch.Tensor, y: torch.Tensor, num_bins: int = 15,
                     strategy: str = "uniform") -> ReliabilityBins:
    r"""Bin nodes by confidence ``c_i = max_k p_ik`` and report each bin's accuracy.

    Bins are right-closed, ``B_b = {i : e_b < c_i <= e_{b+1}}``, so a
    confidence exactly on an edge goes to the lower bin (as Guo et al.'s
    reference code and torchmetrics' ``torch.bucketize`` binning).

    - ``"uniform"``: ``e_b = b / B`` (equal width on [0, 1]).
    - ``"quantile"``: ``e_b`` is the ``b / B`` empirical quantile of the
      confidences (linear interpolation, as ``numpy.percentile``), so bins
      hold about ``N / B`` nodes each; ties never straddle two bins, so
      repeated confidences can leave bins uneven or empty. This is
      ``sklearn.calibration.calibration_curve``'s rule.

    Args:
        probs: ``(N, K)`` rows of probabilities.
        y: ``(N,)`` int64 labels.
        num_bins: Number of bins B >= 1.
        strategy: ``"uniform"`` or ``"quantile"``.

    Returns:
        A :class:`ReliabilityBins`; empty bins have NaN confidence and
        accuracy and count 0.
    """
    p, t = _check_probs(probs, y, "reliability_bins")
    num_bins, strategy = _check_binning(num_bins, strategy)
    conf, correct = _conf_correct(p, t)
    edges, count, sum_conf, sum_correct = _bins(conf, correct, num_bins, strategy)
    n = count.to(torch.float64)
    nan = torch.full_like(n, float("nan"))
    nonempty = count > 0
    return ReliabilityBins(
        edges=edges,
        confidence=torch.where(nonempty, sum_conf / n, nan),
        accuracy=torch.where(nonempty, sum_correct / n, nan),
        count=count,
    )


def expected_calibration_error(probs: torch.Tensor, y: torch.Tensor, num_bins: int = 15,
                               strategy: str = "uniform") -> float:
    r"""Expected calibration error: bin-weighted gap between accuracy and confidence.

    .. math::
        \mathrm{ECE} = \sum_{b=1}^{B} \frac{n_b}{N}
        \left| \mathrm{acc}_b - \mathrm{conf}_b \right|

    where ``acc_b`` is the fraction of correct argmax predictions and
    ``conf_b`` the mean confidence (max probability) of the ``n_b`` nodes in
    bin b; empty bins contribute 0. Binning as :func:`reliability_bins`
    (the reported numbers use 15 equal-width bins).

    Args:
        probs: ``(N, K)`` rows of probabilities.
        y: ``(N,)`` int64 labels.
        num_bins: Number of bins B >= 1.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal count).

    Returns:
        The ECE in [0, 1].

    Example:
        Confidences 0.9, 0.8, 0.6, 0.7 all fall in the bin (0.5, 1]; two of the
        four predictions are right, so ECE = |0.5 - 0.75| = 0.25:

        >>> probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]],
        ...                      dtype=torch.float64)
        >>> y = torch.tensor([0, 1, 1, 0])
        >>> expected_calibration_error(probs, y, num_bins=2)
        0.25
        >>> expected_calibration_error(probs.numpy(), [0, 1, 1, 0], num_bins=2)  # array-likes
        0.25
        >>> expected_calibration_error(probs.half(), y, num_bins=2)  # float16 rows pass
        0.25
    """
    p, t = _check_probs(probs, y, "expected_calibration_error")
    num_bins, strategy = _check_binning(num_bins, strategy)
    return _ece_mce(*_conf_correct(p, t), num_bins, strategy)[0]


def maximum_calibration_error(probs: torch.Tensor, y: torch.Tensor, num_bins: int = 15,
                              strategy: str = "uniform") -> float:
    r"""Maximum calibration error: the worst gap over the non-empty bins.

    .. math::
        \mathrm{MCE} = \max_{b:\, n_b > 0} \left| \mathrm{acc}_b - \mathrm{conf}_b \right|

    Binning as :func:`reliability_bins`.

    Args:
        probs: ``(N, K)`` rows of probabilities.
        y: ``(N,)`` int64 labels.
        num_bins: Number of bins B >= 1.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal count).

    Returns:
        The MCE in [0, 1].
    """
    p, t = _check_probs(probs, y, "maximum_calibration_error")
    num_bins, strategy = _check_binning(num_bins, strategy)
    return _ece_mce(*_conf_correct(p, t), num_bins, strategy)[1]


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
    p, t = _check_probs(probs, y, "roc_auc_score")
    if p.size(1) < 2:
        raise ValueError(f"probs must have at least 2 columns (classes) for a ROC AUC; "
                         f"got shape {fmt_shape(p.shape)}")
    present = torch.unique(t)
    if present.numel() < 2:  # then no class has both a positive and a negative node
        raise ValueError(f"y must hold at least two classes for a ROC AUC; got only class "
                         f"{int(present[0])} ({t.numel()} nodes)")
    return _auc(p.to(torch.float64), t)


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
    _check_nonempty("probs", p)
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
    z, t = _check_scores("logits", logits, y, "mean_logit_margin")
    if z.size(1) < 2:
        raise ValueError("logits must have at least 2 classes for a margin; "
                         f"got shape {fmt_shape(z.shape)}")
    return _margin(z, t)


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
    z, t = _check_scores("logits", logits, y, "classification_report")
    num_bins, strategy = _check_binning(num_bins, strategy)
    z = z.detach().to(torch.float64)
    log_probs = z.log_softmax(dim=1)
    probs = log_probs.exp()
    # Predictions from the logits themselves: softmax is monotone, but rounding
    # could tie two nearly equal probabilities that the logits still order.
    conf, correct = _conf_correct(probs, t, pred=z.argmax(dim=1))
    ece, mce = _ece_mce(conf, correct, num_bins, strategy)
    return {
        "accuracy": float(correct.mean()),
        "nll": float(-log_probs.gather(1, t.view(-1, 1)).mean()),
        "brier": _brier(probs, t),
        "ece": ece,
        "mce": mce,
        "confidence": float(conf.mean()),
        "margin": _margin(z, t) if z.size(1) >= 2 else float("nan"),
        "roc_auc": _auc(probs, t) if z.size(1) >= 2 else float("nan"),
    }
