r"""GCN and GAT node classifiers: thin stacks of the structural layers, raw logits out.

At their defaults both models are exactly PyG's example architectures
(``examples/gcn.py``, ``examples/gat.py``), with every convolution replaced by
its structural counterpart; at ``structural=1.0`` they compute the same
function with the same parameters. Each layer ``l`` interpolates its
propagation operator, :math:`P_{\lambda_l} = (1 - \lambda_l) I + \lambda_l P`.

``structural`` is one float (the same λ for every layer) or a sequence with
one λ per layer; ``structural_values`` reports the current λ of each layer
(which moves during training when ``learn_structural=True``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.typing import Adj, OptTensor

from graphls._validation import check_fraction, check_positive_int
from graphls.nn import StructuralGATConv, StructuralGCNConv

__all__ = [
    "GAT",
    "GCN",
    "dropout",
    "dropout_noise",
    "feature_dropout",
    "sparse_features",
    "value_dropout",
]


def _per_layer_structural(structural: float | Sequence[float], num_layers: int) -> list[float]:
    """Expand ``structural`` to one validated λ per layer."""
    if isinstance(structural, Sequence) and not isinstance(structural, (str, bytes)):
        values = list(structural)
        if len(values) != num_layers:
            raise ValueError(
                f"structural must have one value per layer (num_layers={num_layers}); "
                f"got {len(values)} values"
            )
        return [check_fraction(f"structural[{i}]", v) for i, v in enumerate(values)]
    if isinstance(structural, Tensor) and structural.dim() == 0:
        structural = float(structural)
    return [check_fraction("structural", structural)] * num_layers


def _check_out_channels(out_channels: object, hidden_channels: int) -> int:
    """PyG's rule: ``out_channels=None`` gives ``hidden_channels`` outputs."""
    if out_channels is None:
        return hidden_channels
    return check_positive_int("out_channels", out_channels)


def _check_in_channels(in_channels: object) -> int:
    """``in_channels`` is a positive int, or ``-1`` for PyG's lazy initialisation."""
    if in_channels == -1 and not isinstance(in_channels, bool):
        return -1
    return check_positive_int("in_channels", in_channels)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {type(value).__name__} {value!r}")
    return value


def _fmt_structural(values: list[float]) -> str:
    if all(v == values[0] for v in values):
        return repr(round(values[0], 4))
    return "[" + ", ".join(repr(round(v, 4)) for v in values) + "]"


#: Features at most this dense are worth a sparse CSR layout: measured here on a
#: Cora-sized (2708 x 1433) matrix, dropout + first-layer matmul (forward and
#: backward) takes 2.9 ms sparse vs 73 ms dense at 1 % density, 31 vs 75 ms at
#: 10 %, 66 vs 75 ms at 20 % and 148 vs 71 ms at 40 %.
SPARSE_FEATURE_DENSITY = 0.1


def sparse_features(x: Tensor, max_density: float = SPARSE_FEATURE_DENSITY) -> Tensor:
    """``x`` as a sparse CSR tensor if at most ``max_density`` of it is non-zero, else ``x``.

    Bag-of-words features (Cora: 1.3 % non-zero) then cost a sparse matmul in
    the first layer and dropout only on the stored values (see
    :func:`feature_dropout`); dense features are returned unchanged.
    """
    if x.layout != torch.strided or x.dim() != 2 or x.numel() == 0:
        return x
    density = float((x != 0).sum()) / x.numel()
    if density > max_density:
        return x
    with warnings.catch_warnings():  # torch's once-per-process "CSR support is in beta"
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
        return x.to_sparse_csr()


#: Dense tensors with at least this many elements keep their dropout mask as booleans
#: for the backward pass (and ``GCN`` fuses ReLU with the dropout that follows it):
#: a quarter of the memory of a float mask for the hidden layers of
#: ogbn-arxiv-sized graphs. Every mask, small or large, is drawn the same way,
#: ``torch.rand(shape) >= p``: 3x cheaper than ``F.dropout``'s ``bernoulli_`` on CPU
#: (0.23 s vs 0.63 s for a 169,343 x 256 layer; 2.0 vs 7.0 ms for sixteen 2,708 x 16
#: layers here), with the same distribution.
FAST_DROPOUT_NUMEL = 1 << 20


