r"""GAT attention for many maps at once: ``G = members × heads`` maps over one edge pattern.

:class:`GATAttention` is the whole attention step of ``GATConv`` for every map:
scores on the edges, PyG's softmax, attention dropout and the weighted sum of
the sources' features, with a hand-written backward pass.
:func:`attention_noise` draws each member's attention dropout as ``GATConv``
draws it.

The edge-wise work is laid out ``(E, G)`` (edges in CSR order, the maps side by
side) and the node features ``(N, G, C)``, so every gather and scatter moves
whole rows of ``G`` values; the aggregation is one sparse product with the
interleaved matrix of :class:`~graphls.engine.pattern.AttentionLayout`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphls.engine.pattern import AttentionLayout, AttentionPattern

__all__ = ["GATAttention", "attention_noise", "by_target", "padded"]


class GATAttention(torch.autograd.Function):
    r"""``GATConv``'s attention for ``G`` maps: ``out[i, g] = b_g + Σ_j w_g(j → i) x[j, g]``.

    .. math::
        w_g(j \to i) = \alpha_g(j \to i)\, m_g(j \to i), \qquad
        \alpha_g(j \to i) = \frac{\exp(e_{ij} - \max_{k} e_{ik})}
            {\sum_{k} \exp(e_{ik} - \max_{k'} e_{ik'}) + 10^{-16}},

    with :math:`e_{ij} = \mathrm{leaky\_relu}_{0.2}(a^{src}_g \cdot x_{j,g} + a^{dst}_g
    \cdot x_{i,g})`, the sums over the edges ``k → i`` of the pattern
    (self-loops included) and ``m`` the attention-dropout noise
    ``mask / (1 - p)``.

    Inputs: ``x`` ``(n, G, C)`` (the pattern's ``n`` source nodes); ``att``
    ``(G, C, 2)`` (``a_src`` and ``a_dst`` of every map); ``bias`` ``(G, C)`` or
    ``None``; ``mask`` the members' kept edges in ``GATConv``'s
    ``(B, drawn, heads)`` layout (boolean) or ``None`` (no dropout) with
    ``scale`` ``(G,)``, each map's ``1 / (1 - p)``; the pattern and its layout
    for ``G`` maps. Output ``(targets, G, C)``: the pattern's first ``targets``
    nodes (all ``n`` for a whole graph).

    The scores are one batched product; the softmax makes ``GATConv``'s
    operations (gathers, leaky ReLU, scatter max, ``exp``, scatter sum
    ``+ 1e-16``, divide) on ``(E, G)`` rows; the weighted sum is one sparse
    product. The backward pass uses, with ``t_e = <grad_i, x_j>`` (a sampled
    product),

    .. math::
        \frac{\partial L}{\partial e_{ij}} = w_{ij} t_{ij}
            - \alpha_{ij} \sum_{k} w_{ik} t_{ik}

    (the softmax gradient with the dropout folded in) times the leaky ReLU's
    slope; ``x``'s gradient is the transposed product plus the scores' part.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, att: Tensor, bias: Tensor | None, mask: Tensor | None,
                scale: Tensor | None, pattern: AttentionPattern, layout: AttentionLayout
                ) -> Tensor:
        n, groups, channels = x.shape
        targets, src, dst = pattern.targets, pattern.src, pattern.dst
        # a_src·x and a_dst·x of every node and map, one batched product with N columns
        # (faster than N rows here): (G, 2, N), then (2, N, G)
        scores = torch.bmm(att.transpose(1, 2), x.permute(1, 2, 0)).permute(1, 2, 0).contiguous()
        raw = scores[0].index_select(0, src).add_(scores[1].index_select(0, dst))  # (E, G)
        alpha = F.leaky_relu(raw, 0.2)
        # a max is exact in any order, so this one need not go through PyG's scatter
        alpha.sub_(by_target(alpha, pattern, "amax").index_select(0, dst)).exp_()
        total = by_target(alpha, pattern, "sum").add_(1e-16)
        alpha.div_(total.index_select(0, dst))
        if mask is None:
            weights = alpha.view(-1).index_select(0, layout.gather)  # (i, g, j) order
        else:  # α · (mask / (1 - p)) as F.dropout; the boolean mask (1 byte) is gathered
            assert scale is not None
            weights = (alpha * scale).view(-1).index_select(0, layout.gather)
            weights.mul_(mask.view(-1).index_select(0, layout.noise))
        # the product adds into the bias (or zeros) in place: one pass less than torch.mm's
        # zeros + copy, and the output is a tensor of its own, not a view
        out = (x.new_zeros((targets, groups, channels)) if bias is None
               else bias.expand(targets, groups, channels).contiguous())
        flat = out.view(targets * groups, channels)
        torch.addmm(flat, layout.matrix(weights), x.reshape(n * groups, channels), out=flat)
        ctx.save_for_backward(x, att, raw, alpha, weights)
        ctx.pattern, ctx.layout = pattern, layout
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, att, raw, alpha, weights = ctx.saved_tensors
        pattern: AttentionPattern = ctx.pattern
        layout: AttentionLayout = ctx.layout
        n, groups, channels = x.shape
        targets, src, dst = pattern.targets, pattern.src, pattern.dst
        grad = grad.reshape(targets * groups, channels).contiguous()
        grad_x = grad_att = grad_bias = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            # t = <grad_i, x_j> on the pattern ((i, g, j) order), then w·t by edge, (E, G);
            # written into the pattern's own values (out=): no copy of the whole CSR
            t = torch.zeros_like(weights)
            pattern_t = layout.matrix(t)
            torch.sparse.sampled_addmm(pattern_t, *padded(grad, x.reshape(n * groups, channels)),
                                       beta=0.0, out=pattern_t)
            d = t.mul_(weights).index_select(0, layout.scatter).view_as(alpha)
            d.sub_(by_target(d, pattern, "sum").index_select(0, dst).mul_(alpha))
            d = torch.ops.aten.leaky_relu_backward(d, raw, 0.2, False)
            d_scores = alpha.new_zeros((2, n, groups))  # d(a_src·x), d(a_dst·x)
            d_scores[0].index_add_(0, src, d)
            d_scores[1, :targets] = by_target(d, pattern, "sum")
            if ctx.needs_input_grad[0]:
                # the scores' part, then the transposed product added in place
                grad_x = d_scores[0].unsqueeze(-1) * att[:, :, 0]
                grad_x.addcmul_(d_scores[1].unsqueeze(-1), att[:, :, 1])
                flat = grad_x.view(n * groups, channels)
                values_t = weights.index_select(0, layout.gather_t)
                torch.addmm(flat, layout.matrix(values_t, transposed=True), grad, out=flat)
            if ctx.needs_input_grad[1]:
                grad_att = torch.bmm(d_scores.permute(2, 0, 1).contiguous(), x.transpose(0, 1)
                                     ).transpose(1, 2)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.view(targets, groups, channels).sum(0)
        return grad_x, grad_att, grad_bias, None, None, None, None


