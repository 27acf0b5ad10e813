r"""Temperature scaling, the post-hoc calibration baseline (Guo et al., 2017).

A single temperature ``T > 0`` divides every logit; it is fitted on the
validation nodes by minimising the negative log-likelihood

.. math::
    T^\star = \arg\min_{T > 0} -\frac{1}{N} \sum_i \log \mathrm{softmax}(z_i / T)_{y_i}.

Dividing a row by ``T > 0`` keeps its order, so the argmax (and accuracy)
never changes; only the confidences move. It is the baseline that label
smoothing and structural smoothing are compared against.

The fitted temperature is kept within ``[min_temperature, max_temperature]``
(default ``[0.01, 100]``); a fit that lands on a bound, or that does not
lower the validation NLL below that of ``T = 1``, warns and uses ``T = 1``
(see :meth:`TemperatureScaling.fit`).
"""

from __future__ import annotations

import math
import warnings
from numbers import Real

import torch
import torch.nn.functional as F

from graphls._validation import (
    check_labels,
    check_logits,
    check_positive_int,
    check_same_length,
    fmt_shape,
)

__all__ = ["TemperatureScaling"]


def _check_temperature(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a float; got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


class TemperatureScaling(torch.nn.Module):
    r"""Divide logits by one learned temperature, ``forward(z) = z / T``.

    The temperature is stored as ``log_temperature`` (``T = exp(log T)``),
    so it stays positive under any optimiser. :meth:`fit` finds
    :math:`T^\star = \arg\min_T \mathrm{NLL}(z / T, y)` on held-out logits
    with L-BFGS (strong-Wolfe line search) in float64 on a detached copy.
    ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens them.
    The argmax of every row, hence accuracy, is unchanged.

    :meth:`fit` keeps ``T`` in ``[min_temperature, max_temperature]``, by
    default ``[0.01, 100]``: two decades either side of ``T = 1``, symmetric
    in ``log T``. The fit is unbounded only where it is meaningless: it runs
    to ``T -> infinity`` when the logits barely inform the labels (nearly
    constant logits, where it reached ``T = 6e9``) and to ``T -> 0`` when the
    validation nodes are perfectly separated. In between, real fits need a
    wide range: GAT with dropout 0.6 on CiteSeer gives small logits that
    temperature scaling sharpens with ``T`` down to 0.024 in this project's
    benchmark results (0.024 to 4.03 over its 3040 fits), so a tighter lower
    bound such as 0.05 would discard genuine fits. ``T = 100`` already makes
    rows of unit-scale logits uniform to within about 1 %.

    Args:
        temperature: Initial temperature (> 0); :meth:`fit` starts from it
            (clipped into the bounds).
        min_temperature: Smallest temperature :meth:`fit` may return
            (> 0; default :attr:`MIN_TEMPERATURE`).
        max_temperature: Largest temperature :meth:`fit` may return
            (> ``min_temperature``; default :attr:`MAX_TEMPERATURE`).

    Shapes:
        - **input:** logits (N, K)
        - **output:** logits (N, K), same dtype

    Example:
        Logits whose labels were drawn at temperature 2 (over-confident by 2):

        >>> g = torch.Generator().manual_seed(0)
        >>> logits = 3 * torch.randn(4000, 4, generator=g, dtype=torch.float64)
        >>> y = torch.multinomial((logits / 2).softmax(-1), 1, generator=g).view(-1)
        >>> val, test = slice(0, 2000), slice(2000, None)
        >>> scaler = TemperatureScaling().fit(logits[val], y[val])  # validation only
        >>> round(scaler.temperature, 1)
        2.0
        >>> probs = scaler.predict_proba(logits[test])
        >>> torch.equal(probs.argmax(-1), logits[test].argmax(-1))  # accuracy unchanged
        True
    """

    MIN_TEMPERATURE: float = 0.01
    """Default lower bound of the fitted temperature."""
    MAX_TEMPERATURE: float = 100.0
    """Default upper bound of the fitted temperature."""
    _NLL_RTOL = 1e-12  # a fit must lower the NLL by more than this (relative) to be kept

    def __init__(self, temperature: float = 1.0, min_temperature: float | None = None,
                 max_temperature: float | None = None) -> None:
        super().__init__()
        temperature = _check_temperature("temperature", temperature)
        self.min_temperature = _check_temperature(
            "min_temperature", self.MIN_TEMPERATURE if min_temperature is None
            else min_temperature)
        self.max_temperature = _check_temperature(
            "max_temperature", self.MAX_TEMPERATURE if max_temperature is None
            else max_temperature)
        if not self.max_temperature > self.min_temperature:
            raise ValueError(f"max_temperature must be > min_temperature "
                             f"({self.min_temperature:g}); got {self.max_temperature:g}")
        self.log_temperature = torch.nn.Parameter(
            torch.tensor(math.log(temperature), dtype=torch.float64))

    @property
    def temperature(self) -> float:
        """The current temperature ``T = exp(log_temperature)``."""
        return float(self.log_temperature.detach().exp())

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Return ``logits / T`` in the dtype of ``logits``."""
        check_logits("logits", logits)
        return logits / self.log_temperature.exp().to(logits.dtype)

    def predict_proba(self, logits: torch.Tensor) -> torch.Tensor:
        """Return the calibrated probabilities ``softmax(logits / T)`` (rows sum to 1)."""
        return self(logits).softmax(dim=-1)

    def fit(self, logits: torch.Tensor, y: torch.Tensor, max_iter: int = 50) -> TemperatureScaling:
        r"""Fit ``T`` on held-out (validation) logits by minimising the NLL.

        .. math::
            \min_{\tau} -\frac{1}{N} \sum_i \log \mathrm{softmax}(z_i e^{-\tau})_{y_i},
            \qquad T = e^{\tau}

        Runs ``torch.optim.LBFGS`` in float64 on ``logits.detach()``, starting
        from the current temperature (clipped into the bounds). The NLL is
        unimodal in :math:`\tau` (convex in :math:`1/T`), so the bounded
        optimum is the unbounded one clipped; the search itself is unbounded,
        which keeps the result for inputs whose optimum lies inside the
        bounds exactly as without them. The temperature falls back to 1, with
        a one-line warning naming the temperature and the reason, when

        - the result is not finite (NaN or infinite logits, or a diverged
          search): ``RuntimeWarning``;
        - it lands on (or beyond) ``max_temperature``: the logits barely
          inform the labels (e.g. nearly constant logits), so the NLL keeps
          falling as ``T -> infinity``: ``UserWarning``;
        - it lands on (or below) ``min_temperature``: the validation nodes
          are (nearly) perfectly separated, so the NLL keeps falling as
          ``T -> 0``: ``UserWarning``;
        - it moved ``T`` away from 1 without lowering the validation NLL below
          that of ``T = 1`` by more than rounding (a relative 1e-12; a flat
          NLL, or too few iterations from a poor start): ``UserWarning``.
          An optimum within about 1e-6 of ``T = 1`` gains less than that and
          is returned as exactly 1.

        Args:
            logits: ``(N, K)`` validation logits, never test logits.
            y: ``(N,)`` int64 labels.
            max_iter: Maximum L-BFGS iterations (>= 1).

        Returns:
            ``self``, for chaining.
        """
        z = check_logits("logits", logits)
        t = check_labels("y", y, check_range=False)
        check_same_length("logits", z, "y", t)
        if z.size(0) == 0:
            raise ValueError(f"logits must have at least one row; got shape {fmt_shape(z.shape)}")
        check_labels("y", t, z.size(1))
        max_iter = check_positive_int("max_iter", max_iter)

        z = z.detach().to(torch.float64)
        t = t.to(z.device)
        lo, hi = math.log(self.min_temperature), math.log(self.max_temperature)
        tau = self.log_temperature.detach().clone().to(z.device).clamp(lo, hi)
        tau.requires_grad_(True)
        optimizer = torch.optim.LBFGS([tau], lr=1.0, max_iter=max_iter,
                                      line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(z * torch.exp(-tau), t)
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
            final = F.cross_entropy(z * torch.exp(-tau.detach()), t)
        value = tau.detach()
        fallback = None
        if not (bool(torch.isfinite(value)) and bool(torch.isfinite(final))):
            warnings.warn(
                "temperature scaling gave a non-finite result "
                f"(log T = {float(value)}, NLL = {float(final)}); using T = 1",
                RuntimeWarning, stacklevel=2)
            value = torch.zeros((), dtype=torch.float64)
        elif float(value) >= hi:
            fallback = (f"reached the bound max_temperature={self.max_temperature:g} (the logits "
                        f"barely inform the labels, so the NLL keeps falling as T grows)")
        elif float(value) <= lo:
            fallback = (f"reached the bound min_temperature={self.min_temperature:g} (the "
                        f"validation nodes are nearly perfectly separated, so the NLL keeps "
                        f"falling as T shrinks)")
        elif float(value) != 0.0:
            at_one = float(F.cross_entropy(z, t))
            # "lower" beyond rounding, so that a flat NLL never keeps an arbitrary T
            if not float(final) < at_one - self._NLL_RTOL * max(1.0, at_one):
                fallback = (f"does not lower the validation NLL ({float(final):.6g}) below "
                            f"that of T = 1 ({at_one:.6g})")
        if fallback is not None:
            warnings.warn(f"temperature scaling: the fitted temperature "
                          f"{math.exp(float(value)):.4g} {fallback}; using T = 1",
                          UserWarning, stacklevel=2)
            value = torch.zeros((), dtype=torch.float64)
        with torch.no_grad():
            self.log_temperature.copy_(value.to(self.log_temperature.device))
        return self

    def extra_repr(self) -> str:
        """Show the temperature in ``repr``."""
        return f"temperature={self.temperature:.4g}"
