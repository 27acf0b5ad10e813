"""graphls.losses against torch (float64), by its properties, and its state and bad input.

Pinned here: :class:`LabelSmoothingLoss` against ``F.cross_entropy`` (value
and gradient, every reduction, ignored rows) and its gradient
``(softmax(z) - q) / N`` for any prior; what the modules add (the prior as a
buffer, the checked ``epsilon`` attribute, ``extra_repr``); the binary loss on
random and hand-made targets (every reduction, ``pos_weight``, gradient); and
``EpsilonSchedule`` values. The functional forms are pinned in
tests/test_functional.py.
"""

from __future__ import annotations

import doctest
import itertools
import math

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

import graphls.losses
from graphls.functional import label_smoothing_cross_entropy, smooth_targets
from graphls.losses import BinaryLabelSmoothingLoss, EpsilonSchedule, LabelSmoothingLoss

EPSILONS = [0.0, 0.1, 0.5, 1.0]
REDUCTIONS = ["mean", "sum", "none"]


def _logits(n, k, seed):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _data(n, k, seed, ignore=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, k, (n,), generator=g)
    if ignore:
        y[:ignore] = -100
    return z, y


def _random_prior(shape, seed):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(*shape, generator=g, dtype=torch.float64) + 0.01
    return p / p.sum(-1, keepdim=True)


# -- LabelSmoothingLoss ---------------------------------------------------------------------------

