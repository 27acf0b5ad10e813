r"""Vectorised multi-configuration training: B GCN configurations in one model pass.

Studies and seed sweeps are thousands of tiny trainings. :func:`fit_many`
trains B configurations ("members") of the same architecture together: every
weight is stacked over members (``(B, in, out)``), the hidden activations of
all members sit side by side in one ``(N, B, H)`` tensor, and each layer runs
**one** sparse propagation over the concatenated channels,

.. math::
    H^{(l)}_b = (1 - \lambda_{l,b})\, Z_b + \lambda_{l,b}\, \hat P Z_b + b^{(l)}_b,
    \qquad Z_b = \mathrm{dropout}_b(H^{(l-1)}_b)\, W^{(l)}_b,
    \qquad [\hat P Z_1 | \dots | \hat P Z_B] = \hat P\, [Z_1 | \dots | Z_B],

with :math:`\hat P = \hat D^{-1/2}(A + I)\hat D^{-1/2}` normalised once (PyG's
``gcn_norm``, as ``GCNConv(cached=True)``). The members' losses are **summed**,

.. math::
    \mathcal{L} = \sum_b \mathcal{L}_b, \qquad
    \mathcal{L}_b = -\frac{1}{|T|} \sum_{i \in T} \sum_c q_{b,ic}
        \log \mathrm{softmax}(z_{b,i})_c, \qquad
    q_b = (1 - \epsilon_b)\, e_{y_{b,i}} + \epsilon_b\, \pi_{b,i},

so :math:`\partial \mathcal{L} / \partial \theta_b = \partial \mathcal{L}_b /
\partial \theta_b`: each member gets exactly its own gradient (a mean would
divide it by B). :class:`BatchedAdam` then steps every member with its own
learning rate and weight decay, with ``torch.optim.Adam``'s arithmetic.

**Each member is the run** ``fit(data, configs[b])`` **would make.** Its
weights are initialised as ``fit`` initialises them (``torch.manual_seed(seed)``
then :func:`graphls.train.build_model`), and its dropout masks come from its
own ``torch.Generator``, started in the state that ``fit``'s global generator
has after initialisation, drawing the same tensors in the same order (input
dropout on the stored feature values, then each hidden layer's ``(N, H)``
mask). So on CPU a member's selected epoch, history and metrics equal the
separate run's up to floating-point summation order (exactly equal numbers in
practice in float64; see ``tests/test_batched.py``). On CUDA a member's
generator is seeded with its seed (a CUDA generator cannot take the CPU
generator's state), so members there are equally distributed but not
draw-for-draw equal to ``fit``.

Each member keeps ``fit``'s epoch selection rule (best validation accuracy, or
ROC AUC for ``select="roc_auc"``, then lower validation NLL, then the earliest
epoch; members may differ in ``select``), its own ``patience`` and
``epochs``, and is evaluated with ``fit``'s metrics and temperature scaling.
A member that stops (patience, its epoch budget, or pruning through
``on_epoch``) leaves the batch: the stacked tensors are compacted, so the
others run faster.

GAT members are stacked the same way (:func:`_gat_forward`): their ``B × heads``
attention maps share the edge pattern, so scores, softmax and dropout are each one
operation and the aggregation is one sparse product with a block-diagonal matrix
(:class:`_AttentionAggregate`). Attention dropout is drawn as ``GATConv`` draws it
(``bernoulli_`` over its edge order), so GAT members equal ``fit`` as well.
Most of GAT's work is per member and per edge, so batching gains less there
(1.4-1.6x per run on Cora) than for GCN.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphls.nn import _Transposed, csr_matmul
from graphls.train import (
    SPLITS,
    TrainConfig,
    TrainResult,
    _epsilon_at,
    _initial_best,
    _MaskView,
    _split_metrics,
    build_model,
    check_auc_defined,
    graph_inputs,
    make_prior,
    val_roc_auc,
)

__all__ = ["BatchedAdam", "StopMember", "batch_key", "fit_many"]

#: ``on_epoch(member, epoch, val)``; return ``False`` (or raise :class:`StopMember`) to stop
#: that member.
MemberHook = Callable[[int, int, dict[str, float]], "bool | None"]

#: The ``TrainConfig`` fields that members trained together must share.
BATCH_FIELDS = ("model", "hidden", "layers", "heads", "learn_structural", "device")


class StopMember(Exception):
    """Raised by an ``on_epoch`` hook of :func:`fit_many` to stop (prune) that one member.

    The member leaves the batch at once; its result is ``None``. The other
    members go on.
    """


def batch_key(config: TrainConfig) -> tuple[Any, ...]:
    """What configurations must share to train in one batch (:data:`BATCH_FIELDS`).

    ``heads`` counts for GAT only. Everything else (ε, λ, prior, lr, weight
    decay and its scope, dropout, seed, epochs, patience, label noise, ε
    schedule) may differ per member.
    """
    values = [getattr(config, name) for name in BATCH_FIELDS]
    if config.model != "gat":
        values[BATCH_FIELDS.index("heads")] = None
    return tuple(values)


# ---------------------------------------------------------------------------
# the optimiser
# ---------------------------------------------------------------------------

class BatchedAdam:
    r"""``torch.optim.Adam`` (L2 penalty, no AMSGrad) over stacked parameters ``(B, ...)``.

    Member ``b`` of every parameter gets its own learning rate
    :math:`\alpha_b` and weight decay :math:`w_b`; with step :math:`t`:

    .. math::
        g \leftarrow g + w_b\, \theta, \quad
        m \leftarrow \beta_1 m + (1 - \beta_1)\, g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2)\, g^2, \quad
        \theta \leftarrow \theta - \frac{\alpha_b}{1 - \beta_1^t}\,
            \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \varepsilon}

    in the order of operations of ``torch.optim.Adam``'s single-tensor CPU
    implementation (``lerp_``, ``addcmul_``, ``addcdiv_``), so one member
    follows the trajectory ``torch.optim.Adam`` gives that member alone.

    Args:
        params: Leaf tensors, each ``(B, ...)``.
        lr: One learning rate per member (B floats).
        weight_decay: Per parameter, one decay per member (B floats each).
        betas: ``(β1, β2)``.
        eps: ``ε`` added to the denominator.
    """

    def __init__(self, params: Sequence[Tensor], lr: Sequence[float],
                 weight_decay: Sequence[Sequence[float]], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = list(params)
        if len(weight_decay) != len(self.params):
            raise ValueError(f"weight_decay must hold one sequence per parameter "
                             f"({len(self.params)}); got {len(weight_decay)}")
        self.lr = [float(v) for v in lr]
        self.weight_decay = [[float(v) for v in wd] for wd in weight_decay]
        for name, seq in (("lr", self.lr), *(("weight_decay", wd) for wd in self.weight_decay)):
            for p in self.params:
                if p.size(0) != len(seq):
                    raise ValueError(f"{name} must hold one value per member ({p.size(0)}); "
                                     f"got {len(seq)}")
        self.betas = betas
        self.eps = eps
        self.steps = 0
        self._tensors: dict[tuple[Any, ...], Tensor] = {}
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format)
                        for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format)
                           for p in self.params]

    def zero_grad(self) -> None:
        """Drop every gradient (``set_to_none``)."""
        for p in self.params:
            p.grad = None

    def _member_tensor(self, values: Sequence[float], like: Tensor) -> Tensor:
        """``values`` as a ``(B, 1, ...)`` tensor broadcasting against ``like`` (cached)."""
        key = (tuple(values), like.dtype, like.device, like.dim())
        held = self._tensors.get(key)
        if held is None:
            held = self._tensors[key] = torch.tensor(
                values, dtype=like.dtype, device=like.device).view((-1,) + (1,) * (like.dim() - 1))
        return held

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step for every member (parameters without a gradient are skipped)."""
        self.steps += 1
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1 ** self.steps
        bias_correction2_sqrt = (1 - beta2 ** self.steps) ** 0.5
        neg_step = [-(lr / bias_correction1) for lr in self.lr]
        for p, m, v, wd in zip(self.params, self.exp_avg, self.exp_avg_sq, self.weight_decay,
                               strict=True):
            if p.grad is None:
                continue
            grad = p.grad
            if any(w != 0 for w in wd):
                grad = grad.addcmul(p, self._member_tensor(wd, p))
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.add_(self._member_tensor(neg_step, p) * m / denom)

    def keep(self, index: Sequence[int], params: Sequence[Tensor]) -> None:
        """Keep members ``index`` only (state compacted); ``params`` are the new leaves."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.params[0].device)
        self.params = list(params)
        self.lr = [self.lr[i] for i in index]
        self.weight_decay = [[wd[i] for i in index] for wd in self.weight_decay]
        self.exp_avg = [m.index_select(0, idx) for m in self.exp_avg]
        self.exp_avg_sq = [v.index_select(0, idx) for v in self.exp_avg_sq]


# ---------------------------------------------------------------------------
# the graph, prepared once
# ---------------------------------------------------------------------------

@dataclass
class _SparseX:
    """CSR features and their transpose (with the permutation of the stored values)."""

    crow: Tensor
    col: Tensor
    values: Tensor
    crow_t: Tensor
    col_t: Tensor
    perm: Tensor
    shape: tuple[int, int]

    @classmethod
    def from_csr(cls, x: Tensor) -> _SparseX:
        crow, col, values = x.crow_indices(), x.col_indices(), x.values()
        n, f = x.shape
        row = torch.repeat_interleave(torch.arange(n, device=crow.device), crow.diff())
        perm = torch.argsort(col * n + row)  # (col, row) order: the CSR of x^T
        counts = torch.bincount(col, minlength=f)
        crow_t = torch.zeros(f + 1, dtype=crow.dtype, device=crow.device)
        crow_t[1:] = counts.cumsum(0)
        return cls(crow, col, values, crow_t, row[perm].to(col.dtype), perm, (n, f))

    def csr(self, values: Tensor) -> Tensor:
        return torch.sparse_csr_tensor(self.crow, self.col, values, self.shape,
                                       check_invariants=False)

    def csr_t(self, values_t: Tensor) -> Tensor:
        """``X^T`` with ``values_t = values[perm]`` (stored values in ``X^T``'s order)."""
        return torch.sparse_csr_tensor(self.crow_t, self.col_t, values_t,
                                       (self.shape[1], self.shape[0]), check_invariants=False)


class _MemberSparseMM(torch.autograd.Function):
    """``out[:, b] = X_b @ W_b`` for CSR ``X_b`` (values ``values[b]``); gradient for ``W`` only.

    torch's own backward of a CSR product converts layouts on every call (20x
    slower here); this one reuses the precomputed CSR of ``X^T``.
    """

    @staticmethod
    def forward(ctx: Any, weight: Tensor, values: Tensor, sx: _SparseX) -> Tensor:
        n = sx.shape[0]
        out = weight.new_empty((n, weight.size(0), weight.size(2)))
        for b in range(weight.size(0)):
            out[:, b] = torch.sparse.mm(sx.csr(values[b]), weight[b])
        ctx.save_for_backward(values)
        ctx.sx = sx
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (values,) = ctx.saved_tensors
        sx: _SparseX = ctx.sx
        g = grad.transpose(0, 1).contiguous()
        values_t = values.index_select(1, sx.perm)  # in the order of X^T's CSR (3x faster
        # than values[:, perm] here)
        grad_w = torch.stack([torch.sparse.mm(sx.csr_t(values_t[b]), g[b])
                              for b in range(values.size(0))])
        return grad_w, None, None


@dataclass
class _Graph:
    x: Tensor  # dense (N, F) or CSR
    sparse: _SparseX | None
    adj: Tensor  # normalised CSR adjacency (N, N), row = target
    adj_transposed: _Transposed
    y: Tensor
    masks: dict[str, Tensor]
    num_classes: int
    edge_index: Tensor
    attention: _AttentionPattern | None = None

    def attention_pattern(self) -> _AttentionPattern:
        """The edges ``GATConv`` attends over (built once)."""
        if self.attention is None:
            self.attention = _AttentionPattern.build(self.edge_index, self.x.size(0))
        return self.attention


@dataclass
class _AttentionPattern:
    """The attention edges in CSR order (by target, then source) and their transpose.

    ``GATConv`` removes the self-loops of ``edge_index`` and appends one per node
    on every call. Its attention-dropout mask is drawn over the edges in that
    order; ``order[k]`` is the position there of the ``k``-th edge here, so the
    members draw ``fit``'s masks and then reorder them.
    """

    n: int
    src: Tensor  # (E,) sources, CSR order
    dst: Tensor  # (E,) targets, CSR order (sorted)
    crow: Tensor  # (N + 1,) row pointers over targets
    order: Tensor  # (E,) CSR position -> GATConv's edge position
    perm_t: Tensor  # (E,) the transpose's CSR order (by source, then target)
    crow_t: Tensor
    col_t: Tensor
    blocks: dict[int, tuple[Tensor, ...]]

    @classmethod
    def build(cls, edge_index: Tensor, n: int) -> _AttentionPattern:
        from torch_geometric.utils import add_self_loops, remove_self_loops

        ei, _ = remove_self_loops(edge_index)
        ei, _ = add_self_loops(ei, num_nodes=n)
        src, dst = ei[0], ei[1]
        order = torch.argsort(dst * n + src)
        src, dst = src[order].contiguous(), dst[order].contiguous()
        crow = torch.zeros(n + 1, dtype=torch.long, device=src.device)
        crow[1:] = torch.bincount(dst, minlength=n).cumsum(0)
        perm_t = torch.argsort(src * n + dst)
        crow_t = torch.zeros(n + 1, dtype=torch.long, device=src.device)
        crow_t[1:] = torch.bincount(src, minlength=n).cumsum(0)
        return cls(n, src, dst, crow, order, perm_t, crow_t, dst[perm_t].contiguous(), {})

    def block_diagonal(self, groups: int) -> tuple[Tensor, ...]:
        """CSR indices of ``groups`` copies of the pattern on the diagonal, and of its transpose."""
        held = self.blocks.get(groups)
        if held is None:
            if len(self.blocks) >= 4:  # members leave a batch: keep a few recent sizes only
                self.blocks.pop(next(iter(self.blocks)))
            e, n = self.src.numel(), self.n
            g = torch.arange(groups, device=self.src.device).unsqueeze(1)
            last = torch.tensor([groups * e], device=self.src.device)
            held = (torch.cat([(self.crow[:-1] + g * e).reshape(-1), last]),
                    (self.src + g * n).reshape(-1),
                    torch.cat([(self.crow_t[:-1] + g * e).reshape(-1), last]),
                    (self.col_t + g * n).reshape(-1),
                    self.crow.expand(groups, -1).contiguous(),
                    self.src.expand(groups, -1).contiguous())
            self.blocks[groups] = held
        return held


class _AttentionAggregate(torch.autograd.Function):
    r"""``out[g, i] = Σ_j α[g, (i, j)] x[g, j]`` for ``G`` attention maps on one edge pattern.

    ``alpha`` is ``(G, E)`` in the pattern's CSR order and ``x`` is ``(G, N, C)``.
    The forward pass is one sparse product with the block-diagonal matrix of the
    ``G`` maps. The backward pass is its transpose for ``x`` and a sampled
    product (``torch.sparse.sampled_addmm``) for ``α``. No ``(E, G, C)`` message
    tensor is made: gathering, multiplying and scattering one was 3-4x slower.
    """

    @staticmethod
    def forward(ctx: Any, alpha: Tensor, x: Tensor, pattern: _AttentionPattern) -> Tensor:
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
        pattern: _AttentionPattern = ctx.pattern
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


class _EdgeSoftmax(torch.autograd.Function):
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
    def forward(ctx: Any, scores: Tensor, pattern: _AttentionPattern) -> Tensor:
        from torch_geometric.utils import scatter

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
        from torch_geometric.utils import scatter

        alpha, raw = ctx.saved_tensors
        pattern: _AttentionPattern = ctx.pattern
        src, dst, n = pattern.src, pattern.dst, pattern.n
        d = grad * alpha
        offsets = pattern.crow.expand(d.size(0), -1).contiguous()  # one row per map
        d.sub_(torch.segment_reduce(d, "sum", offsets=offsets, axis=1)
               .index_select(1, dst).mul_(alpha))
        d = torch.ops.aten.leaky_relu_backward(d, raw, 0.2, False)
        return torch.stack([scatter(d, src, 1, dim_size=n, reduce="sum"),
                            torch.segment_reduce(d, "sum", offsets=offsets, axis=1)], -1), None


_CACHE: dict[str, Any] = {}


def _prepare(data: Any, device: torch.device, splits: Sequence[str]) -> _Graph:
    """Features, normalised adjacency and masks as ``fit`` reads them (cached per data)."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    key = (id(data), str(device), torch.get_default_dtype(), tuple(splits),
           *(id(getattr(data, name, None)) for name in
             ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")))
    if _CACHE.get("key") == key and _CACHE.get("data") is data:
        return _CACHE["graph"]
    x, edge_index, y, masks, num_classes = graph_inputs(data, device, splits)
    n = x.size(0)
    dtype = torch.get_default_dtype()
    ei, ew = gcn_norm(edge_index, None, n, False, True, "source_to_target", dtype)
    adj = torch.sparse_coo_tensor(torch.stack([ei[1], ei[0]]), ew, (n, n),
                                  check_invariants=False).coalesce()
    with warnings.catch_warnings():  # torch's once-per-process "CSR support is in beta"
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
        adj = adj.to_sparse_csr()
    graph = _Graph(x=x, sparse=_SparseX.from_csr(x) if x.layout == torch.sparse_csr else None,
                   adj=adj, adj_transposed=_Transposed(adj), y=y, masks=masks,
                   num_classes=num_classes, edge_index=edge_index)
    _CACHE.update(key=key, data=data, graph=graph)
    return graph


# ---------------------------------------------------------------------------
# the stacked GCN
# ---------------------------------------------------------------------------

def _mix(structural: Sequence[Sequence[float]], logits: Sequence[Tensor] | None, layer: int,
         like: Tensor) -> tuple[Tensor, Tensor] | float:
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


def _member_noise(shape: Sequence[int], dropout: Sequence[float],
                  generators: Sequence[torch.Generator], dtype: torch.dtype,
                  device: torch.device) -> Tensor:
    """Each member's dropout noise, stacked ``(B, *shape)``: :func:`~graphls.models.dropout_noise`
    from the member's generator (ones where ``p = 0``, which draws nothing, as ``fit``).

    The uniform numbers are drawn member by member into one buffer; the masks and
    their ``1 / (1 - p)`` scaling are then one operation for all members.
    """
    count = len(dropout)
    buf = torch.empty((count, *shape), dtype=dtype, device=device)
    for b, (p, gen) in enumerate(zip(dropout, generators, strict=True)):
        if p > 0:
            torch.rand(tuple(shape), generator=gen, dtype=dtype, device=device, out=buf[b])
        else:
            buf[b].fill_(1.0)
    view = (count,) + (1,) * len(shape)
    p_t = torch.tensor(list(dropout), dtype=dtype, device=device).view(view)
    keep_scale = torch.tensor([1.0 - p for p in dropout], dtype=dtype, device=device).view(view)
    return buf.ge_(p_t).div_(keep_scale)  # in place: the uniforms' buffer becomes the noise


def _first_layer(graph: _Graph, w: Tensor, dropout: Sequence[float] | None,
                 generators: Sequence[torch.Generator]) -> Tensor:
    """``X W_b`` per member, ``(N, B, H)``; with per-member input dropout when given."""
    b_count, in_dim, out_dim = w.shape
    n = graph.x.size(0)
    if dropout is None or all(p == 0 for p in dropout):
        # one product for every member: X [W_1 | ... | W_B]
        w_cat = w.permute(1, 0, 2).reshape(in_dim, b_count * out_dim)
        return (graph.x @ w_cat).view(n, b_count, out_dim)
    if graph.sparse is not None:  # dropout on the stored values, as models.feature_dropout
        vals = graph.sparse.values
        dropped = vals * _member_noise(vals.shape, dropout, generators, vals.dtype, vals.device)
        return _MemberSparseMM.apply(w, dropped, graph.sparse)
    x = graph.x
    noise = _member_noise(x.shape, dropout, generators, x.dtype, x.device)
    return torch.stack([(x if p == 0 else x * noise[b]) @ w[b]
                        for b, p in enumerate(dropout)], 1)


def _member_matmul(h: Tensor, w: Tensor) -> Tensor:
    """``h[:, b] @ w[b]`` for every member: ``(N, B, I) x (B, I, O) -> (N, B, O)``, one ``bmm``.

    The result is made contiguous: the element-wise work that follows (λ mix, bias,
    ReLU, the flattening for the sparse product) is several times slower on the
    transposed view.
    """
    return torch.bmm(h.transpose(0, 1), w).transpose(0, 1).contiguous()


def _forward(graph: _Graph, weights: Sequence[Tensor], biases: Sequence[Tensor],
             logits: Sequence[Tensor] | None, structural: Sequence[Sequence[float]],
             dropout: Sequence[float] | None, generators: Sequence[torch.Generator]) -> Tensor:
    """The stacked GCN: logits ``(N, B, K)``; ``dropout=None`` is the eval pass.

    Layer by layer, as ``GCN.forward`` for each member: dropout, ``Z = H W``,
    ``(1 - λ) Z + λ P Z`` (one sparse product for all members), ``+ b``, ReLU
    between layers. Dropout masks are drawn member by member from the members'
    generators, in ``fit``'s order.
    """
    num_layers = len(weights)
    h: Tensor | None = None
    for layer in range(num_layers):
        if h is None:
            z = _first_layer(graph, weights[0], dropout, generators)
        else:
            if dropout is not None and any(p > 0 for p in dropout):
                n, _, width = h.shape
                noise = _member_noise((n, width), dropout, generators, h.dtype, h.device)
                h = h * noise.transpose(0, 1)
            z = _member_matmul(h, weights[layer])
        n, b_count, width = z.shape
        mix = _mix(structural, logits, layer, z)
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


def _attention_noise(shape: Sequence[int], dropout: Sequence[float], draw: Sequence[bool],
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


def _gat_forward(graph: _Graph, params: _Params, structural: Sequence[Sequence[float]],
                 dropout: Sequence[float] | None, generators: Sequence[torch.Generator]
                 ) -> Tensor:
    r"""The stacked GAT: logits ``(N, B, K)``; ``dropout=None`` is the eval pass.

    Layer by layer, as ``GAT.forward`` with ``StructuralGATConv`` for each member:
    dropout, ``Z = H W`` viewed as ``heads`` blocks of ``C`` channels, PyG's
    attention (``a_src·z_j + a_dst·z_i``, leaky ReLU 0.2, softmax over each
    target's incoming edges, attention dropout), ``(1 - λ) Z_i + λ Σ_j α_ij Z_j``
    per head, heads concatenated (hidden layers) or averaged (output), ``+ b``,
    ELU between layers. Members come first here (``(B, N, ·)``, and
    ``G = B · heads`` attention maps), so every step is one operation over all
    of them and the aggregation one sparse product (:class:`_AttentionAggregate`).
    """
    pattern = graph.attention_pattern()
    src = pattern.src
    num_layers = len(params.weights)
    training = dropout is not None and any(p > 0 for p in dropout)
    logits = params.logits if params.logits else None
    h: Tensor | None = None  # (B, N, D)
    for layer in range(num_layers):
        if h is None:
            z = _first_layer(graph, params.weights[0], dropout, generators).transpose(0, 1)
        else:
            if training:
                assert dropout is not None
                n, width = h.shape[1:]
                h = h * _member_noise((n, width), dropout, generators, h.dtype, h.device)
            z = torch.bmm(h, params.weights[layer])
        b_count, n, width = z.shape
        att_src, att_dst = params.att_src[layer], params.att_dst[layer]  # (B, heads, C)
        heads = att_src.size(1)
        channels, groups = width // heads, b_count * heads
        xs = z.view(b_count, n, heads, channels).transpose(1, 2).reshape(groups, n, channels)
        mix = _mix(structural, logits, layer, z)
        if isinstance(mix, float) and mix == 0.0:
            out = xs  # λ = 0 for every member: no attention, as StructuralGATConv
        else:
            # a_src·z and a_dst·z of every node, head and member: one batched product
            att = torch.stack([att_src, att_dst], -1).view(groups, channels, 2)
            scores = torch.bmm(xs, att)  # (G, N, 2)
            alpha = _EdgeSoftmax.apply(scores, pattern)  # (G, E)
            if training:
                assert dropout is not None
                draw = [logits is not None or s[layer] != 0.0 for s in structural]
                noise = _attention_noise((src.numel(), heads), dropout, draw, generators,
                                         alpha.dtype, alpha.device)  # GATConv's edge order
                alpha = (alpha.view(b_count, heads, -1)
                         * noise.index_select(1, pattern.order).transpose(1, 2)
                         ).view(groups, -1)
            aggregated = _AttentionAggregate.apply(alpha, xs, pattern)  # (G, N, C)
            if isinstance(mix, float):  # λ = 1 for every member
                out = aggregated
            else:
                one_minus, lam = (m.repeat_interleave(heads).view(-1, 1, 1) for m in mix)
                out = one_minus * xs + lam * aggregated
        out = out.view(b_count, heads, n, channels)
        bias = params.biases[layer].unsqueeze(1)  # (B, 1, D)
        if layer < num_layers - 1:
            h = F.elu(out.transpose(1, 2).reshape(b_count, n, width) + bias)
        else:
            h = out.mean(1) + bias
    assert h is not None
    return h.transpose(0, 1)


@dataclass
class _Params:
    """One state of the stacked parameters, by kind and layer (see :meth:`_Members.unpack`)."""

    weights: list[Tensor]
    biases: list[Tensor]
    logits: list[Tensor]
    att_src: list[Tensor]
    att_dst: list[Tensor]


class _Members:
    """The active members' stacked parameters, dropout generators and loss targets."""

    def __init__(self, graph: _Graph, configs: Sequence[TrainConfig]) -> None:
        self.graph = graph
        self.configs = list(configs)
        self.ids = list(range(len(configs)))
        cfg0 = configs[0]
        self.num_layers = cfg0.layers
        self.learn = cfg0.learn_structural
        self.gat = cfg0.model == "gat"
        device = graph.y.device
        in_channels = graph.x.size(1)
        weights: list[list[Tensor]] = [[] for _ in range(self.num_layers)]
        biases: list[list[Tensor]] = [[] for _ in range(self.num_layers)]
        logits: list[list[Tensor]] = [[] for _ in range(self.num_layers)]
        atts: list[list[Tensor]] = [[] for _ in range(2 * self.num_layers)]
        self.generators: list[torch.Generator] = []
        for cfg in configs:
            # fit(): seed_everything(seed), then build_model draws the initial weights.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.seed)
                model = build_model(cfg, in_channels, graph.num_classes)
                state = torch.get_rng_state()
            gen = torch.Generator(device=device)
            if device.type == "cpu":
                gen.set_state(state)  # where fit's global generator is after initialisation
            else:
                gen.manual_seed(cfg.seed)
            self.generators.append(gen)
            for i, conv in enumerate(model.convs):
                weights[i].append(conv.lin.weight.detach().t())
                biases[i].append(conv.bias.detach())
                if self.learn:
                    logits[i].append(conv.structural_logit.detach())
                if self.gat:  # (1, heads, C) attention vectors, as (heads, C)
                    atts[i].append(conv.att_src.detach()[0])
                    atts[self.num_layers + i].append(conv.att_dst.detach()[0])
        self.weights = [torch.stack(w).to(device).requires_grad_() for w in weights]
        self.biases = [torch.stack(b).to(device).requires_grad_() for b in biases]
        self.logits = ([torch.stack(t).to(device).requires_grad_() for t in logits]
                       if self.learn else [])
        # GAT: attention vectors a_src of every layer, then a_dst of every layer
        self.atts = ([torch.stack(t).to(device).requires_grad_() for t in atts]
                     if self.gat else [])
        dtype = self.weights[0].dtype
        self.structural = [list(c.structural) if isinstance(c.structural, tuple)
                           else [float(c.structural)] * self.num_layers for c in configs]
        self.dropout = [float(c.dropout) for c in configs]

        # loss targets q = (1 - eps) onehot + eps prior, stacked (n_train, B, K)
        masks = graph.masks
        self.train_idx = masks["train"].nonzero().view(-1)
        k = graph.num_classes
        train_view = _MaskView(graph.edge_index, masks["train"])
        onehots, priors = [], []
        for cfg in configs:
            y_train = graph.y
            if cfg.label_noise > 0:
                from graphls.data import add_label_noise

                y_train = add_label_noise(graph.y, masks["train"], cfg.label_noise,
                                          kind=cfg.noise_kind, seed=cfg.seed, num_classes=k)
            onehots.append(F.one_hot(y_train[self.train_idx], k).to(dtype))
            prior = make_prior(train_view, y_train, cfg, k)
            if prior is None:
                prior = torch.full((k,), 1.0 / k, device=device)
            priors.append(prior.to(dtype).expand(self.train_idx.numel(), k))
        self.onehot = torch.stack(onehots, 1)
        self.prior = torch.stack(priors, 1)
        self.epsilon_at = [_epsilon_at(c) for c in configs]

    # -- parameters --------------------------------------------------------
    def parameters(self) -> list[Tensor]:
        return [*self.weights, *self.biases, *self.logits, *self.atts]

    def unpack(self, state: Sequence[Tensor]) -> _Params:
        """A list ordered as :meth:`parameters` (e.g. a saved state), by kind and layer."""
        n = self.num_layers
        logits_end = 2 * n + (n if self.learn else 0)
        atts = list(state[logits_end:])
        return _Params(weights=list(state[:n]), biases=list(state[n:2 * n]),
                       logits=list(state[2 * n:logits_end]), att_src=atts[:n], att_dst=atts[n:])

    def run(self, state: Sequence[Tensor], structural: Sequence[Sequence[float]],
            dropout: Sequence[float] | None, generators: Sequence[torch.Generator]) -> Tensor:
        """Logits ``(N, B, K)`` of the stacked GCN or GAT with parameters ``state``."""
        params = self.unpack(state)
        if self.gat:
            return _gat_forward(self.graph, params, structural, dropout, generators)
        return _forward(self.graph, params.weights, params.biases,
                        params.logits if self.learn else None, structural, dropout, generators)

    def weight_decay(self) -> list[list[float]]:
        """Per parameter, per member: ``fit``'s ``param_groups`` rule."""
        out = []
        n = self.num_layers
        for kind, group in (("w", self.weights), ("b", self.biases), ("t", self.logits),
                            ("w", self.atts[:n]), ("w", self.atts[n:])):
            for layer in range(len(group)):
                out.append([0.0 if kind == "t" else
                            c.weight_decay if layer == 0 or c.weight_decay_scope == "all"
                            else 0.0 for c in self.configs])
        return out

    def state(self) -> list[Tensor]:
        return [p.detach() for p in self.parameters()]

    def keep(self, index: Sequence[int]) -> list[Tensor]:
        """Keep members ``index`` (positions among the active ones); return the new leaves."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.weights[0].device)

        def pick(ts: list[Tensor]) -> list[Tensor]:
            return [t.detach().index_select(0, idx).requires_grad_() for t in ts]

        self.weights, self.biases, self.logits = (pick(self.weights), pick(self.biases),
                                                  pick(self.logits))
        self.atts = pick(self.atts)
        for name in ("configs", "ids", "generators", "structural", "dropout", "epsilon_at"):
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in index])
        self.onehot = self.onehot.index_select(1, idx)
        self.prior = self.prior.index_select(1, idx)
        return self.parameters()

    # -- forward -----------------------------------------------------------
    def forward(self, training: bool) -> Tensor:
        """Logits ``(N, B, K)`` of the active members (dropout when ``training``)."""
        return self.run(self.parameters(), self.structural, self.dropout if training else None,
                        self.generators)

    def loss(self, logits: Tensor, epoch: int) -> tuple[Tensor, list[float], list[float]]:
        """Summed loss, and each member's loss and ε at ``epoch``."""
        eps = [float(e(epoch)) for e in self.epsilon_at]
        logp = F.log_softmax(logits[self.train_idx], dim=-1)  # (n_train, B, K)
        e = torch.tensor(eps, dtype=logp.dtype, device=logp.device).view(1, -1, 1)
        target = (1.0 - e) * self.onehot + e * self.prior
        per_member = -(target * logp).sum(-1).mean(0)
        return per_member.sum(), per_member.detach().tolist(), eps


# ---------------------------------------------------------------------------
# fit_many
# ---------------------------------------------------------------------------

def fit_many(data: Any, configs: Sequence[TrainConfig], on_epoch: MemberHook | None = None, *,
             splits: Sequence[str] = SPLITS, group: bool = False
             ) -> list[TrainResult | None]:
    """Train ``configs`` together; member ``b``'s result is what ``fit(data, configs[b])`` gives.

    Args:
        data: As for :func:`graphls.train.fit`.
        configs: The members. They must share :data:`BATCH_FIELDS` (model,
            hidden, layers, heads for GAT, learn_structural, device) unless
            ``group=True``; everything else may differ.
        on_epoch: Called after every epoch of every active member as
            ``on_epoch(member, epoch, val)`` with ``fit``'s ``val`` dict
            (``accuracy``, ``nll``, ``best_accuracy``, ``best_nll``; also
            ``roc_auc`` and ``best_roc_auc`` for a ``select="roc_auc"`` member). Returning
            ``False`` or raising :class:`StopMember` stops (prunes) that member;
            any other exception propagates and ends the whole call.
        splits: The splits evaluated at the end (the tuner passes ``("train", "val")``).
        group: Split ``configs`` into groups of equal :func:`batch_key` and train
            each group as one batch, instead of raising.

    Returns:
        One entry per config, in order: a :class:`~graphls.train.TrainResult`,
        or ``None`` for a pruned member. ``wall_time`` is the member's share of
        the batch's training time plus its own evaluation.

    Raises:
        ValueError: ``configs`` is empty, or (``group=False``) its members differ in a
            :data:`BATCH_FIELDS` field, or a ``select="roc_auc"`` member meets
            validation labels of a single class.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig; got none")
    for i, c in enumerate(configs):
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs[{i}] must be a TrainConfig; got {type(c).__name__}")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(batch_key(c), []).append(i)
    if len(groups) > 1 and not group:
        first = batch_key(configs[0])
        i = next(i for i, c in enumerate(configs) if batch_key(c) != first)
        name = next(n for n, a, b in zip(BATCH_FIELDS, first, batch_key(configs[i]), strict=True)
                    if a != b)
        raise ValueError(
            f"configs must share {', '.join(BATCH_FIELDS)} to train in one batch; got "
            f"{name}={getattr(configs[0], name)!r} (config 0) and "
            f"{name}={getattr(configs[i], name)!r} (config {i}); pass group=True to train "
            "each group separately")
    results: list[TrainResult | None] = [None] * len(configs)
    for idxs in groups.values():
        hook = None
        if on_epoch is not None:
            def hook(b: int, epoch: int, val: dict[str, float], _idxs: list[int] = idxs
                     ) -> bool | None:
                return on_epoch(_idxs[b], epoch, val)
        members = [configs[i] for i in idxs]
        out = _fit_batch(data, members, hook, splits)
        for i, r in zip(idxs, out, strict=True):
            results[i] = r
    return results


def _fit_batch(data: Any, configs: Sequence[TrainConfig], on_epoch: MemberHook | None,
                   splits: Sequence[str]) -> list[TrainResult | None]:
    from graphls.calibration import TemperatureScaling

    start = time.perf_counter()
    device = torch.device(configs[0].device)
    graph = _prepare(data, device, splits)
    members = _Members(graph, configs)
    optimizer = BatchedAdam(members.parameters(), [c.lr for c in configs],
                            members.weight_decay())
    count = len(configs)
    val_mask = graph.masks["val"]
    y_val = graph.y[val_mask]
    n_val = max(y_val.numel(), 1)

    by_auc = [c.select == "roc_auc" for c in configs]
    if any(by_auc):
        check_auc_defined(y_val, graph.num_classes)
    best_key = [(-math.inf, -math.inf)] * count
    best_epoch, since_best, epochs_run = [0] * count, [0] * count, [0] * count
    best_val = [_initial_best(a) for a in by_auc]
    history: list[list[dict[str, float]]] = [[] for _ in range(count)]
    pruned = [False] * count
    best_state = [p.detach().clone() for p in members.state()]  # indexed by member id

    epoch = 0
    while members.ids:
        optimizer.zero_grad()
        out = members.forward(training=True)
        loss, losses, eps = members.loss(out, epoch)
        loss.backward()
        optimizer.step()

        with torch.no_grad():
            logits_val = members.forward(training=False)[val_mask]  # (n_val, B, K)
            correct = (logits_val.argmax(-1) == y_val.unsqueeze(1)).sum(0).tolist()
            logp = F.log_softmax(logits_val, dim=-1)
            nll = (-logp.gather(2, y_val.view(-1, 1, 1).expand(-1, logp.size(1), 1))
                   .squeeze(2).mean(0)).tolist()
        keep, improved = [], []
        for pos, member in enumerate(members.ids):
            cfg = members.configs[pos]
            val_nll = float(nll[pos])
            val = {"accuracy": correct[pos] / n_val, "nll": val_nll}
            if by_auc[member]:
                val["roc_auc"] = val_roc_auc(logits_val[:, pos], y_val)
            history[member].append({"epoch": epoch, "loss": float(losses[pos]),
                                    "epsilon": eps[pos],
                                    **{f"val_{k}": v for k, v in val.items()}})
            epochs_run[member] = epoch + 1
            key = (val[cfg.select], -val_nll)
            if key > best_key[member]:
                best_key[member], best_epoch[member], since_best[member] = key, epoch, 0
                best_val[member] = val
                improved.append(pos)
            else:
                since_best[member] += 1
            stop = False
            if on_epoch is not None:
                try:
                    stop = on_epoch(member, epoch, {
                        **val, **{f"best_{k}": v for k, v in best_val[member].items()}}
                    ) is False
                except StopMember:
                    stop = True
                pruned[member] = stop
            if cfg.patience is not None and since_best[member] >= cfg.patience:
                stop = True
            if epoch + 1 >= cfg.epochs:
                stop = True
            if not stop:
                keep.append(pos)
        if improved:
            pos_idx = torch.as_tensor(improved, device=device)
            ids = torch.as_tensor([members.ids[p] for p in improved], device=device)
            for saved, current in zip(best_state, members.state(), strict=True):
                saved.index_copy_(0, ids, current.index_select(0, pos_idx))
        if len(keep) < len(members.ids):
            if keep:
                optimizer.keep(keep, members.keep(keep))
            else:
                members.ids = []
        epoch += 1
    train_seconds = time.perf_counter() - start

    # evaluate every member at its selected epoch, in one forward pass
    finished = [i for i in range(count) if not pruned[i]]
    results: list[TrainResult | None] = [None] * count
    if not finished:
        return results
    best = members.unpack(best_state)
    best_logits = best.logits if members.learn else None
    structural = [_structural_list(c, members.num_layers) for c in configs]
    with torch.no_grad():
        all_logits = members.run(best_state, structural, None, [])  # (N, B, K)
    eval_masks = {s: graph.masks[s] for s in splits}
    for i in finished:
        t0 = time.perf_counter()
        logits = all_logits[:, i].contiguous()
        metrics = _split_metrics(logits, graph.y, eval_masks)
        scaler = TemperatureScaling().fit(logits[val_mask], y_val)
        calibrated = _split_metrics(scaler(logits).detach(), graph.y, eval_masks)
        lams = (structural[i] if best_logits is None
                else [float(torch.sigmoid(t[i])) for t in best_logits])
        results[i] = TrainResult(
            config=configs[i], metrics=metrics, calibrated=calibrated,
            temperature=float(scaler.temperature), best_epoch=best_epoch[i],
            epochs_run=epochs_run[i], history=history[i], structural=lams,
            wall_time=train_seconds / count + time.perf_counter() - t0, logits=logits.cpu())
    return results


def _structural_list(config: TrainConfig, num_layers: int) -> list[float]:
    """λ per layer of ``config`` (a float repeated, or the per-layer tuple)."""
    if isinstance(config.structural, tuple):
        return [float(v) for v in config.structural]
    return [float(config.structural)] * num_layers
