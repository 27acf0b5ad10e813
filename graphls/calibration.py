r"""Temperature scaling, the post-hoc calibration baseline (Guo et al., 2017).

A single temperature ``T > 0`` divides every logit; it is fitted on the
validation nodes by minimising the negative log-likelihood

.. math::
    T^\star = \arg\min_{T > 0} -\frac{1}{N} \sum_i \log \mathrm{softmax}(z_i / T)_{y_i}.

Dividing a row by ``T > 0`` keeps its order, so the argmax (and accuracy)
never changes; only the confidences move. It is the baseline that label
smoothing and structural smoothing are compared against.
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


class TemperatureScaling(torch.nn.Module):
    r"""Divide logits by one learned temperature, ``forward(z) = z / T``.

    The temperature is stored as ``log_temperature`` (``T = exp(log T)``),
    so it stays positive under any optimiser. :meth:`fit` finds
    :math:`T^\star = \arg\min_T \mathrm{NLL}(z / T, y)` on held-out logits
    with L-BFGS (strong-Wolfe line search) in float64 on a detached copy.
    ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens them.
    The argmax of every row, hence accuracy, is unchanged.

    Args:
        temperature: Initial temperature (> 0); :meth:`fit` starts from it.

    Shapes:
        - **input:** logits (N, K)
        - **output:** logits (N, K), same dtype

    Example:
        >>> scaler = TemperatureScaling().fit(logits[val_mask], y[val_mask])
        >>> probs = scaler.predict_proba(logits[test_mask])
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if isinstance(temperature, bool) or not isinstance(temperature, Real):
            raise TypeError(f"temperature must be a float; got {type(temperature).__name__} "
                            f"{temperature!r}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}")
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
        from the current temperature. If the result is not finite (NaN or
        infinite logits, or a diverged search) the temperature falls back to
        1 with a ``RuntimeWarning``. If the validation nodes are perfectly
        separated the NLL keeps falling as ``T -> 0``; the search then stops
        where the gradient vanishes, at a small but finite ``T``.

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
        tau = self.log_temperature.detach().clone().to(z.device).requires_grad_(True)
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
        if not (bool(torch.isfinite(value)) and bool(torch.isfinite(final))):
            warnings.warn(
                "temperature scaling gave a non-finite result "
                f"(log T = {float(value)}, NLL = {float(final)}); using T = 1",
                RuntimeWarning, stacklevel=2)
            value = torch.zeros((), dtype=torch.float64)
        with torch.no_grad():
            self.log_temperature.copy_(value.to(self.log_temperature.device))
        return self

    def extra_repr(self) -> str:
        """Show the temperature in ``repr``."""
        return f"temperature={self.temperature:.4g}"