@pytest.mark.parametrize("epsilon", EPSILONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("n", "k", "ignore"), [(1, 2, 0), (7, 3, 0), (40, 11, 5)])
def test_uniform_prior_equals_torch_value_and_gradient(epsilon, reduction, n, k, ignore):
    z, y = _data(n, k, seed=n * k, ignore=ignore)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    ours = LabelSmoothingLoss(epsilon, reduction=reduction)(z1, y)
    ref = F.cross_entropy(z2, y, label_smoothing=epsilon, reduction=reduction)
    torch.testing.assert_close(ours, ref)
    w = torch.randn_like(ref)  # a random cotangent also checks reduction="none"
    (ours * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(z1.grad, z2.grad)
    functional = label_smoothing_cross_entropy(z, y, epsilon, reduction=reduction)
    torch.testing.assert_close(functional, ref.detach())


@given(n=st.integers(1, 10), k=st.integers(2, 7), eps=st.floats(0, 1), seed=st.integers(0, 99),
       per_node=st.booleans())
def test_gradient_is_softmax_minus_target_over_n(n, k, eps, seed, per_node):
    z, y = _data(n, k, seed)
    prior = _random_prior((n, k) if per_node else (k,), seed + 1)
    z.requires_grad_()
    LabelSmoothingLoss(eps, prior=prior)(z, y).backward()
    q = smooth_targets(y, k, eps, prior)
    torch.testing.assert_close(z.grad, (z.detach().softmax(-1) - q) / n)


def test_prior_is_a_buffer_that_follows_the_module():
    prior = torch.tensor([0.2, 0.3, 0.5])
    criterion = LabelSmoothingLoss(0.1, prior=prior)
    assert dict(criterion.named_buffers())["prior"] is criterion.prior
    assert torch.equal(criterion.state_dict()["prior"], prior)
    prior[0] = 0.9  # a copy is kept: later edits of the caller's tensor do not leak in
    assert float(criterion.prior[0]) == pytest.approx(0.2)
    assert criterion.double().prior.dtype == torch.float64
    assert LabelSmoothingLoss().prior is None


@pytest.mark.parametrize("per_node", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_equals_the_functional_form_with_a_prior(per_node, reduction):
    z, y = _logits(6, 3, seed=1), torch.tensor([0, 2, -100, 1, 1, 0])
    g = torch.Generator().manual_seed(1)
    prior = torch.rand(*((6, 3) if per_node else (3,)), generator=g, dtype=torch.float64) + 0.1
    prior = prior / prior.sum(-1, keepdim=True)
    ours = LabelSmoothingLoss(0.3, prior=prior, reduction=reduction)(z, y)
    ref = label_smoothing_cross_entropy(z, y, 0.3, prior, reduction=reduction)
    torch.testing.assert_close(ours, ref)


def test_epsilon_can_be_changed_between_epochs_and_is_checked():
    z, y = _logits(5, 4, seed=2), torch.tensor([0, 1, 2, 3, 0])
    criterion = LabelSmoothingLoss(0.0)
    for eps in (0.3, 1.0, 0.05):
        criterion.epsilon = eps
        torch.testing.assert_close(criterion(z, y), F.cross_entropy(z, y, label_smoothing=eps))
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]; got 2"):
        criterion.epsilon = 2
    assert criterion.epsilon == 0.05  # a refused value leaves the old one


def test_extra_repr_names_the_knobs():
    assert repr(LabelSmoothingLoss(0.1)) == (
        "LabelSmoothingLoss(epsilon=0.1, prior=uniform, reduction='mean', ignore_index=-100)")
    per_node = LabelSmoothingLoss(0.25, prior=torch.full((7, 3), 1 / 3), reduction="sum")
    assert "prior=per-node (7, 3)" in repr(per_node)
    assert "prior=class (3,)" in repr(LabelSmoothingLoss(prior=torch.full((3,), 1 / 3)))


def test_module_checks_the_label_range_on_cpu():
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 3\); got -1 "
                                         r"\(ignore_index is -100\)"):
        LabelSmoothingLoss()(torch.zeros(2, 3), torch.tensor([0, -1]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_priors_are_accepted(dtype):
    # a softmax in half precision sums to 1 only within a few of its machine epsilons:
    # three thirds sum to 0.99976 in float16 and 1.00195 in bfloat16
    prior = torch.zeros(3, dtype=dtype).softmax(-1)
    assert abs(float(prior.double().sum()) - 1) > 2e-4
    z, y = _data(5, 3, seed=5)
    loss = LabelSmoothingLoss(0.2, prior=prior)(z, y)
    ref = 0.8 * F.cross_entropy(z, y) + 0.2 * F.cross_entropy(z, prior.double().expand(5, 3))
    torch.testing.assert_close(loss, ref)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_empty_input_sums_to_zero_or_stays_empty(reduction):
    logits = torch.zeros(0, 3, requires_grad=True)
    out = LabelSmoothingLoss(0.1, reduction=reduction)(logits, torch.zeros(0, dtype=torch.long))
    assert out.shape == (() if reduction == "sum" else (0,))
    assert float(out.detach().sum()) == 0.0
    out.sum().backward()  # an empty batch gives a zero (empty) gradient, not NaN
    binary = BinaryLabelSmoothingLoss(0.1, reduction=reduction)
    binary = binary(torch.zeros(0, 2), torch.zeros(0, 2))
    assert binary.shape == (() if reduction == "sum" else (0, 2))


def test_docstring_examples_run():
    result = doctest.testmod(graphls.losses)
    assert result.attempted > 0 and result.failed == 0


# -- BinaryLabelSmoothingLoss ---------------------------------------------------------------------

@pytest.mark.parametrize("one_sided", [False, True])
def test_binary_loss_equals_bce_on_smoothed_targets(one_sided):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = (torch.rand(6, 4, generator=g) < 0.5).double()
    eps = 0.2
    t = y * (1 - eps / 2) if one_sided else y * (1 - eps) + eps / 2
    ours = BinaryLabelSmoothingLoss(eps, one_sided=one_sided)(z, y)
    torch.testing.assert_close(ours, F.binary_cross_entropy_with_logits(z, t))
    if one_sided:  # negatives are not moved
        assert float(BinaryLabelSmoothingLoss(eps, True).smooth(torch.zeros(3)).abs().sum()) == 0


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("one_sided", "smoothed"), [(False, [0.9, 0.1]), (True, [0.9, 0.0])])
def test_binary_loss_on_hand_made_targets(reduction, one_sided, smoothed):
    # ε = 0.2: two-sided 1 -> 0.9, 0 -> 0.1; one-sided 1 -> 0.9, 0 stays 0
    y = torch.tensor([[1, 0, 1], [0, 0, 1]])
    hi, lo = smoothed
    target = torch.tensor([[hi, lo, hi], [lo, lo, hi]], dtype=torch.float64)
    pos_weight = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    z = _logits(2, 3, seed=3)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    loss = BinaryLabelSmoothingLoss(0.2, one_sided=one_sided, reduction=reduction,
                                    pos_weight=pos_weight)
    ours = loss(z1, y)
    ref = F.binary_cross_entropy_with_logits(z2, target, pos_weight=pos_weight,
                                             reduction=reduction)
    torch.testing.assert_close(ours, ref)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(z1.grad, z2.grad)


def test_binary_loss_accepts_one_dimensional_bool_targets_and_new_epsilon():
    z = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    y = torch.tensor([True, False, True])
    loss = BinaryLabelSmoothingLoss(0.0)
    torch.testing.assert_close(loss(z, y), F.binary_cross_entropy_with_logits(z, y.double()))
    loss.epsilon = 1.0  # every target becomes 1/2
    torch.testing.assert_close(loss(z, y),
                               F.binary_cross_entropy_with_logits(z, torch.full_like(z, 0.5)))
    assert "epsilon=1, one_sided=False" in repr(loss)


# -- EpsilonSchedule ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_endpoints_and_monotone(kind):
    s = EpsilonSchedule(kind, 0.4, 0.1, num_epochs=11)
    values = [s(e) for e in range(15)]
    assert values[0] == pytest.approx(0.4) and values[10] == pytest.approx(0.1)
    assert values[14] == pytest.approx(0.1)  # clamps after the last epoch
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(values))
    assert EpsilonSchedule("constant", 0.2, num_epochs=5)(3) == 0.2
    if kind == "cosine":
        assert values[5] == pytest.approx(0.25)  # halfway


