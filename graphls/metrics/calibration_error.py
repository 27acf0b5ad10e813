"""Calibration errors: reliability bins, the expected and the maximum calibration error.

A node's confidence is its largest probability and its prediction the argmax;
nodes are binned by confidence (``"uniform"``: equal width, ``"quantile"``:
equal count) and each bin's accuracy is compared with its mean confidence.
Inputs as in :mod:`graphls.metrics`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from graphls.metrics import kernels
from graphls.metrics.inputs import check_binning, check_probs

__all__ = [
    "ReliabilityBins",
    "expected_calibration_error",
    "maximum_calibration_error",
    "reliability_bins",
]


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
    p, t = check_probs(probs, y, "reliability_bins")
    num_bins, strategy = check_binning(num_bins, strategy)
    conf, correct = kernels.conf_correct(p, t)
    edges, count, sum_conf, sum_correct = kernels.bins(conf, correct, num_bins, strategy)
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
    p, t = check_probs(probs, y, "expected_calibration_error")
    num_bins, strategy = check_binning(num_bins, strategy)
    return kernels.ece_mce(*kernels.conf_correct(p, t), num_bins, strategy)[0]


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
    p, t = check_probs(probs, y, "maximum_calibration_error")
    num_bins, strategy = check_binning(num_bins, strategy)
    return kernels.ece_mce(*kernels.conf_correct(p, t), num_bins, strategy)[1]
