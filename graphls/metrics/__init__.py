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

Import from ``graphls.metrics``; the package's modules, one concept each, are
:mod:`~graphls.metrics.scores` (accuracy, recall per class, NLL, Brier, ROC
AUC, confidence, margin), :mod:`~graphls.metrics.calibration_error`
(reliability bins, ECE, MCE) and :mod:`~graphls.metrics.report`
(:func:`classification_report`), over two private ones they share: the input
checks (``inputs``) and the unchecked float64 kernels (``kernels``).
"""

from __future__ import annotations

from graphls.metrics.calibration_error import (
    ReliabilityBins,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_bins,
)
from graphls.metrics.inputs import STRATEGIES
from graphls.metrics.report import classification_report
from graphls.metrics.scores import (
    accuracy_score,
    brier_score,
    mean_confidence,
    mean_logit_margin,
    negative_log_likelihood,
    recall_per_class,
    roc_auc_score,
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
