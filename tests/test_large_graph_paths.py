"""The large-graph speed paths, pinned against independent references on tiny graphs.

- ``StructuralGCNConv``'s CSR path (``cached=True`` + ``edge_index``) and its
  propagate-first order (``in_channels < out_channels``): value and gradient
  equal PyG's own ``GCNConv`` (λ = 1) and the dense float64 formula
  ``(1 - λ)·XΘ + λ·P̂XΘ + b`` (any λ), on graphs with a self-loop, duplicate
  edges, an isolated node, and on a directed graph (``P̂`` not symmetric).
- ``dropout``, ``_relu_dropout``, ``value_dropout``: with ``FAST_DROPOUT_NUMEL``
  monkeypatched down, the ``torch.rand(shape) >= p`` masks on small tensors,
  checked element by element, in gradient, in keep rate and in what autograd saves.
- ``GCN`` in training (batch norm, fused ReLU + dropout, in-place ReLU) equals
  an unfused PyG stack drawing the same masks.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

import graphls.models as models
import graphls.nn as gnn
from graphls.models import GCN, dropout, dropout_noise, feature_dropout, value_dropout
from graphls.nn import StructuralGCNConv

N = 7
F64 = torch.float64


def undirected_graph() -> torch.Tensor:
    """Path 0-1-2-3 with the edge 0-1 twice, a triangle 3-4-5, a self-loop on 2, node 6 isolated."""
    und = torch.tensor([(0, 1), (0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (3, 5)]).t()
    return torch.cat([und, und.flip(0), torch.tensor([[2], [2]])], dim=1)


def directed_graph() -> torch.Tensor:
    """Non-symmetric: a cycle 0→1→2→0, 3→1, 1→4→3, 0→1 twice, a self-loop on 5, 6 isolated."""
    return torch.tensor([[0, 1, 2, 3, 1, 4, 0, 5], [1, 2, 0, 1, 4, 3, 1, 5]])


GRAPHS = {"undirected": undirected_graph, "directed": directed_graph}


def edge_weights(edge_index: torch.Tensor, symmetric: bool) -> torch.Tensor:
    """Positive weights; the same for both directions of an undirected edge."""
    g = torch.Generator().manual_seed(3)
    if not symmetric:
        return torch.rand(edge_index.size(1), generator=g, dtype=F64) + 0.5
    e = (edge_index.size(1) - 1) // 2
    w = torch.rand(e, generator=g, dtype=F64) + 0.5
    return torch.cat([w, w, torch.tensor([1.7], dtype=F64)])  # undirected_graph's layout


def dense_propagation(edge_index: torch.Tensor, weight: torch.Tensor | None, n: int, *,
                      add_self_loops: bool = True, normalize: bool = True,
                      improved: bool = False) -> torch.Tensor:
    r"""P̂ = D^{-1/2} Â D^{-1/2} as a dense float64 matrix, written out edge by edge.

    Â[i, j] sums the weights of the edges j → i (duplicates add up); with
    ``add_self_loops`` a node's existing self-loop keeps its weight and every other
    node gets one of weight 1 (2 when ``improved``), as PyG's
    ``add_remaining_self_loops``; D_ii = Σ_j Â[i, j], and 0^{-1/2} is taken as 0.
    """
    w = torch.ones(edge_index.size(1), dtype=F64) if weight is None else weight
    a = torch.zeros(n, n, dtype=F64)
    loops = {}
    for k, (s, t) in enumerate(edge_index.t().tolist()):
        if s == t and normalize and add_self_loops:
            loops[s] = float(w[k])
        else:
            a[t, s] += w[k]
    if not normalize:
        return a
    if add_self_loops:  # gcn_norm's, so only with normalize
        for i in range(n):
            a[i, i] += loops.get(i, 2.0 if improved else 1.0)
    deg = a.sum(dim=1)
    dinv = torch.where(deg > 0, deg.clamp(min=1e-300).rsqrt(), torch.zeros_like(deg))
    return dinv[:, None] * a * dinv[None, :]


def formula(x: torch.Tensor, p_hat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
            lam: float) -> torch.Tensor:
    """``(1 - λ)·XΘ + λ·P̂XΘ + b`` with dense float64 matrices."""
    xw = x @ weight.t()
    return (1 - lam) * xw + lam * (p_hat @ xw) + bias


def make_conv(in_ch: int, out_ch: int, lam: float = 1.0, **kw) -> StructuralGCNConv:
    torch.manual_seed(0)
    conv = StructuralGCNConv(in_ch, out_ch, structural=lam, **kw).to(F64)
    with torch.no_grad():  # PyG zeros the bias; a non-zero one shows if it is added twice
        conv.bias.copy_(torch.randn(out_ch, generator=torch.Generator().manual_seed(1)))
    return conv


def features(n: int, c: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed), dtype=F64)


def value_and_grads(fn, x: torch.Tensor, params: list[torch.Tensor], x_grad: bool = True):
    """``fn(x)`` and the gradients of ``<fn(x), g>`` for a fixed random ``g``."""
    x = x.detach().clone().requires_grad_(x_grad)
    out = fn(x)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(9), dtype=out.dtype)
    inputs = ([x] if x_grad else []) + params
    return out.detach(), torch.autograd.grad(out, inputs, g)


def assert_same(a, b) -> None:
    """Value and gradients agree to float64 rounding."""
    torch.testing.assert_close(a[0], b[0], atol=1e-12, rtol=1e-10)
    assert len(a[1]) == len(b[1])
    for ga, gb in zip(a[1], b[1], strict=True):
        torch.testing.assert_close(ga, gb, atol=1e-12, rtol=1e-10)


# --- the CSR and propagate-first paths of StructuralGCNConv -------------------------------


@pytest.mark.parametrize("graph", list(GRAPHS))
@pytest.mark.parametrize("channels", [(3, 5), (5, 3)], ids=["propagate-first", "transform-first"])
@pytest.mark.parametrize("cached", [True, False], ids=["csr", "edge_index"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("lam", [1.0, 0.3])
@pytest.mark.parametrize("x_grad", [True, False], ids=["x-grad", "x-const"])
def test_conv_equals_pyg_and_formula(graph, channels, cached, weighted, lam, x_grad):
    edge_index = GRAPHS[graph]()
    weight = edge_weights(edge_index, graph == "undirected") if weighted else None
    conv = make_conv(*channels, lam, cached=cached)
    params = [conv.lin.weight, conv.bias]
    x = features(N, channels[0])
    ours = value_and_grads(lambda x: conv(x, edge_index, weight), x, params, x_grad)
    p_hat = dense_propagation(edge_index, weight, N)
    assert_same(ours, value_and_grads(lambda x: formula(x, p_hat, *params, lam), x, params,
                                      x_grad))
    if lam == 1.0:  # PyG's gather/scatter over the edge list
        ref = GCNConv(*channels).to(F64)
        ref.load_state_dict(conv.state_dict())
        assert_same(ours, value_and_grads(lambda x: ref(x, edge_index, weight), x,
                                          [ref.lin.weight, ref.bias], x_grad))
    if cached:  # the path under test was taken: a CSR adjacency in PyG's cache
        adj_t = conv._cached_edge_index[0]
        assert adj_t.layout == torch.sparse_csr
        torch.testing.assert_close(adj_t.to_dense(), p_hat, atol=1e-15, rtol=0)
    # a second call (from the caches when cached) gives the same value and gradients
    assert_same(ours, value_and_grads(lambda x: conv(x, edge_index, weight), x, params, x_grad))


@pytest.mark.parametrize("graph", list(GRAPHS))
def test_csr_backward_uses_the_transpose(graph):
    """An undirected unweighted P̂ is its own transpose (kept once); a directed one is not."""
    edge_index = GRAPHS[graph]()
    conv = make_conv(5, 3, 0.3, cached=True)
    x = features(N, 5).requires_grad_()
    conv(x, edge_index).sum().backward()
    held = conv._cached_transpose
    assert held is not None and held.adj is conv._cached_edge_index[0]
    p_hat = dense_propagation(edge_index, None, N)
    torch.testing.assert_close(held.get().to_dense(), p_hat.t(), atol=1e-15, rtol=0)
    assert (held.get() is held.adj) == (graph == "undirected")
    assert not torch.equal(p_hat, p_hat.t()) or graph == "undirected"


def count_gcn_norm(monkeypatch) -> list[int]:
    """Patch graphls.nn's ``gcn_norm`` to append to the returned list at each call."""
    calls: list[int] = []
    real = gnn.gcn_norm

    def counting_gcn_norm(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gnn, "gcn_norm", counting_gcn_norm)
    return calls


