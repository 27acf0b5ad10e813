"""The graph as the engine trains on it: features, normalised adjacency, masks, attention edges.

:func:`prepare_graph` reads a PyG ``Data`` once (cached for the last ``data``
seen) into a :class:`PreparedGraph`: CSR features with their transpose
(:class:`SparseFeatures`), PyG's ``gcn_norm`` adjacency as a CSR matrix with a
cached transpose (:class:`~graphls.nn.TransposedCSR`), 1-D labels and masks,
and, on first use, the edges GAT attends over (:class:`AttentionPattern`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphls._validation import check_choice
from graphls.config import SPLITS
from graphls.models import sparse_features
from graphls.nn import TransposedCSR

__all__ = ["AttentionLayout", "AttentionPattern", "MemberSparseMM", "PreparedGraph",
           "SparseFeatures", "graph_inputs", "prepare_graph"]


def graph_inputs(data: Any, device: torch.device, splits: Sequence[str] = SPLITS
                 ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor], int]:
    """``(x, edge_index, y, masks, num_classes)`` on ``device``, as the engine reads ``data``.

    ``x`` is CSR when sparse enough (:func:`graphls.models.sparse_features`: a
    sparse first-layer product and dropout on the stored values); ``y`` is 1-D
    (OGB's ``(N, 1)`` labels flattened); ``masks`` holds ``train``, ``val`` and
    ``splits``, each 1-D.

    Raises:
        ValueError: an unknown split, or a mask with several columns.
    """
    y = data.y.view(-1) if data.y.dim() == 2 and data.y.size(1) == 1 else data.y
    num_classes = int(getattr(data, "num_classes", None) or int(y.max()) + 1)
    x = sparse_features(data.x).to(device)
    edge_index = data.edge_index.to(device)
    for s in splits:
        check_choice("splits", s, SPLITS)
    masks = {s: getattr(data, f"{s}_mask").to(device) for s in ("train", "val", *splits)}
    for s, m in masks.items():
        if m.dim() != 1:
            raise ValueError(f"{s}_mask must be 1-D (one split); got shape {tuple(m.shape)}; "
                             "pick a column for datasets that ship several splits")
    return x, edge_index, y.to(device), masks, num_classes


@dataclass
class SparseFeatures:
    """CSR features and their transpose (with the permutation of the stored values)."""

    crow: Tensor
    col: Tensor
    values: Tensor
    crow_t: Tensor
    col_t: Tensor
    perm: Tensor
    shape: tuple[int, int]

    @classmethod
    def from_csr(cls, x: Tensor) -> SparseFeatures:
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


class MemberSparseMM(torch.autograd.Function):
    """``out[:, b] = X_b @ W_b`` for CSR ``X_b`` (values ``values[b]``); gradient for ``W`` only.

    torch's own backward of a CSR product converts layouts on every call (20x
    slower here); this one reuses the precomputed CSR of ``X^T``.
    """

    @staticmethod
    def forward(ctx: Any, weight: Tensor, values: Tensor, sx: SparseFeatures) -> Tensor:
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
        sx: SparseFeatures = ctx.sx
        g = grad.transpose(0, 1).contiguous()
        values_t = values.index_select(1, sx.perm)  # in the order of X^T's CSR (3x faster
        # than values[:, perm] here)
        grad_w = torch.stack([torch.sparse.mm(sx.csr_t(values_t[b]), g[b])
                              for b in range(values.size(0))])
        return grad_w, None, None


@dataclass
class PreparedGraph:
    x: Tensor  # dense (N, F) or CSR
    sparse: SparseFeatures | None
    adj: Tensor  # normalised CSR adjacency (N, N), row = target
    adj_transposed: TransposedCSR
    y: Tensor
    masks: dict[str, Tensor]
    num_classes: int
    edge_index: Tensor
    attention: AttentionPattern | None = None

    def attention_pattern(self) -> AttentionPattern:
        """The edges ``GATConv`` attends over (built once)."""
        if self.attention is None:
            self.attention = AttentionPattern.build(self.edge_index, self.x.size(0))
        return self.attention


@dataclass
class AttentionPattern:
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
    layouts: dict[tuple[int, int], AttentionLayout]

    @classmethod
    def build(cls, edge_index: Tensor, n: int) -> AttentionPattern:
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

    def layout(self, groups: int, heads: int) -> AttentionLayout:
        """The interleaved sparse layout of ``groups`` maps (members × ``heads``), built once."""
        key = (groups, heads)
        held = self.layouts.get(key)
        if held is None:
            if len(self.layouts) >= 4:  # members leave a batch: keep a few recent sizes only
                self.layouts.pop(next(iter(self.layouts)))
            held = self.layouts[key] = AttentionLayout.build(self, groups, heads)
        return held


@dataclass
class AttentionLayout:
    r"""``G`` attention maps over one pattern as one ``(N·G) × (N·G)`` sparse matrix.

    Node features of every map sit node-major, ``(N, G, C)`` viewed as
    ``(N·G, C)`` (row ``i·G + g``), so the maps are *interleaved*: entry
    ``(i·G + g, j·G + g)`` holds map ``g``'s weight of edge ``j → i``, and one
    CSR product aggregates every map without moving the features. Its values
    are ordered by target, map, source (``(i, g, j)``), while the edge-wise
    work (scores, softmax) is ``(E, G)``, edges in CSR order with the maps
    side by side (``(i, j, g)``); the index vectors below move values between
    the two orders and from ``GATConv``'s dropout layout.

    Attributes:
        crow, col: the CSR indices of the interleaved matrix.
        gather: position ``k`` of the ``(i, g, j)`` order reads ``(E, G)``'s flat ``gather[k]``.
        scatter: ``(E, G)``'s flat position ``q`` is ``(i, g, j)``'s ``scatter[q]``.
        crow_t, col_t, gather_t: the transposed matrix, its values read from the
            ``(i, g, j)`` order at ``gather_t``.
        noise: position ``k`` reads ``GATConv``'s flat dropout noise ``(B, E, heads)``
            at ``noise[k]``, in ``GATConv``'s edge order.
    """

    groups: int
    crow: Tensor
    col: Tensor
    gather: Tensor
    scatter: Tensor
    crow_t: Tensor
    col_t: Tensor
    gather_t: Tensor
    noise: Tensor

    @classmethod
    def build(cls, pattern: AttentionPattern, groups: int, heads: int) -> AttentionLayout:
        n, e = pattern.n, pattern.src.numel()
        device = pattern.src.device
        # 32-bit indices where they fit: half the memory and a little faster
        index = torch.int32 if (groups * (e + n) + 1) < 2**31 else torch.long
        g = torch.arange(groups, device=device)

        def interleave(crow: Tensor, rows: Tensor, cols: Tensor
                       ) -> tuple[Tensor, Tensor, Tensor]:
            """Row pointers, column indices and positions ``(E, G)`` of each edge and map."""
            deg = crow.diff()
            start = crow[rows]
            k = torch.arange(e, device=device) - start
            pos = (groups * start + k).unsqueeze(1) + g * deg[rows].unsqueeze(1)
            col = torch.empty(e * groups, dtype=torch.long, device=device)
            col[pos.view(-1)] = (cols.unsqueeze(1) * groups + g).view(-1)
            row_start = (groups * crow[:-1]).unsqueeze(1) + g * deg.unsqueeze(1)
            last = torch.tensor([groups * e], device=device)
            return torch.cat([row_start.reshape(-1), last]), col, pos

        src, dst = pattern.src, pattern.dst
        crow, col, pos = interleave(pattern.crow, dst, src)
        flat = torch.arange(e * groups, device=device)
        gather = torch.empty_like(flat)
        gather[pos.view(-1)] = flat
        # the transpose: edges by source (pattern.perm_t), its entries read the (i, g, j) values
        crow_t, col_t, pos_t = interleave(pattern.crow_t, src[pattern.perm_t],
                                          dst[pattern.perm_t])
        gather_t = torch.empty_like(flat)
        gather_t[pos_t.view(-1)] = pos.index_select(0, pattern.perm_t).view(-1)
        # GATConv's noise (B, E, heads): map g is member g // heads, head g % heads
        noise_at = ((g // heads) * (e * heads) + g % heads
                    + pattern.order.unsqueeze(1) * heads)
        noise = torch.empty_like(flat)
        noise[pos.view(-1)] = noise_at.view(-1)
        return cls(groups, *(t.to(index) for t in (crow, col, gather, pos.view(-1), crow_t,
                                                     col_t, gather_t, noise)))

    def matrix(self, values: Tensor, transposed: bool = False) -> Tensor:
        """The interleaved CSR matrix (or its transpose) with ``values`` in its own order."""
        size = self.crow.numel() - 1
        crow, col = (self.crow_t, self.col_t) if transposed else (self.crow, self.col)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(crow, col, values, (size, size),
                                           check_invariants=False)


_CACHE: dict[str, Any] = {}


def prepare_graph(data: Any, device: torch.device, splits: Sequence[str]) -> PreparedGraph:
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
    sparse = SparseFeatures.from_csr(x) if x.layout == torch.sparse_csr else None
    graph = PreparedGraph(x=x, sparse=sparse, adj=adj, adj_transposed=TransposedCSR(adj), y=y,
                          masks=masks, num_classes=num_classes, edge_index=edge_index)
    _CACHE.update(key=key, data=data, graph=graph)
    return graph

