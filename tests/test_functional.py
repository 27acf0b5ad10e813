"""graphls.functional against torch and brute force (float64), and by its properties.

Pinned here: random shapes against torch (value and gradient, every reduction,
ignored rows), probability-row targets against torch, the properties of the
smoothed targets and the loss (rows are distributions, shift invariance, a
mixture of two cross-entropies, the closed-form optimum), the ε/(K-1)
conversion, non-uniform stationary points and ignored rows of a per-node
prior. The modules over these functions are pinned in tests/test_losses.py;
the graph priors in tests/test_priors.py.
"""

from __future__ import annotations

import doctest
import math

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

import graphls.functional as functional
from graphls.functional import (
    label_smoothing_cross_entropy,
    smooth_targets,
    soft_cross_entropy,
)

REDUCTIONS = ["mean", "sum", "none"]


def _logits(n, k, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * scale


def _labels(n, k, seed, ignored=0):
    g = torch.Generator().manual_seed(seed + 1)
    y = torch.randint(0, k, (n,), generator=g)
    y[torch.randperm(n, generator=g)[:ignored]] = -100
    return y


def _dist(shape, seed):
    g = torch.Generator().manual_seed(seed + 2)
    p = torch.rand(*shape, generator=g, dtype=torch.float64) + 0.05
    return p / p.sum(-1, keepdim=True)


def _value_and_grad(fn, z, cotangent_seed=0):
    z = z.clone().requires_grad_()
    out = fn(z)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(cotangent_seed),
                    dtype=out.dtype)
    (out * w).sum().backward()
    return out.detach(), z.grad


# -- cross-entropy against torch -----------------------------------------------------------------

@given(n=st.integers(1, 15), k=st.integers(1, 9), seed=st.integers(0, 10_000),
       eps=st.sampled_from([0.0, 0.1, 0.5, 1.0]), reduction=st.sampled_from(REDUCTIONS),
       ignored_fraction=st.sampled_from([0.0, 0.3]))
