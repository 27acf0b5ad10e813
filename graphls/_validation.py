"""Input checks with the house error wording.

Every message says the argument, the requirement and what was received,
plus a hint where a mistake is common::

    epsilon must be in [0, 1]; got 1.5
    y must be 1-D (one class per node); got shape (169343, 1); OGB labels: use y.view(-1)

``ValueError`` is raised for a bad value or shape, ``TypeError`` for a bad
type. These helpers never ``assert``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

import torch

__all__ = [
    "TARGET_KINDS",
    "as_tensor",
    "check_choice",
    "check_distribution",
    "check_float_target",
    "check_fraction",
    "check_labels",
    "check_logits",
    "check_nonempty",
    "check_nonempty_mean",
    "check_nonnegative_float",
    "check_positive_int",
    "check_prior_shape",
    "check_prior_value",
    "check_same_length",
    "check_soft_target",
    "check_tensor",
    "distribution_tolerance",
    "fmt_dtype",
    "fmt_shape",
]


def fmt_shape(shape: Sequence[int] | torch.Size) -> str:
    """Format a shape as ``(3, 4)`` (and ``(3,)`` for 1-D), as the messages do."""
    dims = tuple(int(d) for d in shape)
    return str(dims)


def fmt_dtype(dtype: torch.dtype) -> str:
    """Format a dtype as ``float32`` (without the ``torch.`` prefix), as the messages do."""
    return str(dtype).removeprefix("torch.")


def _array_hint(name: str, value: object) -> str:
    """``; use torch.as_tensor(name)`` for a NumPy array or list given where a tensor goes."""
    if isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
        return f"; use torch.as_tensor({name})"
    return ""


def check_fraction(name: str, value: object, *, low_open: bool = False,
                   high_open: bool = False) -> float:
    """Return ``value`` as a float in [0, 1] (bounds optionally open).

    Raises:
        TypeError: ``value`` is not a real number (a bool is refused too).
        ValueError: ``value`` is outside the interval or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a float; got {type(value).__name__} {value!r}")
    v = float(value)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    ok = math.isfinite(v) and (v > 0 if low_open else v >= 0) and (v < 1 if high_open else v <= 1)
    if not ok:
        raise ValueError(f"{name} must be in {lo}0, 1{hi}; got {value!r}")
    return v


def check_nonnegative_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float >= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a float; got {type(value).__name__} {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return v


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``.

    Raises:
        TypeError: ``value`` is not an integer (a bool or float is refused).
        ValueError: ``value < minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        known = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {known}; got {value!r}")
    return value  # type: ignore[return-value]


def check_tensor(name: str, value: object, what: str | None = None) -> torch.Tensor:
    """Return ``value`` if it is a tensor, else raise ``TypeError``.

    ``what`` describes the expected tensor in the message, e.g.
    ``logits must be a torch.Tensor (float logits (N, K)); got ndarray; use
    torch.as_tensor(logits)`` (the hint is added for NumPy arrays and lists).
    """
    if not isinstance(value, torch.Tensor):
        kind = f" ({what})" if what else ""
        raise TypeError(f"{name} must be a torch.Tensor{kind}; got {type(value).__name__}"
                        f"{_array_hint(name, value)}")
    return value


def as_tensor(name: str, value: object) -> torch.Tensor:
    """Return ``value`` as a tensor: a tensor as is, a NumPy array or (nested) list converted.

    ``torch.as_tensor`` keeps a NumPy array's dtype (float64 stays float64,
    without a copy); a list of Python floats becomes float64 (a Python float
    is a double), a list of ints int64.

    Raises:
        TypeError: ``value`` cannot be converted (a string, a ragged list, ...).
    """
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        ok = False
    else:
        try:
            t = torch.as_tensor(value)
            ok = True
        except (TypeError, ValueError, RuntimeError):
            ok = False
    if not ok:
        raise TypeError(f"{name} must be a torch.Tensor, a NumPy array or a (nested) list of "
                        f"numbers; got {type(value).__name__}")
    if t.is_floating_point() and not hasattr(value, "dtype"):
        # Python floats are doubles; torch would round them to float32
        t = torch.as_tensor(value, dtype=torch.float64)
    return t


def check_logits(name: str, value: object) -> torch.Tensor:
    """Check a floating (N, K) tensor of logits or probabilities."""
    t = check_tensor(name, value)
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {t.dtype}")
    if t.dim() != 2:
        raise ValueError(
            f"{name} must be 2-D (num_nodes, num_classes); got shape {fmt_shape(t.shape)}"
        )
    if t.size(1) < 1:
        raise ValueError(f"{name} must have at least one class column; got shape "
                         f"{fmt_shape(t.shape)}")
    return t


def check_labels(name: str, y: object, num_classes: int | None = None, *,
                 ignore_index: int | None = None, check_range: bool = True) -> torch.Tensor:
    """Check a 1-D int64 tensor of class indices in ``[0, num_classes)``.

    ``ignore_index`` entries are exempt from the range check. The range
    check syncs with the device; pass ``check_range=False`` in hot loops.
    """
    t = check_tensor(name, y)
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must be an integer tensor of class indices; got dtype {t.dtype}")
    if t.dim() != 1:
        hint = ""
        if t.dim() == 2 and t.size(1) == 1:
            hint = "; OGB labels: use y.view(-1)"
        raise ValueError(
            f"{name} must be 1-D (one class per node); got shape {fmt_shape(t.shape)}{hint}"
        )
    if check_range and num_classes is not None and t.numel() > 0:
        valid = t if ignore_index is None else t[t != ignore_index]
        if valid.numel() > 0:
            lo, hi = int(valid.min()), int(valid.max())
            if lo < 0 or hi >= num_classes:
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"{name} must hold class indices in [0, {num_classes}); got {bad}"
                    + (f" (ignore_index is {ignore_index})" if ignore_index is not None else "")
                )
    return t


