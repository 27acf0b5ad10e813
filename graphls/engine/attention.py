r"""GAT attention for many maps at once: ``G = members × heads`` maps over one edge pattern.

:class:`EdgeSoftmax` computes PyG's attention coefficients and
:class:`AttentionAggregate` sums the attended messages for every map in one
sparse product; :func:`attention_noise` draws each member's attention dropout
as ``GATConv`` draws it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import scatter

from graphls.engine.graph import AttentionPattern

__all__ = ["AttentionAggregate", "EdgeSoftmax", "attention_noise"]


class AttentionAggregate(torch.autograd.Function):
    r"""``out[g, i] = Σ_j α[g, (i, j)] x[g, j]`` for ``G`` attention maps on one edge pattern.

    ``alpha`` is ``(G, E)`` in the pattern's CSR order and ``x`` is ``(G, N, C)``.
    The forward pass is one sparse product with the block-diagonal matrix of the
    ``G`` maps. The backward pass is its transpose for ``x`` and a sampled
    product (``torch.sparse.sampled_addmm``) for ``α``. No ``(E, G, C)`` message
    tensor is made: gathering, multiplying and scattering one was 3-4x slower.
    """

    @staticmethod
    def forward(ctx: Any, alpha: Tensor, x: Tensor, pattern: AttentionPattern) -> Tensor:
        groups, n, c = x.shape
        crow, col, _, _, _, _ = pattern.block_diagonal(groups)
        size = (groups * n, groups * n)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
            a = torch.sparse_csr_tensor(crow, col, alpha.reshape(-1), size, check_invariants=False)
        out = torch.sparse.mm(a, x.reshape(groups * n, c)).view(groups, n, c)
        ctx.save_for_backward(alpha, x)
        ctx.pattern = pattern
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        alpha, x = ctx.saved_tensors
        pattern: AttentionPattern = ctx.pattern
        groups, n, c = x.shape
        _, _, crow_t, col_t, crow3, col3 = pattern.block_diagonal(groups)
        grad = grad.contiguous()
        grad_alpha = grad_x = None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
            if ctx.needs_input_grad[1]:
                values_t = alpha.index_select(1, pattern.perm_t).reshape(-1)
                a_t = torch.sparse_csr_tensor(crow_t, col_t, values_t, (groups * n, groups * n),
                                              check_invariants=False)
                grad_x = torch.sparse.mm(a_t, grad.view(groups * n, c)).view(groups, n, c)
            if ctx.needs_input_grad[0]:
                # dα[g, (i, j)] = <grad[g, i], x[g, j]>: grad_g x_g^T sampled at the pattern
                pattern3 = torch.sparse_csr_tensor(crow3, col3, torch.zeros_like(alpha),
                                                   (groups, n, n), check_invariants=False)
                grad_alpha = torch.sparse.sampled_addmm(pattern3, grad, x.transpose(1, 2),
                                                        beta=0.0).values()
        return grad_alpha, grad_x, None


class EdgeSoftmax(torch.autograd.Function):
    r"""PyG's attention coefficients for ``G`` maps: ``α = softmax_i(leaky_relu(s_j + d_i))``.

    ``scores`` is ``(G, N, 2)``: ``a_src·z`` and ``a_dst·z`` of every node. The
    result is ``(G, E)`` in the pattern's CSR order. The forward pass makes the
    same operations as ``GATConv`` (gathers, leaky ReLU 0.2, PyG's ``softmax``:
    scatter max, ``exp``, scatter sum ``+ 1e-16``), in place after the leaky ReLU. The
    backward pass uses the softmax gradient ``α (g - Σ_i α g)`` directly instead of
    differentiating each step, so it keeps two ``(G, E)`` tensors (``α`` and the raw
    scores) rather than every intermediate.
    """

    @staticmethod
    def forward(ctx: Any, scores: Tensor, pattern: AttentionPattern) -> Tensor:
        src, dst, n = pattern.src, pattern.dst, pattern.n
        raw = scores[:, :, 0].index_select(1, src)
        raw.add_(scores[:, :, 1].index_select(1, dst))
        alpha = F.leaky_relu(raw, 0.2)
        # a max is exact in any order, so this one need not go through PyG's scatter
        top = alpha.new_full((alpha.size(0), n), -math.inf)
        top.scatter_reduce_(1, dst.expand_as(alpha), alpha, "amax")
        alpha.sub_(top.index_select(1, dst))
        alpha.exp_()
        total = scatter(alpha, dst, 1, dim_size=n, reduce="sum") + 1e-16
        alpha.div_(total.index_select(1, dst))
        ctx.save_for_backward(alpha, raw)
        ctx.pattern = pattern
        return alpha

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        alpha, raw = ctx.saved_tensors
        pattern: AttentionPattern = ctx.pattern
        src, dst, n = pattern.src, pattern.dst, pattern.n
        d = grad * alpha
        offsets = pattern.crow.expand(d.size(0), -1).contiguous()  # one row per map
        d.sub_(torch.segment_reduce(d, "sum", offsets=offsets, axis=1)
               .index_select(1, dst).mul_(alpha))
        d = torch.ops.aten.leaky_relu_backward(d, raw, 0.2, False)
        return torch.stack([scatter(d, src, 1, dim_size=n, reduce="sum"),
                            torch.segment_reduce(d, "sum", offsets=offsets, axis=1)], -1), None



def attention_noise(shape: Sequence[int], dropout: Sequence[float], draw: Sequence[bool],
                     generators: Sequence[torch.Generator], dtype: torch.dtype,
                     device: torch.device) -> Tensor:
    """Each member's attention-dropout noise, ``(B, E, H)``, as ``GATConv``'s ``F.dropout``.

    ``F.dropout`` on CPU draws ``empty_like(alpha).bernoulli_(1 - p)`` and divides
    by ``1 - p``; the members draw the same from their generators. Members with
    ``p = 0``, or that skip attention (``draw`` false: λ fixed at 0), draw nothing
    and get ones, as in ``fit``.
    """
    count = len(dropout)
    buf = torch.empty((count, *shape), dtype=dtype, device=device)
    for b, (p, gen, d) in enumerate(zip(dropout, generators, draw, strict=True)):
        if p > 0 and d:
            buf[b].bernoulli_(1.0 - p, generator=gen).div_(1.0 - p)
        else:
            buf[b].fill_(1.0)
    return buf