def dropout_noise(shape: Sequence[int], p: float, generator: torch.Generator | None,
                  dtype: torch.dtype, device: torch.device | str) -> Tensor:
    r"""The multiplicative noise :func:`dropout` applies: ``(u >= p) / (1 - p)``.

    :math:`u \sim U[0, 1)` from ``torch.rand`` (``generator``, or the global
    generator when ``None``): each element is kept with probability
    :math:`1 - p` and scaled by :math:`1/(1 - p)`, the distribution of ``F.dropout``.
    """
    u = torch.rand(tuple(shape), generator=generator, dtype=dtype, device=device)
    return u.ge_(p).div_(1 - p)  # in place: u's buffer becomes the noise, no bool -> float copy


class _KeepMaskDropout(torch.autograd.Function):
    """``x * noise`` for a dropout ``noise`` (``(u >= p) / (1 - p)``, see :func:`dropout_noise`)
    that saves the boolean ``noise > 0`` (1 byte an element) for the backward pass instead
    of the float noise (4 bytes), and only when ``x`` needs a gradient."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, noise: Tensor, p: float) -> Tensor:
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(noise > 0)
        ctx.p = p
        return x * noise

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (keep,) = ctx.saved_tensors
        # the forward's noise again, keep / (1 - p), times grad
        return keep.to(grad.dtype).div_(1 - ctx.p).mul_(grad), None, None


def dropout(x: Tensor, p: float, training: bool = True,
            generator: torch.Generator | None = None) -> Tensor:
    r"""Dropout: :math:`x_i m_i / (1 - p)` with :math:`m_i = \mathbb{1}[u_i \ge p]`,
    :math:`u_i \sim U[0, 1)`.

    The distribution of ``F.dropout``, drawn with ``torch.rand`` (3x cheaper on
    CPU than its ``bernoulli_``; see :func:`dropout_noise`), so a seed gives other,
    equally distributed masks than PyG's examples. Tensors of
    :data:`FAST_DROPOUT_NUMEL` elements or more (the layers of ogbn-arxiv-sized
    graphs) keep the mask as booleans for the backward pass. With a
    ``generator`` the mask is drawn from it (:func:`graphls.engine.fit_many`
    gives each member the masks a single run draws).
    """
    if not training or p == 0.0:
        return x
    if p == 1.0:  # F.dropout's answer; the noise below would be 0 / 0
        return x * 0.0
    if x.numel() < FAST_DROPOUT_NUMEL:
        return x * dropout_noise(x.shape, p, generator, x.dtype, x.device)
    return _KeepMaskDropout.apply(x, dropout_noise(x.shape, p, generator, x.dtype, x.device), p)


class _ReluDropout(torch.autograd.Function):
    """``dropout(relu(x))``, computed in ``x``'s own buffer, that saves one boolean mask.

    The mask is ``out > 0``, that is ``(x > 0) & keep``. Unfused, ReLU keeps its
    float output and dropout its mask for the backward pass (5 bytes an element with
    a boolean mask); this keeps 1 byte: 43 MB instead of 217 MB for a 169,343 x 256
    hidden layer (ogbn-arxiv's size). ``x`` is overwritten (marked dirty), so it must
    be a tensor nothing else keeps, such as the output of batch norm or of a
    convolution in ``GCN.forward``; autograd raises if a backward pass needs it.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, noise: Tensor, p: float) -> Tensor:
        ctx.mark_dirty(x)
        out = x.relu_().mul_(noise)
        ctx.save_for_backward(out > 0)  # noise is 0 or 1/(1 - p) >= 1: out > 0 iff kept
        ctx.p = p
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (mask,) = ctx.saved_tensors
        return mask.to(grad.dtype).div_(1 - ctx.p).mul_(grad), None, None


