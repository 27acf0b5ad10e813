r"""The edges GAT attends over, and how ``G`` attention maps on them are stored.

:class:`AttentionPattern` holds ``GATConv``'s edges (self-loops removed, one per
node appended) in CSR order, with the position of each in ``GATConv``'s own
order, whose dropout masks the members draw; a pattern may keep only the edges
into its first ``targets`` nodes (a layer of a cone: see
:class:`~graphls.engine.graph.Cone`). :class:`AttentionLayout` stores ``G``
maps on a pattern as one interleaved sparse matrix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AttentionLayout", "AttentionPattern"]


@dataclass
class AttentionPattern:
    """Attention edges ``j → i`` in CSR order (by target, then source) and their transpose.

    Sources are nodes ``0 .. n - 1`` (a layer's input rows), targets nodes
    ``0 .. targets - 1`` (its output rows; ``targets = n`` for the whole graph).
    ``GATConv`` removes the self-loops of ``edge_index`` and appends one per node
    on every call; its attention-dropout mask is drawn over its ``drawn`` edges in
    that order, and ``order[k]`` is the position there of the ``k``-th edge here,
    so the members draw ``fit``'s masks and then reorder them.
    """

    n: int
    targets: int
    src: Tensor  # (E,) sources, CSR order
    dst: Tensor  # (E,) targets, CSR order (sorted)
    crow: Tensor  # (targets + 1,) row pointers over targets
    order: Tensor  # (E,) CSR position -> GATConv's edge position
    perm_t: Tensor  # (E,) the transpose's CSR order (by source, then target)
    crow_t: Tensor  # (n + 1,)
    col_t: Tensor
    drawn: int  # GATConv's edge count: its dropout noise is (B, drawn, heads)
    layouts: dict[tuple[int, int], AttentionLayout]

    @classmethod
    def build(cls, edge_index: Tensor, n: int) -> AttentionPattern:
        """``GATConv``'s edges of a graph of ``n`` nodes."""
        from torch_geometric.utils import add_self_loops, remove_self_loops

        ei, _ = remove_self_loops(edge_index)
        ei, _ = add_self_loops(ei, num_nodes=n)
        order = torch.arange(ei.size(1), device=ei.device)
        return cls.from_edges(ei[0], ei[1], order, n, n, ei.size(1))

    @classmethod
    def from_edges(cls, src: Tensor, dst: Tensor, order: Tensor, n: int, targets: int,
                   drawn: int) -> AttentionPattern:
        """Edges ``src[k] → dst[k]`` (``order[k]``: their positions in ``GATConv``'s list)."""
        sort = torch.argsort(dst * n + src)
        src, dst = src[sort].contiguous(), dst[sort].contiguous()
        crow = torch.zeros(targets + 1, dtype=torch.long, device=src.device)
        crow[1:] = torch.bincount(dst, minlength=targets).cumsum(0)
        perm_t = torch.argsort(src * n + dst)
        crow_t = torch.zeros(n + 1, dtype=torch.long, device=src.device)
        crow_t[1:] = torch.bincount(src, minlength=n).cumsum(0)
        return cls(n, targets, src, dst, crow, order[sort], perm_t, crow_t,
                   dst[perm_t].contiguous(), drawn, {})

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
    r"""``G`` attention maps over one pattern as one ``(targets·G) × (n·G)`` sparse matrix.

    Node features of every map sit node-major, ``(n, G, C)`` viewed as
    ``(n·G, C)`` (row ``j·G + g``), so the maps are *interleaved*: entry
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
        noise: position ``k`` reads ``GATConv``'s flat dropout noise ``(B, drawn, heads)``
            at ``noise[k]``, in ``GATConv``'s edge order.
    """

    groups: int
    shape: tuple[int, int]
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
        big = max(groups * (e + n) + 1, groups * pattern.drawn * heads)
        index = torch.int32 if big < 2**31 else torch.long
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
        # GATConv's noise (B, drawn, heads): map g is member g // heads, head g % heads
        noise_at = ((g // heads) * (pattern.drawn * heads) + g % heads
                    + pattern.order.unsqueeze(1) * heads)
        noise = torch.empty_like(flat)
        noise[pos.view(-1)] = noise_at.view(-1)
        return cls(groups, (pattern.targets * groups, n * groups),
                   *(t.to(index) for t in (crow, col, gather, pos.view(-1), crow_t, col_t,
                                           gather_t, noise)))

    def matrix(self, values: Tensor, transposed: bool = False) -> Tensor:
        """The interleaved CSR matrix (or its transpose) with ``values`` in its own order."""
        rows, cols = self.shape
        crow, col, size = ((self.crow_t, self.col_t, (cols, rows)) if transposed
                           else (self.crow, self.col, (rows, cols)))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(crow, col, values, size, check_invariants=False)
