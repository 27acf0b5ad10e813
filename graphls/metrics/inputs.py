"""What a metric accepts: ``(N, K)`` scores or ``(N,)`` predictions, and ``(N,)`` labels.

The conventions are those of :mod:`graphls.metrics`: array-likes are converted
by :func:`graphls._validation.as_tensor`; scores come first and labels second,
and a call whose arguments look swapped (scikit-learn's ``(y_true, y_score)``
order) is refused with a message that names the order. These checks sync with
the device (label range, row sums); the kernels they guard
(:mod:`graphls.metrics.kernels`) check nothing.
"""

from __future__ import annotations

import torch

from graphls._validation import (
    as_tensor,
    check_choice,
    check_distribution,
    check_labels,
    check_logits,
    check_nonempty,
    check_positive_int,
    check_same_length,
    fmt_dtype,
    fmt_shape,
)

__all__ = [
    "STRATEGIES",
    "check_binning",
    "check_not_swapped",
    "check_predictions",
    "check_probs",
    "check_scores",
]

STRATEGIES = ("uniform", "quantile")
"""The binning strategies of the calibration metrics."""


def check_not_swapped(caller: str, name: str, first: torch.Tensor, y: torch.Tensor, *,
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


def check_scores(name: str, scores: object, y: object,
                 caller: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Shapes, label range and non-emptiness of ``(N, K)`` scores and ``(N,)`` labels.

    Array-likes are converted first; the labels come back as int64.
    """
    s = as_tensor(name, scores)
    t = as_tensor("y", y)
    check_not_swapped(caller, name, s, t)
    s = check_logits(name, s)
    t = check_labels("y", t, check_range=False)
    check_same_length(name, s, "y", t)
    check_nonempty(name, s)
    check_labels("y", t, s.size(1))
    return s.detach(), t.long()


def check_probs(probs: object, y: object, caller: str) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`check_scores` for ``probs``, whose rows must also be distributions."""
    p, t = check_scores("probs", probs, y, caller)
    check_distribution("probs", p)
    return p, t


def check_predictions(probs_or_pred: object, y: object, caller: str
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predictions, labels)`` from ``(N, K)`` scores (argmax) or ``(N,)`` predictions."""
    s = as_tensor("probs_or_pred", probs_or_pred)
    if s.dim() == 2:
        s, t = check_scores("probs_or_pred", s, y, caller)
        return s.argmax(dim=1), t
    if s.dim() == 1:
        t = as_tensor("y", y)
        check_not_swapped(caller, "probs_or_pred", s, t, predictions=True)
        pred = check_labels("probs_or_pred", s, check_range=False)
        t = check_labels("y", t)
        check_same_length("probs_or_pred", pred, "y", t)
        check_nonempty("probs_or_pred", pred)
        return pred, t
    raise ValueError("probs_or_pred must be (N,) predictions or (N, K) scores; "
                     f"got shape {fmt_shape(s.shape)}")


def check_binning(num_bins: object, strategy: object) -> tuple[int, str]:
    """``num_bins`` as an int >= 1 and ``strategy`` as one of :data:`STRATEGIES`."""
    return check_positive_int("num_bins", num_bins), check_choice("strategy", strategy, STRATEGIES)