def by_target(values: Tensor, pattern: AttentionPattern, reduce: str) -> Tensor:
    """Edge values ``(E, G)`` reduced over each target's edges (``"amax"``, ``"sum"``).

    The result is ``(targets, G)``.

    Sums run over each target's edges in CSR order, as PyG's ``scatter_add_``
    does over its edge order. With fewer than 16 maps a segment reduction over
    the CSR rows is several times faster than torch's scatter kernels (about
    5x at 8-12 columns); with more, the scatter.
    """
    n, groups = pattern.targets, values.size(1)
    if groups < 16:
        return torch.segment_reduce(values, "max" if reduce == "amax" else reduce,
                                    offsets=pattern.crow, axis=0)
    if reduce == "sum":
        return values.new_zeros((n, groups)).index_add_(0, pattern.dst, values)
    out = values.new_full((n, groups), -math.inf)
    return out.scatter_reduce_(0, pattern.dst.view(-1, 1).expand_as(values), values, "amax")


def padded(grad: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """``grad`` and ``x^T`` for ``sampled_addmm``, zero-padded to 8 channels when narrower.

    torch's CPU kernel takes a vectorised dot per entry that is about 15x slower
    below 8 values (GAT's output layer: one head of ``K`` classes); the zeros
    add nothing to the dots.
    """
    if x.device.type == "cpu" and x.size(1) < 8:
        grad, x = (F.pad(t, (0, 8 - t.size(1))) for t in (grad, x))
    return grad, x.t()


def attention_noise(shape: Sequence[int], dropout: Sequence[float], draw: Sequence[bool],
                    generators: Sequence[torch.Generator], dtype: torch.dtype,
                    device: torch.device) -> tuple[Tensor, Tensor] | None:
    """Each member's attention-dropout mask, ``(B, E, heads)`` boolean, and each map's scale.

    ``GATConv``'s ``F.dropout`` on CPU draws ``empty_like(alpha).bernoulli_(1 - p)``
    and divides by ``1 - p``. ``bernoulli_`` keeps element ``k`` when the ``k``-th
    uniform of ``torch.rand(..., dtype=torch.float64)`` from the same generator is
    below ``1 - p`` (the same numbers, and the same generator state after; a test
    pins it), and ``rand`` is about 2.5x faster, so the members' uniforms are
    drawn member by member into one buffer and compared in one operation.
    Members with ``p = 0``, or that skip attention (``draw`` false: λ fixed at 0),
    draw nothing and keep every edge with scale 1, as in ``fit``; ``None`` when
    no member draws. ``shape`` is ``(E, heads)``; the scale ``(B · heads,)`` is
    ``1 / (1 - p)`` in ``dtype``, the value ``F.dropout``'s noise takes.
    """
    keep = [1.0 - p if p > 0 and d else 1.0
            for p, d in zip(dropout, draw, strict=True)]
    if all(k == 1.0 for k in keep):
        return None
    count = len(keep)
    uniforms = torch.empty((count, *shape), dtype=torch.float64, device=device)
    for b, (k, gen) in enumerate(zip(keep, generators, strict=True)):
        if k < 1.0:
            torch.rand(tuple(shape), generator=gen, dtype=torch.float64, device=device,
                       out=uniforms[b])
        else:
            uniforms[b].zero_()  # kept, with scale 1
    view = (count,) + (1,) * len(shape)
    keep_t = torch.tensor(keep, dtype=torch.float64, device=device)
    mask = torch.lt(uniforms, keep_t.view(view))
    scale = torch.ones(count, dtype=dtype, device=device).div_(keep_t.to(dtype))
    return mask, scale.repeat_interleave(shape[-1])