def test_csr_cache_is_built_once_and_reset(monkeypatch):
    calls = count_gcn_norm(monkeypatch)
    edge_index = directed_graph()
    conv = make_conv(5, 3, 0.3, cached=True)
    x = features(N, 5).requires_grad_()
    outs = []
    for _ in range(3):
        out = conv(x, edge_index)
        out.sum().backward()
        outs.append(out.detach())
    assert len(calls) == 1
    adj_t, held = conv._cached_csr.adj_t, conv._cached_transpose
    assert conv._cached_edge_index[0] is adj_t and held.adj is adj_t
    torch.testing.assert_close(outs[1], outs[0], atol=0, rtol=0)
    torch.testing.assert_close(outs[2], outs[0], atol=0, rtol=0)
    conv.reset_parameters()
    assert conv._cached_csr is conv._cached_transpose is conv._cached_edge_index is None
    conv(x, edge_index)
    assert len(calls) == 2


def test_cached_layers_fed_one_edge_index_share_one_adjacency(monkeypatch):
    """A 3-layer cached GCN normalises once and keeps one CSR (its own transpose here)."""
    calls = count_gcn_norm(monkeypatch)
    edge_index = undirected_graph()
    torch.manual_seed(0)
    model = GCN(3, 8, 3, 4, cached=True).to(F64)
    x = features(N, 3)
    model(x, edge_index).sum().backward()
    assert len(calls) == 1
    held = [conv._cached_csr for conv in model.convs]
    assert held[0] is held[1] is held[2]
    assert all(conv._cached_transpose is held[0].transposed for conv in model.convs)
    assert held[0].transposed.get() is held[0].adj_t  # symmetric: no second copy
    p_hat = dense_propagation(edge_index, None, N)
    torch.testing.assert_close(held[0].adj_t.to_dense(), p_hat, atol=1e-15, rtol=0)
    # another graph, other options or an edge_index changed in place: not shared
    other = make_conv(3, 8, cached=True)
    other(x, directed_graph())
    improved = make_conv(3, 8, cached=True, improved=True)
    improved(x, edge_index)
    assert other._cached_csr is not held[0] and improved._cached_csr is not held[0]
    assert len(calls) == 3
    edge_index[0, 0], edge_index[1, 0] = 1, 0  # changed in place: a new version
    fresh = make_conv(3, 8, cached=True)
    fresh(x, edge_index)
    assert fresh._cached_csr is not held[0] and len(calls) == 4


