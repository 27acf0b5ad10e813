"""Label-smoothing losses as modules, and an ε schedule for curriculum smoothing."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from graphls._validation import (
    check_choice,
    check_distribution,
    check_fraction,
    check_labels,
    check_logits,
    check_positive_int,
    check_same_length,
    check_tensor,
    fmt_shape,
)
from graphls.functional import REDUCTIONS, _label_smoothing_ce

__all__ = ["BinaryLabelSmoothingLoss", "EpsilonSchedule", "LabelSmoothingLoss"]


class LabelSmoothingLoss(torch.nn.Module):
    r"""Cross-entropy against label-smoothed targets.

    .. math::
        q_i = (1 - \epsilon)\, e_{y_i} + \epsilon\, \pi_i, \qquad
        \mathcal{L} = -\frac{1}{N} \sum_i \sum_c q_{ic} \log \mathrm{softmax}(z_i)_c

    With the uniform prior (:math:`\pi_{ic} = 1/K`, PyTorch's convention:
    ε/K to every class, the true one included) this equals
    ``F.cross_entropy(logits, target, label_smoothing=epsilon)`` in value and
    gradient, for every reduction and ``ignore_index``.

    Args:
        epsilon: Smoothing mass in [0, 1]; 0 is plain cross-entropy. It may be
            changed between epochs (``loss.epsilon = schedule(epoch)``).
        prior: None (uniform), a class distribution (K,), or per-node (N, K)
            (one row per row of the logits passed to ``forward``).
        reduction: ``"mean"`` (over non-ignored rows), ``"sum"`` or ``"none"``.
        ignore_index: Index targets equal to it contribute nothing.

    Shapes:
        - **input:** logits (N, K), target (N,) int64 or probability rows (N, K)
        - **output:** scalar (or (N,) with ``reduction="none"``)

    Example:
        >>> criterion = LabelSmoothingLoss(epsilon=0.1)
        >>> loss = criterion(out[data.train_mask], data.y[data.train_mask])
    """

    prior: torch.Tensor | None

    def __init__(self, epsilon: float = 0.1, prior: torch.Tensor | None = None,
                 reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__()
        self.epsilon = epsilon
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise TypeError(f"ignore_index must be an int; got {type(ignore_index).__name__}")
        self.ignore_index = ignore_index
        if prior is not None:
            prior = check_tensor("prior", prior)
            if prior.dim() not in (1, 2):
                raise ValueError("prior must be (num_classes,) or (num_nodes, num_classes); "
                                 f"got shape {fmt_shape(prior.shape)}")
            check_distribution("prior", prior.detach())
            prior = prior.detach().clone()
        self.register_buffer("prior", prior)

    @property
    def epsilon(self) -> float:
        return self._epsilon

    @epsilon.setter
    def epsilon(self, value: float) -> None:
        self._epsilon = check_fraction("epsilon", value)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_logits("logits", logits)
        n, k = logits.shape
        check_tensor("target", target)
        if target.is_floating_point():
            if target.shape != logits.shape:
                raise ValueError("target probability rows must match logits; got shapes "
                                 f"{fmt_shape(target.shape)} and {fmt_shape(logits.shape)}")
        else:
            check_labels("target", target, k, check_range=False)
            check_same_length("logits", logits, "target", target)
        prior = self.prior
        if prior is not None:
            if prior.size(-1) != k:
                raise ValueError(f"prior must have {k} classes (logits have {k}); "
                                 f"got shape {fmt_shape(prior.shape)}")
            if prior.dim() == 2 and prior.size(0) != n:
                raise ValueError(f"prior must have one row per node ({n}); "
                                 f"got shape {fmt_shape(prior.shape)}")
        return _label_smoothing_ce(logits, target, self.epsilon, prior, self.reduction,
                                   self.ignore_index)

    def extra_repr(self) -> str:
        prior = "uniform" if self.prior is None else f"tensor{fmt_shape(self.prior.shape)}"
        return f"epsilon={self.epsilon:g}, prior={prior}, reduction={self.reduction!r}"


class BinaryLabelSmoothingLoss(torch.nn.Module):
    r"""Binary cross-entropy with logits against smoothed 0/1 targets (binary or multi-label).

    .. math::
        t = y\,(1 - \epsilon) + \epsilon / 2 \quad\text{(two-sided)}, \qquad
        t = y\,(1 - \epsilon / 2) \quad\text{(one-sided: only positives move)}

    and :math:`\mathcal{L} = \mathrm{BCE}(\sigma(z), t)`, i.e.
    ``F.binary_cross_entropy_with_logits(z, t, pos_weight=pos_weight)``.

    Args:
        epsilon: Smoothing mass in [0, 1].
        one_sided: Smooth only the positive targets (1 → 1 − ε/2, 0 stays 0).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        pos_weight: Optional weight of positive examples, per label.

    Shapes:
        - **input:** logits (N,) or (N, L), target of the same shape with 0/1 entries
        - **output:** scalar (or the input's shape with ``reduction="none"``)
    """

    def __init__(self, epsilon: float = 0.1, one_sided: bool = False, reduction: str = "mean",
                 pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.epsilon = check_fraction("epsilon", epsilon)
        if not isinstance(one_sided, bool):
            raise TypeError(f"one_sided must be a bool; got {type(one_sided).__name__}")
        self.one_sided = one_sided
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.register_buffer("pos_weight", pos_weight)

    def smooth(self, target: torch.Tensor) -> torch.Tensor:
        """The smoothed targets."""
        t = target.to(torch.get_default_dtype()) if not target.is_floating_point() else target
        if self.one_sided:
            return t * (1 - self.epsilon / 2)
        return t * (1 - self.epsilon) + self.epsilon / 2

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_tensor("logits", logits)
        check_tensor("target", target)
        if logits.shape != target.shape:
            raise ValueError("logits and target must have the same shape; got "
                             f"{fmt_shape(logits.shape)} and {fmt_shape(target.shape)}")
        t = self.smooth(target).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, t, pos_weight=self.pos_weight,
                                                  reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon:g}, one_sided={self.one_sided}"


class EpsilonSchedule:
    r"""ε as a function of the epoch, for curriculum label smoothing.

    With :math:`t = \min(e, T - 1) / (T - 1)` for epoch :math:`e` (0-based) of
    :math:`T` = ``num_epochs``:

    - constant: :math:`\epsilon_{start}`
    - linear: :math:`\epsilon_{start} + (\epsilon_{end} - \epsilon_{start})\,t`
    - cosine: :math:`\epsilon_{end} + (\epsilon_{start} - \epsilon_{end})(1 + \cos \pi t)/2`

    Epoch 0 gives ``epsilon_start``, epoch ``num_epochs - 1`` (and later)
    ``epsilon_end``.

    Example:
        >>> schedule = EpsilonSchedule("cosine", 0.3, 0.0, num_epochs=200)
        >>> criterion = LabelSmoothingLoss(epsilon=schedule(0))
        >>> for epoch in range(200):
        ...     criterion.epsilon = schedule(epoch)
    """

    KINDS = ("constant", "linear", "cosine")

    def __init__(self, kind: str = "constant", epsilon_start: float = 0.1,
                 epsilon_end: float | None = None, num_epochs: int = 200) -> None:
        self.kind = check_choice("kind", kind, self.KINDS)
        self.epsilon_start = check_fraction("epsilon_start", epsilon_start)
        self.epsilon_end = (self.epsilon_start if epsilon_end is None
                            else check_fraction("epsilon_end", epsilon_end))
        self.num_epochs = check_positive_int("num_epochs", num_epochs)

    def __call__(self, epoch: int) -> float:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0; got {epoch}")
        if self.kind == "constant" or self.num_epochs == 1:
            return self.epsilon_start if self.kind == "constant" else self.epsilon_end
        t = min(epoch, self.num_epochs - 1) / (self.num_epochs - 1)
        a, b = self.epsilon_start, self.epsilon_end
        if self.kind == "linear":
            return a + (b - a) * t
        return b + (a - b) * (1 + math.cos(math.pi * t)) / 2

    def __repr__(self) -> str:
        return (f"EpsilonSchedule({self.kind!r}, epsilon_start={self.epsilon_start:g}, "
                f"epsilon_end={self.epsilon_end:g}, num_epochs={self.num_epochs})")
