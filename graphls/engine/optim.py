"""The engine's optimiser: ``torch.optim.Adam`` over parameters stacked by member."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["BatchedAdam"]


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
            denom = v.sqrt().div_(bias_correction2_sqrt).add_(self.eps)
            # torch's p.addcdiv_(m, denom, value=-step) computes p + (-step * m) / denom
            if all(s == neg_step[0] for s in neg_step):
                p.addcdiv_(m, denom, value=neg_step[0])
            else:
                p.addcdiv_(self._member_tensor(neg_step, p) * m, denom)

    def keep(self, index: Sequence[int], params: Sequence[Tensor]) -> None:
        """Keep members ``index`` only (state compacted); ``params`` are the new leaves."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.params[0].device)
        self.params = list(params)
        self.lr = [self.lr[i] for i in index]
        self.weight_decay = [[wd[i] for i in index] for wd in self.weight_decay]
        self.exp_avg = [m.index_select(0, idx) for m in self.exp_avg]
        self.exp_avg_sq = [v.index_select(0, idx) for v in self.exp_avg_sq]
