r"""Structural convolution layers: a PyG convolution plus a structural coefficient λ.

Structural smoothing interpolates a layer's propagation operator between the
identity and the layer's own neighbourhood operator :math:`P`:

.. math::
    P_\lambda = (1 - \lambda)\, I + \lambda\, P

The weights are shared between the two terms, so λ changes how far a node
trusts its neighbourhood, not the capacity of the layer: λ = 1 is exactly
PyG's :class:`~torch_geometric.nn.conv.GCNConv` / :class:`~torch_geometric.nn.conv.GATConv`,
λ = 0 is a linear layer (an MLP layer) with the same parameters.

Both layers subclass the PyG convolution and override only the
:meth:`~torch_geometric.nn.conv.MessagePassing.update` hook of message passing
(``update(aggregated, x) = (1 - λ)·x + λ·aggregated``, where ``x`` is the
already transformed input ``XΘ``). Normalisation, caching, attention, self-loops,
sparse inputs, residual connections and bias all stay PyG's own code.

Graph connectivity (as in PyG) is either an ``edge_index`` LongTensor of shape
``(2, E)`` (messages flow from ``edge_index[0]`` to ``edge_index[1]``), or a
sparse adjacency in PyG's *transposed* convention ``adj_t`` with
``adj_t[i, j] != 0`` for an edge ``j → i``: a ``torch_sparse.SparseTensor``
(when ``torch_sparse`` is installed) or a ``torch.sparse`` COO/CSR tensor, for
example ``torch_geometric.utils.to_torch_csr_tensor(edge_index.flip(0), size=N)``
or the ``adj_t`` made by ``torch_geometric.transforms.ToSparseTensor``. For an
undirected graph the adjacency is symmetric, so the transposition is moot.

Learnable λ (``learn_structural=True``): λ = sigmoid(θ) with an unconstrained
scalar parameter θ (``structural_logit``), so λ stays in [0, 1] whatever the
optimizer does. θ is initialised to ``logit(clamp(structural, 1e-4, 1 - 1e-4))``
(the clamp keeps θ finite when the initial value is 0 or 1).
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import Tensor
from torch_geometric.nn.conv import GATConv, GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.typing import Adj, OptPairTensor, OptTensor
from torch_geometric.utils import to_torch_csr_tensor

from graphls._validation import check_fraction
from graphls.sparse import TransposedCSR, compact_csr, csr_matmul, quiet_sparse

__all__ = ["StructuralGATConv", "StructuralGCNConv"]

#: Initial values of a learnable λ are clamped into this range before the logit.
STRUCTURAL_LOGIT_EPS = 1e-4


class _NormalizedCSR:
    """A cached convolution's ``adj_t`` (CSR) and its transpose, for one ``edge_index``.

    Shared by every cached :class:`StructuralGCNConv` fed the same ``edge_index``
    (and edge weights, normalisation options and dtype): a 3-layer GCN keeps one
    normalised adjacency, not three.
    """

    def __init__(self, edge_index: Tensor, edge_weight: OptTensor, options: tuple,
                 adj_t: Tensor) -> None:
        self.edge_index, self.edge_weight, self.options = edge_index, edge_weight, options
        self.version = edge_index._version
        self.adj_t, self.transposed = adj_t, TransposedCSR(adj_t)

    def matches(self, edge_index: Tensor, edge_weight: OptTensor, options: tuple) -> bool:
        return (self.edge_index is edge_index and self.edge_weight is edge_weight
                and self.options == options and self.version == edge_index._version)


#: The live normalised adjacencies, by ``(id(edge_index), id(edge_weight))``; an entry
#: lives as long as a convolution holds it.
_SHARED_CSR: dict[tuple[int, int], weakref.ref[_NormalizedCSR]] = {}


class _StructuralMixin:
    """State and helpers shared by the structural layers (λ fixed or learnable)."""

    _structural: float
    learn_structural: bool
    structural_logit: torch.nn.Parameter | None

    def _init_structural(self, structural: float, learn_structural: bool) -> None:
        if not isinstance(learn_structural, bool):
            raise TypeError(
                f"learn_structural must be a bool; got {type(learn_structural).__name__} "
                f"{learn_structural!r}"
            )
        self._structural = check_fraction("structural", structural)
        self.learn_structural = learn_structural
        if learn_structural:
            self.structural_logit = torch.nn.Parameter(torch.empty(()))
        else:
            self.register_parameter("structural_logit", None)  # type: ignore[attr-defined]
        self._reset_structural()

    def _reset_structural(self) -> None:
        logit = getattr(self, "structural_logit", None)
        if logit is not None:
            p = min(max(self._structural, STRUCTURAL_LOGIT_EPS), 1.0 - STRUCTURAL_LOGIT_EPS)
            with torch.no_grad():
                logit.fill_(math.log(p / (1.0 - p)))

    @property
    def structural(self) -> float:
        """The current λ as a float (``sigmoid(structural_logit)`` when learnable)."""
        if self.structural_logit is not None:
            return float(torch.sigmoid(self.structural_logit.detach()))
        return self._structural

    def _coefficient(self) -> float | Tensor:
        """λ for the forward pass: a float, or a differentiable 0-d tensor when learnable."""
        if self.structural_logit is not None:
            return torch.sigmoid(self.structural_logit)
        return self._structural

    def _is_fixed(self, value: float) -> bool:
        return self.structural_logit is None and self._structural == value

    def _interpolate(self, aggregated: Tensor, x: Tensor) -> Tensor:
        """``(1 - λ)·x + λ·aggregated``; the plain ``aggregated`` when λ is fixed at 1."""
        if self._is_fixed(1.0):
            return aggregated
        lam = self._coefficient()
        # Not torch.lerp: (1 - λ)·x + λ·a is exactly ``a`` at λ = 1.
        return (1.0 - lam) * x + lam * aggregated

    def _structural_repr(self) -> str:
        if self.structural_logit is not None:
            return f"structural={round(self.structural, 4)!r}, learn_structural=True"
        return f"structural={self._structural!r}"

    def _check_decomposed(self) -> None:
        if self.decomposed_layers != 1:  # type: ignore[attr-defined]
            raise ValueError(
                f"{type(self).__name__} does not support decomposed_layers > 1; "
                f"got {self.decomposed_layers}"  # type: ignore[attr-defined]
            )


class StructuralGCNConv(_StructuralMixin, GCNConv):
    r"""PyG's :class:`~torch_geometric.nn.conv.GCNConv` with structural smoothing λ.

    .. math::
        \mathbf{X}' = (1 - \lambda)\, \mathbf{X}\mathbf{\Theta}
            + \lambda\, \hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}} \hat{\mathbf{D}}^{-1/2}
              \mathbf{X}\mathbf{\Theta} + \mathbf{b},
        \qquad \hat{\mathbf{A}} = \mathbf{A} + \mathbf{I}

    :math:`\hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}\hat{\mathbf{D}}^{-1/2}` is
    computed by PyG (``gcn_norm``, honouring ``improved``, ``add_self_loops``,
    ``normalize`` and edge weights) and, with ``cached=True``, computed once and
    reused: use the cache only for transductive full-batch training on one
    fixed graph. λ = 1 (fixed) runs PyG's forward unchanged; λ = 0 (fixed)
    returns :math:`\mathbf{X}\mathbf{\Theta} + \mathbf{b}` without touching
    ``edge_index``.

    Args:
        in_channels: Size of each input sample (``-1`` for lazy initialisation).
        out_channels: Size of each output sample.
        structural: λ in [0, 1]; 1 is plain GCN, 0 ignores the graph. With
            ``learn_structural=True`` it is the initial value.
        learn_structural: Learn λ = sigmoid(θ) with θ a parameter
            (``structural_logit``) initialised at
            ``logit(clamp(structural, 1e-4, 1 - 1e-4))``.
        **kwargs: Passed to :class:`~torch_geometric.nn.conv.GCNConv`
            (``improved``, ``cached``, ``add_self_loops``, ``normalize``, ``bias``, ...).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices
          :math:`(2, |\mathcal{E}|)` or a sparse ``adj_t``
          :math:`(|\mathcal{V}|, |\mathcal{V}|)`, edge weights :math:`(|\mathcal{E}|)` (optional)
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, *, structural: float = 1.0,
                 learn_structural: bool = False, **kwargs) -> None:
        self._cached_propagated: tuple[Tensor, int, Adj, Tensor] | None = None
        self._cached_transpose: TransposedCSR | None = None
        self._cached_csr: _NormalizedCSR | None = None
        super().__init__(in_channels, out_channels, **kwargs)
        self._init_structural(structural, learn_structural)

    def reset_parameters(self) -> None:
        """Reset PyG's parameters (and the caches) and λ to its initial value."""
        super().reset_parameters()
        self._cached_propagated = None
        self._cached_transpose = None
        self._cached_csr = None
        self._reset_structural()

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        """Apply the layer; see the class docstring for the formula."""
        self._check_decomposed()
        if self._is_fixed(0.0) and not isinstance(x, (tuple, list)):
            out = self.lin(x)
            return out if self.bias is None else out + self.bias
        if (self.cached and isinstance(edge_index, Tensor) and edge_index.layout == torch.strided
                and self.flow == "source_to_target"
                and (edge_weight is None or not edge_weight.requires_grad)):
            edge_index, edge_weight = self._as_csr(x, edge_index, edge_weight), None
            if not self._propagates_first(x):
                return self._forward_transform_first(x, edge_index)
        if self._propagates_first(x):
            return self._forward_propagate_first(x, edge_index, edge_weight)
        return super().forward(x, edge_index, edge_weight)

    def _forward_transform_first(self, x: Tensor, adj_t: Tensor) -> Tensor:
        """``GCNConv.forward`` on the cached CSR ``adj_t`` (already normalised), with the
        bias added in place: nothing keeps the propagated ``P_λ XΘ`` for the backward
        pass, so one ``N x out_channels`` buffer fewer is alive (2.5 GB for an
        ogbn-products hidden layer), with the same numbers as ``out + bias``."""
        out = self.propagate(adj_t, x=self.lin(x), edge_weight=None)
        return out if self.bias is None else out.add_(self.bias)

    def _as_csr(self, x: Tensor, edge_index: Tensor, edge_weight: OptTensor) -> Tensor:
        """With ``cached=True``: the normalised edge list as a CSR ``adj_t``, made once.

        PyG's own ``gcn_norm`` normalises the edge list (self-loops, duplicates and
        weights exactly as on the ``edge_index`` path); the result is summed into a
        CSR matrix (:func:`compact_csr`) and put in ``GCNConv``'s cache, so every
        propagation is one sparse product (:func:`csr_matmul`) instead of a
        gather/scatter over ``E`` messages: on an ogbn-arxiv-sized graph several
        times faster and without the ``E x C`` message tensors (see
        ``benchmarks/speed.py``). Cached layers fed the same ``edge_index`` share one
        adjacency and its transpose; in training the transpose is made here, before
        any activation is held, rather than in the first backward pass.
        """
        n = x.size(self.node_dim)
        options = (n, self.improved, self.add_self_loops, self.normalize, self.flow, x.dtype)
        held = self._cached_csr
        if held is None or not held.matches(edge_index, edge_weight, options):
            key = (id(edge_index), id(edge_weight))
            shared = _SHARED_CSR.get(key)
            held = shared() if shared is not None else None
            if held is None or not held.matches(edge_index, edge_weight, options):
                held = _NormalizedCSR(edge_index, edge_weight, options,
                                      self._normalized_csr(n, edge_index, edge_weight, x.dtype))
                for k in [k for k, ref in _SHARED_CSR.items() if ref() is None]:
                    del _SHARED_CSR[k]
                _SHARED_CSR[key] = weakref.ref(held)
            self._cached_csr = held
        if self.training and torch.is_grad_enabled():
            held.transposed.get()
        if self.normalize:
            self._cached_edge_index = (held.adj_t, None)
        self._cached_transpose = held.transposed
        return held.adj_t

    def _normalized_csr(self, n: int, edge_index: Tensor, edge_weight: OptTensor,
                        dtype: torch.dtype) -> Tensor:
        if self.normalize:
            edge_index, edge_weight = gcn_norm(edge_index, edge_weight, n, self.improved,
                                               self.add_self_loops, self.flow, dtype)
        elif edge_weight is None:
            edge_weight = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        # x's dtype: a sparse product does not promote (PyG's messages would, w_ij * x_j)
        with quiet_sparse():
            adj_t = to_torch_csr_tensor(edge_index.flip(0), edge_weight.to(dtype), size=(n, n))
        del edge_index, edge_weight
        return compact_csr(adj_t)

    def _propagates_first(self, x: object) -> bool:
        """Propagate the input rather than ``XΘ`` when it is the narrower of the two."""
        return (isinstance(x, Tensor) and x.layout == torch.strided and x.dim() == 2
                and 0 < self.in_channels < self.out_channels)

    def _normalized(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor
                    ) -> tuple[Adj, OptTensor]:
        """PyG's ``gcn_norm`` with ``GCNConv``'s cache (the first lines of ``GCNConv.forward``)."""
        if not self.normalize:
            return edge_index, edge_weight
        if isinstance(edge_index, Tensor):
            cache = self._cached_edge_index
            if cache is not None:
                return cache[0], cache[1]
            edge_index, edge_weight = gcn_norm(edge_index, edge_weight, x.size(self.node_dim),
                                               self.improved, self.add_self_loops, self.flow,
                                               x.dtype)
            if self.cached:
                self._cached_edge_index = (edge_index, edge_weight)
            return edge_index, edge_weight
        if self._cached_adj_t is not None:  # a torch_sparse.SparseTensor
            return self._cached_adj_t, edge_weight
        edge_index = gcn_norm(edge_index, edge_weight, x.size(self.node_dim), self.improved,
                              self.add_self_loops, self.flow, x.dtype)
        if self.cached:
            self._cached_adj_t = edge_index
        return edge_index, edge_weight

    def _forward_propagate_first(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor
                                 ) -> Tensor:
        r"""``(P_λ X) Θ + b``: the layer's function, propagating the ``in_channels``-wide input.

        :math:`P_\lambda (X\Theta) = (P_\lambda X)\Theta`, so when ``in_channels <
        out_channels`` the sparse product runs over the narrower matrix, and the
        backward pass needs no sparse product at all for a constant input (ogbn-arxiv's
        first layer, 128 → 256). With ``cached=True`` and a fixed λ, :math:`P_\lambda X`
        of the same (unmodified, gradient-free) ``x`` is also kept between evaluation
        passes (``eval()``: no dropout, so the input is the same every epoch).
        """
        ei, ew = self._normalized(x, edge_index, edge_weight)
        cacheable = (self.cached and not self.training and not x.requires_grad
                     and self.structural_logit is None)
        hit = self._cached_propagated
        if (cacheable and hit is not None and hit[0] is x and hit[1] == x._version
                and hit[2] is edge_index):
            px = hit[3]
        else:
            px = self.propagate(ei, x=x, edge_weight=ew)  # update(): (1 - λ)·X + λ·P̂X
            if cacheable:
                self._cached_propagated = (x, x._version, edge_index, px)
        out = self.lin(px)  # a fresh product that nothing keeps: the bias is added in place
        return out if self.bias is None else out.add_(self.bias)

    def update(self, inputs: Tensor, x: Tensor) -> Tensor:
        """Message-passing hook: ``(1 - λ)·XΘ + λ·P̂XΘ`` (``inputs`` is ``P̂XΘ``)."""
        return self._interpolate(inputs, x)

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        """``P̂ X`` for a sparse adjacency: PyG's ``spmm``, or, for a constant torch CSR
        ``adj_t``, a product whose backward reuses ``adj_t``'s transpose (kept with the
        cached adjacency)."""
        if (isinstance(adj_t, Tensor) and adj_t.layout == torch.sparse_csr
                and not adj_t.requires_grad and x.dim() == 2):
            held = self._cached_transpose
            if held is None or held.adj is not adj_t:
                held = TransposedCSR(adj_t)
                if self.cached:
                    self._cached_transpose = held
            return csr_matmul(adj_t, x, held)
        return super().message_and_aggregate(adj_t, x)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"{self._structural_repr()})")


