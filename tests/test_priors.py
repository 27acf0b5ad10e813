"""graphls.priors against brute force (float64), by hand and by its guarantees.

Pinned here: ``neighbor_label_prior`` by hand and against a dense reachability
reference for every ``hops`` (chunked or not), its edge direction, and its
leakage guarantee; ``posterior_label_prior`` (PosteL) against a node-by-node
numpy reference, its leakage guarantee, its high-degree rows and its one-hot
fallback; and every bad-input message of both.
"""

from __future__ import annotations

import doctest

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

import graphls.priors as priors
from graphls.priors import neighbor_label_prior

# -- neighbour prior ------------------------------------------------------------------------------

def _dense_reference(edge_index, y, train, k, hops, add_self):
    """Distinct training nodes j != i with a directed path j -> i of <= hops edges."""
    n = y.numel()
    adj = torch.zeros(n, n, dtype=torch.float64)
    for s, d in edge_index.t().tolist():
        if s != d:
            adj[d, s] = 1.0
    reach = torch.eye(n, dtype=torch.float64)
    for _ in range(hops):
        reach = ((reach + adj @ reach) > 0).double()
    reach.fill_diagonal_(0.0)
    if add_self:
        reach += torch.diag(train.double())
    reach *= train.double()  # only training sources
    counts = reach @ F.one_hot(y.clamp(0, k - 1), k).double()
    total = counts.sum(-1, keepdim=True)
    return torch.where(total > 0, counts / total.clamp_min(1), torch.full_like(counts, 1 / k))


@given(seed=st.integers(0, 10_000), n=st.integers(1, 20), e=st.integers(0, 50),
       k=st.integers(1, 4), hops=st.integers(1, 3), add_self=st.booleans(),
       chunk=st.sampled_from([1, 3, 1 << 18]))
def test_neighbor_prior_equals_dense_reachability(seed, n, e, k, hops, add_self, chunk):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    train = torch.rand(n, generator=g) < 0.5
    old = priors._PAIRS_PER_CHUNK
    priors._PAIRS_PER_CHUNK = chunk  # exercise the chunked path on tiny graphs
    try:
        p = neighbor_label_prior(edge_index, y, train, k, hops=hops, add_self=add_self,
                                 dtype=torch.float64)
    finally:
        priors._PAIRS_PER_CHUNK = old
    torch.testing.assert_close(p, _dense_reference(edge_index, y, train, k, hops, add_self))


@given(seed=st.integers(0, 10_000), n=st.integers(2, 20), e=st.integers(0, 50),
       hops=st.integers(1, 3), add_self=st.booleans())
def test_neighbor_prior_ignores_every_label_outside_the_mask(seed, n, e, hops, add_self):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    train = torch.rand(n, generator=g) < 0.5
    other = y.clone()
    # any relabelling, even values that are not classes (-1, 99), outside the mask
    other[~train] = torch.tensor([-1, 99, 2, 0])[torch.randint(0, 4, (n,), generator=g)][~train]
    a = neighbor_label_prior(edge_index, y, train, 3, hops=hops, add_self=add_self)
    b = neighbor_label_prior(edge_index, other, train, 3, hops=hops, add_self=add_self)
    assert torch.equal(a, b)


def test_one_hop_by_hand(two_triangles):
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


def test_two_hops_on_a_path_by_hand(path_graph):
    # path 0-1-2-3, isolated 4; train = {0}: node 2 reaches 0 in two hops, node 3 does not
    y = torch.tensor([2, 0, 0, 0, 0])
    train = torch.tensor([True, False, False, False, False])
    p = neighbor_label_prior(path_graph, y, train, num_classes=3, hops=2, dtype=torch.float64)
    assert p[1].tolist() == [0, 0, 1] and p[2].tolist() == [0, 0, 1]
    torch.testing.assert_close(p[3], torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(p[0], torch.full((3,), 1 / 3, dtype=torch.float64))


@given(seed=st.integers(0, 500), n=st.integers(2, 25), e=st.integers(0, 60), k=st.integers(2, 5))
def test_neighbor_prior_is_uniform_without_training_neighbours(seed, n, e, k):
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


def test_two_hops_by_hand(two_triangles):
    # triangles {0,1,2}, {3,4,5}, bridge 2-3, isolated 6; train = {0, 1, 3}
    y = torch.tensor([0, 1, 2, 1, 2, 0, 2])
    train = torch.tensor([True, True, False, True, False, False, False])
    p = neighbor_label_prior(two_triangles, y, train, 3, hops=2, dtype=torch.float64)
    third = 1 / 3
    expected = torch.tensor([
        [0, 1, 0],          # 0: within 2 hops 1, 2, 3 -> training 1 (y=1), 3 (y=1)
        [0.5, 0.5, 0],      # 1: 0, 2, 3 -> training 0 (y=0), 3 (y=1)
        [third, 2 * third, 0],  # 2: 0, 1, 3, 4, 5 -> 0 (y=0), 1 (y=1), 3 (y=1)
        [0.5, 0.5, 0],      # 3: 2, 4, 5, 0, 1 -> 0 (y=0), 1 (y=1)
        [0, 1, 0],          # 4: 3, 5, 2 -> 3 (y=1)
        [0, 1, 0],          # 5: 3, 4, 2 -> 3 (y=1)
        [third] * 3,        # 6: isolated -> uniform
    ], dtype=torch.float64)
    torch.testing.assert_close(p, expected)
    with_self = neighbor_label_prior(two_triangles, y, train, 3, hops=2, add_self=True,
                                     dtype=torch.float64)
    torch.testing.assert_close(with_self[0], torch.tensor([1 / 3, 2 / 3, 0], dtype=torch.float64))
    torch.testing.assert_close(with_self[2], expected[2])  # not a training node: unchanged


def test_neighbours_are_the_sources_of_incoming_edges_each_counted_once():
    # 0 -> 2 twice, 1 -> 2, 2 -> 3, a self-loop on 1; all but 3 train
    edge_index = torch.tensor([[0, 0, 1, 2, 1], [2, 2, 2, 3, 1]])
    y = torch.tensor([0, 1, 1, 0])
    train = torch.tensor([True, True, True, False])
    p = neighbor_label_prior(edge_index, y, train, 2, dtype=torch.float64)
    expected = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.0, 1.0]],
                            dtype=torch.float64)
    torch.testing.assert_close(p, expected)  # 0, 1: no incoming edge (loop ignored) -> uniform


