"""graphls.metrics.scores against scikit-learn, numpy float64 and hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics_helpers import probs_and_labels, random_probs
from sklearn.metrics import accuracy_score as sk_accuracy
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.metrics import roc_auc_score as sk_roc_auc

from graphls.metrics import (
    accuracy_score,
    brier_score,
    classification_report,
    mean_confidence,
    mean_logit_margin,
    negative_log_likelihood,
    recall_per_class,
    reliability_bins,
    roc_auc_score,
)

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
# confidence, margin
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


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------


@given(probs_and_labels())
def test_brier_in_0_2_and_nll_nonnegative(data):
    probs, y = data
    assert 0.0 <= brier_score(probs, y) <= 2.0
    assert negative_log_likelihood(probs, y) >= 0.0
    bins = reliability_bins(probs, y, num_bins=15)
    assert int(bins.count.sum()) == len(y)


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
