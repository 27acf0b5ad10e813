"""Metrics against scikit-learn, numpy float64 loops and hand-computed examples."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score as sk_accuracy
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.metrics import roc_auc_score as sk_roc_auc

import graphls.metrics
from graphls._validation import distribution_tolerance
from graphls.metrics import (
    ReliabilityBins,
    accuracy_score,
    brier_score,
    classification_report,
    expected_calibration_error,
    maximum_calibration_error,
    mean_confidence,
    mean_logit_margin,
    negative_log_likelihood,
    recall_per_class,
    reliability_bins,
    roc_auc_score,
)

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------


def test_accuracy_matches_sklearn_for_scores_and_predictions():
    z, probs, y = random_probs(200, 5, seed=0)
    expected = sk_accuracy(y.numpy(), probs.numpy().argmax(1))
    assert 0.2 < expected < 1.0
    assert accuracy_score(probs, y) == pytest.approx(expected, abs=1e-15)
    assert accuracy_score(z, y) == pytest.approx(expected, abs=1e-15)  # logits work too
    assert accuracy_score(probs.argmax(1), y) == pytest.approx(expected, abs=1e-15)


def test_accuracy_ties_take_the_first_maximum():
    probs = torch.tensor([[0.5, 0.5], [0.5, 0.5]], dtype=torch.float64)
    assert accuracy_score(probs, torch.tensor([0, 1])) == 0.5


# ---------------------------------------------------------------------------
# NLL
# ---------------------------------------------------------------------------


def test_nll_matches_sklearn_log_loss_including_near_zero_probs():
    _, probs, y = random_probs(300, 4, seed=1, scale=10.0)
    probs = probs.clone()
    # Near-zero and exactly-zero true-class probabilities exercise the clipping.
    probs[0] = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    probs[1] = torch.tensor([1e-300, 1.0 - 1e-300, 0.0, 0.0], dtype=torch.float64)
    probs[2] = torch.tensor([1e-17, 0.5, 0.5 - 1e-17, 0.0], dtype=torch.float64)
    probs[3] = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    y[:4] = 0
    assert float(probs.gather(1, y.view(-1, 1)).min()) == 0.0
    expected = log_loss(y.numpy(), probs.numpy(), labels=range(4))
    assert negative_log_likelihood(probs, y) == pytest.approx(expected, rel=1e-12)
    # The zero entry is clipped to float64's eps, not 1e-15.
    per_node0 = -math.log(np.finfo(np.float64).eps)
    assert per_node0 == pytest.approx(36.04365338911715)


def test_nll_float32_matches_sklearn_float32_clipping():
    _, probs, y = random_probs(300, 3, seed=2, scale=8.0)
    p32 = probs.float()
    p32 = p32 / p32.sum(1, keepdim=True)
    p32[0] = torch.tensor([0.0, 1.0, 0.0])
    y[0] = 0
    expected = log_loss(y.numpy(), p32.numpy(), labels=range(3))
    assert negative_log_likelihood(p32, y) == pytest.approx(expected, rel=1e-6)
    assert negative_log_likelihood(p32[:1], y[:1]) == pytest.approx(
        -math.log(np.finfo(np.float32).eps), rel=1e-6)


def test_nll_explicit_eps_matches_numpy():
    _, probs, y = random_probs(100, 3, seed=3, scale=6.0)
    py = probs.numpy()[np.arange(100), y.numpy()]
    expected = -np.log(np.clip(py, 1e-3, 1 - 1e-3)).mean()
    assert negative_log_likelihood(probs, y, eps=1e-3) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------
# Brier
# ---------------------------------------------------------------------------


def test_brier_matches_numpy_and_sklearn_unscaled():
    _, probs, y = random_probs(250, 5, seed=4)
    p = probs.numpy()
    onehot = np.eye(5)[y.numpy()]
    expected = ((p - onehot) ** 2).sum(axis=1).mean()
    assert brier_score(probs, y) == pytest.approx(expected, rel=1e-12)
    sk = brier_score_loss(y.numpy(), p, labels=range(5), scale_by_half=False)
    assert brier_score(probs, y) == pytest.approx(sk, rel=1e-12)
    # For K >= 3 sklearn's default ("auto") does not halve either.
    assert brier_score(probs, y) == pytest.approx(
        brier_score_loss(y.numpy(), p, labels=range(5)), rel=1e-12)


def test_brier_binary_is_twice_sklearns_default():
    _, probs, y = random_probs(100, 2, seed=5)
    sk_default = brier_score_loss(y.numpy(), probs.numpy(), labels=[0, 1])
    assert brier_score(probs, y) == pytest.approx(2 * sk_default, rel=1e-12)


def test_brier_hand_example():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0])
    # node 0: 0.09 + 0.04 + 0.01 = 0.14; node 1: 1 + 0 + 1 = 2
    assert brier_score(probs, y) == pytest.approx((0.14 + 2.0) / 2, rel=1e-12)


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
# confidence, margin, report
# ---------------------------------------------------------------------------


def test_mean_confidence_hand_example():
    probs = torch.tensor([[0.7, 0.3], [0.1, 0.9], [0.5, 0.5]], dtype=torch.float64)
    assert mean_confidence(probs) == pytest.approx((0.7 + 0.9 + 0.5) / 3, rel=1e-15)


def test_mean_logit_margin_hand_example():
    logits = torch.tensor([[2.0, 1.0, 0.0], [2.0, 1.0, 0.0], [0.0, 3.0, 3.0]],
                          dtype=torch.float64)
    y = torch.tensor([0, 2, 1])
    # 2 - 1 = 1;  0 - 2 = -2;  3 - 3 = 0 (the tie with the other maximum)
    assert mean_logit_margin(logits, y) == pytest.approx(-1 / 3, rel=1e-15)
    shifted = logits + torch.tensor([[5.0], [-3.0], [100.0]], dtype=torch.float64)
    assert mean_logit_margin(shifted, y) == pytest.approx(-1 / 3, rel=1e-13)


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


def test_metrics_accept_tensors_that_require_grad():
    z, _, y = random_probs(50, 3, seed=11)
    z.requires_grad_(True)
    assert classification_report(z, y)["accuracy"] == pytest.approx(
        accuracy_score(z.detach(), y))
    assert brier_score(z.softmax(-1), y) == pytest.approx(brier_score(z.detach().softmax(-1), y))


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

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


@given(probs_and_labels(), st.integers(1, 20), st.sampled_from(["uniform", "quantile"]))
def test_ece_and_mce_in_unit_interval_and_ece_at_most_mce(data, num_bins, strategy):
    probs, y = data
    ece = expected_calibration_error(probs, y, num_bins, strategy)
    mce = maximum_calibration_error(probs, y, num_bins, strategy)
    assert 0.0 <= ece <= 1.0
    assert 0.0 <= mce <= 1.0
    assert ece <= mce + 1e-12


@given(probs_and_labels())
def test_brier_in_0_2_and_nll_nonnegative(data):
    probs, y = data
    assert 0.0 <= brier_score(probs, y) <= 2.0
    assert negative_log_likelihood(probs, y) >= 0.0
    bins = reliability_bins(probs, y, num_bins=15)
    assert int(bins.count.sum()) == len(y)


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


# ---------------------------------------------------------------------------
# bad input: one test per message
# ---------------------------------------------------------------------------

P = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], dtype=torch.float64)
Y = torch.tensor([0, 1])


def test_num_bins_zero_rejected():
    with pytest.raises(ValueError, match=r"^num_bins must be an integer >= 1; got 0$"):
        expected_calibration_error(P, Y, num_bins=0)


def test_num_bins_float_rejected():
    with pytest.raises(TypeError, match=r"^num_bins must be an integer; got float 2\.5$"):
        reliability_bins(P, Y, num_bins=2.5)


def test_bad_strategy_rejected():
    with pytest.raises(ValueError,
                       match=r"^strategy must be one of 'uniform', 'quantile'; got 'equal'$"):
        maximum_calibration_error(P, Y, strategy="equal")


def test_ogb_shaped_labels_rejected_with_hint():
    with pytest.raises(ValueError, match=r"^y must be 1-D \(one class per node\); got shape "
                                         r"\(2, 1\); OGB labels: use y\.view\(-1\)$"):
        brier_score(P, Y.view(-1, 1))


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match=r"^probs and y must have the same number of rows; "
                                         r"got \(2, 3\) and \(3,\)$"):
        negative_log_likelihood(P, torch.tensor([0, 1, 2]))


def test_labels_out_of_range_rejected():
    with pytest.raises(ValueError, match=r"^y must hold class indices in \[0, 3\); got 3$"):
        expected_calibration_error(P, torch.tensor([0, 3]))


def test_rows_not_summing_to_one_rejected():
    with pytest.raises(ValueError, match=r"^probs rows must be distributions \(non-negative, "
                                         r"summing to 1\); got a row summing to 1\.1$"):
        brier_score(P + torch.tensor([[0.1, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64), Y)


def test_negative_probability_rejected():
    with pytest.raises(ValueError, match=r"got a negative entry -0\.1$"):
        mean_confidence(torch.tensor([[1.1, -0.1]]))


def test_non_finite_probs_rejected():
    with pytest.raises(ValueError, match=r"^probs must be finite; got a NaN or infinite entry$"):
        reliability_bins(torch.tensor([[float("nan"), 1.0]]), torch.tensor([0]))


def test_probs_must_be_2d():
    with pytest.raises(ValueError, match=r"^probs must be 2-D \(num_nodes, num_classes\); "
                                         r"got shape \(3,\)$"):
        negative_log_likelihood(torch.tensor([0.2, 0.3, 0.5]), Y)


def test_probs_must_be_array_like():
    with pytest.raises(TypeError, match=r"^probs must be a torch\.Tensor, a NumPy array or a "
                                        r"\(nested\) list of numbers; got str$"):
        brier_score("0.7, 0.3", Y)


def test_swapped_arguments_named_with_the_order():
    with pytest.raises(TypeError, match=r"^probs and y look swapped: got probs int64 of shape "
                                        r"\(2,\) and y float64 of shape \(2, 3\); the order is "
                                        r"brier_score\(probs, y\), scores \(N, K\) first, labels "
                                        r"\(N,\) second \(scikit-learn's \(y_true, y_score\) is "
                                        r"the reverse\)$"):
        brier_score(Y, P)


def test_float_labels_rejected():
    with pytest.raises(TypeError, match=r"^y must be an integer tensor of class indices; "
                                        r"got dtype torch\.float32$"):
        brier_score(P, torch.tensor([0.0, 1.0]))


def test_empty_input_rejected():
    with pytest.raises(ValueError, match=r"^probs must have at least one row; got shape \(0, 3\)$"):
        expected_calibration_error(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


def test_accuracy_rejects_3d_input():
    with pytest.raises(ValueError, match=r"^probs_or_pred must be \(N,\) predictions or "
                                         r"\(N, K\) scores; got shape \(2, 3, 1\)$"):
        accuracy_score(P.unsqueeze(-1), Y)


def test_accuracy_rejects_float_predictions():
    with pytest.raises(TypeError, match=r"^probs_or_pred must be an integer tensor of class "
                                        r"indices; got dtype torch\.float32$"):
        accuracy_score(torch.tensor([0.0, 1.0]), Y)


def test_nll_bad_eps_rejected():
    with pytest.raises(ValueError, match=r"^eps must be in \[0, 0\.5\) or None; got 0\.5$"):
        negative_log_likelihood(P, Y, eps=0.5)


def test_margin_needs_two_classes():
    with pytest.raises(ValueError, match=r"^logits must have at least 2 classes for a margin; "
                                         r"got shape \(2, 1\)$"):
        mean_logit_margin(torch.zeros(2, 1), torch.tensor([0, 0]))


# ---------------------------------------------------------------------------
# ROC AUC
# ---------------------------------------------------------------------------


def test_roc_auc_matches_sklearn_binary_and_multiclass_ovr():
    _, probs, y = random_probs(300, 2, seed=21)
    assert roc_auc_score(probs, y) == pytest.approx(
        sk_roc_auc(y.numpy(), probs[:, 1].numpy()), rel=1e-12)
    _, probs, y = random_probs(400, 5, seed=22)
    assert set(y.tolist()) == set(range(5))
    assert roc_auc_score(probs, y) == pytest.approx(
        sk_roc_auc(y.numpy(), probs.numpy(), multi_class="ovr"), rel=1e-12)


def test_roc_auc_counts_tied_scores_one_half_as_sklearn():
    # scores rounded to 1 decimal: many ties between positives and negatives
    g = torch.Generator().manual_seed(23)
    p1 = (torch.rand(200, generator=g, dtype=torch.float64) * 10).round() / 10
    probs = torch.stack([1 - p1, p1], 1)
    y = (torch.rand(200, generator=g) < 0.3).long()
    assert roc_auc_score(probs, y) == pytest.approx(sk_roc_auc(y.numpy(), p1.numpy()),
                                                    rel=1e-12)
    # every score equal: no pair is ordered, every pair ties
    flat = torch.full((6, 2), 0.5, dtype=torch.float64)
    assert roc_auc_score(flat, torch.tensor([0, 1, 0, 1, 1, 0])) == 0.5


def test_roc_auc_perfect_reversed_undefined_and_bad_input():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    assert roc_auc_score(probs, y) == 1.0
    assert roc_auc_score(probs, 1 - y) == 0.0
    # a class absent from y is skipped in the one-vs-rest mean
    p3 = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]],
                      dtype=torch.float64)
    y3 = torch.tensor([0, 1, 0, 1])
    assert roc_auc_score(p3, y3) == pytest.approx(np.mean([
        sk_roc_auc(y3.numpy() == c, p3[:, c].numpy()) for c in (0, 1)]))
    with pytest.raises(ValueError, match=r"probs must have at least 2 columns .* got shape"):
        roc_auc_score(torch.ones(3, 1, dtype=torch.float64), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="probs"):
        roc_auc_score(torch.tensor([[0.9, 0.9]]), torch.tensor([0]))  # rows must sum to 1


def test_roc_auc_of_a_single_class_rejected():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^y must hold at least two classes for a ROC AUC; "
                                         r"got only class 1 \(4 nodes\)$"):
        roc_auc_score(probs, torch.ones(4, dtype=torch.long))


@pytest.mark.parametrize("k", [2, 4])
def test_classification_report_of_a_single_class_split_gives_nan_auc(k):
    # the trainer reports every split; a small or imbalanced one may hold one class
    z, _, _ = random_probs(30, k, seed=24)
    y = torch.full((30,), k - 1, dtype=torch.long)
    report = classification_report(z, y)
    assert math.isnan(report["roc_auc"])
    assert all(math.isfinite(v) for name, v in report.items() if name != "roc_auc")
    assert report["brier"] == pytest.approx(brier_score(z.softmax(-1), y), rel=1e-12)


@given(st.integers(2, 60), st.integers(2, 4), st.integers(0, 10_000))
def test_roc_auc_properties(n, k, seed):
    _, probs, y = random_probs(n, k, seed=seed)
    present = [c for c in range(k) if 0 < int((y == c).sum()) < n]
    if len(set(y.tolist())) < 2:
        assert not present
        with pytest.raises(ValueError, match="at least two classes"):
            roc_auc_score(probs, y)
        assert math.isnan(classification_report(probs.log(), y)["roc_auc"])
        return
    auc = roc_auc_score(probs, y)
    assert 0.0 <= auc <= 1.0
    if k == 2:  # swapping the two columns and the labels is the same task
        assert roc_auc_score(probs.flip(1), 1 - y) == pytest.approx(auc, rel=1e-12)
        assert auc == pytest.approx(sk_roc_auc(y.numpy(), probs[:, 1].numpy()), rel=1e-12)
    else:
        assert auc == pytest.approx(np.mean([sk_roc_auc(y.numpy() == c, probs[:, c].numpy())
                                             for c in present]), rel=1e-12)


# ---------------------------------------------------------------------------
# float16 and bfloat16 probabilities
# ---------------------------------------------------------------------------

def test_distribution_tolerance_follows_the_dtype():
    assert distribution_tolerance(torch.float64, 40) == 1e-4
    assert distribution_tolerance(torch.float32, 40) == 1e-4
    assert distribution_tolerance(torch.float16, 3) == pytest.approx((2 + math.log(3)) * 2**-10)
    assert distribution_tolerance(torch.bfloat16, 3) == pytest.approx((2 + math.log(3)) * 2**-7)


def _half_probs(z: torch.Tensor, dtype: torch.dtype, route: str) -> torch.Tensor:
    if route == "softmax":
        return z.to(dtype).softmax(-1)
    if route == "log_softmax":
        return z.to(dtype).log_softmax(-1).exp()
    return z.softmax(-1).to(dtype)  # computed in float32, stored in half


@given(st.integers(1, 60), st.integers(2, 300), st.integers(0, 10_000), st.floats(0.0, 30.0),
       st.sampled_from([torch.float16, torch.bfloat16]),
       st.sampled_from(["softmax", "log_softmax", "cast"]))
def test_half_precision_softmax_outputs_are_accepted(n, k, seed, scale, dtype, route):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g) * scale
    y = torch.randint(0, k, (n,), generator=g)
    p = _half_probs(z, dtype, route)
    exact = p.double()  # the same numbers: the metrics compute in float64
    ece, mce = numpy_ece_mce(exact, y, 15, "uniform")
    assert expected_calibration_error(p, y) == pytest.approx(ece, rel=1e-10, abs=1e-14)
    assert maximum_calibration_error(p, y) == pytest.approx(mce, rel=1e-10, abs=1e-14)
    onehot = np.eye(k)[y.numpy()]
    assert brier_score(p, y) == pytest.approx(((exact.numpy() - onehot) ** 2).sum(1).mean(),
                                              rel=1e-12)
    assert accuracy_score(p, y) == pytest.approx(float((exact.argmax(1) == y).double().mean()))
    assert negative_log_likelihood(p, y) >= 0.0
    assert 1 / k - 0.01 <= mean_confidence(p) <= 1.0
    assert int(reliability_bins(p, y, strategy="quantile").count.sum()) == n
    if len(set(y.tolist())) >= 2:
        assert 0.0 <= roc_auc_score(p, y) <= 1.0


@pytest.mark.parametrize(("dtype", "row", "summing"),
                         [(torch.float16, [0.5, 0.49], "0.98999"),
                          (torch.bfloat16, [0.5, 0.46], "0.960938")])
def test_half_precision_rows_off_by_more_than_the_tolerance_rejected(dtype, row, summing):
    with pytest.raises(ValueError, match=r"^probs rows must be distributions \(non-negative, "
                                         rf"summing to 1\); got a row summing to {summing}$"):
        expected_calibration_error(torch.tensor([row], dtype=dtype), torch.tensor([0]))


# ---------------------------------------------------------------------------
# NumPy arrays and lists, as scikit-learn users pass them
# ---------------------------------------------------------------------------

@given(probs_and_labels(), st.sampled_from([np.int64, np.int32]))
def test_numpy_arrays_give_the_same_metrics_as_tensors(data, label_dtype):
    probs, y = data
    p_np, y_np = probs.numpy(), y.numpy().astype(label_dtype)
    for metric in (accuracy_score, brier_score, negative_log_likelihood,
                   expected_calibration_error, maximum_calibration_error):
        assert metric(p_np, y_np) == metric(probs, y)
    assert accuracy_score(probs.argmax(1).numpy(), y_np) == accuracy_score(probs, y)
    assert mean_confidence(p_np) == mean_confidence(probs)
    assert mean_logit_margin(p_np, y_np) == mean_logit_margin(probs, y)
    assert classification_report(p_np, y_np) == pytest.approx(classification_report(probs, y),
                                                              nan_ok=True)
    bins, ref = reliability_bins(p_np, y_np), reliability_bins(probs, y)
    for a, b in zip(bins, ref, strict=True):
        torch.testing.assert_close(a, b, equal_nan=True)
    if len(set(y.tolist())) >= 2:
        assert roc_auc_score(p_np, y_np) == roc_auc_score(probs, y)


def test_lists_of_python_floats_are_float64():
    rows = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
    assert brier_score(rows, [0, 1]) == brier_score(torch.tensor(rows, dtype=torch.float64), Y)
    assert negative_log_likelihood(rows, [0, 1]) == pytest.approx(
        -(math.log(0.7) + math.log(0.8)) / 2, rel=1e-15)  # float32 would be off at 1e-8
    assert accuracy_score([0, 1, 1], [0, 1, 0]) == pytest.approx(2 / 3)
    assert expected_calibration_error(np.asarray(rows, dtype=np.float32), np.array([0, 1])) == \
        expected_calibration_error(P.float(), Y)


def test_scikit_learn_argument_order_is_named_for_binary_scores():
    y_true, y_score = np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.6, 0.3])
    with pytest.raises(TypeError, match=r"^probs and y look swapped: got probs int64 of shape "
                                        r"\(4,\) and y float64 of shape \(4,\); the order is "
                                        r"roc_auc_score\(probs, y\)"):
        roc_auc_score(y_true, y_score)


def test_swapped_predictions_and_scores_named_by_accuracy():
    with pytest.raises(TypeError, match=r"^probs_or_pred and y look swapped: got probs_or_pred "
                                        r"int64 of shape \(2,\) and y float64 of shape \(2, 3\); "
                                        r"the order is accuracy_score\(probs_or_pred, y\)"):
        accuracy_score(Y.numpy(), P.numpy())


def test_ogb_labels_beside_predictions_are_not_called_swapped():
    with pytest.raises(ValueError, match=r"^y must be 1-D .*OGB labels: use y\.view\(-1\)$"):
        accuracy_score(Y, Y.view(-1, 1))


def test_docstring_examples_run():
    result = doctest.testmod(graphls.metrics)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------
# recall_per_class
# ---------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), k=st.integers(2, 6))
def test_recall_per_class_equals_sklearn(seed, n, k):
    from sklearn.metrics import recall_score

    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    probs = torch.rand(n, k, generator=g, dtype=torch.float64).softmax(-1)
    ours = recall_per_class(probs, y)
    ref = recall_score(y.numpy(), probs.argmax(-1).numpy(), labels=list(range(k)),
                       average=None, zero_division=np.nan)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15, equal_nan=True)


def test_recall_per_class_names_bad_input():
    assert recall_per_class(torch.tensor([0, 0]), torch.tensor([0, 1]), num_classes=3)[1] == 0.0
    with pytest.raises(ValueError, match=r"y must hold labels < num_classes \(2\); got 2"):
        recall_per_class(torch.tensor([0, 0]), torch.tensor([0, 2]), num_classes=2)
