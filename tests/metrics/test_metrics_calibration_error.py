"""graphls.metrics.calibration_error against scikit-learn, numpy float64 loops and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from metrics_helpers import numpy_ece_mce, probs_and_labels, random_probs
from sklearn.calibration import calibration_curve

from graphls.metrics import (
    ReliabilityBins,
    accuracy_score,
    brier_score,
    expected_calibration_error,
    maximum_calibration_error,
    mean_confidence,
    negative_log_likelihood,
    reliability_bins,
)

# ---------------------------------------------------------------------------
# ECE, MCE, reliability bins
# ---------------------------------------------------------------------------


# Six nodes, four classes; (confidence, correct):
#   bin 0 (0, 1/3]:   0.3 yes                  -> n=1, acc 1,   conf 0.3,   gap 0.7
#   bin 1 (1/3, 2/3]: 0.4 no, 0.6 yes          -> n=2, acc 1/2, conf 0.5,   gap 0
#   bin 2 (2/3, 1]:   0.7 yes, 0.9 yes, 1.0 no -> n=3, acc 2/3, conf 2.6/3, gap 0.2
# ECE = 1/6 * 0.7 + 2/6 * 0 + 3/6 * 0.2 = 13/60;  MCE = 0.7
HAND_PROBS = torch.tensor([
    [0.30, 0.25, 0.25, 0.20],
    [0.40, 0.20, 0.20, 0.20],
    [0.20, 0.60, 0.10, 0.10],
    [0.10, 0.10, 0.70, 0.10],
    [0.05, 0.05, 0.00, 0.90],
    [1.00, 0.00, 0.00, 0.00],
], dtype=torch.float64)


HAND_Y = torch.tensor([0, 1, 1, 2, 3, 2])


def test_ece_mce_hand_example():
    assert expected_calibration_error(HAND_PROBS, HAND_Y, num_bins=3) == pytest.approx(13 / 60)
    assert maximum_calibration_error(HAND_PROBS, HAND_Y, num_bins=3) == pytest.approx(0.7)


def test_reliability_bins_hand_example():
    bins = reliability_bins(HAND_PROBS, HAND_Y, num_bins=3)
    assert isinstance(bins, ReliabilityBins)
    torch.testing.assert_close(bins.edges, torch.tensor([0, 1 / 3, 2 / 3, 1], dtype=torch.float64))
    assert bins.count.tolist() == [1, 2, 3]
    torch.testing.assert_close(bins.accuracy, torch.tensor([1, 0.5, 2 / 3], dtype=torch.float64))
    torch.testing.assert_close(bins.confidence,
                               torch.tensor([0.3, 0.5, 2.6 / 3], dtype=torch.float64))


def test_confidence_on_an_edge_goes_to_the_lower_bin():
    # 4 equal-width bins: edges 0, .25, .5, .75, 1 (exact in binary).
    probs = torch.tensor([[0.5, 0.5], [0.75, 0.25], [1.0, 0.0], [0.6, 0.4]], dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1])
    bins = reliability_bins(probs, y, num_bins=4)
    assert bins.count.tolist() == [0, 1, 2, 1]
    assert math.isnan(bins.accuracy[0]) and math.isnan(bins.confidence[0])
    torch.testing.assert_close(bins.confidence[1:],
                               torch.tensor([0.5, 0.675, 1.0], dtype=torch.float64))
    torch.testing.assert_close(bins.accuracy[1:],
                               torch.tensor([1.0, 0.5, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("num_bins", [1, 7, 15])
def test_ece_mce_match_numpy_loop(strategy, num_bins):
    _, probs, y = random_probs(500, 6, seed=6 + num_bins)
    probs = (probs * 1.3).softmax(-1)  # miscalibrate
    ece, mce = numpy_ece_mce(probs, y, num_bins, strategy)
    assert ece > 0.01
    assert expected_calibration_error(probs, y, num_bins, strategy) == pytest.approx(
        ece, rel=1e-10, abs=1e-14)
    assert maximum_calibration_error(probs, y, num_bins, strategy) == pytest.approx(
        mce, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("ties", [False, True])
def test_reliability_bins_match_sklearn_calibration_curve(strategy, ties):
    _, probs, y = random_probs(400, 3, seed=7)
    if ties:  # repeated confidences (and some exactly on uniform edges)
        probs = torch.tensor([[0.4, 0.3, 0.3], [0.6, 0.2, 0.2], [0.8, 0.1, 0.1], [1.0, 0.0, 0.0]],
                             dtype=torch.float64)[torch.arange(400) % 4]
    bins = reliability_bins(probs, y, num_bins=10, strategy=strategy)
    conf, pred = probs.max(1)
    correct = (pred == y).numpy().astype(float)
    prob_true, prob_pred = calibration_curve(correct, conf.numpy(), n_bins=10, strategy=strategy)
    keep = bins.count > 0
    np.testing.assert_allclose(bins.accuracy[keep].numpy(), prob_true, rtol=1e-12)
    np.testing.assert_allclose(bins.confidence[keep].numpy(), prob_pred, rtol=1e-12)
    assert int(bins.count.sum()) == 400
    assert bins.count.dtype == torch.int64
    if strategy == "quantile":
        np.testing.assert_array_equal(
            bins.edges.numpy(), np.percentile(conf.numpy(), np.linspace(0, 100, 11)))
        if not ties:  # equal-count bins when confidences are distinct
            assert bins.count.tolist() == [40] * 10


def test_quantile_ece_matches_numpy_loop_with_ties():
    probs = torch.tensor([[0.5, 0.5], [0.7, 0.3], [0.9, 0.1]], dtype=torch.float64)
    probs = probs[torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])]
    y = torch.tensor([0, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    ece, mce = numpy_ece_mce(probs, y, 4, "quantile")
    assert expected_calibration_error(probs, y, 4, "quantile") == pytest.approx(ece, rel=1e-12)
    assert maximum_calibration_error(probs, y, 4, "quantile") == pytest.approx(mce, rel=1e-12)


def test_single_bin_ece_is_gap_between_accuracy_and_mean_confidence():
    _, probs, y = random_probs(300, 4, seed=8)
    gap = abs(accuracy_score(probs, y) - mean_confidence(probs))
    assert expected_calibration_error(probs, y, num_bins=1) == pytest.approx(gap, rel=1e-12)
    assert maximum_calibration_error(probs, y, num_bins=1) == pytest.approx(gap, rel=1e-12)


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------


@given(probs_and_labels(), st.integers(1, 20), st.sampled_from(["uniform", "quantile"]))
def test_ece_and_mce_in_unit_interval_and_ece_at_most_mce(data, num_bins, strategy):
    probs, y = data
    ece = expected_calibration_error(probs, y, num_bins, strategy)
    mce = maximum_calibration_error(probs, y, num_bins, strategy)
    assert 0.0 <= ece <= 1.0
    assert 0.0 <= mce <= 1.0
    assert ece <= mce + 1e-12


@given(st.lists(st.tuples(st.integers(2, 8), st.integers(0, 8)), min_size=1, max_size=6),
       st.integers(1, 15), st.sampled_from(["uniform", "quantile"]))
def test_ece_zero_for_perfectly_calibrated_groups(groups, num_bins, strategy):
    """Each group of m nodes shares confidence j/m and exactly j of them are right.

    Per bin, the correct count then equals the summed confidence, whatever the
    binning (equal confidences always share a bin), so ECE = MCE = 0.
    """
    rows, labels = [], []
    for m, j in groups:
        j = max(min(j, m), (m + 1) // 2)  # confidence j/m >= 1/2 keeps class 0 the argmax
        c = j / m
        rows += [[c, 1 - c]] * m
        labels += [0] * j + [1] * (m - j)
    probs = torch.tensor(rows, dtype=torch.float64)
    y = torch.tensor(labels)
    assert (probs.argmax(1) == 0).all()
    assert expected_calibration_error(probs, y, num_bins, strategy) <= 1e-12
    assert maximum_calibration_error(probs, y, num_bins, strategy) <= 1e-12


def test_ece_zero_when_confident_and_always_right():
    y = torch.tensor([0, 2, 1, 1, 0])
    probs = F.one_hot(y, 3).double()
    assert expected_calibration_error(probs, y) == 0.0
    assert expected_calibration_error(probs, y, strategy="quantile") == 0.0
    assert brier_score(probs, y) == 0.0
    assert negative_log_likelihood(probs, y) == pytest.approx(0.0, abs=1e-15)