def test_the_transpose_is_made_with_the_adjacency_in_training_only():
    edge_index = directed_graph()
    conv = make_conv(5, 3, cached=True)
    x = features(N, 5)
    conv.eval()
    conv(x, edge_index)
    assert conv._cached_transpose._t is None  # no backward pass coming
    conv.train()
    conv(x, edge_index)
    held = conv._cached_transpose._t
    p_hat = dense_propagation(edge_index, None, N)
    torch.testing.assert_close(held.to_dense(), p_hat.t(), atol=1e-15, rtol=0)


@pytest.mark.parametrize("kwargs", [{"normalize": False}, {"add_self_loops": False},
                                    {"improved": True}], ids=lambda kw: next(iter(kw)))
@pytest.mark.parametrize("channels", [(3, 5), (5, 3)], ids=["propagate-first", "transform-first"])
def test_csr_path_honours_gcn_options(kwargs, channels):
    edge_index = directed_graph()
    weight = edge_weights(edge_index, symmetric=False)
    conv = make_conv(*channels, cached=True, **kwargs)
    ref = GCNConv(*channels, **kwargs).to(F64)
    ref.load_state_dict(conv.state_dict())
    x = features(N, channels[0])
    ours = value_and_grads(lambda x: conv(x, edge_index, weight), x, [conv.lin.weight, conv.bias])
    assert conv._cached_csr is not None
    assert_same(ours, value_and_grads(lambda x: ref(x, edge_index, weight), x,
                                      [ref.lin.weight, ref.bias]))
    p_hat = dense_propagation(edge_index, weight, N, **kwargs)
    assert_same(ours, value_and_grads(lambda x: formula(x, p_hat, conv.lin.weight, conv.bias, 1.0),
                                      x, [conv.lin.weight, conv.bias]))


def test_csr_path_takes_float32_edge_weight_like_pyg():
    """PyG promotes float32 edge weights against float64 features; so does the CSR path."""
    edge_index = directed_graph()
    weight = edge_weights(edge_index, symmetric=False).float()
    conv = make_conv(5, 3, 0.3, cached=True)
    x = features(N, 5)
    p_hat = dense_propagation(edge_index, weight.double(), N)
    torch.testing.assert_close(conv(x, edge_index, weight),
                               formula(x, p_hat, conv.lin.weight, conv.bias, 0.3))
    assert conv._cached_edge_index[0].dtype == F64