def distribution_tolerance(dtype: torch.dtype, num_classes: int) -> float:
    r"""How far a row sum of ``dtype`` probabilities may be from 1.

    .. math::
        \mathrm{atol} = \max\big(10^{-4},\ (2 + \ln K)\,\epsilon\big)

    :math:`\epsilon` is ``torch.finfo(dtype).eps``. Rounding each of the K
    probabilities to ``dtype`` moves the row sum by at most
    :math:`\epsilon / 2`; a softmax taken as ``log_softmax(z).exp()`` adds at
    most :math:`\epsilon / 2 \cdot H(p) \le \epsilon / 2 \cdot \ln K` (the
    entropy), and computing ``exp(z) / sum`` in ``dtype`` about
    :math:`\epsilon`. So float16 softmax rows (sums near 0.9995) pass with
    ``(2 + ln K) * 9.8e-4``, bfloat16 ones (near 0.996) with
    ``(2 + ln K) * 7.8e-3``; for float32 and float64 it is the fixed 1e-4.
    """
    eps = torch.finfo(dtype).eps
    return max(1e-4, (2.0 + math.log(max(num_classes, 1))) * eps)


def check_distribution(name: str, p: torch.Tensor, *, atol: float | None = None) -> torch.Tensor:
    """Check that every row (the last dimension) of ``p`` is a probability distribution.

    Row sums are taken in at least float32 and may differ from 1 by ``atol``; None is
    :func:`distribution_tolerance` of ``p``'s dtype (1e-4 for float32 and
    float64, wider for float16 and bfloat16).
    """
    t = check_tensor(name, p)
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {t.dtype}")
    if t.numel() == 0:
        return t
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite; got a NaN or infinite entry")
    if bool((t < 0).any()):
        neg = float(t.min())
        raise ValueError(
            f"{name} rows must be distributions (non-negative, summing to 1); "
            f"got a negative entry {neg:.4g}"
        )
    if atol is None:
        atol = distribution_tolerance(t.dtype, t.size(-1))
    # accumulate and keep the sum in at least float32: a float16 sum of float16 rows is
    # itself rounded (to 0.9995 for a row of thirds); float64 is not on every device (MPS)
    sums = t.sum(dim=-1, dtype=torch.promote_types(t.dtype, torch.float32))
    dev = (sums - 1).abs()
    if bool((dev > atol).any()):
        i = int(dev.reshape(-1).argmax())
        raise ValueError(
            f"{name} rows must be distributions (non-negative, summing to 1); "
            f"got a row summing to {float(sums.reshape(-1)[i]):.6g}"
        )
    return t


