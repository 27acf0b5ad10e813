"""Label-smoothing losses against torch (float64) and by their defining properties."""

from __future__ import annotations

import itertools
import math

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

from graphls.functional import (
    label_smoothing_cross_entropy,
    neighbor_label_prior,
    smooth_targets,
    soft_cross_entropy,
)
from graphls.losses import BinaryLabelSmoothingLoss, EpsilonSchedule, LabelSmoothingLoss

EPSILONS = [0.0, 0.1, 0.5, 1.0]
REDUCTIONS = ["mean", "sum", "none"]


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


@given(n=st.integers(1, 12), k=st.integers(2, 8), eps=st.floats(0, 1), seed=st.integers(0, 99),
       per_node=st.booleans())
def test_smoothed_targets_are_distributions(n, k, eps, seed, per_node):
    _, y = _data(n, k, seed)
    prior = _random_prior((n, k) if per_node else (k,), seed)
    q = smooth_targets(y, k, eps, prior)
    assert q.shape == (n, k)
    assert bool((q >= 0).all())
    torch.testing.assert_close(q.sum(-1), torch.ones(n, dtype=q.dtype))
    expected = (1 - eps) * F.one_hot(y, k).double() + eps * prior.expand(n, k)
    torch.testing.assert_close(q, expected)


@given(n=st.integers(1, 10), k=st.integers(2, 7), eps=st.floats(0, 1), seed=st.integers(0, 99),
       shift=st.floats(-50, 50))
def test_adding_a_constant_to_a_row_changes_nothing(n, k, eps, seed, shift):
    z, y = _data(n, k, seed)
    moved = z.clone()
    moved[seed % n] += shift
    a = label_smoothing_cross_entropy(z, y, eps)
    b = label_smoothing_cross_entropy(moved, y, eps)
    torch.testing.assert_close(a, b)


@given(n=st.integers(1, 10), k=st.integers(2, 7), eps=st.floats(0, 1), seed=st.integers(0, 99),
       per_node=st.booleans())
def test_gradient_is_softmax_minus_target_over_n(n, k, eps, seed, per_node):
    z, y = _data(n, k, seed)
    prior = _random_prior((n, k) if per_node else (k,), seed + 1)
    z.requires_grad_()
    LabelSmoothingLoss(eps, prior=prior)(z, y).backward()
    q = smooth_targets(y, k, eps, prior)
    torch.testing.assert_close(z.grad, (z.detach().softmax(-1) - q) / n)


@given(n=st.integers(1, 10), k=st.integers(2, 7), seed=st.integers(0, 99))
def test_epsilon_zero_is_plain_cross_entropy(n, k, seed):
    z, y = _data(n, k, seed)
    torch.testing.assert_close(label_smoothing_cross_entropy(z, y, 0.0), F.cross_entropy(z, y))


@given(n=st.integers(1, 10), k=st.integers(2, 7), eps=st.floats(0, 1), seed=st.integers(0, 99),
       per_node=st.booleans())
def test_loss_is_mixture_of_cross_entropies(n, k, eps, seed, per_node):
    z, y = _data(n, k, seed)
    prior = _random_prior((n, k) if per_node else (k,), seed + 2)
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
    z, y = _data(9, 4, seed=3)
    for eps in EPSILONS:
        torch.testing.assert_close(
            label_smoothing_cross_entropy(z, F.one_hot(y, 4).double(), eps),
            label_smoothing_cross_entropy(z, y, eps))


def test_per_node_prior_with_ignored_rows_matches_dropping_them():
    z, y = _data(10, 3, seed=4, ignore=3)
    prior = _random_prior((10, 3), seed=5)
    keep = y != -100
    full = label_smoothing_cross_entropy(z, y, 0.4, prior)
    kept = label_smoothing_cross_entropy(z[keep], y[keep], 0.4, prior[keep])
    torch.testing.assert_close(full, kept)


# -- neighbour prior ---------------------------------------------------------------------------

