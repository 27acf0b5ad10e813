r"""The stacked GCN and GAT: B members' layers in one pass.

Every weight is stacked over members (``(B, in, out)``), the hidden
activations of all members sit side by side in one ``(N, B, H)`` tensor, and
each GCN layer runs **one** sparse propagation over the concatenated channels,

.. math::
    H^{(l)}_b = (1 - \lambda_{l,b})\, Z_b + \lambda_{l,b}\, \hat P Z_b + b^{(l)}_b,
    \qquad Z_b = \mathrm{dropout}_b(H^{(l-1)}_b)\, W^{(l)}_b,
    \qquad [\hat P Z_1 | \dots | \hat P Z_B] = \hat P\, [Z_1 | \dots | Z_B],

with :math:`\hat P` PyG's ``gcn_norm`` adjacency, exactly the layer
:class:`~graphls.nn.StructuralGCNConv` computes for each member. GAT members
are stacked the same way: their ``B × heads`` attention maps share the edge
pattern (:mod:`graphls.engine.attention`), so scores, softmax, dropout and the
aggregation are one pass over all of them, the layer
:class:`~graphls.nn.StructuralGATConv` computes for each member.

Dropout masks are drawn member by member from each member's own generator, in
the order the public :class:`~graphls.models.GCN` / :class:`~graphls.models.GAT`
draw them (input dropout on the stored feature values, then each hidden
layer's mask; ``GATConv``'s ``bernoulli_`` over its edge order for attention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphls.engine.attention import GATAttention, attention_noise
from graphls.engine.graph import Cone, MemberSparseMM, PreparedGraph
from graphls.sparse import csr_matmul

__all__ = ["StackedParams", "gat_forward", "gcn_forward", "member_noise"]


def structural_mix(structural: Sequence[Sequence[float]], logits: Sequence[Tensor] | None,
                   layer: int, like: Tensor) -> tuple[Tensor, Tensor] | float:
    """(1 - λ, λ) per member as tensors, or 1.0 / 0.0 when every member has that fixed λ."""
    if logits is not None:
        lam = torch.sigmoid(logits[layer])
        return 1.0 - lam, lam
    values = [s[layer] for s in structural]
    if all(v == 1.0 for v in values):
        return 1.0
    if all(v == 0.0 for v in values):
        return 0.0
    # (1 - λ) from Python floats, rounded as fit's ``(1.0 - lam) * x`` rounds it
    one_minus = torch.tensor([1.0 - v for v in values], dtype=like.dtype, device=like.device)
    return one_minus, torch.tensor(values, dtype=like.dtype, device=like.device)


def member_noise(shape: Sequence[int], dropout: Sequence[float],
                 generators: Sequence[torch.Generator], dtype: torch.dtype,
                 device: torch.device, index: Tensor | None = None) -> Tensor:
    """Each member's dropout noise, stacked ``(B, *shape)``: :func:`~graphls.models.dropout_noise`
    from the member's generator (ones where ``p = 0``, which draws nothing, as ``fit``).

    The uniform numbers are drawn member by member into one buffer; the masks and
    their ``1 / (1 - p)`` scaling are then one operation for all members.
    ``index``: only these positions along ``shape``'s first dimension are made
    into noise (every number is still drawn), ``(B, len(index), *shape[1:])``.
    """
    count = len(dropout)
    buf = torch.empty((count, *shape), dtype=dtype, device=device)
    for b, (p, gen) in enumerate(zip(dropout, generators, strict=True)):
        if p > 0:
            torch.rand(tuple(shape), generator=gen, dtype=dtype, device=device, out=buf[b])
        else:
            buf[b].fill_(1.0)
    if index is not None:
        buf = buf.index_select(1, index)
    view = (count,) + (1,) * len(shape)
    p_t = torch.tensor(list(dropout), dtype=dtype, device=device).view(view)
    keep_scale = torch.tensor([1.0 - p for p in dropout], dtype=dtype, device=device).view(view)
    return buf.ge_(p_t).div_(keep_scale)  # in place: the uniforms' buffer becomes the noise


def first_layer(graph: PreparedGraph, w: Tensor, dropout: Sequence[float] | None,
                generators: Sequence[torch.Generator], cone: Cone | None = None) -> Tensor:
    """``X W_b`` per member, ``(N, B, H)``; with per-member input dropout when given.

    With a ``cone``, only its input rows (``(cone.sizes[0], B, H)``); the members
    still draw the dropout of every stored value (dense: every entry), as ``fit``.
    """
    b_count, in_dim, out_dim = w.shape
    x, sparse = (graph.x, graph.sparse) if cone is None else (cone.x, cone.sparse)
    n = x.size(0)
    if dropout is None or all(p == 0 for p in dropout):
        # one product for every member: X [W_1 | ... | W_B]
        w_cat = w.permute(1, 0, 2).reshape(in_dim, b_count * out_dim)
        return (x @ w_cat).view(n, b_count, out_dim)
    if sparse is not None:  # dropout on the stored values, as models.feature_dropout
        assert graph.sparse is not None
        noise = member_noise(graph.sparse.values.shape, dropout, generators, x.dtype, x.device,
                             None if cone is None else cone.values)
        return MemberSparseMM.apply(w, sparse.values * noise, sparse)
    noise = member_noise(graph.x.shape, dropout, generators, x.dtype, x.device,
                         None if cone is None else cone.nodes)
    return torch.stack([(x if p == 0 else x * noise[b]) @ w[b]
                        for b, p in enumerate(dropout)], 1)


def member_matmul(h: Tensor, w: Tensor) -> Tensor:
    """``h[:, b] @ w[b]`` for every member: ``(N, B, I) x (B, I, O) -> (N, B, O)``, one ``bmm``.

    The result is made contiguous: the element-wise work that follows (λ mix, bias,
    ReLU, the flattening for the sparse product) is several times slower on the
    transposed view.
    """
    return torch.bmm(h.transpose(0, 1), w).transpose(0, 1).contiguous()


def gcn_forward(graph: PreparedGraph, weights: Sequence[Tensor], biases: Sequence[Tensor],
                logits: Sequence[Tensor] | None, structural: Sequence[Sequence[float]],
                dropout: Sequence[float] | None, generators: Sequence[torch.Generator],
                input_dropout: Sequence[float] | None = None) -> Tensor:
    """The stacked GCN: logits ``(N, B, K)``; ``dropout=None`` is the eval pass.

    ``input_dropout`` is each member's dropout of the input features (default
    ``dropout``; 0 for a member that drops between layers only).

    Layer by layer, as ``GCN.forward`` for each member: dropout, ``Z = H W``,
    ``(1 - λ) Z + λ P Z`` (one sparse product for all members), ``+ b``, ReLU
    between layers. Dropout masks are drawn member by member from the members'
    generators, in the public model's order.
    """
    num_layers = len(weights)
    h: Tensor | None = None
    for layer in range(num_layers):
        if h is None:
            z = first_layer(graph, weights[0], dropout if input_dropout is None
                            else input_dropout, generators)
        else:
            if dropout is not None and any(p > 0 for p in dropout):
                n, _, width = h.shape
                noise = member_noise((n, width), dropout, generators, h.dtype, h.device)
                h = h * noise.transpose(0, 1)
            z = member_matmul(h, weights[layer])
        n, b_count, width = z.shape
        mix = structural_mix(structural, logits, layer, z)
        bias = biases[layer]
        if isinstance(mix, float) and mix == 0.0:
            out = z + bias
        else:
            # (1 - λ) Z + λ P Z + b = [(1 - λ) Z + b] + P (λ Z): λ scales each member's
            # columns, so it moves inside the product, and the sparse product adds its
            # result to the rest in one pass (addmm) instead of four element-wise passes.
            if isinstance(mix, float):  # every member has λ = 1
                rest, scaled = bias.expand(n, b_count, width), z
            else:
                rest = torch.addcmul(bias, z, mix[0].view(1, -1, 1))
                scaled = z * mix[1].view(1, -1, 1)
            out = csr_matmul(graph.adj, scaled.reshape(n, b_count * width), graph.adj_transposed,
                             add=rest.reshape(n, b_count * width)).view(n, b_count, width)
        if layer < num_layers - 1:
            h = out.relu_() if dropout is None and not torch.is_grad_enabled() else out.relu()
        else:
            h = out
    assert h is not None
    return h


class WideMatmul(torch.autograd.Function):
    """``h[:, b] @ w[b]`` for every member, ``(N, B, I) x (B, I, O) -> (N, B, O)``, as
    ``w[b]^T h[:, b]^T``.

    The transposed product has ``N`` columns instead of ``O``: for narrow outputs
    (GAT's output layer: a few classes) it is several times faster than
    :func:`member_matmul`. The backward pass hands ``h`` its gradient node-major
    and contiguous, as ``h`` is: autograd's permuted one made the element-wise
    backward passes before it (dropout, ELU) several times slower.
    """

    @staticmethod
    def forward(ctx: Any, h: Tensor, w: Tensor) -> Tensor:
        ctx.save_for_backward(h, w)
        return torch.bmm(w.transpose(1, 2), h.permute(1, 2, 0)).permute(2, 0, 1).contiguous()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        h, w = ctx.saved_tensors
        grad_t = grad.permute(1, 2, 0)  # (B, O, N)
        grad_h = grad_w = None
        if ctx.needs_input_grad[0]:
            # (B, N, I), then node-major: rows of I values move, not single ones
            grad_h = torch.bmm(grad.transpose(0, 1), w.transpose(1, 2)).transpose(0, 1).contiguous()
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(grad_t, h.transpose(0, 1)).transpose(1, 2)
        return grad_h, grad_w


def gat_forward(graph: PreparedGraph, params: StackedParams,
                structural: Sequence[Sequence[float]], dropout: Sequence[float] | None,
                generators: Sequence[torch.Generator],
                input_dropout: Sequence[float] | None = None,
                rows: Tensor | None = None) -> Tensor:
    r"""The stacked GAT: logits ``(N, B, K)``; ``dropout=None`` is the eval pass.

    Layer by layer, as ``GAT.forward`` with ``StructuralGATConv`` for each member:
    dropout, ``Z = H W`` viewed as ``heads`` blocks of ``C`` channels, PyG's
    attention (``a_src·z_j + a_dst·z_i``, leaky ReLU 0.2, softmax over each
    target's incoming edges, attention dropout), ``(1 - λ) Z_i + λ Σ_j α_ij Z_j``
    per head, heads concatenated (hidden layers) or averaged (output), ``+ b``,
    ELU between layers. Nodes come first (``(N, B, ·)``, the ``G = B · heads``
    attention maps side by side), so every step is one operation over all of
    them and the attention one :class:`~graphls.engine.attention.GATAttention`.

    ``rows`` (a boolean node mask): only these nodes' logits, ``(n_rows, B, K)``
    in node order, computed over their :class:`~graphls.engine.graph.Cone`
    (every layer on the nodes and edges they depend on only; the same numbers).
    """
    num_layers = len(params.weights)
    cone = graph.cone(num_layers, rows)
    training = dropout is not None and any(p > 0 for p in dropout)
    logits = params.logits if params.logits else None
    h: Tensor | None = None  # (n_l, B, D): the nodes layer l reads, in cone order
    for layer in range(num_layers):
        if h is None:
            first = dropout if input_dropout is None else input_dropout
            z = first_layer(graph, params.weights[0], first, generators, cone)
        else:
            if training:  # every node's noise drawn, as fit draws it; the cone's rows used
                assert dropout is not None
                noise = member_noise((graph.x.size(0), h.size(2)), dropout, generators,
                                     h.dtype, h.device,
                                     None if cone.nodes is None else cone.nodes[:h.size(0)])
                h = h * noise.transpose(0, 1)
            z = WideMatmul.apply(h, params.weights[layer])
        n, b_count, width = z.shape
        targets = cone.sizes[layer + 1]  # the nodes this layer writes: the first ones
        att_src, att_dst = params.att_src[layer], params.att_dst[layer]  # (B, heads, C)
        heads = att_src.size(1)
        channels, groups = width // heads, b_count * heads
        mix = structural_mix(structural, logits, layer, z)
        hidden = layer < num_layers - 1
        bias = params.biases[layer]  # (B, D)
        pattern = cone.patterns[layer]
        if isinstance(mix, float) and mix == 0.0:  # λ = 0 for every member: no attention
            out = z[:targets] + bias if hidden else z[:targets]
        else:
            att = torch.stack([att_src, att_dst], -1).view(groups, channels, 2)
            noise = None
            if training:
                assert dropout is not None
                draw = [logits is not None or s[layer] != 0.0 for s in structural]
                noise = attention_noise((pattern.drawn, heads), dropout, draw, generators,
                                        z.dtype, z.device)  # GATConv's (B, E, heads)
            mask, scale = (None, None) if noise is None else noise
            layout = pattern.layout(groups, heads)
            xs = z.view(n, groups, channels)
            if isinstance(mix, float):  # λ = 1 for every member: the attention is the layer
                # a hidden layer's bias joins the sparse product (concatenated heads)
                out = GATAttention.apply(xs, att, bias.view(groups, channels) if hidden else None,
                                         mask, scale, pattern, layout)
            else:
                aggregated = GATAttention.apply(xs, att, None, mask, scale, pattern, layout)
                one_minus, lam = (m.view(1, -1, 1) for m in mix)
                rest = (torch.addcmul(bias, one_minus, z[:targets]) if hidden
                        else one_minus * z[:targets])
                out = torch.addcmul(rest, lam, aggregated.view(targets, b_count, width))
        if hidden:
            # ELU in place on a fresh tensor, not a view of it (autograd would copy the
            # gradient through the view); its backward reads the result: no second exp
            h = F.elu_(out).view(targets, b_count, width)
        else:
            h = out.view(targets, b_count, heads, channels).mean(2) + bias
    assert h is not None
    return h if cone.select is None else h[cone.select]


@dataclass
class StackedParams:
    """One state of the stacked parameters, by kind and layer.

    See :meth:`graphls.engine.members.Members.unpack`.
    """

    weights: list[Tensor]
    biases: list[Tensor]
    logits: list[Tensor]
    att_src: list[Tensor]
    att_dst: list[Tensor]