def _relu_dropout(x: Tensor, p: float) -> Tensor:
    """``dropout(relu(x), p)`` in training, in ``x``'s buffer, for a tensor of
    ``FAST_DROPOUT_NUMEL`` elements or more: the same noise as :func:`dropout`
    (:func:`dropout_noise`, ``torch.rand(x.shape) >= p``)."""
    return _ReluDropout.apply(x, dropout_noise(x.shape, p, None, x.dtype, x.device), p)


def value_dropout(values: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    r"""Dropout on the stored values of a sparse tensor: ``values * (u >= p) / (1 - p)``.

    .. math::
        v'_k = v_k\, \frac{\mathbb{1}[u_k \ge p]}{1 - p}, \qquad u_k \sim U[0, 1)

    Each value is kept with probability :math:`1 - p` and scaled by
    :math:`1/(1 - p)`, the distribution of ``F.dropout``. The mask comes from
    ``torch.rand`` (about 3x cheaper than ``F.dropout``'s ``bernoulli_`` on
    CPU) drawn from ``generator`` (the global generator when ``None``), so
    :func:`graphls.engine.fit_many` draws for each member exactly what
    ``fit`` draws for the same seed.
    """
    if p == 0.0:
        return values
    keep = torch.rand(values.shape, generator=generator, dtype=values.dtype,
                      device=values.device) >= p
    return values * keep.to(values.dtype).div_(1.0 - p)


def feature_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``F.dropout`` that also takes sparse COO/CSR features.

    For a sparse ``x`` only the stored values are dropped (and scaled by
    ``1/(1-p)``), with :func:`value_dropout`: the zeros would stay zero anyway,
    so the result has the same distribution as dense dropout, at the cost of
    nnz random numbers instead of N·F. The random stream differs from dense
    dropout's, so a seed gives other (equally distributed) numbers on the two
    layouts. Dense ``x`` goes through :func:`dropout`.
    """
    if x.layout == torch.strided:
        return dropout(x, p, training)
    if not training or p == 0.0:
        return x
    if x.layout == torch.sparse_csr:
        values = value_dropout(x.values(), p)
        return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape,
                                       check_invariants=False)  # indices are x's own
    if x.layout == torch.sparse_coo:
        x = x.coalesce()
        values = value_dropout(x.values(), p)
        return torch.sparse_coo_tensor(x.indices(), values, x.shape, is_coalesced=True,
                                       check_invariants=False)
    raise TypeError(f"x must be a dense, sparse COO or sparse CSR tensor; got layout {x.layout}")


class GCN(torch.nn.Module):
    r"""Graph convolutional network (Kipf & Welling) with structural smoothing.

    For layers :math:`l = 1, \dots, L` (dropout before every layer, ReLU
    between layers, optional batch norm before the ReLU):

    .. math::
        H^{(l)} = (1 - \lambda_l)\, H^{(l-1)} W^{(l)}
            + \lambda_l\, \hat{D}^{-1/2} \hat{A} \hat{D}^{-1/2} H^{(l-1)} W^{(l)} + b^{(l)}

    The arguments are ordered as PyG's :class:`torch_geometric.nn.models.GCN`
    (``in_channels, hidden_channels, num_layers, out_channels=None,
    dropout=0.0``); the graphls knobs are keyword-only. PyG's
    ``examples/gcn.py`` is ``GCN(in, 16, 2, num_classes, dropout=0.5)``:
    ``dropout(x) → conv1 → ReLU → dropout → conv2``.

    >>> model = GCN(1433, 16, 2, 7, dropout=0.5, structural=0.8)
    >>> [conv.out_channels for conv in model.convs], model.structural_values
    ([16, 7], [0.8, 0.8])

    Args:
        in_channels: Input feature size (``-1`` for lazy initialisation).
        hidden_channels: Hidden feature size (>= 1).
        num_layers: Number of convolutions (>= 1).
        out_channels: Number of classes (logits per node); ``None`` (PyG's
            default) gives ``hidden_channels`` outputs.
        dropout: Feature dropout in [0, 1), applied before every convolution.
        input_dropout: Also drop the input features (before the first
            convolution); ``False`` drops between layers only, as the BernNet
            recipe's GCN.
        structural: λ in [0, 1] for every layer, or one λ per layer.
        learn_structural: Learn each layer's λ (initialised at ``structural``);
            see :class:`~graphls.nn.StructuralGCNConv`.
        cached: Cache the normalised adjacency (transductive full-batch only).
        batch_norm: ``BatchNorm1d`` after each hidden convolution, before ReLU.

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)` or a
          sparse ``adj_t`` :math:`(N, N)`, edge_weight :math:`(E,)` (optional)
        - **output:** logits :math:`(N, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: int | None = None,
        dropout: float = 0.0,
        *,
        structural: float | Sequence[float] = 1.0,
        learn_structural: bool = False,
        cached: bool = False,
        batch_norm: bool = False,
        input_dropout: bool = True,
    ) -> None:
        super().__init__()
        in_channels = _check_in_channels(in_channels)
        hidden_channels = check_positive_int("hidden_channels", hidden_channels)
        num_layers = check_positive_int("num_layers", num_layers)
        out_channels = _check_out_channels(out_channels, hidden_channels)
        self.dropout = check_fraction("dropout", dropout, high_open=True)
        lams = _per_layer_structural(structural, num_layers)
        learn_structural = _check_bool("learn_structural", learn_structural)
        cached = _check_bool("cached", cached)
        self.batch_norm = _check_bool("batch_norm", batch_norm)
        self.input_dropout = _check_bool("input_dropout", input_dropout)
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.out_channels, self.num_layers = out_channels, num_layers

        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(
            StructuralGCNConv(dims[i], dims[i + 1], structural=lams[i],
                              learn_structural=learn_structural, cached=cached)
            for i in range(num_layers)
        )
        self.norms = torch.nn.ModuleList(
            torch.nn.BatchNorm1d(hidden_channels) for _ in range(num_layers - 1)
        ) if self.batch_norm else None

    def reset_parameters(self) -> None:
        """Reset every convolution (weights, cache, λ) and batch norm."""
        for conv in self.convs:
            conv.reset_parameters()
        for norm in self.norms or ():
            norm.reset_parameters()

    @property
    def structural_values(self) -> list[float]:
        """The current λ of each layer, first to last."""
        return [conv.structural for conv in self.convs]

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        """Return raw logits ``(N, out_channels)``."""
        last = self.num_layers - 1
        dropped = not self.input_dropout  # dropped (or not to be dropped) already
        for i, conv in enumerate(self.convs):
            if not dropped:
                x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, edge_index, edge_weight)
            dropped = False
            if i < last:
                if self.norms is not None:
                    x = self.norms[i](x)
                if (self.training and self.dropout > 0 and x.layout == torch.strided
                        and x.numel() >= FAST_DROPOUT_NUMEL):
                    x, dropped = _relu_dropout(x, self.dropout), True
                else:
                    x = x.relu_()  # in place: neither batch norm nor the conv keeps its output
        return x

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, dropout={self.dropout}, "
                f"structural={_fmt_structural(self.structural_values)}")