def test_linear_schedule_values():
    s = EpsilonSchedule("linear", 0.0, 0.3, num_epochs=4)
    assert [s(e) for e in range(6)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.3, 0.3])


def test_cosine_schedule_follows_its_formula():
    s = EpsilonSchedule("cosine", 0.5, 0.1, num_epochs=7)
    for e in range(7):
        t = e / 6
        assert s(e) == pytest.approx(0.1 + 0.4 * (1 + math.cos(math.pi * t)) / 2)


@given(kind=st.sampled_from(["linear", "cosine"]), start=st.floats(0, 1), end=st.floats(0, 1),
       num_epochs=st.integers(1, 40))
def test_schedule_stays_between_its_endpoints_and_is_monotone(kind, start, end, num_epochs):
    s = EpsilonSchedule(kind, start, end, num_epochs=num_epochs)
    values = [s(e) for e in range(num_epochs + 3)]
    assert values[0] == start
    if num_epochs > 1:
        assert values[num_epochs - 1] == end
    assert all(min(start, end) - 1e-12 <= v <= max(start, end) + 1e-12 for v in values)
    assert all(0.0 <= v <= 1.0 for v in values)
    sign = 1 if end >= start else -1
    assert all(sign * (b - a) >= -1e-12 for a, b in itertools.pairwise(values))