def test_neighbor_prior_dtype_follows_the_default_or_the_argument(path_graph):
    y = torch.zeros(5, dtype=torch.long)
    train = torch.ones(5, dtype=torch.bool)
    assert neighbor_label_prior(path_graph, y, train, 2).dtype == torch.get_default_dtype()
    assert neighbor_label_prior(path_graph, y, train, 2, dtype=torch.float64).dtype == \
        torch.float64


# -- bad input ---------------------------------------------------------------------------------

_Y = torch.tensor([0, 1, 2])
_EDGES = torch.tensor([[0, 1], [1, 2]])
_TRAIN = torch.ones(3, dtype=torch.bool)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: neighbor_label_prior(torch.zeros(2, 0).long(), torch.zeros(3).long(),
                                      torch.ones(3, dtype=torch.bool), 2, hops=0),
         ValueError, r"hops must be an integer >= 1; got 0"),
        (lambda: neighbor_label_prior(torch.tensor([0, 1]), _Y, _TRAIN, 3), ValueError,
         r"edge_index must have shape \(2, num_edges\); got shape \(2,\)"),
        (lambda: neighbor_label_prior(torch.tensor([[0], [3]]), _Y, _TRAIN, 3), ValueError,
         r"edge_index must hold node indices in \[0, 3\) \(y has 3 nodes\); got 3"),
        (lambda: neighbor_label_prior(_EDGES.float(), _Y, _TRAIN, 3), TypeError,
         r"edge_index must be an integer tensor; got dtype torch.float32"),
        (lambda: neighbor_label_prior(_EDGES, _Y, torch.ones(3), 3), TypeError,
         r"train_mask must be a boolean tensor; got dtype torch.float32"),
        (lambda: neighbor_label_prior(_EDGES, _Y, torch.ones(4, dtype=torch.bool), 3),
         ValueError, r"y and train_mask must have the same number of rows; got \(3,\) and \(4,\)"),
        (lambda: neighbor_label_prior(_EDGES, torch.tensor([0, 5, 1]), _TRAIN, 3), ValueError,
         r"y must hold class indices in \[0, 3\); got 5"),
        (lambda: neighbor_label_prior(_EDGES, _Y.view(3, 1), _TRAIN, 3), ValueError,
         r"y must be 1-D .*OGB labels: use y.view\(-1\)"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_docstring_examples_run():
    result = doctest.testmod(priors)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------
# posterior_label_prior (PosteL)
# ---------------------------------------------------------------------------

def _posterior_reference(edge_index, y, train_mask, k, pseudo=None):
    """PosteL's posterior written out node by node in numpy float64 (no vectorisation)."""
    import numpy as np

    n = len(y)
    known = {i: int(y[i]) for i in range(n) if train_mask[i]}
    if pseudo is not None:
        known.update({i: int(pseudo[i]) for i in range(n)
                      if not train_mask[i] and pseudo[i] >= 0})
    counts = np.zeros((n, k))
    for s, d in edge_index.T.tolist():
        if d in known:
            counts[s, known[d]] += 1
    lik = np.zeros((k, k))
    for i in range(n):
        if train_mask[i]:
            lik[int(y[i])] += counts[i]
    for c in range(k):
        lik[c] = lik[c] / lik[c].sum() if lik[c].sum() > 0 else np.full(k, 1.0 / k)
    prior = np.bincount(list(known.values()), minlength=k) / len(known)
    out = np.zeros((n, k))
    for i in range(n):
        log_p = np.full(k, -np.inf)
        for c in range(k):
            if prior[c] == 0 or any(counts[i, j] > 0 and lik[c, j] == 0 for j in range(k)):
                continue
            log_p[c] = np.log(prior[c]) + sum(counts[i, j] * np.log(lik[c, j])
                                             for j in range(k) if counts[i, j] > 0)
        if counts[i].sum() == 0 or np.all(np.isinf(log_p)):
            out[i] = np.eye(k)[int(y[i])] if train_mask[i] else prior
        else:
            out[i] = np.exp(log_p - log_p.max())
            out[i] /= out[i].sum()
    return torch.tensor(out)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 14), e=st.integers(0, 40),
       k=st.integers(2, 4), with_pseudo=st.booleans())
