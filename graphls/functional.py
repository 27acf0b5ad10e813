r"""Label smoothing as functions: smoothed targets, soft cross-entropy, neighbour priors.

Label smoothing replaces the one-hot target of node :math:`i` by

.. math::
    q_i = (1 - \epsilon)\, e_{y_i} + \epsilon\, \pi_i

and trains on the cross-entropy :math:`-\sum_c q_{ic} \log \mathrm{softmax}(z_i)_c`.
With the uniform prior :math:`\pi_i = 1/K` this is PyTorch's
``F.cross_entropy(z, y, label_smoothing=epsilon)`` (value and gradient):
every class, the true one included, receives :math:`\epsilon / K`, so the
true class keeps :math:`1 - \epsilon + \epsilon / K`.

Another common convention gives :math:`\epsilon' / (K - 1)` to each wrong
class only (true class :math:`1 - \epsilon'`). The two coincide when
:math:`\epsilon = \epsilon' K / (K - 1)`; pass that value here to reproduce it.

The prior :math:`\pi` may be a class distribution ``(K,)`` or one row per
node ``(N, K)``, for example :func:`neighbor_label_prior`, the label
histogram of a node's labelled training neighbours.

This module imports only torch and torch_geometric.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch_geometric.utils import coalesce, remove_self_loops

from graphls._validation import (
    TARGET_KINDS,
    check_choice,
    check_distribution,
    check_float_target,
    check_fraction,
    check_labels,
    check_logits,
    check_nonempty_mean,
    check_positive_int,
    check_prior_shape,
    check_prior_value,
    check_same_length,
    check_soft_target,
    check_tensor,
    fmt_dtype,
    fmt_shape,
)

__all__ = [
    "label_smoothing_cross_entropy",
    "neighbor_label_prior",
    "posterior_label_prior",
    "smooth_targets",
    "smoothed_cross_entropy",
    "soft_cross_entropy",
]

REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_node: torch.Tensor, reduction: str,
            count: torch.Tensor | int | None = None) -> torch.Tensor:
    if reduction == "none":
        return per_node
    total = per_node.sum()
    if reduction == "sum":
        return total
    return total / (per_node.numel() if count is None else count)


# ---------------------------------------------------------------------------
# targets and losses
# ---------------------------------------------------------------------------

def smooth_targets(target: torch.Tensor, num_classes: int, epsilon: float,
                   prior: torch.Tensor | None = None) -> torch.Tensor:
    r"""The label-smoothed target distributions.

    .. math::
        q_i = (1 - \epsilon)\, e_{y_i} + \epsilon\, \pi_i

    With ``prior=None`` the prior is uniform, :math:`\pi_{ic} = 1/K`
    (PyTorch's convention: :math:`\epsilon/K` to every class, the true class
    included). For the convention that spreads :math:`\epsilon'` over the
    :math:`K - 1` wrong classes only, pass :math:`\epsilon = \epsilon' K/(K-1)`.

    Args:
        target: Class indices ``(N,)`` (integer), or probability rows
            ``(N, K)`` (floating), in which case
            :math:`q_i = (1 - \epsilon)\, t_i + \epsilon\, \pi_i`.
        num_classes: K.
        epsilon: Smoothing mass in [0, 1]; 0 returns the one-hot targets.
        prior: None (uniform), a class distribution ``(K,)`` or one per node
            ``(N, K)``; every row must be a distribution.

    Returns:
        ``(N, K)``; every row is a distribution. The dtype is the prior's
        (or the soft target's, or the default dtype), promoted as torch does.

    Raises:
        ValueError: ``epsilon`` outside [0, 1], labels out of range or not
            1-D, rows that are not distributions, mismatched shapes.
        TypeError: ``target`` is not a tensor, or is floating but not 2-D
            (class labels stored as floats: use ``y.long()``).

    Example:
        >>> smooth_targets(torch.tensor([0, 2]), num_classes=3, epsilon=0.3)
        tensor([[0.8000, 0.1000, 0.1000],
                [0.1000, 0.1000, 0.8000]])
        >>> prior = torch.tensor([0.5, 0.5, 0.0])  # a class prior instead of uniform
        >>> smooth_targets(torch.tensor([2]), 3, 0.2, prior)
        tensor([[0.1000, 0.1000, 0.8000]])
    """
    epsilon = check_fraction("epsilon", epsilon)
    num_classes = check_positive_int("num_classes", num_classes)
    check_tensor("target", target, TARGET_KINDS)
    check_float_target("target", target, num_classes)
    if target.is_floating_point():
        if target.dim() != 2 or target.size(1) != num_classes:
            raise ValueError(
                f"target must be class indices (N,) or probability rows (N, {num_classes}); "
                f"got shape {fmt_shape(target.shape)}"
            )
        check_distribution("target", target)
        base = target
    else:
        check_labels("target", target, num_classes)
        floating_prior = isinstance(prior, torch.Tensor) and prior.is_floating_point()
        dtype = prior.dtype if floating_prior else torch.get_default_dtype()
        base = F.one_hot(target.long(), num_classes).to(dtype)
    if prior is None:
        return base * (1.0 - epsilon) + epsilon / num_classes
    prior = check_prior_value(prior)
    check_prior_shape(prior, base.size(0), num_classes, "target", target.shape)
    return base * (1.0 - epsilon) + epsilon * prior


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor,
                       reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy against soft targets.

    .. math::
        \ell_i = -\sum_c q_{ic} \log \mathrm{softmax}(z_i)_c

    reduced by ``"mean"`` (over the N rows), ``"sum"`` or ``"none"``. It
    equals ``F.cross_entropy(logits, target_probs)``. The rows of
    ``target_probs`` are not checked (that would sync with the device); use
    :func:`smooth_targets` to build them.

    ``reduction="mean"`` over no rows is refused (it would be NaN);
    ``"sum"`` gives 0 and ``"none"`` an empty tensor.

    Args:
        logits: ``(N, K)`` raw scores.
        target_probs: ``(N, K)`` target distributions q.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        A scalar, or ``(N,)`` with ``reduction="none"``.

    Example:
        >>> logits = torch.tensor([[1.0, 2.0, 3.0]])
        >>> q = smooth_targets(torch.tensor([2]), 3, 0.1)
        >>> torch.allclose(soft_cross_entropy(logits, q), F.cross_entropy(logits, q))
        True
    """
    check_tensor("logits", logits, "float logits (N, K)")
    check_logits("logits", logits)
    check_tensor("target_probs", target_probs, "probability rows (N, K)")
    if not target_probs.is_floating_point() and target_probs.dim() != 2:
        raise TypeError(
            f"target_probs must be probability rows (N, K); got {fmt_dtype(target_probs.dtype)} "
            f"of shape {fmt_shape(target_probs.shape)}; class indices: use "
            f"label_smoothing_cross_entropy(logits, target, epsilon)"
        )
    check_soft_target("target_probs", target_probs, logits)
    check_choice("reduction", reduction, REDUCTIONS)
    check_nonempty_mean("logits", logits, reduction)
    per_node = -(target_probs * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    return _reduce(per_node, reduction)


def smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, epsilon: float,
                        prior: torch.Tensor | None, reduction: str,
                        ignore_index: int) -> torch.Tensor:
    """:func:`label_smoothing_cross_entropy` without its input checks.

    For callers that check their inputs once themselves
    (:class:`graphls.losses.LabelSmoothingLoss` checks the prior when it is
    built, not on every call); anyone else should call
    :func:`label_smoothing_cross_entropy`.
    """
    logp = F.log_softmax(logits, dim=-1)
    if target.is_floating_point():  # probability rows: no ignore_index, as in torch
        hard = -(target * logp).sum(dim=-1)
        valid = None
    else:
        valid = target != ignore_index
        index = target.long().where(valid, 0)
        hard = -logp.gather(1, index.unsqueeze(1)).squeeze(1)
    if epsilon == 0.0:
        return _finish(hard, valid, reduction)
    if prior is None:
        smooth = -logp.mean(dim=-1)
    elif prior.dim() == 1:
        smooth = -(logp @ prior.to(logp.dtype))
    else:
        p = prior.to(logp.dtype)
        if valid is not None:  # ignored rows may hold anything; keep NaN out of the gradient
            p = p.where(valid.unsqueeze(1), 0.0)
        smooth = -(logp * p).sum(dim=-1)
    if epsilon == 1.0:
        return _finish(smooth, valid, reduction)
    return _finish((1.0 - epsilon) * hard + epsilon * smooth, valid, reduction)


def _finish(per_node: torch.Tensor, valid: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Zero the ignored rows and reduce over the others."""
    if valid is None:
        return _reduce(per_node, reduction)
    per_node = per_node.where(valid, 0.0)
    return _reduce(per_node, reduction, valid.sum())


def label_smoothing_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                                  epsilon: float = 0.1, prior: torch.Tensor | None = None,
                                  reduction: str = "mean",
                                  ignore_index: int = -100) -> torch.Tensor:
    r"""Cross-entropy against label-smoothed targets, without building them.

    .. math::
        \ell_i = -\sum_c q_{ic} \log p_{ic}
               = (1 - \epsilon)\,(-\log p_{i y_i})
                 + \epsilon\,\Big(-\sum_c \pi_{ic} \log p_{ic}\Big),
        \qquad p_i = \mathrm{softmax}(z_i)

    with :math:`q_i = (1 - \epsilon)\, e_{y_i} + \epsilon\, \pi_i`; for the
    uniform prior the last term is :math:`-\frac{1}{K}\sum_c \log p_{ic}`, so no
    ``(N, K)`` one-hot is built. ``"mean"`` divides by the number of rows
    whose target is not ``ignore_index``; with ``"none"`` those rows are 0.
    With ``prior=None`` and index targets this equals
    ``F.cross_entropy(logits, target, label_smoothing=epsilon,
    reduction=reduction, ignore_index=ignore_index)`` in value and gradient;
    the gradient of the mean is :math:`(\mathrm{softmax}(z_i) - q_i)/N`.

    ``reduction="mean"`` over no rows (an empty training mask) is refused,
    since the mean of nothing is NaN; ``"sum"`` gives 0 and ``"none"`` an
    empty tensor. If every target equals ``ignore_index`` the mean is NaN,
    as in torch (finding that out would sync with the device).

    This function checks the label range and that the prior rows are
    distributions, which syncs with the device; in a training loop on an
    accelerator use :class:`graphls.losses.LabelSmoothingLoss`, which checks
    the prior once.

    Args:
        logits: ``(N, K)`` raw scores.
        target: Class indices ``(N,)``, or probability rows ``(N, K)``
            (then ``ignore_index`` does not apply).
        epsilon: Smoothing mass in [0, 1]; 0 is plain cross-entropy.
        prior: None (uniform), a class distribution ``(K,)``, or one row per
            node ``(N, K)`` (rows of ignored nodes are not used).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        ignore_index: Index targets equal to it contribute nothing.

    Returns:
        A scalar, or ``(N,)`` with ``reduction="none"``.

    Example:
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
        >>> y = torch.tensor([0, 1])
        >>> loss = label_smoothing_cross_entropy(logits, y, epsilon=0.1)
        >>> torch.allclose(loss, F.cross_entropy(logits, y, label_smoothing=0.1))
        True
        >>> prior = torch.tensor([0.6, 0.2, 0.2])  # smooth towards a class prior instead
        >>> label_smoothing_cross_entropy(logits, y, 0.1, prior).shape
        torch.Size([])
    """
    epsilon = check_fraction("epsilon", epsilon)
    check_choice("reduction", reduction, REDUCTIONS)
    check_tensor("logits", logits, "float logits (N, K)")
    check_logits("logits", logits)
    num_rows, num_classes = logits.shape
    check_tensor("target", target, TARGET_KINDS)
    check_float_target("target", target, num_classes)
    if target.is_floating_point():
        check_soft_target("target", target, logits)
        check_distribution("target", target)
        valid = None
    else:
        check_labels("target", target, num_classes, ignore_index=ignore_index)
        check_same_length("logits", logits, "target", target)
        valid = target != ignore_index
    check_nonempty_mean("logits", logits, reduction)
    if prior is not None:
        prior = check_tensor("prior", prior)
        if prior.dim() not in (1, 2):
            check_prior_value(prior)  # raises with the shape message
        check_prior_shape(prior, num_rows, num_classes, "logits", logits.shape)
        check_prior_value(prior if valid is None or prior.dim() == 1 else prior[valid])
    return smoothed_cross_entropy(logits, target, epsilon, prior, reduction, ignore_index)


# ---------------------------------------------------------------------------
# neighbour priors
# ---------------------------------------------------------------------------

_PAIRS_PER_CHUNK = 1 << 18  # bounds the memory of the hops > 1 expansion


def _training_label_counts(edge_index: torch.Tensor, y_train: torch.Tensor,
                           train_mask: torch.Tensor, num_classes: int, hops: int,
                           add_self: bool) -> torch.Tensor:
    """``counts[i, c]``: distinct training nodes ``j`` of class ``c`` that reach ``i``.

    ``j`` reaches ``i`` if a directed path ``j -> ... -> i`` of 1..hops edges
    exists and ``j != i`` (``j == i`` too if ``add_self`` and ``i`` trains).
    Only ``y_train`` at training nodes is read.
    """
    num_nodes = y_train.numel()
    device = edge_index.device
    edge_index, _ = remove_self_loops(edge_index)
    edge_index = coalesce(edge_index, num_nodes=num_nodes)  # distinct edges, sorted by source
    src, dst = edge_index
    train_idx = train_mask.nonzero().view(-1)

    def count(rows: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        flat = rows * num_classes + y_train[nodes]
        return torch.bincount(flat, minlength=num_nodes * num_classes)

    counts = torch.zeros(num_nodes * num_classes, dtype=torch.long, device=device)
    if add_self:
        counts += count(train_idx, train_idx)
    if hops == 1:  # one pass over the (distinct, loop-free) edges out of training nodes
        keep = train_mask[src]
        return (counts + count(dst[keep], src[keep])).view(num_nodes, num_classes)

    # Distinct (node, training source) pairs, grown one hop at a time:
    # R_0 = {(j, j)}, R_k = R_{k-1} ∪ {(i, j) : (m, j) ∈ R_{k-1}, m -> i}.
    # Sources are independent, so they are processed in chunks to bound memory.
    out_degree = torch.bincount(src, minlength=num_nodes)
    first = torch.cumsum(out_degree[train_idx], 0)
    chunk_of = torch.div(first, _PAIRS_PER_CHUNK, rounding_mode="floor")
    bounds = torch.cumsum(torch.bincount(chunk_of), 0).tolist() if train_idx.numel() else []
    ptr = torch.cumsum(out_degree, 0) - out_degree
    lo = 0
    for hi in bounds:
        if hi == lo:
            continue
        sources = train_idx[lo:hi]
        rows, cols = sources, sources
        for _ in range(hops):
            n_out = out_degree[rows]
            start = torch.cumsum(n_out, 0) - n_out
            pos = torch.arange(int(n_out.sum()), device=device) \
                + torch.repeat_interleave(ptr[rows] - start, n_out)
            grown = torch.stack([dst[pos], torch.repeat_interleave(cols, n_out)])
            pairs = coalesce(torch.cat([torch.stack([rows, cols]), grown], 1),
                             num_nodes=num_nodes)
            rows, cols = pairs[0], pairs[1]
        not_self = rows != cols
        counts += count(rows[not_self], cols[not_self])
        lo = hi
    return counts.view(num_nodes, num_classes)


def neighbor_label_prior(edge_index: torch.Tensor, y: torch.Tensor, train_mask: torch.Tensor,
                         num_classes: int, hops: int = 1, add_self: bool = False,
                         dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""Each node's histogram of the labels of its labelled training neighbours.

    .. math::
        \pi_{ic} = \frac{|\{j \in \mathcal{N}_h(i) \cap \mathcal{T} : y_j = c\}|}
                        {|\mathcal{N}_h(i) \cap \mathcal{T}|},
        \qquad \pi_i = 1/K \text{ if } \mathcal{N}_h(i) \cap \mathcal{T} = \emptyset

    :math:`\mathcal{T}` is the training set (``train_mask``) and
    :math:`\mathcal{N}_h(i)` the set of distinct nodes :math:`j \ne i` with a
    directed path :math:`j \to \dots \to i` of at most ``hops`` edges. The
    edges are messages ``edge_index[0] -> edge_index[1]`` as in PyG, so the
    neighbours of ``i`` are the sources of edges into ``i`` (for an
    undirected graph, both directions are present and this does not matter).
    Each neighbour counts once, however many edges or paths lead from it;
    self-loops are ignored. With ``add_self=True`` a training node's own
    label is counted too (:math:`\mathcal{N}_h(i) \cup \{i\}`).

    No label outside ``train_mask`` is read: the labels are masked to
    ``y.where(train_mask, 0)`` first and only training sources are counted.
    ``hops=1`` is one pass over the edges (under a second on CPU for a graph
    of ogbn-arxiv's size, 170k nodes and 2.3M edges); ``hops > 1`` enumerates
    the distinct (node, reachable training node) pairs, in chunks of training
    sources, so its time grows with the h-hop neighbourhoods (about 15 s and
    1.6 GB for ``hops=2`` at that size).

    Args:
        edge_index: ``(2, E)`` message edges, source row first.
        y: ``(N,)`` labels; only entries at ``train_mask`` are read.
        train_mask: ``(N,)`` boolean training mask.
        num_classes: K.
        hops: How far to look, an integer >= 1.
        add_self: Count a training node's own label as well.
        dtype: Output dtype (default: ``torch.get_default_dtype()``).

    Returns:
        ``(N, K)``; every row is a distribution.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    hops = check_positive_int("hops", hops)
    edge_index, y_train = _check_graph_labels(edge_index, y, train_mask, num_classes)

    counts = _training_label_counts(edge_index, y_train, train_mask, num_classes, hops,
                                    add_self)
    dtype = dtype or torch.get_default_dtype()
    counts = counts.to(dtype)
    total = counts.sum(dim=-1, keepdim=True)
    uniform = torch.full_like(counts, 1.0 / num_classes)
    return torch.where(total > 0, counts / total.clamp_min(1), uniform)


def _check_graph_labels(edge_index: object, y: object, train_mask: object, num_classes: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the inputs of a graph prior; return ``edge_index`` (int64) and the training
    labels ``y.where(train_mask, 0)``, the only labels a prior may read."""
    check_tensor("edge_index", edge_index)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"edge_index must have shape (2, num_edges); got shape {fmt_shape(edge_index.shape)}"
        )
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index must be an integer tensor; got dtype {edge_index.dtype}")
    check_labels("y", y, check_range=False)
    check_tensor("train_mask", train_mask)
    if train_mask.dtype != torch.bool:
        raise TypeError(f"train_mask must be a boolean tensor; got dtype {train_mask.dtype}")
    if train_mask.dim() != 1:
        raise ValueError(f"train_mask must be 1-D (one entry per node); "
                         f"got shape {fmt_shape(train_mask.shape)}")
    check_same_length("y", y, "train_mask", train_mask)
    num_nodes = y.size(0)
    edge_index = edge_index.long()
    if edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ValueError(
                f"edge_index must hold node indices in [0, {num_nodes}) (y has {num_nodes} "
                f"nodes); got {lo if lo < 0 else hi}"
            )
    y_train = y.long().where(train_mask, 0)  # the only labels used below
    check_labels("y", y_train, num_classes)  # range of the training labels only
    return edge_index, y_train


def posterior_label_prior(edge_index: torch.Tensor, y: torch.Tensor, train_mask: torch.Tensor,
                          num_classes: int, *, pseudo_labels: torch.Tensor | None = None,
                          dtype: torch.dtype | None = None) -> torch.Tensor:
    r"""PosteL's posterior over each node's class given its neighbours' labels.

    For node :math:`i` let :math:`n_i[c]` count its neighbours :math:`j`
    (edges :math:`i 	o j`: ``edge_index[0] == i``, as PosteL's code; for an
    undirected graph both directions are present) whose label is *known* and
    equals :math:`c`: the training labels, plus ``pseudo_labels`` at
    non-training nodes when given. With :math:`\mathcal{T}` the training set,

    .. math::
        P(c \mid k) = rac{\sum_{i \in \mathcal{T}, y_i = k} n_i[c]}
                           {\sum_{i \in \mathcal{T}, y_i = k} \sum_{c'} n_i[c']},
        \qquad
        \pi_k = rac{|\{	ext{known labels} = k\}|}{|\{	ext{known labels}\}|},
        \qquad
        p_i(k) \propto \pi_k \prod_c P(c \mid k)^{n_i[c]}

    (:math:`P(\cdot \mid k)` uniform for a class with no counts). The posterior
    is computed per row in log space, :math:`\log \pi_k + \sum_c n_i[c] \log
    P(c \mid k)` normalised by its own log-sum-exp, so a high-degree row keeps
    its precision (PosteL's public code subtracts one global maximum, which
    underflows such rows to zero and sends them to its one-hot fallback); a term
    with :math:`n_i[c] = 0` contributes 0 even where :math:`P(c \mid k) = 0`.

    A **training** node with no labelled neighbour, or whose neighbourhood no
    class can explain (every class has probability 0), gets its own one-hot
    label, as PosteL's fallback; such a non-training node gets :math:`\pi`.
    No label outside ``train_mask`` is read.

    Args:
        edge_index: ``(2, E)`` edges.
        y: ``(N,)`` labels; only entries at ``train_mask`` are read.
        train_mask: ``(N,)`` boolean training mask.
        num_classes: K (>= 2).
        pseudo_labels: ``(N,)`` integer labels used at non-training nodes (entries
            at training nodes are ignored; a negative entry means unknown).
        dtype: Output dtype (default: ``torch.get_default_dtype()``); the
            computation runs in float64.

    Returns:
        ``(N, K)``; every row is a distribution.

    >>> edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> p = posterior_label_prior(edge_index, y, torch.tensor([True, True, True, False]), 2)
    >>> p.shape, bool(torch.allclose(p.sum(-1), torch.ones(4)))
    (torch.Size([4, 2]), True)
    """
    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    edge_index, labels = _check_graph_labels(edge_index, y, train_mask, num_classes)
    if not bool(train_mask.any()):
        raise ValueError("train_mask must select at least one node for a posterior; got none")
    known = train_mask.clone()
    if pseudo_labels is not None:
        check_labels("pseudo_labels", pseudo_labels, check_range=False)
        check_same_length("y", y, "pseudo_labels", pseudo_labels)
        use = ~train_mask & (pseudo_labels >= 0)
        if bool((pseudo_labels[use] >= num_classes).any()):
            raise ValueError(f"pseudo_labels must be < num_classes ({num_classes}) or negative "
                             f"(unknown); got {int(pseudo_labels[use].max())}")
        labels = torch.where(use, pseudo_labels.long(), labels)
        known = known | use
    n = labels.size(0)
    f64 = torch.float64
    onehot = F.one_hot(labels, num_classes).to(f64) * known.unsqueeze(1)
    counts = torch.zeros(n, num_classes, dtype=f64, device=onehot.device)
    counts.index_add_(0, edge_index[0], onehot[edge_index[1]])  # n_i[c]
    train_labels = labels[train_mask]
    per_class = torch.zeros(num_classes, num_classes, dtype=f64, device=onehot.device)
    per_class.index_add_(0, train_labels, counts[train_mask])  # row k: sum of n_i, y_i = k
    total = per_class.sum(dim=1, keepdim=True)
    likelihood = torch.where(total > 0, per_class / total.clamp_min(1),
                             torch.full_like(per_class, 1.0 / num_classes))  # P(c | k)
    prior = onehot[known].sum(dim=0)
    prior = prior / prior.sum().clamp_min(1)
    # sum_c n_i[c] log P(c|k), with 0 log 0 = 0, and -inf where some n_i[c] > 0 has P(c|k) = 0
    log_lik = counts @ torch.where(likelihood > 0, likelihood.log(), 0.0).T
    impossible = (counts > 0).to(f64) @ (likelihood == 0).to(f64).T > 0
    log_post = (log_lik + prior.log()).masked_fill(impossible, -torch.inf)
    norm = torch.logsumexp(log_post, dim=1, keepdim=True)
    posterior = (log_post - norm).exp()
    defined = torch.isfinite(norm).squeeze(1) & (counts.sum(dim=1) > 0)
    fallback = torch.where(train_mask.unsqueeze(1),
                           F.one_hot(labels, num_classes).to(f64), prior.expand(n, -1))
    out = torch.where(defined.unsqueeze(1), posterior, fallback)
    return out.to(dtype or torch.get_default_dtype())

