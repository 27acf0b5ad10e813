"""GAT attention for many maps: GATAttention and attention_noise against PyG's GATConv."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GATConv
from torch_geometric.utils import add_self_loops, remove_self_loops, scatter, softmax

from graphls.engine.attention import GATAttention, attention_noise
from graphls.engine.pattern import AttentionPattern


def random_edges(n: int, m: int, seed: int) -> torch.Tensor:
    """Random directed edges, repeated edges and self-loops included."""
    return torch.randint(0, n, (2, m), generator=torch.Generator().manual_seed(seed))


def pyg_steps(x, att, bias, noise, edge_index, n):
    """GATConv's attention for every map ``g`` of ``x`` ``(N, G, C)``, step by step, in its
    edge order (self-loops removed, one per node appended); ``noise`` ``(E, G)``."""
    ei, _ = remove_self_loops(edge_index)
    ei, _ = add_self_loops(ei, num_nodes=n)
    src, dst = ei
    s_src = (x * att[:, :, 0]).sum(-1)
    s_dst = (x * att[:, :, 1]).sum(-1)
    alpha = softmax(F.leaky_relu(s_src[src] + s_dst[dst], 0.2), dst, num_nodes=n)
    if noise is not None:
        alpha = alpha * noise
    out = scatter(alpha.unsqueeze(-1) * x[src], dst, 0, dim_size=n, reduce="sum")
    return out if bias is None else out + bias


def member_generators(count: int, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + b) for b in range(count)]


@pytest.mark.parametrize(("dropout", "with_bias", "members", "channels"),
                         [(False, True, 2, 4), (True, False, 2, 4), (True, True, 2, 9),
                          (True, True, 6, 8)])  # segment and scatter reductions (< 16 maps)
def test_gat_attention_equals_pyg_steps_values_and_gradients(float64, dropout, with_bias,
                                                            members, channels):
    n, heads = 30, 3
    groups = members * heads
    edge_index = random_edges(n, 150, 3)
    pattern = AttentionPattern.build(edge_index, n)
    edges = pattern.src.numel()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, groups, channels, generator=g)
    x[:4] = 0.0  # scores exactly at leaky ReLU's kink on the edges among nodes 0-3
    x.requires_grad_()
    att = torch.randn(groups, channels, 2, generator=g, requires_grad=True)
    bias = torch.randn(groups, channels, generator=g, requires_grad=True) if with_bias else None
    mask = scale = noise = None
    if dropout:
        mask, scale = attention_noise((edges, heads), [0.5, 0.3, 0.0, 0.6, 0.2, 0.4][:members],
                                      [True] * members, member_generators(members),
                                      torch.float64, torch.device("cpu"))
        # GATConv's layout (B, E, heads) -> (E, G), maps member-major
        noise = mask.permute(1, 0, 2).reshape(edges, groups) * scale
    out = GATAttention.apply(x, att, bias, mask, scale, pattern, pattern.layout(groups, heads))
    ref = pyg_steps(x, att, bias, noise, edge_index, n)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-13)
    w = torch.randn(out.shape, generator=g)
    inputs = (x, att) if bias is None else (x, att, bias)
    grads = torch.autograd.grad((out * w).sum(), inputs)
    ref_grads = torch.autograd.grad((ref * w).sum(), inputs)
    for mine, theirs in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-11, atol=1e-12)


def test_gat_attention_gradcheck(float64):
    n, heads, channels = 12, 2, 3
    pattern = AttentionPattern.build(random_edges(n, 40, 5), n)
    layout = pattern.layout(2 * heads, heads)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 2 * heads, channels, generator=g, requires_grad=True)
    att = torch.randn(2 * heads, channels, 2, generator=g, requires_grad=True)
    bias = torch.randn(2 * heads, channels, generator=g, requires_grad=True)
    mask, scale = attention_noise((pattern.src.numel(), heads), [0.4, 0.0], [True, True],
                                  member_generators(2), torch.float64, torch.device("cpu"))
    for m, s in ((None, None), (mask, scale)):
        assert torch.autograd.gradcheck(
            lambda x_, a_, b_, m=m, s=s: GATAttention.apply(x_, a_, b_, m, s, pattern, layout),
            (x, att, bias))


@pytest.mark.parametrize("training", [False, True])
def test_gat_attention_equals_gatconv_with_its_dropout_draws(float64, training):
    """One member: the layer GATConv computes, in train mode with the very masks its
    F.dropout draws from the global generator (attention_noise draws from a generator
    in the same state), and the gradients of its parameters."""
    n, heads, channels, p = 25, 4, 3, 0.6
    edge_index = random_edges(n, 120, 7)
    pattern = AttentionPattern.build(edge_index, n)
    torch.manual_seed(0)
    conv = GATConv(5, channels, heads=heads, dropout=p).train(training)
    x_in = torch.randn(n, 5)
    torch.manual_seed(11)
    gen = torch.Generator()
    gen.set_state(torch.get_rng_state())
    ref = conv(x_in, edge_index)
    z = conv.lin(x_in).view(n, heads, channels)
    att = torch.stack([conv.att_src[0], conv.att_dst[0]], -1)
    mask = scale = None
    if training:
        mask, scale = attention_noise((pattern.src.numel(), heads), [p], [True], [gen],
                                      torch.float64, torch.device("cpu"))
        assert torch.equal(gen.get_state(), torch.get_rng_state())  # the same draws
    out = GATAttention.apply(z, att, conv.bias.view(heads, channels), mask, scale, pattern,
                             pattern.layout(heads, heads)).view(n, heads * channels)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-13)
    w = torch.randn(out.shape)
    params = list(conv.parameters())
    grads = torch.autograd.grad((out * w).sum(), params)
    ref_grads = torch.autograd.grad((ref * w).sum(), params)
    for mine, theirs in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_noise_draws_what_dropout_draws(dtype):
    """Each member's mask and scale are F.dropout's noise from its generator (bernoulli_ of
    1 - p, divided by 1 - p), bit for bit, leaving the generator in the same state; p = 0
    and members that skip attention draw nothing and keep everything."""
    shape = (53, 3)
    dropout, draw = [0.6, 0.0, 0.25, 0.5], [True, True, True, False]
    gens = member_generators(4, seed=5)
    copies = []
    for gen in gens:
        copy = torch.Generator()
        copy.set_state(gen.get_state())
        copies.append(copy)
    out = attention_noise(shape, dropout, draw, gens, dtype, torch.device("cpu"))
    assert out is not None
    mask, scale = out
    assert mask.shape == (4, *shape) and mask.dtype == torch.bool and scale.shape == (12,)
    for b, (p, d) in enumerate(zip(dropout, draw, strict=True)):
        noise = mask[b].to(dtype) * scale[b * shape[1]]
        if p > 0 and d:
            expected = torch.empty(shape, dtype=dtype).bernoulli_(1 - p, generator=copies[b])
            expected.div_(1 - p)
        else:
            expected = torch.ones(shape, dtype=dtype)
        assert torch.equal(noise, expected), b
        assert torch.equal(gens[b].get_state(), copies[b].get_state()), b
    assert attention_noise(shape, [0.0, 0.5], [True, False], member_generators(2), dtype,
                           torch.device("cpu")) is None


def test_attention_layout_is_the_interleaved_matrix_of_every_map():
    n, groups, heads = 9, 4, 2
    edge_index = random_edges(n, 30, 2)
    pattern = AttentionPattern.build(edge_index, n)
    layout = pattern.layout(groups, heads)
    edges = pattern.src.numel()
    assert torch.equal(layout.gather.long()[layout.scatter.long()],
                       torch.arange(edges * groups))  # inverse permutations
    w = torch.rand(edges, groups, dtype=torch.float64)
    dense = torch.zeros(n, groups, n, groups, dtype=torch.float64)  # (i, g, j, g)
    for g in range(groups):  # repeated edges add up
        dense.index_put_((pattern.dst, torch.tensor(g), pattern.src, torch.tensor(g)), w[:, g],
                         accumulate=True)
    dense = dense.view(n * groups, n * groups)
    values = w.view(-1)[layout.gather.long()]
    torch.testing.assert_close(layout.matrix(values).to_dense(), dense, rtol=0, atol=0)
    values_t = values[layout.gather_t.long()]
    torch.testing.assert_close(layout.matrix(values_t, transposed=True).to_dense(), dense.t(),
                               rtol=0, atol=0)
    # the dropout noise of map g = b * heads + h on an edge is GATConv's (b, edge, h)
    noise = torch.rand(groups // heads, edges, heads, dtype=torch.float64)
    by_edge = noise[:, pattern.order].permute(1, 0, 2).reshape(edges, groups)
    assert torch.equal(noise.view(-1)[layout.noise.long()], by_edge.view(-1)[layout.gather.long()])
    # the pattern is GATConv's edges in CSR order
    ei, _ = remove_self_loops(edge_index)
    ei, _ = add_self_loops(ei, num_nodes=n)
    assert torch.equal(ei[:, pattern.order], torch.stack([pattern.src, pattern.dst]))
    assert torch.equal(pattern.dst, pattern.dst.sort().values)
