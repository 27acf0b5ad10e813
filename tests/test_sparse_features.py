"""Sparse bag-of-words features: same model outputs, dropout with dense dropout's distribution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphls.models import GAT, GCN, feature_dropout, sparse_features


def bag_of_words(n=40, f=60, density=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, f, generator=g) < density).double() * torch.rand(n, f, generator=g,
                                                                      dtype=torch.float64)
    src = torch.randint(0, n, (120,), generator=g)
    dst = torch.randint(0, n, (120,), generator=g)
    return x, torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])


def test_sparse_features_picks_the_layout_by_density():
    x, _ = bag_of_words(density=0.05)
    assert sparse_features(x).layout == torch.sparse_csr
    torch.testing.assert_close(sparse_features(x).to_dense(), x)
    dense = torch.ones(5, 4)
    assert sparse_features(dense) is dense
    assert sparse_features(x, max_density=0.01) is x


@pytest.mark.parametrize("model", ["gcn", "gat"])
@pytest.mark.parametrize("structural", [0.0, 0.6, 1.0])
def test_sparse_and_dense_features_give_the_same_output_and_gradients(model, structural):
    x, edge_index = bag_of_words()
    torch.manual_seed(0)
    net = (GCN(60, 8, 2, 3, structural=structural, dropout=0.5) if model == "gcn"
           else GAT(60, 4, 2, 3, heads=2, structural=structural, dropout=0.6)).double().eval()
    dense = net(x, edge_index)
    sparse = net(sparse_features(x), edge_index)
    torch.testing.assert_close(dense, sparse)
    grads = []
    for inp in (x, sparse_features(x)):
        net.zero_grad()
        net(inp, edge_index).pow(2).sum().backward()
        # (GAT's attention gets no gradient at λ = 0: it is not used)
        grads.append([None if p.grad is None else p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layout", ["csr", "coo"])
def test_sparse_dropout_keeps_zeros_and_scales_kept_values(layout):
    x, _ = bag_of_words(n=200, f=100, density=0.1)
    xs = x.to_sparse_csr() if layout == "csr" else x.to_sparse()
    p = 0.3
    torch.manual_seed(1)
    out = feature_dropout(xs, p, training=True).to_dense()
    assert bool((out[x == 0] == 0).all())  # no zero becomes non-zero
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    dropped = float(((x != 0) & ~kept).sum()) / float((x != 0).sum())
    assert abs(dropped - p) < 0.05  # ~2000 stored values
    assert feature_dropout(xs, p, training=False) is xs


def test_sparse_dropout_is_unbiased_like_dense_dropout():
    x, _ = bag_of_words(n=30, f=20, density=0.3)
    xs = x.to_sparse_csr()
    torch.manual_seed(2)
    mean = sum(feature_dropout(xs, 0.5, True).to_dense() for _ in range(4000)) / 4000
    torch.testing.assert_close(mean, x, atol=0.05, rtol=0.05)


def test_same_mask_gives_the_same_first_layer_as_dense_dropout():
    x, edge_index = bag_of_words()
    xs = x.to_sparse_csr()
    torch.manual_seed(3)
    dropped = feature_dropout(xs, 0.5, training=True)
    mask = dropped.to_dense() != 0
    dense_equivalent = x * mask / 0.5  # dense dropout with the same keep-mask
    net = GCN(60, 8, 1, 3, dropout=0.0).double().eval()
    torch.testing.assert_close(net(dropped, edge_index), net(dense_equivalent, edge_index))
    assert torch.equal(F.dropout(x, 0.0, True), x)
