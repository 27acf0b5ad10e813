"""Label noise: flip a seeded fraction of the training labels."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["add_label_noise"]


def add_label_noise(y: torch.Tensor, mask: torch.Tensor, rate: float, kind: str = "symmetric",
                    seed: int = 0, num_classes: int | None = None) -> torch.Tensor:
    """Flip a fraction of the labels inside ``mask``; return a new label tensor.

    Exactly ``m = floor(rate·|mask| + 1/2)`` nodes of ``mask`` (drawn uniformly,
    seeded) get a wrong label; nodes outside ``mask`` never change.

    - ``symmetric``: ``y'_i`` uniform over the K - 1 other classes,
      ``y'_i = (y_i + r) mod K`` with ``r ~ U{1, ..., K-1}``.
    - ``pair``: ``y'_i = (y_i + 1) mod K`` (each class into the next).

    Args:
        y: Labels (N,) int64 in [0, K).
        mask: Boolean (N,), the nodes that may be flipped (the training set).
        rate: Fraction flipped, in [0, 1).
        kind: ``"symmetric"`` or ``"pair"``.
        seed: Seed of a private ``torch.Generator`` (the global RNG is untouched).
        num_classes: K; default ``y.max() + 1``.

    Returns:
        A new (N,) tensor (``y`` itself is not modified).
    """
    import torch

    from graphls._validation import (
        check_choice,
        check_fraction,
        check_labels,
        check_positive_int,
        check_same_length,
        check_tensor,
    )

    rate = check_fraction("rate", rate, high_open=True)
    kind = check_choice("kind", kind, ("symmetric", "pair"))
    seed = check_positive_int("seed", seed, minimum=0)
    check_tensor("mask", mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor; got dtype {mask.dtype}")
    if num_classes is not None:
        num_classes = check_positive_int("num_classes", num_classes)
    y = check_labels("y", y, num_classes)
    if mask.dim() != 1:
        raise ValueError(f"mask must be 1-D (one split); got shape {tuple(mask.shape)}")
    check_same_length("y", y, "mask", mask)
    k = num_classes if num_classes is not None else (int(y.max()) + 1 if y.numel() else 0)
    out = y.clone()
    idx = mask.nonzero().view(-1).cpu()
    m = math.floor(rate * idx.numel() + 0.5)
    if m == 0:
        return out
    if k < 2:
        raise ValueError(f"num_classes must be >= 2 to flip labels; got {k}")
    g = torch.Generator().manual_seed(seed)
    flip = idx[torch.randperm(idx.numel(), generator=g)[:m]].to(y.device)
    if kind == "pair":
        shift = torch.ones(m, dtype=y.dtype)
    else:
        shift = torch.randint(1, k, (m,), generator=g, dtype=y.dtype)
    out[flip] = (y[flip] + shift.to(y.device)) % k
    return out
