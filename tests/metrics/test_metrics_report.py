"""graphls.metrics.report: classification_report equals the separate metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from metrics_helpers import random_probs

from graphls.metrics import (
    accuracy_score,
    brier_score,
    classification_report,
    expected_calibration_error,
    maximum_calibration_error,
    mean_confidence,
    mean_logit_margin,
    negative_log_likelihood,
    roc_auc_score,
)


def test_classification_report_equals_the_separate_metrics():
    z, _, y = random_probs(400, 5, seed=9, scale=4.0)
    report = classification_report(z, y)
    assert set(report) == {"accuracy", "nll", "brier", "ece", "mce", "confidence", "margin",
                           "roc_auc"}
    assert all(isinstance(v, float) for v in report.values())
    probs = z.softmax(-1)
    assert report["accuracy"] == pytest.approx(accuracy_score(probs, y), abs=1e-15)
    assert report["nll"] == pytest.approx(float(F.cross_entropy(z, y)), rel=1e-12)
    assert report["nll"] == pytest.approx(negative_log_likelihood(probs, y), rel=1e-12)
    assert report["brier"] == pytest.approx(brier_score(probs, y), rel=1e-12)
    assert report["ece"] == pytest.approx(expected_calibration_error(probs, y), rel=1e-12)
    assert report["mce"] == pytest.approx(maximum_calibration_error(probs, y), rel=1e-12)
    assert report["confidence"] == pytest.approx(mean_confidence(probs), rel=1e-12)
    assert report["margin"] == pytest.approx(mean_logit_margin(z, y), rel=1e-12)
    assert report["roc_auc"] == pytest.approx(roc_auc_score(probs, y), rel=1e-12)
    q = classification_report(z, y, num_bins=5, strategy="quantile")
    assert q["ece"] == pytest.approx(expected_calibration_error(probs, y, 5, "quantile"))


def test_classification_report_float32_logits_and_exact_nll_for_huge_gaps():
    z, _, y = random_probs(100, 3, seed=10)
    r32 = classification_report(z.float(), y)
    assert r32["nll"] == pytest.approx(float(F.cross_entropy(z.float().double(), y)), rel=1e-12)
    # A true-class probability below eps: the report keeps the exact cross-entropy (50),
    # negative_log_likelihood clips it at -log(eps) as scikit-learn.
    logits = torch.tensor([[50.0, 0.0]], dtype=torch.float64)
    y1 = torch.tensor([1])
    assert classification_report(logits, y1)["nll"] == pytest.approx(50.0, rel=1e-12)
    assert negative_log_likelihood(logits.softmax(-1), y1) == pytest.approx(
        -math.log(np.finfo(np.float64).eps))


@pytest.mark.parametrize("k", [2, 4])
def test_classification_report_of_a_single_class_split_gives_nan_auc(k):
    # the trainer reports every split; a small or imbalanced one may hold one class
    z, _, _ = random_probs(30, k, seed=24)
    y = torch.full((30,), k - 1, dtype=torch.long)
    report = classification_report(z, y)
    assert math.isnan(report["roc_auc"])
    assert all(math.isfinite(v) for name, v in report.items() if name != "roc_auc")
    assert report["brier"] == pytest.approx(brier_score(z.softmax(-1), y), rel=1e-12)
