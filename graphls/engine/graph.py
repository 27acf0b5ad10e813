"""The graph as the engine trains on it: features, normalised adjacency, masks, attention edges.

:func:`prepare_graph` reads a PyG ``Data`` once (cached for the last ``data``
seen) into a :class:`PreparedGraph`: CSR features with their transpose
(:class:`SparseFeatures`), PyG's ``gcn_norm`` adjacency as a CSR matrix
(:func:`~graphls.sparse.compact_csr`) with a cached transpose
(:class:`~graphls.sparse.TransposedCSR`), 1-D labels and masks, and, on first
use, the edges GAT attends over (:class:`~graphls.engine.pattern.AttentionPattern`)
and the cones of the rows a GAT pass reads (:class:`Cone`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from graphls._validation import check_choice
from graphls.config import SPLITS
from graphls.engine.pattern import AttentionPattern
from graphls.models import sparse_features
from graphls.sparse import TransposedCSR, compact_csr, quiet_sparse

__all__ = ["Cone", "MemberSparseMM", "PreparedGraph", "SparseFeatures", "graph_inputs",
           "prepare_graph"]


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
    cones: dict[tuple[int, int], tuple[Tensor | None, Cone]] = field(default_factory=dict)

    def attention_pattern(self) -> AttentionPattern:
        """The edges ``GATConv`` attends over (built once)."""
        if self.attention is None:
            self.attention = AttentionPattern.build(self.edge_index, self.x.size(0))
        return self.attention

    def cone(self, num_layers: int, rows: Tensor | None) -> Cone:
        """What an ``num_layers``-layer GAT's logits at ``rows`` (a boolean node mask) depend
        on (:class:`Cone`); ``None``: every node. Built once per mask (while it is alive)."""
        key = (id(rows), num_layers)
        held = self.cones.get(key)
        if held is None or held[0] is not rows:
            if len(self.cones) >= 4:
                self.cones.pop(next(iter(self.cones)))
            held = self.cones[key] = (rows, Cone.build(self, num_layers, rows))
        return held[1]


@dataclass
class Cone:
    r"""The nodes and edges a GAT's logits at some rows depend on, numbered layer by layer.

    Layer ``L - 1`` needs the edges into the read rows, each layer before it the
    edges into the nodes the next one reads (its targets and their sources).
    The nodes are renumbered so that every layer's are a prefix: the read rows
    first (ascending), then the targets of layer ``L - 2`` that are not rows, and
    so on; layer ``l`` reads the first ``sizes[l]`` nodes and writes the first
    ``sizes[l + 1]``, with ``patterns[l]`` in that numbering. The logits of the
    read rows, and their gradients, are the whole graph's (the other nodes add
    exact zeros); the dropout masks are still drawn over every node and edge,
    as ``fit`` draws them, and the cone's share is picked from them.

    Attributes:
        nodes: each cone node's id in the graph (``None``: every node, in order).
        x, sparse: the input features of the first ``sizes[0]`` nodes.
        values: where ``x``'s stored values sit among the graph's (``None``: all).
        select: the rows to pick from the whole graph's logits when the cone is
            the whole graph (a mask with no row); ``None`` otherwise.
    """

    nodes: Tensor | None
    sizes: list[int]
    patterns: list[AttentionPattern]
    x: Tensor
    sparse: SparseFeatures | None
    values: Tensor | None
    select: Tensor | None = None

    @classmethod
    def build(cls, graph: PreparedGraph, num_layers: int, rows: Tensor | None) -> Cone:
        full = graph.attention_pattern()
        n = full.n
        if rows is None or not bool(rows.any()):
            return cls(None, [n] * (num_layers + 1), [full] * num_layers, graph.x,
                       graph.sparse, None, rows)
        # sets[k]: the nodes layer L - 1 - k writes (sets[0]: the rows); sets[L]: layer 0 reads
        sets = [rows.to(torch.bool)]
        for _ in range(num_layers):
            reached = sets[-1].clone()
            reached[full.src[sets[-1][full.dst]]] = True
            sets.append(reached)
        level = torch.full((n,), num_layers + 1, dtype=torch.long, device=rows.device)
        for k in range(num_layers, -1, -1):
            level[sets[k]] = k  # the first set that holds the node
        count = int(sets[-1].sum())
        nodes = torch.argsort(level * n + torch.arange(n, device=rows.device))[:count]
        rank = torch.full((n,), -1, dtype=torch.long, device=rows.device)
        rank[nodes] = torch.arange(count, device=rows.device)
        sizes = [int(sets[num_layers - layer].sum()) for layer in range(num_layers + 1)]
        patterns = []
        for layer in range(num_layers):
            keep = sets[num_layers - 1 - layer][full.dst]
            patterns.append(AttentionPattern.from_edges(
                rank[full.src[keep]], rank[full.dst[keep]], full.order[keep], sizes[layer],
                sizes[layer + 1], full.drawn))
        if graph.sparse is None:
            return cls(nodes, sizes, patterns, graph.x.index_select(0, nodes), None, None)
        # the rows of the CSR features, in cone order, and where their values sit
        sx = graph.sparse
        counts = sx.crow.diff().index_select(0, nodes)
        crow = torch.zeros(count + 1, dtype=sx.crow.dtype, device=rows.device)
        crow[1:] = counts.cumsum(0)
        total = int(crow[-1])
        values = (torch.repeat_interleave(sx.crow.index_select(0, nodes) - crow[:-1], counts,
                                          output_size=total)
                  + torch.arange(total, device=rows.device))
        with quiet_sparse():
            x = torch.sparse_csr_tensor(crow, sx.col.index_select(0, values),
                                        sx.values.index_select(0, values), (count, sx.shape[1]),
                                        check_invariants=False)
        return cls(nodes, sizes, patterns, x, SparseFeatures.from_csr(x), values)


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
    with quiet_sparse():
        adj = compact_csr(adj.to_sparse_csr())  # int32 indices, no COO index kept
    sparse = SparseFeatures.from_csr(x) if x.layout == torch.sparse_csr else None
    graph = PreparedGraph(x=x, sparse=sparse, adj=adj, adj_transposed=TransposedCSR(adj), y=y,
                          masks=masks, num_classes=num_classes, edge_index=edge_index)
    _CACHE.update(key=key, data=data, graph=graph)
    return graph