def test_schedule_drives_the_loss_and_has_a_repr():
    s = EpsilonSchedule("linear", 0.4, 0.0, num_epochs=5)
    criterion = LabelSmoothingLoss(epsilon=s(0))
    seen = []
    for epoch in range(5):
        criterion.epsilon = s(epoch)
        seen.append(criterion.epsilon)
    assert seen == pytest.approx([0.4, 0.3, 0.2, 0.1, 0.0])
    assert repr(s) == ("EpsilonSchedule(kind='linear', epsilon_start=0.4, epsilon_end=0, "
                       "num_epochs=5)")
    assert EpsilonSchedule("constant", 0.2)(1000) == 0.2


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: LabelSmoothingLoss(1.5), ValueError, r"epsilon must be in \[0, 1\]; got 1.5"),
        (lambda: LabelSmoothingLoss(-0.1), ValueError, r"epsilon must be in \[0, 1\]; got -0.1"),
        (lambda: LabelSmoothingLoss(0.1, prior=torch.tensor([0.5, -0.1, 0.6])), ValueError,
         r"prior rows must be distributions .*negative entry"),
        (lambda: LabelSmoothingLoss(0.1, prior=torch.tensor([0.5, 0.1, 0.1])), ValueError,
         r"prior rows must be distributions .*summing to 0.7"),
        (lambda: LabelSmoothingLoss()(torch.zeros(3, 4), torch.zeros(2).long()), ValueError,
         r"logits and target must have the same number of rows; got \(3, 4\) and \(2,\)"),
        (lambda: LabelSmoothingLoss(prior=torch.full((3,), 1 / 3))(torch.zeros(2, 4),
                                                                   torch.zeros(2).long()),
         ValueError, r"prior must have 4 classes"),
        (lambda: LabelSmoothingLoss(reduction="avg"), ValueError,
         r"reduction must be one of 'mean', 'sum', 'none'; got 'avg'"),
        (lambda: LabelSmoothingLoss()(torch.zeros(3, 4), torch.zeros(3, 5)), ValueError,
         r"target probability rows must match logits"),
        (lambda: LabelSmoothingLoss()(torch.zeros(5, 3), torch.zeros(5)), TypeError,
         r"^target must hold int64 class indices \(N,\) or probability rows \(N, 3\); "
         r"got float32 of shape \(5,\); class labels: use y\.long\(\)$"),
        (lambda: LabelSmoothingLoss()(torch.zeros(5, 3), torch.zeros(5, 1)), TypeError,
         r"^target must hold int64 class indices \(N,\) or probability rows \(N, 3\); "
         r"got float32 of shape \(5, 1\); OGB labels: use y\.view\(-1\)\.long\(\)$"),
        (lambda: LabelSmoothingLoss()(torch.zeros(0, 3), torch.zeros(0).long()), ValueError,
         r"^logits must have at least one row for reduction='mean'; got shape \(0, 3\); the "
         r"mean over no nodes is NaN \(reduction='sum' gives 0, 'none' an empty tensor\)$"),
        (lambda: BinaryLabelSmoothingLoss()(torch.zeros(0, 2), torch.zeros(0, 2)), ValueError,
         r"^logits must have at least one entry for reduction='mean'; got shape \(0, 2\); "
         r"the mean over no entries is NaN \(reduction='sum' gives 0, 'none' an empty tensor\)$"),
        (lambda: LabelSmoothingLoss()(np.zeros((3, 4)), torch.zeros(3).long()), TypeError,
         r"^logits must be a torch\.Tensor \(float logits \(N, K\)\); got ndarray; "
         r"use torch\.as_tensor\(logits\)$"),
        (lambda: LabelSmoothingLoss()(torch.zeros(3, 4), [0, 1, 2]), TypeError,
         r"^target must be a torch\.Tensor \(int64 class indices \(N,\) or probability rows "
         r"\(N, K\)\); got list; use torch\.as_tensor\(target\)$"),
        (lambda: BinaryLabelSmoothingLoss()(torch.zeros(3), [0, 1, 1]), TypeError,
         r"^target must be a torch\.Tensor \(0/1 or \[0, 1\] targets shaped as logits\); "
         r"got list; use torch\.as_tensor\(target\)$"),
        (lambda: EpsilonSchedule("step", 0.1), ValueError, r"kind must be one of"),
        (lambda: LabelSmoothingLoss(prior=torch.full((2, 3), 1 / 3))(torch.zeros(4, 3),
                                                                     torch.zeros(4).long()),
         ValueError, r"prior must have one row per node \(4\), as logits; "
                     r"got shapes \(2, 3\) and \(4, 3\)"),
        (lambda: LabelSmoothingLoss(prior=torch.tensor([1, 0])), TypeError,
         r"prior must be a floating-point tensor; got dtype torch.int64"),
        (lambda: LabelSmoothingLoss(ignore_index=1.5), TypeError,
         r"ignore_index must be an integer; got float 1.5"),
        (lambda: LabelSmoothingLoss(prior=torch.full((2, 2, 2), 0.5)), ValueError,
         r"prior must be a class distribution \(K,\) or one row per node \(N, K\); "
         r"got shape \(2, 2, 2\)"),
        (lambda: BinaryLabelSmoothingLoss(1.5), ValueError,
         r"epsilon must be in \[0, 1\]; got 1.5"),
        (lambda: BinaryLabelSmoothingLoss(one_sided=1), TypeError,
         r"one_sided must be a bool; got int 1"),
        (lambda: BinaryLabelSmoothingLoss(pos_weight=torch.tensor([1.0, -2.0])), ValueError,
         r"pos_weight must be finite and >= 0; got \[1.0, -2.0\]"),
        (lambda: BinaryLabelSmoothingLoss()(torch.zeros(3, 2), torch.zeros(3)), ValueError,
         r"target and logits must have the same shape; got \(3,\) and \(3, 2\)"),
        (lambda: BinaryLabelSmoothingLoss()(torch.zeros(3), torch.tensor([0.0, 1.0, 2.0])),
         ValueError, r"target must hold values in \[0, 1\]; got 2"),
        (lambda: EpsilonSchedule("linear", 1.5, 0.0, num_epochs=3), ValueError,
         r"epsilon_start must be in \[0, 1\]; got 1.5"),
        (lambda: EpsilonSchedule("linear", 0.1, -0.1, num_epochs=3), ValueError,
         r"epsilon_end must be in \[0, 1\]; got -0.1"),
        (lambda: EpsilonSchedule("cosine", 0.1, 0.0), ValueError,
         r"num_epochs is required for kind='cosine'; got None"),
        (lambda: EpsilonSchedule("linear", 0.1, 0.0, num_epochs=0), ValueError,
         r"num_epochs must be an integer >= 1; got 0"),
        (lambda: EpsilonSchedule("constant", 0.1, 0.3), ValueError,
         r"epsilon_end must equal epsilon_start for kind='constant'; got 0.1 and 0.3"),
        (lambda: EpsilonSchedule("linear", 0.1, 0.0, num_epochs=3)(-1), ValueError,
         r"epoch must be an integer >= 0; got -1"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