def test_edge_weight_with_grad_keeps_the_edge_list_path():
    """A learnable edge weight needs PyG's gather/scatter (a CSR copy would cut its gradient)."""
    edge_index = directed_graph()
    weight = edge_weights(edge_index, symmetric=False).requires_grad_()
    conv = make_conv(5, 3, cached=True)
    ref = GCNConv(5, 3).to(F64)
    ref.load_state_dict(conv.state_dict())
    x = features(N, 5)
    (g_ours,) = torch.autograd.grad(conv(x, edge_index, weight).sum(), weight)
    (g_ref,) = torch.autograd.grad(ref(x, edge_index, weight).sum(), weight)
    assert conv._cached_csr is None
    torch.testing.assert_close(g_ours, g_ref)


@pytest.mark.parametrize("learn", [False, True])
def test_learnable_lambda_gradient_through_propagate_first(learn):
    edge_index = undirected_graph()
    conv = make_conv(3, 5, 0.3, cached=True, learn_structural=learn)
    x = features(N, 3)
    p_hat = dense_propagation(edge_index, None, N)
    lam = torch.tensor(0.3, dtype=F64, requires_grad=True)
    out = conv(x, edge_index)
    ref = formula(x, p_hat, conv.lin.weight, conv.bias, lam)
    torch.testing.assert_close(out, ref)
    if learn:  # dλ/dθ = λ(1 - λ) at θ = logit(λ)
        (g_theta,) = torch.autograd.grad(out.sum(), conv.structural_logit)
        (g_lam,) = torch.autograd.grad(ref.sum(), lam)
        torch.testing.assert_close(g_theta, g_lam * 0.3 * 0.7)


def test_propagate_first_eval_cache():
    edge_index = directed_graph()
    conv = make_conv(3, 5, 0.3, cached=True).eval()
    x = features(N, 3)
    p_hat = dense_propagation(edge_index, None, N)

    def expected(x):
        return formula(x, p_hat, conv.lin.weight, conv.bias, 0.3)

    first = conv(x, edge_index)
    px = conv._cached_propagated[3]
    torch.testing.assert_close(px, 0.7 * x + 0.3 * p_hat @ x)
    torch.testing.assert_close(first, expected(x))
    torch.testing.assert_close(conv(x, edge_index), first, atol=0, rtol=0)
    assert conv._cached_propagated[3] is px  # read back, not recomputed

    x.mul_(-2.0)  # the same tensor, changed in place: x._version moves on
    torch.testing.assert_close(conv(x, edge_index), expected(x))
    assert conv._cached_propagated[3] is not px

    # a poisoned entry shows when the cache is read: in eval for this x, not in training,
    # not for an x that needs a gradient, not for another tensor with the same values
    held = conv._cached_propagated
    conv._cached_propagated = (held[0], held[1], held[2], torch.zeros_like(held[3]))
    torch.testing.assert_close(conv(x, edge_index), conv.bias.expand(N, 5))
    conv.train()
    torch.testing.assert_close(conv(x, edge_index), expected(x))
    conv.eval()
    torch.testing.assert_close(conv(x.clone(), edge_index), expected(x))
    torch.testing.assert_close(conv(x.clone().requires_grad_(), edge_index), expected(x))


def test_propagate_first_eval_cache_needs_cached_and_fixed_lambda():
    edge_index = undirected_graph()
    x = features(N, 3)
    for conv in (make_conv(3, 5, 0.3).eval(),
                 make_conv(3, 5, 0.3, cached=True, learn_structural=True).eval()):
        conv(x, edge_index)
        assert conv._cached_propagated is None


# --- dropout paths ------------------------------------------------------------------------


@pytest.fixture
def fast_paths(monkeypatch):
    """Every tensor of 8 elements or more takes the large-tensor paths."""
    monkeypatch.setattr(models, "FAST_DROPOUT_NUMEL", 8)


def saved_dtypes(fn):
    """``fn()`` and the dtypes autograd saves for the backward pass while running it."""
    dtypes = []

    def pack(t):
        dtypes.append(t.dtype)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, dtypes


P = 0.3


