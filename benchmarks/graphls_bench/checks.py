"""Checks of the command line and the config files, with the house error wording.

``graphls`` keeps its own checks private (``graphls._validation``); the benchmarks use
only graphls' public API, so the three they need are restated here, word for word::

    trials must be an integer >= 1; got 0
    noise must be in [0, 1); got 1.0
    models must be one of 'gcn', 'gat'; got 'gin'
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real


def check_fraction(name: str, value: object, *, high_open: bool = False) -> float:
    """Return ``value`` as a float in [0, 1] ([0, 1) with ``high_open``).

    Raises:
        TypeError: ``value`` is not a real number (a bool is refused too).
        ValueError: ``value`` is outside the interval or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a float; got {type(value).__name__} {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= 0 and (v < 1 if high_open else v <= 1)):
        raise ValueError(f"{name} must be in [0, 1{')' if high_open else ']'}; got {value!r}")
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
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    choices = list(choices)
    if value not in choices:
        known = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {known}; got {value!r}")
    return value  # type: ignore[return-value]