class GAT(torch.nn.Module):
    r"""Graph attention network (Veličković et al.) with structural smoothing.

    For layers :math:`l = 1, \dots, L` (dropout before every layer, ELU
    between layers), per head :math:`h`:

    .. math::
        h^{(l),h}_i = (1 - \lambda_l)\, W^{(l)}_h h^{(l-1)}_i
            + \lambda_l \sum_{j \in \mathcal{N}(i) \cup \{i\}}
              \alpha^{(l),h}_{ij} W^{(l)}_h h^{(l-1)}_j,

    hidden layers concatenate their ``heads`` heads, the output layer averages
    its ``output_heads`` heads; a bias is added after. The arguments are ordered
    as PyG's :class:`torch_geometric.nn.models.GAT` (``in_channels,
    hidden_channels, num_layers, out_channels=None, dropout=0.0``), the rest
    keyword-only; unlike PyG's, ``hidden_channels`` counts per head. PyG's
    ``examples/gat.py`` is ``GAT(in, 8, 2, num_classes, dropout=0.6, heads=8)``:
    ``dropout(x, 0.6) → GATConv(in, 8, heads=8, dropout=0.6) → ELU → dropout →
    GATConv(8·8, out, heads=1, concat=False, dropout=0.6)``.

    Args:
        in_channels: Input feature size (``-1`` for lazy initialisation).
        hidden_channels: Hidden feature size per head (>= 1).
        num_layers: Number of attention layers (>= 1).
        out_channels: Number of classes (logits per node); ``None`` (PyG's
            default) gives ``hidden_channels`` outputs.
        heads: Heads of each hidden layer (concatenated).
        output_heads: Heads of the output layer (averaged; PyG uses 8 on PubMed).
        dropout: Feature dropout before every layer and attention dropout, in [0, 1).
        input_dropout: Also drop the input features (before the first layer).
        structural: λ in [0, 1] for every layer, or one λ per layer.
        learn_structural: Learn each layer's λ (initialised at ``structural``);
            see :class:`~graphls.nn.StructuralGATConv`.

    Shapes:
        - **input:** x :math:`(N, F_{in})`, edge_index :math:`(2, E)` or a
          sparse ``adj_t`` :math:`(N, N)`
        - **output:** logits :math:`(N, C)`
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int,
        out_channels: int | None = None,
        dropout: float = 0.0,
        *,
        heads: int = 8,
        output_heads: int = 1,
        structural: float | Sequence[float] = 1.0,
        learn_structural: bool = False,
        input_dropout: bool = True,
    ) -> None:
        super().__init__()
        in_channels = _check_in_channels(in_channels)
        hidden_channels = check_positive_int("hidden_channels", hidden_channels)
        num_layers = check_positive_int("num_layers", num_layers)
        out_channels = _check_out_channels(out_channels, hidden_channels)
        self.input_dropout = _check_bool("input_dropout", input_dropout)
        heads = check_positive_int("heads", heads)
        output_heads = check_positive_int("output_heads", output_heads)
        self.dropout = check_fraction("dropout", dropout, high_open=True)
        lams = _per_layer_structural(structural, num_layers)
        learn_structural = _check_bool("learn_structural", learn_structural)
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.out_channels, self.num_layers = out_channels, num_layers
        self.heads, self.output_heads = heads, output_heads

        convs = []
        dim = in_channels
        for i in range(num_layers - 1):
            convs.append(StructuralGATConv(dim, hidden_channels, heads=heads,
                                           dropout=self.dropout, structural=lams[i],
                                           learn_structural=learn_structural))
            dim = hidden_channels * heads
        convs.append(StructuralGATConv(dim, out_channels, heads=output_heads, concat=False,
                                       dropout=self.dropout, structural=lams[-1],
                                       learn_structural=learn_structural))
        self.convs = torch.nn.ModuleList(convs)

    def reset_parameters(self) -> None:
        """Reset every attention layer (weights, attention vectors, λ)."""
        for conv in self.convs:
            conv.reset_parameters()

    @property
    def structural_values(self) -> list[float]:
        """The current λ of each layer, first to last."""
        return [conv.structural for conv in self.convs]

    def forward(self, x: Tensor, edge_index: Adj) -> Tensor:
        """Return raw logits ``(N, out_channels)``."""
        last = self.num_layers - 1
        for i, conv in enumerate(self.convs):
            if i > 0 or self.input_dropout:
                x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, edge_index)
            if i < last:
                x = F.elu(x)
        return x

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, heads={self.heads}, "
                f"output_heads={self.output_heads}, dropout={self.dropout}, "
                f"structural={_fmt_structural(self.structural_values)}")