def test_random_shapes_equal_torch_in_value_and_gradient(n, k, seed, eps, reduction,
                                                         ignored_fraction):
    z = _logits(n, k, seed)
    ignored = min(n - 1, int(ignored_fraction * n))  # keep one row so "mean" is defined
    y = _labels(n, k, seed, ignored)
    ours = _value_and_grad(
        lambda t: label_smoothing_cross_entropy(t, y, eps, reduction=reduction), z, seed)
    ref = _value_and_grad(
        lambda t: F.cross_entropy(t, y, label_smoothing=eps, reduction=reduction), z, seed)
    torch.testing.assert_close(ours, ref)
    if reduction == "none":
        assert bool((ours[0][y == -100] == 0).all())


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_probability_targets_equal_torch_in_value_and_gradient(eps, reduction):
    z = _logits(8, 5, seed=1)
    target = _dist((8, 5), seed=1)
    ours = _value_and_grad(
        lambda t: label_smoothing_cross_entropy(t, target, eps, reduction=reduction), z)
    ref = _value_and_grad(
        lambda t: F.cross_entropy(t, target, label_smoothing=eps, reduction=reduction), z)
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_cross_entropy_equals_torch(reduction):
    z, q = _logits(6, 4, seed=2), _dist((6, 4), seed=2)
    ours = _value_and_grad(lambda t: soft_cross_entropy(t, q, reduction=reduction), z)
    ref = _value_and_grad(lambda t: F.cross_entropy(t, q, reduction=reduction), z)
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("prior_shape", ["class", "node"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_prior_loss_equals_soft_cross_entropy_of_smoothed_targets(prior_shape, reduction):
    n, k, eps = 9, 4, 0.3
    z, y = _logits(n, k, seed=3), _labels(n, k, seed=3)
    prior = _dist((k,) if prior_shape == "class" else (n, k), seed=3)
    q = smooth_targets(y, k, eps, prior)
    ours = _value_and_grad(
        lambda t: label_smoothing_cross_entropy(t, y, eps, prior, reduction=reduction), z)
    ref = _value_and_grad(lambda t: soft_cross_entropy(t, q, reduction=reduction), z)
    torch.testing.assert_close(ours, ref)


@given(n=st.integers(1, 8), k=st.integers(2, 6), seed=st.integers(0, 10_000),
       eps=st.floats(0.01, 0.99), per_node=st.booleans())
def test_log_of_smoothed_target_is_the_minimiser_for_any_prior(n, k, seed, eps, per_node):
    y = _labels(n, k, seed)
    prior = _dist((n, k) if per_node else (k,), seed)
    z = smooth_targets(y, k, eps, prior).log().requires_grad_()
    label_smoothing_cross_entropy(z, y, eps, prior).backward()
    torch.testing.assert_close(z.grad, torch.zeros_like(z), atol=1e-12, rtol=0)


def test_ignored_rows_of_a_per_node_prior_may_hold_anything():
    z, y = _logits(5, 3, seed=4), torch.tensor([0, -100, 2, -100, 1])
    prior = _dist((5, 3), seed=4)
    prior[1] = float("nan")
    prior[3] = torch.tensor([-1.0, 5.0, 0.0], dtype=torch.float64)
    keep = y != -100
    value, grad = _value_and_grad(lambda t: label_smoothing_cross_entropy(t, y, 0.5, prior), z)
    ref = label_smoothing_cross_entropy(z[keep], y[keep], 0.5, prior[keep])
    torch.testing.assert_close(value, ref)
    assert bool(torch.isfinite(grad).all())
    assert bool((grad[~keep] == 0).all())


def test_per_node_prior_with_ignored_rows_matches_dropping_them():
    z, y = _logits(10, 3, seed=4), _labels(10, 3, seed=4, ignored=3)
    prior = _dist((10, 3), seed=5)
    keep = y != -100
    full = label_smoothing_cross_entropy(z, y, 0.4, prior)
    kept = label_smoothing_cross_entropy(z[keep], y[keep], 0.4, prior[keep])
    torch.testing.assert_close(full, kept)


@given(n=st.integers(1, 10), k=st.integers(2, 7), eps=st.floats(0, 1), seed=st.integers(0, 99),
       shift=st.floats(-50, 50))
def test_adding_a_constant_to_a_row_changes_nothing(n, k, eps, seed, shift):
    z, y = _logits(n, k, seed), _labels(n, k, seed)
    moved = z.clone()
    moved[seed % n] += shift
    a = label_smoothing_cross_entropy(z, y, eps)
    b = label_smoothing_cross_entropy(moved, y, eps)
    torch.testing.assert_close(a, b)


@given(n=st.integers(1, 10), k=st.integers(2, 7), seed=st.integers(0, 99))
def test_epsilon_zero_is_plain_cross_entropy(n, k, seed):
    z, y = _logits(n, k, seed), _labels(n, k, seed)
    torch.testing.assert_close(label_smoothing_cross_entropy(z, y, 0.0), F.cross_entropy(z, y))


@given(n=st.integers(1, 10), k=st.integers(2, 7), eps=st.floats(0, 1), seed=st.integers(0, 99),
       per_node=st.booleans())
def test_loss_is_mixture_of_cross_entropies(n, k, eps, seed, per_node):
    z, y = _logits(n, k, seed), _labels(n, k, seed)
    prior = _dist((n, k) if per_node else (k,), seed + 2)
    ce_y = F.cross_entropy(z, y)
    ce_prior = soft_cross_entropy(z, prior.expand(n, k))
    torch.testing.assert_close(label_smoothing_cross_entropy(z, y, eps, prior),
                               (1 - eps) * ce_y + eps * ce_prior)


@pytest.mark.parametrize("k", [2, 7])
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_optimal_logits_have_the_finite_closed_form_gap(k, eps):
    y = torch.tensor([0])
    q = (1 - eps) * F.one_hot(y, k).double() + eps / k
    torch.testing.assert_close(smooth_targets(y, k, eps), q.float())
    z = q.log().clone().requires_grad_()  # softmax(log q) = q: a stationary point
    label_smoothing_cross_entropy(z, y, eps).backward()
    torch.testing.assert_close(z.grad, torch.zeros_like(z), atol=1e-12, rtol=0)
    gap = float(z[0, 0].detach() - z[0, 1].detach())
    assert gap == pytest.approx(math.log((1 - eps + eps / k) / (eps / k)))


def test_probability_targets_match_index_targets_when_one_hot():
    z, y = _logits(9, 4, seed=3), _labels(9, 4, seed=3)
    for eps in [0.0, 0.1, 0.5, 1.0]:
        torch.testing.assert_close(
            label_smoothing_cross_entropy(z, F.one_hot(y, 4).double(), eps),
            label_smoothing_cross_entropy(z, y, eps))


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_empty_input_sums_to_zero_or_stays_empty(reduction):
    z, y, q = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0, 4)
    for out in (label_smoothing_cross_entropy(z, y, 0.1, reduction=reduction),
                label_smoothing_cross_entropy(z, q, 0.1, reduction=reduction),
                soft_cross_entropy(z, q, reduction=reduction)):
        assert out.shape == (() if reduction == "sum" else (0,))
        assert float(out.sum()) == 0.0


def test_docstring_examples_run():
    result = doctest.testmod(functional)
    assert result.attempted > 0 and result.failed == 0


# -- smoothed targets ------------------------------------------------------------------------------

@given(n=st.integers(1, 12), k=st.integers(2, 8), eps=st.floats(0, 1), seed=st.integers(0, 99),
       per_node=st.booleans())
def test_smoothed_targets_are_distributions(n, k, eps, seed, per_node):
    y = _labels(n, k, seed)
    prior = _dist((n, k) if per_node else (k,), seed)
    q = smooth_targets(y, k, eps, prior)
    assert q.shape == (n, k)
    assert bool((q >= 0).all())
    torch.testing.assert_close(q.sum(-1), torch.ones(n, dtype=q.dtype))
    expected = (1 - eps) * F.one_hot(y, k).double() + eps * prior.expand(n, k)
    torch.testing.assert_close(q, expected)


def test_probability_rows_are_smoothed_towards_the_prior():
    target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    prior = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    q = smooth_targets(target, 3, 0.4, prior)
    expected = torch.tensor([[0.38, 0.42, 0.20], [0.08, 0.12, 0.80]], dtype=torch.float64)
    torch.testing.assert_close(q, expected)


@pytest.mark.parametrize("k", [2, 5])
def test_the_k_minus_one_convention_by_conversion(k):
    # ε' spread over the K-1 wrong classes only equals ε = ε' K / (K - 1) in torch's convention
    eps_alt = 0.2
    q = smooth_targets(torch.tensor([1]), k, eps_alt * k / (k - 1))
    expected = torch.full((1, k), eps_alt / (k - 1))
    expected[0, 1] = 1 - eps_alt
    torch.testing.assert_close(q, expected)


# -- bad input ---------------------------------------------------------------------------------

_Z = torch.zeros(3, 4)
_Y = torch.tensor([0, 1, 2])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: label_smoothing_cross_entropy(_Z, _Y, 0.1, torch.full((2, 4), 0.25)),
         ValueError, r"prior must have one row per node \(3\), as logits; "
                     r"got shapes \(2, 4\) and \(3, 4\)"),
        (lambda: label_smoothing_cross_entropy(_Z, _Y, 0.1, torch.full((1, 3, 4), 0.25)),
         ValueError, r"prior must be a class distribution \(K,\) or one row per node \(N, K\); "
                     r"got shape \(1, 3, 4\)"),
        (lambda: label_smoothing_cross_entropy(_Z, _Y, 0.1, torch.tensor([0.5, 0.5, 0.5, 0.5])),
         ValueError, r"prior rows must be distributions .*summing to 2"),
        (lambda: label_smoothing_cross_entropy(_Z, _Y, 0.1, torch.full((3,), 1 / 3)),
         ValueError, r"prior must have 4 classes, as logits; got shapes \(3,\) and \(3, 4\)"),
        (lambda: label_smoothing_cross_entropy(torch.zeros(3, 4), torch.tensor([0, 1, 4])),
         ValueError, r"target must hold class indices in \[0, 4\); got 4"),
        (lambda: label_smoothing_cross_entropy(torch.zeros(3, 4), torch.zeros(3, 1).long()),
         ValueError, r"got shape \(3, 1\); OGB labels: use y.view\(-1\)"),
        (lambda: label_smoothing_cross_entropy(_Z, _Y, float("nan")), ValueError,
         r"epsilon must be in \[0, 1\]; got nan"),
        (lambda: label_smoothing_cross_entropy(_Z, torch.zeros(3, 5)), ValueError,
         r"target probability rows must match logits \(num_nodes, num_classes\); "
         r"got shapes \(3, 5\) and \(3, 4\)"),
        (lambda: label_smoothing_cross_entropy(_Z, _Y.float()), TypeError,
         r"^target must hold int64 class indices \(N,\) or probability rows \(N, 4\); "
         r"got float32 of shape \(3,\); class labels: use y\.long\(\)$"),
        (lambda: smooth_targets(_Y.double(), 3, 0.1), TypeError,
         r"^target must hold int64 class indices \(N,\) or probability rows \(N, 3\); "
         r"got float64 of shape \(3,\); class labels: use y\.long\(\)$"),
        (lambda: smooth_targets(torch.zeros(2, 2, 3), 3, 0.1), TypeError,
         r"^target must hold int64 class indices \(N,\) or probability rows \(N, 3\); "
         r"got float32 of shape \(2, 2, 3\)$"),
        (lambda: soft_cross_entropy(_Z, _Y), TypeError,
         r"^target_probs must be probability rows \(N, K\); got int64 of shape \(3,\); "
         r"class indices: use label_smoothing_cross_entropy\(logits, target, epsilon\)$"),
        (lambda: label_smoothing_cross_entropy(torch.zeros(0, 4), torch.zeros(0).long()),
         ValueError, r"^logits must have at least one row for reduction='mean'; got shape "
                     r"\(0, 4\); the mean over no nodes is NaN"),
        (lambda: soft_cross_entropy(torch.zeros(0, 4), torch.zeros(0, 4)), ValueError,
         r"^logits must have at least one row for reduction='mean'; got shape \(0, 4\)"),
        (lambda: label_smoothing_cross_entropy(_Z.numpy(), _Y), TypeError,
         r"^logits must be a torch\.Tensor \(float logits \(N, K\)\); got ndarray; "
         r"use torch\.as_tensor\(logits\)$"),
        (lambda: soft_cross_entropy(_Z, torch.zeros(3, 5)), ValueError,
         r"target_probs probability rows must match logits"),
        (lambda: soft_cross_entropy(_Z, torch.zeros(3, 4), reduction="mean()"), ValueError,
         r"reduction must be one of 'mean', 'sum', 'none'; got 'mean\(\)'"),
        (lambda: smooth_targets(torch.full((2, 3), 1 / 3), 4, 0.1), ValueError,
         r"target must be class indices \(N,\) or probability rows \(N, 4\); got shape \(2, 3\)"),
        (lambda: smooth_targets(_Y, 0, 0.1), ValueError,
         r"num_classes must be an integer >= 1; got 0"),
        (lambda: smooth_targets(_Y, 3, 0.1, torch.tensor([1.2, -0.2, 0.0])), ValueError,
         r"prior rows must be distributions .*negative entry -0.2"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
