r"""Label-smoothing losses as modules, and a schedule for ε.

:class:`LabelSmoothingLoss` is the multi-class loss over
:func:`graphls.functional.label_smoothing_cross_entropy`;
:class:`BinaryLabelSmoothingLoss` the binary / multi-label one;
:class:`EpsilonSchedule` moves ε between epochs.

This module imports only torch and torch_geometric.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F

from graphls._validation import (
    TARGET_KINDS,
    check_choice,
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
    fmt_shape,
)
from graphls.functional import REDUCTIONS, smoothed_cross_entropy

__all__ = ["BinaryLabelSmoothingLoss", "EpsilonSchedule", "LabelSmoothingLoss"]


def _check_ignore_index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"ignore_index must be an integer; got {type(value).__name__} {value!r}")
    return int(value)


class LabelSmoothingLoss(torch.nn.Module):
    r"""Cross-entropy against label-smoothed targets.

    .. math::
        q_i = (1 - \epsilon)\, e_{y_i} + \epsilon\, \pi_i, \qquad
        \mathcal{L} = -\frac{1}{N} \sum_i \sum_c q_{ic} \log \mathrm{softmax}(z_i)_c

    With ``prior=None`` (:math:`\pi_i = 1/K`, PyTorch's convention) it equals
    ``F.cross_entropy(z, y, label_smoothing=epsilon)`` in value and gradient.
    The mean runs over the rows whose target is not ``ignore_index``.
    ``epsilon`` may be reassigned between epochs (it is checked), for example
    from an :class:`EpsilonSchedule`. The prior is a buffer, so
    ``.to(device)`` moves it; it is checked once, here. In ``forward`` only
    shapes are checked, plus the label range for CPU tensors (on an
    accelerator that check would sync every step).

    The inputs must be tensors (a NumPy array or list is refused with a
    ``TypeError`` that says to use ``torch.as_tensor``). ``reduction="mean"``
    over no rows (an empty mask) is refused with a ``ValueError``, since the
    mean of nothing is NaN; ``"sum"`` gives 0 and ``"none"`` an empty tensor.
    If every target equals ``ignore_index`` the mean is NaN, as in torch
    (finding that out would sync with the device).

    Args:
        epsilon: Smoothing mass in [0, 1]; 0 is plain cross-entropy.
        prior: None (uniform), a class distribution (K,), or per-node (N, K).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        ignore_index: Index targets equal to it contribute nothing.

    Shapes:
        - **input:** logits (N, K), target (N,) int64 (or probability rows (N, K))
        - **output:** scalar (or (N,) with ``reduction="none"``)

    Example:
        >>> criterion = LabelSmoothingLoss(epsilon=0.1)
        >>> criterion
        LabelSmoothingLoss(epsilon=0.1, prior=uniform, reduction='mean', ignore_index=-100)
        >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
        >>> y = torch.tensor([0, 1])
        >>> loss = criterion(logits, y)
        >>> round(loss.item(), 4)
        0.4955
        >>> torch.allclose(loss, F.cross_entropy(logits, y, label_smoothing=0.1))
        True
        >>> loss.backward()  # gradient (softmax(z) - q) / N
        >>> criterion(logits, y.float())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        TypeError: target must hold int64 class indices (N,) or ...; class labels: use y.long()
    """

    prior: torch.Tensor | None

    def __init__(self, epsilon: float = 0.1, prior: torch.Tensor | None = None,
                 reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__()
        self.epsilon = epsilon
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.ignore_index = _check_ignore_index(ignore_index)
        if prior is not None:
            prior = check_prior_value(prior).detach().clone()
        self.register_buffer("prior", prior)

    @property
    def epsilon(self) -> float:
        """Smoothing mass in [0, 1]; assigning it checks the value."""
        return self._epsilon

    @epsilon.setter
    def epsilon(self, value: float) -> None:
        self._epsilon = check_fraction("epsilon", value)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``logits`` (N, K) against ``target`` (N,) or (N, K)."""
        check_tensor("logits", logits, "float logits (N, K)")
        check_logits("logits", logits)
        num_rows, num_classes = logits.shape
        check_tensor("target", target, TARGET_KINDS)
        check_float_target("target", target, num_classes)
        if target.is_floating_point():
            check_soft_target("target", target, logits)
        else:
            check_labels("target", target, num_classes, ignore_index=self.ignore_index,
                         check_range=target.device.type == "cpu")
            check_same_length("logits", logits, "target", target)
        check_nonempty_mean("logits", logits, self.reduction)
        if self.prior is not None:
            check_prior_shape(self.prior, num_rows, num_classes, "logits", logits.shape)
        return smoothed_cross_entropy(logits, target, self._epsilon, self.prior,
                                   self.reduction, self.ignore_index)

    def extra_repr(self) -> str:
        if self.prior is None:
            prior = "uniform"
        elif self.prior.dim() == 1:
            prior = f"class {fmt_shape(self.prior.shape)}"
        else:
            prior = f"per-node {fmt_shape(self.prior.shape)}"
        return (f"epsilon={self._epsilon:g}, prior={prior}, reduction={self.reduction!r}, "
                f"ignore_index={self.ignore_index}")


class BinaryLabelSmoothingLoss(torch.nn.Module):
    r"""Binary cross-entropy on logits against label-smoothed binary targets.

    .. math::
        \tilde y = (1 - \epsilon)\, y + \frac{\epsilon}{2} \quad\text{(two-sided)}, \qquad
        \tilde y = \Big(1 - \frac{\epsilon}{2}\Big)\, y \quad\text{(one-sided)}

    .. math::
        \mathcal{L} = -\frac{1}{M} \sum_{i,t} \big[w_t\, \tilde y_{it} \log \sigma(z_{it})
                      + (1 - \tilde y_{it}) \log (1 - \sigma(z_{it}))\big]

    Two-sided smoothing moves 1 to :math:`1 - \epsilon/2` and 0 to
    :math:`\epsilon/2`; one-sided smoothing moves only the positives
    (1 to :math:`1 - \epsilon/2`, 0 stays 0). :math:`w` is ``pos_weight``
    (1 if None) and M the number of entries. It equals
    ``F.binary_cross_entropy_with_logits(z, y_tilde, pos_weight=pos_weight)``.
    For binary or multi-label node tasks (one column per task).

    Args:
        epsilon: Smoothing mass in [0, 1]; 0 is plain binary cross-entropy.
        one_sided: Smooth the positives only.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        pos_weight: None, or a non-negative weight of the positive term per
            task (T,) (or a number), broadcast as in torch.

    ``reduction="mean"`` over no entries is refused (it would be NaN);
    ``"sum"`` gives 0 and ``"none"`` an empty tensor.

    Shapes:
        - **input:** logits (N,) or (N, T), target of the same shape in [0, 1]
        - **output:** scalar (or the input's shape with ``reduction="none"``)

    Example:
        >>> criterion = BinaryLabelSmoothingLoss(epsilon=0.2)
        >>> criterion.smooth(torch.tensor([1.0, 0.0]))  # 1 -> 0.9, 0 -> 0.1
        tensor([0.9000, 0.1000])
        >>> loss = criterion(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]))
    """

    pos_weight: torch.Tensor | None

    def __init__(self, epsilon: float = 0.1, one_sided: bool = False,
                 reduction: str = "mean", pos_weight: torch.Tensor | float | None = None) -> None:
        super().__init__()
        self.epsilon = epsilon
        if not isinstance(one_sided, bool):
            raise TypeError(f"one_sided must be a bool; got {type(one_sided).__name__} "
                            f"{one_sided!r}")
        self.one_sided = one_sided
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        if pos_weight is not None:
            if isinstance(pos_weight, Real) and not isinstance(pos_weight, bool):
                pos_weight = torch.tensor(float(pos_weight))
            pos_weight = check_tensor("pos_weight", pos_weight)
            if not pos_weight.is_floating_point():
                pos_weight = pos_weight.to(torch.get_default_dtype())
            if not bool(torch.isfinite(pos_weight).all()) or bool((pos_weight < 0).any()):
                raise ValueError("pos_weight must be finite and >= 0; got "
                                 f"{pos_weight.tolist()!r}")
            pos_weight = pos_weight.detach().clone()
        self.register_buffer("pos_weight", pos_weight)

    @property
    def epsilon(self) -> float:
        """Smoothing mass in [0, 1]; assigning it checks the value."""
        return self._epsilon

    @epsilon.setter
    def epsilon(self, value: float) -> None:
        self._epsilon = check_fraction("epsilon", value)

    def smooth(self, target: torch.Tensor) -> torch.Tensor:
        """The smoothed targets :math:`\\tilde y` (floating, same shape as ``target``)."""
        y = target if target.is_floating_point() else target.to(torch.get_default_dtype())
        if self.one_sided:
            return y * (1.0 - self._epsilon / 2)
        return y * (1.0 - self._epsilon) + self._epsilon / 2

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``logits`` against binary ``target`` of the same shape."""
        check_tensor("logits", logits, "float logits (N,) or (N, T)")
        if not logits.is_floating_point():
            raise TypeError(f"logits must be a floating-point tensor; got dtype {logits.dtype}")
        check_tensor("target", target, "0/1 or [0, 1] targets shaped as logits")
        if target.shape != logits.shape:
            raise ValueError(
                f"target and logits must have the same shape; "
                f"got {fmt_shape(target.shape)} and {fmt_shape(logits.shape)}"
            )
        check_nonempty_mean("logits", logits, self.reduction, unit="entry")
        if target.device.type == "cpu" and target.numel() > 0:
            lo, hi = float(target.min()), float(target.max())
            if lo < 0 or hi > 1:
                raise ValueError(f"target must hold values in [0, 1]; got {lo if lo < 0 else hi:g}")
        smoothed = self.smooth(target).to(logits.dtype)
        pos_weight = None if self.pos_weight is None else self.pos_weight.to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, smoothed, pos_weight=pos_weight,
                                                  reduction=self.reduction)

    def extra_repr(self) -> str:
        pw = "None" if self.pos_weight is None else fmt_shape(self.pos_weight.shape)
        return (f"epsilon={self._epsilon:g}, one_sided={self.one_sided}, "
                f"reduction={self.reduction!r}, pos_weight={pw}")


class EpsilonSchedule:
    r"""ε as a function of the (0-based) epoch: constant, linear or cosine.

    With :math:`t = \min(1, e / \max(1, E - 1))` for epoch :math:`e` of
    :math:`E` = ``num_epochs``:

    .. math::
        \epsilon_{\text{linear}}(e) = \epsilon_0 + (\epsilon_1 - \epsilon_0)\, t, \qquad
        \epsilon_{\text{cosine}}(e) = \epsilon_1 + (\epsilon_0 - \epsilon_1)\,
                                      \frac{1 + \cos(\pi t)}{2}

    so epoch 0 gives ``epsilon_start``, epoch ``num_epochs - 1`` gives
    ``epsilon_end``, and later epochs stay at ``epsilon_end``. With
    ``num_epochs=1``, epoch 0 gives ``epsilon_start``.

    Args:
        kind: ``"constant"``, ``"linear"`` or ``"cosine"``.
        epsilon_start: ε at epoch 0, in [0, 1].
        epsilon_end: ε at the last epoch, in [0, 1]; None means
            ``epsilon_start``. For ``"constant"`` it must be None or equal.
        num_epochs: The number of epochs, an integer >= 1 (required for
            ``"linear"`` and ``"cosine"``).

    Example:
        >>> schedule = EpsilonSchedule("cosine", 0.3, 0.0, num_epochs=100)
        >>> criterion = LabelSmoothingLoss(epsilon=schedule(0))
        >>> for epoch in range(100):
        ...     criterion.epsilon = schedule(epoch)
        ...     # loss = criterion(model(x, edge_index)[train], y[train]); ...
    """

    KINDS = ("constant", "linear", "cosine")

    def __init__(self, kind: str = "constant", epsilon_start: float = 0.1,
                 epsilon_end: float | None = None, num_epochs: int | None = None) -> None:
        self.kind = check_choice("kind", kind, self.KINDS)
        self.epsilon_start = check_fraction("epsilon_start", epsilon_start)
        if epsilon_end is None:
            self.epsilon_end = self.epsilon_start
        else:
            self.epsilon_end = check_fraction("epsilon_end", epsilon_end)
        if kind == "constant" and self.epsilon_end != self.epsilon_start:
            raise ValueError(
                f"epsilon_end must equal epsilon_start for kind='constant'; got "
                f"{epsilon_start!r} and {epsilon_end!r}; use kind='linear' or 'cosine'"
            )
        if num_epochs is None:
            if kind != "constant":
                raise ValueError(f"num_epochs is required for kind={kind!r}; got None")
            self.num_epochs = None
        else:
            self.num_epochs = check_positive_int("num_epochs", num_epochs)

    def __call__(self, epoch: int) -> float:
        """ε at ``epoch`` (0-based; epochs past the end give ``epsilon_end``)."""
        epoch = check_positive_int("epoch", epoch, minimum=0)
        if self.kind == "constant":
            return self.epsilon_start
        assert self.num_epochs is not None  # set in __init__ for non-constant kinds
        t = min(1.0, epoch / max(1, self.num_epochs - 1))
        start, end = self.epsilon_start, self.epsilon_end
        if t == 0.0 or t == 1.0:  # the endpoints exactly, without rounding
            return start if t == 0.0 else end
        if self.kind == "linear":
            value = start + (end - start) * t
        else:
            value = end + (start - end) * (1.0 + math.cos(math.pi * t)) / 2.0
        return min(1.0, max(0.0, value))  # rounding never leaves [0, 1]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kind={self.kind!r}, epsilon_start={self.epsilon_start:g}, "
                f"epsilon_end={self.epsilon_end:g}, num_epochs={self.num_epochs})")
