"""What the metrics accept (graphls.metrics.inputs).

Bad input (one test per message), float16 and bfloat16 rows, NumPy arrays and
lists as scikit-learn users pass them, and swapped arguments named with the order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from metrics_helpers import numpy_ece_mce, probs_and_labels, random_probs

from graphls._validation import distribution_tolerance
from graphls.metrics import (
    accuracy_score,
    brier_score,
    classification_report,
    expected_calibration_error,
    maximum_calibration_error,
    mean_confidence,
    mean_logit_margin,
    negative_log_likelihood,
    reliability_bins,
    roc_auc_score,
)


def test_metrics_accept_tensors_that_require_grad():
    z, _, y = random_probs(50, 3, seed=11)
    z.requires_grad_(True)
    assert classification_report(z, y)["accuracy"] == pytest.approx(
        accuracy_score(z.detach(), y))
    assert brier_score(z.softmax(-1), y) == pytest.approx(brier_score(z.detach().softmax(-1), y))


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