def check_same_length(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Check that ``a`` and ``b`` have the same first dimension."""
    if a.size(0) != b.size(0):
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of rows; "
            f"got {fmt_shape(a.shape)} and {fmt_shape(b.shape)}"
        )


def check_nonempty(name: str, t: torch.Tensor) -> None:
    """Check that ``t`` has at least one row (its first dimension is not 0)."""
    if t.size(0) == 0:
        raise ValueError(f"{name} must have at least one row; got shape {fmt_shape(t.shape)}")


def check_prior_value(prior: object) -> torch.Tensor:
    """Check a prior on its own: a floating ``(K,)`` or ``(N, K)`` tensor of distributions."""
    t = check_tensor("prior", prior)
    if t.dim() not in (1, 2):
        raise ValueError(
            f"prior must be a class distribution (K,) or one row per node (N, K); "
            f"got shape {fmt_shape(t.shape)}"
        )
    return check_distribution("prior", t)


def check_prior_shape(prior: torch.Tensor, num_rows: int, num_classes: int,
                       other: str, other_shape: torch.Size) -> None:
    """Check that ``prior`` has ``num_classes`` columns and, if per node, ``num_rows`` rows."""
    if prior.size(-1) != num_classes:
        raise ValueError(
            f"prior must have {num_classes} classes, as {other}; "
            f"got shapes {fmt_shape(prior.shape)} and {fmt_shape(other_shape)}"
        )
    if prior.dim() == 2 and prior.size(0) != num_rows:
        raise ValueError(
            f"prior must have one row per node ({num_rows}), as {other}; "
            f"got shapes {fmt_shape(prior.shape)} and {fmt_shape(other_shape)}"
        )


#: What a target may be, for the "must be a torch.Tensor" messages.
TARGET_KINDS = "int64 class indices (N,) or probability rows (N, K)"


def check_float_target(name: str, target: torch.Tensor, num_classes: int) -> None:
    """Refuse a floating target that cannot be probability rows ``(N, K)``.

    The common case is class labels stored as floats (``y.float()``, a label
    tensor built from a float array): 1-D, or OGB's ``(N, 1)``.
    """
    if not target.is_floating_point():
        return
    ogb = target.dim() == 2 and target.size(1) == 1 and num_classes != 1
    if target.dim() == 2 and not ogb:
        return  # probability rows; their width is checked against the logits elsewhere
    hint = ""
    if target.dim() == 1:
        hint = "; class labels: use y.long()"
    elif ogb:
        hint = "; OGB labels: use y.view(-1).long()"
    raise TypeError(
        f"{name} must hold int64 class indices (N,) or probability rows (N, {num_classes}); "
        f"got {fmt_dtype(target.dtype)} of shape {fmt_shape(target.shape)}{hint}"
    )


def check_nonempty_mean(name: str, t: torch.Tensor, reduction: str, unit: str = "row") -> None:
    """Refuse ``reduction="mean"`` over no rows (the mean of nothing is NaN).

    A shape check: it never syncs with the device. ``"sum"`` (0) and
    ``"none"`` (an empty tensor) are well defined and pass.
    """
    if reduction == "mean" and (t.size(0) == 0 if unit == "row" else t.numel() == 0):
        over = "nodes" if unit == "row" else "entries"
        raise ValueError(
            f"{name} must have at least one {unit} for reduction='mean'; got shape "
            f"{fmt_shape(t.shape)}; the mean over no {over} is NaN (reduction='sum' gives 0, "
            f"'none' an empty tensor)"
        )


def check_soft_target(name: str, target: torch.Tensor, logits: torch.Tensor) -> None:
    """Check that probability-row targets have the logits' shape ``(N, K)``."""
    if target.shape != logits.shape:
        raise ValueError(
            f"{name} probability rows must match logits (num_nodes, num_classes); "
            f"got shapes {fmt_shape(target.shape)} and {fmt_shape(logits.shape)}"
        )