def test_posterior_prior_equals_a_node_by_node_reference(seed, n, e, k, with_pseudo):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    train = torch.rand(n, generator=g) < 0.6
    pseudo = torch.randint(-1, k, (n,), generator=g) if with_pseudo else None
    if not train.any():
        with pytest.raises(ValueError, match="train_mask must select at least one node"):
            priors.posterior_label_prior(edge_index, y, train, k)
        return
    ours = priors.posterior_label_prior(edge_index, y, train, k, pseudo_labels=pseudo,
                                        dtype=torch.float64)
    torch.testing.assert_close(ours, _posterior_reference(edge_index, y, train, k, pseudo),
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.sum(-1), torch.ones(n, dtype=torch.float64))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 14), e=st.integers(0, 40))
def test_posterior_prior_reads_no_label_outside_the_training_mask(seed, n, e):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    train = torch.rand(n, generator=g) < 0.5
    train[0] = True  # a posterior needs one training node
    scrambled = torch.where(train, y, torch.randint(0, 3, (n,), generator=g))
    torch.testing.assert_close(priors.posterior_label_prior(edge_index, y, train, 3),
                               priors.posterior_label_prior(edge_index, scrambled, train, 3))


def test_posterior_prior_keeps_high_degree_rows_and_falls_back_to_one_hot():
    """A hub with 3,000 labelled neighbours: subtracting one global maximum (PosteL's
    code) underflows its row to 0/0; per-row normalisation keeps it a proper posterior.
    A training node without labelled neighbours gets its own one-hot label."""
    g = torch.Generator().manual_seed(0)
    n = 3002
    y = (torch.rand(n, generator=g) < 0.5).long()
    y[0], y[n - 1] = 0, 1
    leaves = torch.arange(1, n - 1)
    src = torch.randint(1, n - 1, (6000,), generator=g)
    dst = torch.randint(1, n - 1, (6000,), generator=g)
    hub = torch.zeros(n - 2, dtype=torch.long)
    edge_index = torch.cat([torch.stack([hub, leaves]), torch.stack([leaves, hub]),
                            torch.stack([src, dst]), torch.stack([dst, src])], 1)
    train = torch.ones(n, dtype=torch.bool)  # node n - 1 is isolated
    p = priors.posterior_label_prior(edge_index, y, train, 2, dtype=torch.float64)
    ref = _posterior_reference(edge_index, y, train, 2)
    torch.testing.assert_close(p, ref, rtol=1e-9, atol=1e-12)
    assert float(p[0].min()) > 0.0  # a real posterior, not a one-hot fallback
    torch.testing.assert_close(p[n - 1], torch.tensor([0.0, 1.0], dtype=torch.float64))
    # the global-maximum version of the public code loses the hub's row
    counts = torch.zeros(n, 2, dtype=torch.float64).index_add_(
        0, edge_index[0], F.one_hot(y[edge_index[1]], 2).double())
    lik = torch.zeros(2, 2, dtype=torch.float64).index_add_(0, y, counts)
    log_post = counts @ (lik / lik.sum(1, keepdim=True)).log().T
    global_max = (log_post - log_post.max()).exp()
    assert float(global_max[0].sum()) == 0.0  # 0/0 there: PosteL falls back to one-hot


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"num_classes": 1}, ValueError, r"num_classes must be an integer >= 2; got 1"),
    ({"pseudo_labels": torch.tensor([0, 5, 0])}, ValueError,
     r"pseudo_labels must be < num_classes \(2\) or negative \(unknown\); got 5"),
    ({"pseudo_labels": torch.tensor([0, 1])}, ValueError, r"pseudo_labels"),
])
def test_posterior_prior_rejects_bad_input(kwargs, error, match):
    args = {"edge_index": torch.tensor([[0, 1], [1, 2]]), "y": torch.tensor([0, 1, 0]),
            "train_mask": torch.tensor([True, False, True]), "num_classes": 2, **kwargs}
    with pytest.raises(error, match=match):
        priors.posterior_label_prior(**args)
