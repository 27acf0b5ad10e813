"""The stacked GAT over a cone: only the read rows, the same numbers as the whole pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from engine_data import (
    SPLITS,
    synthetic,
)
from torch_geometric.data import Data

from graphls.config import TrainConfig
from graphls.engine.graph import MemberSparseMM, SparseFeatures, prepare_graph
from graphls.engine.members import Members
from graphls.models import GCN, value_dropout


def ring(n: int = 90, f: int = 30, k: int = 3, density: float = 0.08, seed: int = 0,
         dtype: torch.dtype = torch.float64) -> Data:
    """A ring with a few chords (repeated edges too): a few layers reach a part of it only."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = (torch.rand(n, f, generator=g) < density).to(dtype)
    x[torch.arange(n), y * (f // k)] = 1.0
    src = torch.cat([torch.arange(n), torch.randint(0, n, (n // 10,), generator=g)])
    dst = torch.cat([(torch.arange(n) + 1) % n, torch.randint(0, n, (n // 10,), generator=g)])
    edge_index = torch.stack([torch.cat([src, dst, src[:3]]), torch.cat([dst, src, dst[:3]])])
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    for m, start in zip(masks, (0, 1, 2), strict=True):
        m[start::9] = True
    return Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2])


def gat(**kwargs) -> TrainConfig:
    return TrainConfig.for_model("gat", **{"hidden": 4, "heads": 2, **kwargs})


def states(members: Members) -> list[torch.Tensor]:
    return [g.get_state() for g in members.generators]


def restore(members: Members, saved: list[torch.Tensor]) -> None:
    for g, s in zip(members.generators, saved, strict=True):
        g.set_state(s)


@pytest.mark.parametrize(("density", "extra"), [
    (0.06, {}),
    (0.06, {"layers": 3, "learn_structural": True}),
    (0.5, {"layers": 3, "structural": (1.0, 0.0, 0.6)}),  # dense features, a λ = 0 layer
])
def test_cone_pass_equals_the_whole_pass_at_the_rows(float64, density, extra):
    data = ring(density=density)
    graph = prepare_graph(data, torch.device("cpu"), SPLITS)
    configs = [gat(seed=s, dropout=p, **extra) for s, p in ((0, 0.6), (1, 0.3), (2, 0.0))]
    members = Members(graph, configs)
    for name in ("train", "val"):
        rows = graph.masks[name]
        cone = graph.cone(members.num_layers, rows)
        assert cone.sizes[-1] == int(rows.sum()) and cone.sizes[0] < graph.x.size(0)
        # the eval pass: no dropout
        with torch.no_grad():
            torch.testing.assert_close(members.forward(False, rows=rows),
                                       members.forward(False)[rows], rtol=1e-13, atol=1e-14)
        # the training pass: the same dropout draws, the same gradients of every parameter
        saved = states(members)
        weights = torch.randn(int(rows.sum()), len(configs), graph.num_classes, dtype=torch.float64)
        outputs, grads = [], []
        for out_rows in (rows, None):
            restore(members, saved)
            out = members.forward(True, rows=out_rows)
            out = out if out_rows is not None else out[rows]
            outputs.append(out)
            grads.append(torch.autograd.grad((out * weights).sum(), members.parameters(),
                                             allow_unused=True))
        torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-13, atol=1e-14)
        for mine, whole in zip(*grads, strict=True):
            if whole is None:
                assert mine is None
            else:
                torch.testing.assert_close(mine, whole, rtol=1e-12, atol=1e-14)


def test_cone_numbers_each_layer_as_a_prefix(float64):
    data = ring()
    graph = prepare_graph(data, torch.device("cpu"), SPLITS)
    rows = graph.masks["val"]
    cone = graph.cone(2, rows)
    assert cone.nodes is not None
    # the rows first, in node order
    assert torch.equal(cone.nodes[:cone.sizes[-1]], rows.nonzero().view(-1))
    full = graph.attention_pattern()
    for layer, pattern in enumerate(cone.patterns):
        assert pattern.n == cone.sizes[layer] and pattern.targets == cone.sizes[layer + 1]
        # every edge into a target of this layer, and no other
        targets = torch.zeros(full.n, dtype=torch.bool)
        targets[cone.nodes[:pattern.targets]] = True
        into = targets[full.dst]
        assert pattern.src.numel() == int(into.sum())
        mine = set(zip(cone.nodes[pattern.src].tolist(), cone.nodes[pattern.dst].tolist(),
                       pattern.order.tolist(), strict=True))
        theirs = set(zip(full.src[into].tolist(), full.dst[into].tolist(),
                         full.order[into].tolist(), strict=True))
        assert mine == theirs
    assert graph.cone(2, rows) is cone  # built once per mask
    # a mask with no row: the whole graph, then the (empty) selection
    empty = torch.zeros_like(rows)
    members = Members(graph, [gat()])
    with torch.no_grad():
        assert members.forward(False, rows=empty).shape == (0, 1, graph.num_classes)


def test_sparse_first_layer_equals_dense_product_with_the_same_mask(float64):
    data = synthetic()
    x = data.x
    sx = SparseFeatures.from_csr(x.to_sparse_csr())
    torch.testing.assert_close(sx.csr_t(sx.values).to_dense(), x.t())
    g = torch.Generator().manual_seed(0)
    values = torch.stack([value_dropout(sx.values, p, g) for p in (0.5, 0.0, 0.2)])
    w = torch.randn(3, x.size(1), 4, generator=g, requires_grad=True)
    out = MemberSparseMM.apply(w, values, sx)
    w_ref = w.detach().clone().requires_grad_()
    dense = [sx.csr(values[b]).to_dense() for b in range(3)]
    ref = torch.stack([dense[b] @ w_ref[b] for b in range(3)], 1)
    torch.testing.assert_close(out, ref)
    upstream = torch.randn(out.shape, generator=g)
    (out * upstream).sum().backward()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(w.grad, w_ref.grad)
    for b, p in enumerate((0.5, 0.0, 0.2)):  # zeros stay zero; kept values scaled by 1/(1-p)
        kept = dense[b] != 0
        assert bool((dense[b][x == 0] == 0).all())
        torch.testing.assert_close(dense[b][kept], x[kept] / (1 - p))


def test_value_dropout_draws_from_the_given_generator_like_the_global_one():
    v = torch.rand(1000)
    torch.manual_seed(7)
    global_draw = value_dropout(v, 0.3)
    ours = value_dropout(v, 0.3, torch.Generator().manual_seed(7))
    assert torch.equal(global_draw, ours)
    kept = ours != 0
    assert 0.6 < float(kept.float().mean()) < 0.8
    torch.testing.assert_close(ours[kept], v[kept] / 0.7)
    assert value_dropout(v, 0.0, None) is v
    # unbiased: E[dropout(v)] = v
    g = torch.Generator().manual_seed(1)
    mean = torch.stack([value_dropout(v[:50], 0.5, g) for _ in range(4000)]).mean(0)
    torch.testing.assert_close(mean, v[:50], atol=0.06, rtol=0.06)


def test_members_share_one_propagation_over_concatenated_channels(float64):
    """λ mix per member: a λ = 0 member ignores the graph, a λ = 1 member is plain GCN."""
    data = synthetic()
    configs = [TrainConfig(structural=0.0, seed=0), TrainConfig(structural=1.0, seed=0)]
    members = Members(prepare_graph(data, torch.device("cpu"), SPLITS), configs)
    out = members.forward(training=False)
    torch.manual_seed(0)
    model = GCN(data.num_features, 16, 2, 3, dropout=0.5).eval()
    torch.testing.assert_close(out[:, 1], model(data.x, data.edge_index))
    plain = data.x @ model.convs[0].lin.weight.t() + model.convs[0].bias
    expected = F.relu(plain) @ model.convs[1].lin.weight.t() + model.convs[1].bias
    torch.testing.assert_close(out[:, 0], expected)