def test_neighbor_prior_by_hand(two_triangles):
    # triangles {0,1,2}, {3,4,5}, bridge 2-3, isolated 6; train = {0, 1, 3}
    y = torch.tensor([0, 1, 2, 1, 2, 0, 2])
    train = torch.tensor([True, True, False, True, False, False, False])
    p = neighbor_label_prior(two_triangles, y, train, num_classes=3, dtype=torch.float64)
    expected = torch.tensor([
        [0, 1, 0],        # node 0: neighbours 1 (train, y=1), 2 (not train)
        [1, 0, 0],        # node 1: neighbour 0 (y=0)
        [1 / 3, 2 / 3, 0],  # node 2: neighbours 0 (y=0), 1 (y=1), 3 (y=1)
        [1 / 3] * 3,      # node 3: neighbours 2, 4, 5 are not training nodes -> uniform
        [0, 1, 0],        # node 4: neighbour 3 (y=1)
        [0, 1, 0],        # node 5: neighbour 3 (y=1)
        [1 / 3] * 3,      # node 6: isolated -> uniform
    ], dtype=torch.float64)
    torch.testing.assert_close(p, expected)


def test_neighbor_prior_two_hops(path_graph):
    # path 0-1-2-3, isolated 4; train = {0}: node 2 reaches 0 in two hops, node 3 does not
    y = torch.tensor([2, 0, 0, 0, 0])
    train = torch.tensor([True, False, False, False, False])
    p = neighbor_label_prior(path_graph, y, train, num_classes=3, hops=2, dtype=torch.float64)
    assert p[1].tolist() == [0, 0, 1] and p[2].tolist() == [0, 0, 1]
    torch.testing.assert_close(p[3], torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(p[0], torch.full((3,), 1 / 3, dtype=torch.float64))


@given(seed=st.integers(0, 500), n=st.integers(2, 25), e=st.integers(0, 60), k=st.integers(2, 5))
def test_neighbor_prior_reads_no_label_outside_train_mask(seed, n, e, k):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    train = torch.rand(n, generator=g) < 0.4
    other = y.clone()
    other[~train] = torch.randint(0, k, (int((~train).sum()),), generator=g)
    a = neighbor_label_prior(edge_index, y, train, k)
    b = neighbor_label_prior(edge_index, other, train, k)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.sum(-1), torch.ones(n))
    # nodes with no training in-neighbour get exactly the uniform prior
    has = torch.zeros(n, dtype=torch.bool)
    src, dst = edge_index
    has[dst[train[src] & (src != dst)]] = True
    torch.testing.assert_close(a[~has], torch.full_like(a[~has], 1 / k))


# -- binary and schedule -----------------------------------------------------------------------

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
        (lambda: label_smoothing_cross_entropy(torch.zeros(3, 4), torch.tensor([0, 1, 4])),
         ValueError, r"target must hold class indices in \[0, 4\); got 4"),
        (lambda: label_smoothing_cross_entropy(torch.zeros(3, 4), torch.zeros(3, 1).long()),
         ValueError, r"got shape \(3, 1\); OGB labels: use y.view\(-1\)"),
        (lambda: LabelSmoothingLoss()(torch.zeros(3, 4), torch.zeros(2).long()), ValueError,
         r"logits and target must have the same number of rows; got \(3, 4\) and \(2,\)"),
        (lambda: LabelSmoothingLoss(prior=torch.full((3,), 1 / 3))(torch.zeros(2, 4),
                                                                   torch.zeros(2).long()),
         ValueError, r"prior must have 4 classes"),
        (lambda: LabelSmoothingLoss(reduction="avg"), ValueError,
         r"reduction must be one of 'mean', 'sum', 'none'; got 'avg'"),
        (lambda: EpsilonSchedule("step", 0.1), ValueError, r"kind must be one of"),
        (lambda: neighbor_label_prior(torch.zeros(2, 0).long(), torch.zeros(3).long(),
                                      torch.ones(3, dtype=torch.bool), 2, hops=0),
         ValueError, r"hops must be an integer >= 1; got 0"),
        (lambda: LabelSmoothingLoss()(torch.zeros(3, 4), torch.zeros(3)), ValueError,
         r"target probability rows must match logits"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
