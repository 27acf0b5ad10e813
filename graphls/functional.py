r"""Label smoothing as functions: smoothed targets and the cross-entropies.

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
node ``(N, K)``, for example :func:`graphls.priors.neighbor_label_prior`,
the label histogram of a node's labelled training neighbours (the graph
priors live in :mod:`graphls.priors`).

This module imports only torch and torch_geometric.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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