class StructuralGATConv(_StructuralMixin, GATConv):
    r"""PyG's :class:`~torch_geometric.nn.conv.GATConv` with structural smoothing λ.

    Per head :math:`h` with weights :math:`\mathbf{\Theta}_h` and PyG's attention
    coefficients :math:`\alpha^{h}_{ij}` (self-loops included):

    .. math::
        \mathbf{x}'^{h}_i = (1 - \lambda)\, \mathbf{\Theta}_h \mathbf{x}_i
            + \lambda \sum_{j \in \mathcal{N}(i) \cup \{i\}}
              \alpha^{h}_{ij}\, \mathbf{\Theta}_h \mathbf{x}_j,

    then the heads are concatenated (``concat=True``) or averaged, and PyG's
    residual (``residual=True``) and bias are added, as in ``GATConv``.
    λ = 1 (fixed) runs PyG's forward unchanged; λ = 0 (fixed) skips attention
    and propagation and ignores ``edge_index`` (unless attention weights are
    requested with ``return_attention_weights``; the output is the same).

    Only the homogeneous (non-bipartite) case is supported: ``in_channels``
    must be an int and ``x`` a single tensor. Attention dropout (``dropout``)
    acts on :math:`\alpha` only, i.e. on the λ term.

    Args:
        in_channels: Size of each input sample (``-1`` for lazy initialisation).
        out_channels: Size of each output sample per head.
        structural: λ in [0, 1]; 1 is plain GAT, 0 ignores the graph. With
            ``learn_structural=True`` it is the initial value.
        learn_structural: Learn λ = sigmoid(θ) with θ a parameter
            (``structural_logit``) initialised at
            ``logit(clamp(structural, 1e-4, 1 - 1e-4))``.
        **kwargs: Passed to :class:`~torch_geometric.nn.conv.GATConv`
            (``heads``, ``concat``, ``negative_slope``, ``dropout``,
            ``add_self_loops``, ``edge_dim``, ``fill_value``, ``bias``, ``residual``).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices
          :math:`(2, |\mathcal{E}|)` or a sparse ``adj_t``
          :math:`(|\mathcal{V}|, |\mathcal{V}|)`, edge features
          :math:`(|\mathcal{E}|, D)` (optional)
        - **output:** node features :math:`(|\mathcal{V}|, H \cdot F_{out})` or
          :math:`(|\mathcal{V}|, F_{out})` if ``concat=False``
    """

    def __init__(self, in_channels: int, out_channels: int, *, structural: float = 1.0,
                 learn_structural: bool = False, **kwargs) -> None:
        if not isinstance(in_channels, int) or isinstance(in_channels, bool):
            raise ValueError(
                "StructuralGATConv supports homogeneous graphs only: in_channels must be an "
                f"int; got {in_channels!r} (bipartite GATConv is not supported)"
            )
        super().__init__(in_channels, out_channels, **kwargs)
        self._init_structural(structural, learn_structural)

    def reset_parameters(self) -> None:
        """Reset PyG's parameters and λ to its initial value."""
        super().reset_parameters()
        self._reset_structural()

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        edge_index: Adj,
        edge_attr: OptTensor = None,
        size: tuple[int, int] | None = None,
        return_attention_weights: bool | None = None,
    ) -> Tensor | tuple[Tensor, object]:
        """Apply the layer; see the class docstring for the formula.

        ``return_attention_weights`` behaves as in PyG: it also returns PyG's
        attention weights α (the weights of the λ term).
        """
        if not isinstance(x, Tensor):
            raise ValueError(
                "StructuralGATConv supports homogeneous graphs only: x must be a single "
                f"tensor; got {type(x).__name__} (bipartite message passing is not supported)"
            )
        if size is not None and size[0] != size[1]:
            raise ValueError(
                "StructuralGATConv supports homogeneous graphs only: size must be square; "
                f"got {tuple(size)}"
            )
        self._check_decomposed()
        if self._is_fixed(0.0) and return_attention_weights is None:
            h = self.lin(x)
            if not self.concat:
                h = h.view(-1, self.heads, self.out_channels).mean(dim=1)
            if self.res is not None:
                h = h + self.res(x)
            return h if self.bias is None else h + self.bias
        return super().forward(x, edge_index, edge_attr, size, return_attention_weights)

    def update(self, inputs: Tensor, x: OptPairTensor) -> Tensor:
        """Message-passing hook: per head ``(1 - λ)·XΘ_h + λ·Σ_j α_ij X_jΘ_h``."""
        x_dst = x[1]
        assert x_dst is not None  # homogeneous input: x_dst is the transformed x
        return self._interpolate(inputs, x_dst)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"heads={self.heads}, {self._structural_repr()})")