def test_dropout_large_path_keeps_a_rand_mask(fast_paths):
    x = (torch.rand(40, 5, dtype=F64) + 0.5).requires_grad_()  # no zeros: zeros are dropped
    torch.manual_seed(4)
    out, dtypes = saved_dtypes(lambda: dropout(x, P))
    torch.manual_seed(4)
    keep = torch.rand(x.shape, dtype=F64) >= P
    assert dtypes == [torch.bool]  # one byte an element, not a float noise tensor
    torch.testing.assert_close(out[keep], x[keep] / (1 - P), atol=0, rtol=1e-15)
    assert torch.all(out[~keep] == 0) and 0 < int(keep.sum()) < keep.numel()
    g = torch.randn(x.shape, dtype=F64)
    (gx,) = torch.autograd.grad(out, x, g)
    torch.testing.assert_close(gx, g * keep / (1 - P), atol=0, rtol=1e-15)


@pytest.mark.parametrize("fast", [True, False], ids=["large-path", "small-path"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keep_rate_and_scale(monkeypatch, fast, p):
    """Kept with probability 1 - p (6 standard deviations), scaled by exactly 1/(1 - p)."""
    if fast:
        monkeypatch.setattr(models, "FAST_DROPOUT_NUMEL", 8)
    n = 200_000
    x = torch.ones(400, n // 400)
    torch.manual_seed(0)
    out = dropout(x, p)
    kept = out != 0
    assert torch.all(out[kept] == torch.tensor(1 / (1 - p), dtype=out.dtype))
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(float(kept.float().mean()) - (1 - p)) < 6 * sigma


@pytest.mark.parametrize("fast", [True, False], ids=["large-path", "small-path"])
def test_dropout_identity_and_generator(monkeypatch, fast):
    if fast:
        monkeypatch.setattr(models, "FAST_DROPOUT_NUMEL", 8)
    x = torch.randn(10, 3, dtype=F64)
    assert dropout(x, 0.0) is x
    assert dropout(x, 0.5, training=False) is x
    assert feature_dropout(x, 0.5, training=False) is x
    # dropout_noise is the noise dropout applies, draw for draw from the same generator
    out = dropout(x, P, generator=torch.Generator().manual_seed(5))
    noise = dropout_noise(x.shape, P, torch.Generator().manual_seed(5), F64, "cpu")
    torch.testing.assert_close(out, x * noise, atol=0, rtol=0)
    assert set(noise.unique().tolist()) <= {0.0, 1 / (1 - P)}


def test_feature_dropout_dense_large_path(fast_paths):
    x = torch.rand(10, 3, dtype=F64) + 0.5
    torch.manual_seed(2)
    out = feature_dropout(x, P, training=True)
    torch.manual_seed(2)
    keep = torch.rand(x.shape, dtype=F64) >= P
    torch.testing.assert_close(out, x * keep / (1 - P), atol=0, rtol=1e-15)


def test_value_dropout_reference():
    v = torch.rand(50, dtype=F64) + 0.5
    assert value_dropout(v, 0.0) is v
    out = value_dropout(v, P, torch.Generator().manual_seed(6))
    keep = torch.rand(50, generator=torch.Generator().manual_seed(6), dtype=F64) >= P
    torch.testing.assert_close(out, v * keep / (1 - P), atol=0, rtol=1e-15)


def test_relu_dropout_equals_relu_then_dropout(fast_paths):
    leaf = torch.randn(40, 5, dtype=F64)
    leaf[0, :3] = 0.0  # ReLU's gradient at 0 is 0 in torch
    leaf.requires_grad_()
    x = leaf * 1.0  # a non-leaf, as a layer's output: overwritten in place
    before = x.detach().clone()
    torch.manual_seed(7)
    out, dtypes = saved_dtypes(lambda: models._relu_dropout(x, P))
    torch.manual_seed(7)
    keep = torch.rand(x.shape, dtype=F64) >= P
    assert dtypes == [torch.bool]  # one mask, neither ReLU's output nor a float noise
    assert out.data_ptr() == x.data_ptr()  # no new N x C buffer
    xr = before.clone().requires_grad_()
    ref = F.relu(xr) * keep / (1 - P)  # unfused, with torch's own ReLU backward
    torch.testing.assert_close(out, ref, atol=0, rtol=1e-15)
    g = torch.randn(x.shape, dtype=F64)
    (gx,) = torch.autograd.grad(out, leaf, g)
    (gr,) = torch.autograd.grad(ref, xr, g)
    torch.testing.assert_close(gx, gr, atol=0, rtol=1e-15)
    assert torch.all(gx[before <= 0] == 0) and torch.all(gx[~keep] == 0)


def test_relu_dropout_refuses_a_tensor_that_backward_needs(fast_paths):
    """It overwrites its input; autograd catches an input some other op saved."""
    x = torch.randn(40, 5, dtype=F64, requires_grad=True)
    h = x.exp()  # exp saves its output for the backward pass
    out = models._relu_dropout(h, P)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# --- GCN: fused ReLU + dropout, in-place ReLU ---------------------------------------------

F_IN, HIDDEN, CLASSES = 3, 6, 4


class UnfusedGCN(torch.nn.Module):
    """PyG ``GCNConv`` + ``BatchNorm1d`` stack (ogbn-arxiv example shape), with dropout drawn as
    ``torch.rand(x.shape) >= p`` before every convolution, unfused and out of place."""

    def __init__(self, num_layers: int, p: float, batch_norm: bool) -> None:
        super().__init__()
        dims = [F_IN] + [HIDDEN] * (num_layers - 1) + [CLASSES]
        self.convs = torch.nn.ModuleList(GCNConv(dims[i], dims[i + 1])
                                         for i in range(num_layers))
        self.norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(HIDDEN)
                                         for _ in range(num_layers - 1)) if batch_norm else None
        self.p = p

    def forward(self, x, edge_index):
        for i, conv in enumerate(self.convs):
            if self.training and self.p > 0:
                x = x * (torch.rand(x.shape, dtype=x.dtype) >= self.p) / (1 - self.p)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                if self.norms is not None:
                    x = self.norms[i](x)
                x = F.relu(x)
        return x


def gcn_pair(num_layers: int, p: float, batch_norm: bool, cached: bool):
    torch.manual_seed(0)
    ref = UnfusedGCN(num_layers, p, batch_norm).to(F64)
    ours = GCN(F_IN, HIDDEN, num_layers, CLASSES, dropout=p, batch_norm=batch_norm,
               cached=cached).to(F64)
    with torch.no_grad():  # non-zero biases and affine batch norm
        for m in ref.modules():
            if isinstance(m, (GCNConv, torch.nn.BatchNorm1d)):
                m.bias.normal_()
            if isinstance(m, torch.nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5)
    ours.load_state_dict(ref.state_dict())  # strict: the same names and shapes
    return ref, ours


def train_step(model, x, edge_index, y, seed: int):
    torch.manual_seed(seed)
    out = model(x, edge_index)
    loss = F.cross_entropy(out, y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return out.detach(), grads


@pytest.mark.parametrize("cached", [True, False], ids=["csr", "edge_index"])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_gcn_fused_relu_dropout_equals_unfused(fast_paths, monkeypatch, cached, batch_norm):
    calls = []
    fused = models._relu_dropout
    monkeypatch.setattr(models, "_relu_dropout", lambda x, p: calls.append(1) or fused(x, p))
    ref, ours = gcn_pair(3, 0.5, batch_norm, cached)
    edge_index, x = undirected_graph(), features(N, F_IN)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    for seed in (11, 12):  # two steps: the second one from the caches
        a, b = train_step(ours, x, edge_index, y, seed), train_step(ref, x, edge_index, y, seed)
        assert_same(a, b)
    assert len(calls) == 2 * 2  # both hidden layers of both steps took the fused path
    for m_ours, m_ref in zip(ours.norms or (), ref.norms or (), strict=True):
        torch.testing.assert_close(m_ours.running_mean, m_ref.running_mean)
        torch.testing.assert_close(m_ours.running_var, m_ref.running_var)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x, edge_index), ref(x, edge_index))


@pytest.mark.parametrize("batch_norm", [True, False])
def test_gcn_in_place_relu_keeps_gradients(batch_norm):
    """dropout=0: ReLU runs in place on the conv / batch norm output; gradients stay PyG's."""
    ref, ours = gcn_pair(3, 0.0, batch_norm, cached=True)
    edge_index, x = directed_graph(), features(N, F_IN)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    assert_same(train_step(ours, x, edge_index, y, 0), train_step(ref, x, edge_index, y, 0))
    ours.eval()
    ref.eval()
    first = ours(x, edge_index)
    torch.testing.assert_close(first, ref(x, edge_index))
    torch.testing.assert_close(ours(x, edge_index), first, atol=0, rtol=0)  # eval cache


def test_dropout_with_p_one_drops_everything_as_f_dropout():
    from graphls.models import dropout

    x = torch.randn(5, 3, requires_grad=True)
    out = dropout(x, 1.0)
    torch.testing.assert_close(out, F.dropout(x, p=1.0, training=True))
    assert not out.isnan().any()
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.zeros_like(x))
