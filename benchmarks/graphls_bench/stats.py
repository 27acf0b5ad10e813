"""Statistics and verdicts: mean ± sample std of a row's test runs, and whether a row
wins, ties or loses against another (the closing note of RESULTS.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: (row, baseline row, metric, higher is better) comparisons of the closing note.
VERDICTS = (
    ("joint", "plain", "accuracy", True),
    ("joint", "ls", "accuracy", True),
    ("joint", "structural", "accuracy", True),
    ("joint", "ts", "ece", False),
    ("multi", "ts", "ece", False),
    ("joint_prior", "joint", "accuracy", True),
    # only blocks whose lines all hold it (written since graphls recorded ROC AUC)
    ("joint", "plain", "roc_auc", True),
    # the literature's protocol (BernNet splits): posterior label smoothing and λ on top
    ("posterior", "plain", "accuracy", True),
    ("joint_posterior", "plain", "accuracy", True),
    ("joint_posterior", "posterior", "accuracy", True),
    ("joint_posterior", "ts", "ece_after_ts", False),
    ("joint_posterior_grid", "joint_posterior", "accuracy", True),
)


#: Smallest difference a verdict counts (0.1 points of accuracy, ECE or ROC AUC). Below it a
#: difference is a tie whatever its error bars: rows whose seeds all give the same
#: predictions have std 0, and a one-node difference would otherwise be a "win".
MIN_EFFECT = 0.001


def summary(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; 0 for one value) and count of ``values``."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std, n


def verdict(a: Sequence[float], b: Sequence[float], higher: bool,
            min_effect: float = MIN_EFFECT) -> tuple[str, float]:
    """``win``/``tie``/``loss`` of ``a`` against ``b``: a mean difference beyond 2 std errors.

    .. math::
        d = \\bar a - \\bar b, \\qquad
        \\mathrm{se} = \\sqrt{s_a^2 / n_a + s_b^2 / n_b}

    ``win`` if ``d > 2·se`` and ``d ≥ min_effect`` (``d < -2·se`` and ``-d ≥ min_effect``
    when lower is better), ``loss`` in the opposite case, else ``tie``. With std 0 on both
    sides (one seed, or seeds that agree) only ``min_effect`` separates a win from a tie.
    """
    if not math.isfinite(min_effect) or min_effect < 0:
        raise ValueError(f"min_effect must be a finite number >= 0, got {min_effect!r}")
    ma, sa, na = summary(a)
    mb, sb, nb = summary(b)
    d = ma - mb
    se = math.sqrt(sa**2 / na + sb**2 / nb)
    signed = d if higher else -d
    # se >= 0, so beyond 2·se is strictly positive; the slack keeps a difference of
    # exactly min_effect (0.851 - 0.850 in float) from a tie
    floor = min_effect - 1e-12
    if abs(signed) > 2 * se and abs(signed) >= floor:
        return ("win" if signed > 0 else "loss"), d
    return "tie", d


def tally(blocks: Iterable[tuple[Any, Mapping[str, Sequence[Mapping[str, Any]]]]], row: str,
          base: str, metric: str, higher: bool) -> dict[str, list[tuple[Any, float]]]:
    """``row`` against ``base`` on the test ``metric`` in each of ``blocks`` ((key, lines by
    row) pairs, in order): ``{"win" | "tie" | "loss": [(key, mean difference), ...]}``.

    A block counts when it has both rows and every line of them holds the metric.
    ``ece_after_ts`` is a row's test ECE after its own temperature scaling (the ``ts``
    row's lines hold plain's scaled runs as their test metrics, so there it is their ECE).
    """
    out: dict[str, list[tuple[Any, float]]] = {"win": [], "tie": [], "loss": []}
    for key, rows in blocks:
        if row not in rows or base not in rows or any(
                row_value(r, metric) is None for r in (*rows[row], *rows[base])):
            continue
        a = [row_value(r, metric) for r in rows[row]]
        b = [row_value(r, metric) for r in rows[base]]
        v, d = verdict(a, b, higher)
        out[v].append((key, d))
    return out


def row_value(record: Mapping[str, Any], metric: str) -> float | None:
    """A result line's test ``metric`` (``None`` if the line lacks it); ``ece_after_ts``:
    its ECE after temperature scaling (the ``ts`` row's own test ECE)."""
    if metric == "ece_after_ts":
        if record.get("row") == "ts":
            return record["test"].get("ece")
        return record.get("calibrated", {}).get("test", {}).get("ece")
    return record["test"].get(metric)


def worst_recall(record: Mapping[str, Any]) -> float | None:
    """The lowest per-class test recall of a result line (classes absent from its test
    nodes skipped; ``None`` for lines written before recall was recorded)."""
    values = (record.get("recall") or {}).get("test")
    finite = [v for v in values or () if v is not None and math.isfinite(v)]
    return min(finite) if finite else None
