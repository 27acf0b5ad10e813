"""Plots and markdown from results and studies (matplotlib, Agg backend).

Imported only by the commands that write reports; ``import graphls`` never
imports matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "BASELINE_LABEL",
    "best_label",
    "comparison_lines",
    "format_comparison",
    "plot_history",
    "plot_importances",
    "plot_landscape",
    "plot_pareto",
    "plot_reliability",
    "recall_lines",
    "study_markdown",
]


#: How tables, legends and summaries name the ε = 0, λ = 1 baseline (plain PyG).
BASELINE_LABEL = "baseline (ε=0, λ=1)"


def best_label(epsilon: float, structural: float | Sequence[float]) -> str:
    """How tables, legends and summaries name a study's best configuration.

    >>> best_label(0.123456, 0.5), best_label(0.1, (1.0, 0.25))
    ('best (ε=0.123, λ=0.5)', 'best (ε=0.1, λ=1,0.25)')
    """
    if isinstance(structural, (tuple, list)):
        knob = ",".join(f"{v:.3g}" for v in structural)
    else:
        knob = f"{structural:.3g}"
    return f"best (ε={epsilon:.3g}, λ={knob})"


def _title(ax: Any, title: str | None) -> None:
    """``title`` over ``ax`` (10 pt); :func:`_tight_layout` wraps it if it is too wide."""
    if title:
        ax.set_title(title, fontsize=10)


def _tight_layout(fig: Any) -> None:
    """``fig.tight_layout()``, with every axes title wrapped at spaces (measured, not
    guessed) where it would reach past the figure's left or right edge."""
    import textwrap

    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        text = " ".join(ax.title.get_text().split())
        for _ in range(4):  # each pass re-measures after the layout has moved the axes
            box = ax.title.get_window_extent(renderer)
            if box.x0 >= 0 and box.x1 <= fig.bbox.width:
                break
            center = (box.x0 + box.x1) / 2  # the title is centred over its axes
            room = 2 * min(center, fig.bbox.width - center) * 0.96
            longest = max(len(line) for line in ax.title.get_text().splitlines())
            width = max(12, int(longest * room / box.width))
            ax.title.set_text(textwrap.fill(text, width=width, break_long_words=False))
            fig.tight_layout()


def _importance_text(value: float) -> str:
    """An importance as a bar label: two decimals, or two significant digits below 0.01.

    >>> [_importance_text(v) for v in (0.9962, 0.05, 0.0038, 0.00091, 3e-6, 0.0)]
    ['1.00', '0.05', '0.0038', '0.00091', '<0.0001', '0']
    """
    if value <= 0:
        return "0" if value == 0 else f"{value:.2g}"
    if value >= 0.01:
        return f"{value:.2f}"
    if value >= 1e-4:
        return f"{value:.2g}"
    return "<0.0001"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_reliability(curves: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                     path: str | Path, *, num_bins: int = 15, title: str | None = None) -> Path:
    """Reliability diagram: per-bin accuracy vs confidence, one line per entry of ``curves``.

    Below it, the fraction of nodes in each confidence bin: one bar per entry, side by
    side in each bin and in its line's colour, with a legend.

    Args:
        curves: ``label -> (probs (N, K), y (N,))``.
        path: PNG file to write.
        num_bins: Equal-width confidence bins (15, as every reported ECE).
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.
    """
    from graphls.metrics import expected_calibration_error, reliability_bins

    plt = _pyplot()
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(5.2, 6.2), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    width = 0.9 / num_bins / max(1, len(curves))  # the histograms side by side in each bin
    for i, (label, (probs, y)) in enumerate(curves.items()):
        bins = reliability_bins(probs, y, num_bins=num_bins)
        conf = torch.as_tensor(bins.confidence, dtype=torch.float64)
        acc = torch.as_tensor(bins.accuracy, dtype=torch.float64)
        count = torch.as_tensor(bins.count, dtype=torch.float64)
        keep = count > 0
        ece = expected_calibration_error(probs, y, num_bins=num_bins)
        (line,) = ax.plot(conf[keep].numpy(), acc[keep].numpy(), marker="o", ms=4,
                          label=f"{label} (ECE {100 * ece:.1f}%)")
        edges = torch.as_tensor(bins.edges, dtype=torch.float64)
        left = edges[:-1] + 0.05 / num_bins + i * width
        axh.bar(left.numpy(), (count / count.sum()).numpy(), width=width, align="edge",
                color=line.get_color(), alpha=0.8, label=label)
    ax.set_ylabel("accuracy in bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    _title(ax, title)
    axh.set_xlabel(f"confidence ({num_bins} equal-width bins)")
    axh.set_ylabel("fraction of nodes")
    # the legend in a band above the tallest bar, so it hides none of them
    top = max((b.get_height() for b in axh.patches), default=1.0)
    axh.set_ylim(0, 1.2 * top + 0.12 * top * (len(curves) + 1))
    axh.legend(loc="upper left", fontsize=7, ncol=1, frameon=False, borderaxespad=0.2,
               handlelength=1.2, labelspacing=0.2)
    _tight_layout(fig)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------
# studies (plain numbers in, PNG out: no Optuna import here)
# ---------------------------------------------------------------------------

def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    _tight_layout(fig)
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def plot_landscape(epsilon: Sequence[float], structural: Sequence[float],
                   value: Sequence[float | None], path: str | Path, *,
                   complete: Sequence[bool] | None = None,
                   best: tuple[float | None, float | None] | None = None,
                   label: str = "validation accuracy", title: str | None = None) -> Path:
    """The (ε, λ) landscape: trials as points coloured by ``value``, with a filled contour.

    The contour is a linear interpolation over the Delaunay triangulation of the
    completed trials (``matplotlib.tri``), drawn when there are at least three
    non-collinear ones; pruned trials (``complete`` False) are hollow markers at
    the value they were stopped with. The ε = 0, λ = 1 baseline (plain PyG) is
    marked with a cross and ``best`` with a star.

    Args:
        epsilon, structural: The trials' ε and λ.
        value: Their validation accuracy (``None``: not known, drawn grey).
        path: PNG file to write.
        complete: Which trials ran to the end (default: all).
    """
    import numpy as np

    plt = _pyplot()
    e = np.asarray(epsilon, dtype=float)
    s = np.asarray(structural, dtype=float)
    v = np.asarray([math.nan if x is None else float(x) for x in value], dtype=float)
    done = np.ones_like(e, dtype=bool) if complete is None else np.asarray(complete, bool)
    fig, ax = plt.subplots(figsize=(6.0, 5.4))
    known = ~np.isnan(v)
    vmin = float(np.nanmin(v)) if known.any() else 0.0
    vmax = float(np.nanmax(v)) if known.any() else 1.0
    if vmax <= vmin:
        vmin, vmax = vmin - 1e-3, vmax + 1e-3
    full = done & known
    if full.sum() >= 3:
        import matplotlib.tri as mtri

        try:
            tri = mtri.Triangulation(e[full], s[full])
            cs = ax.tricontourf(tri, v[full], levels=12, cmap="viridis", vmin=vmin, vmax=vmax,
                                alpha=0.55)
            del cs
        except (ValueError, RuntimeError):  # collinear points: no triangulation
            pass
    sc = ax.scatter(e[full], s[full], c=v[full], cmap="viridis", vmin=vmin, vmax=vmax,
                    edgecolors="black", linewidths=0.5, s=36, label="complete", zorder=3)
    stopped = ~done & known
    if stopped.any():
        ax.scatter(e[stopped], s[stopped], facecolors="none",
                   edgecolors=plt.cm.viridis((v[stopped] - vmin) / (vmax - vmin)), s=36,
                   label="pruned (value when stopped)", zorder=3)
    if (~known).any():
        ax.scatter(e[~known], s[~known], color="lightgrey", s=20, label="no value", zorder=2)
    ax.scatter([0.0], [1.0], marker="X", color="red", s=90, label="baseline ε=0, λ=1 (PyG)",
               zorder=4)
    if best is not None and best[0] is not None and best[1] is not None:
        ax.scatter([best[0]], [best[1]], marker="*", color="gold", edgecolors="black", s=260,
                   label=f"best ε={best[0]:.3g}, λ={best[1]:.3g}", zorder=5)
    fig.colorbar(sc, ax=ax, label=label)
    ax.set_xlabel("epsilon ε (label smoothing)")
    ax.set_ylabel("structural λ (structural smoothing)")
    ax.set_xlim(min(0.0, float(e.min()) if e.size else 0.0) - 0.02,
                max(0.5, float(e.max()) if e.size else 0.5) + 0.02)
    ax.set_ylim(-0.04, 1.04)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=7,
              frameon=False)
    _title(ax, title)
    return _save(fig, path)


def plot_importances(importances: Mapping[str, float], path: str | Path, *,
                     title: str | None = None) -> Path:
    """Horizontal bars of parameter importances (fractions summing to 1).

    Each bar is labelled with its value: two decimals, or two significant digits below
    0.01 (``0.0038``, not ``0.00``).

    An empty mapping (too few completed trials to estimate them) draws a note instead.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 1.6 + 0.4 * max(2, len(importances))))
    if importances:
        names = list(importances)[::-1]
        values = [float(importances[n]) for n in names]
        ax.barh(names, values, color="tab:blue")
        for i, val in enumerate(values):
            ax.text(val, i, f" {_importance_text(val)}", va="center", fontsize=8)
        ax.set_xlim(0, max(1.0, max(values) * 1.15))
        ax.set_xlabel("importance (fraction of the objective's variance)")
    else:
        ax.text(0.5, 0.5, "not enough completed trials with varied parameters\n"
                "to estimate importances", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    _title(ax, title)
    return _save(fig, path)


def plot_history(numbers: Sequence[int], values: Sequence[float], path: str | Path, *,
                 pruned: Sequence[bool] | None = None, maximize: bool = True,
                 label: str = "objective", title: str | None = None) -> Path:
    """Objective value per trial number with the running best of the completed trials.

    Pruned trials are grey crosses at the value they were stopped with.
    """
    import numpy as np

    plt = _pyplot()
    n = np.asarray(numbers, dtype=float)
    v = np.asarray(values, dtype=float)
    stopped = np.zeros_like(n, dtype=bool) if pruned is None else np.asarray(pruned, bool)
    order = np.argsort(n)
    n, v, stopped = n[order], v[order], stopped[order]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    done = ~stopped & ~np.isnan(v)
    ax.scatter(n[done], v[done], s=18, color="tab:blue", label="complete", zorder=3)
    if stopped.any():
        ax.scatter(n[stopped], v[stopped], s=18, marker="x", color="grey",
                   label="pruned (value when stopped)", zorder=2)
    if done.any():
        pick = np.maximum.accumulate if maximize else np.minimum.accumulate
        ax.step(n[done], pick(v[done]), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial number")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
    _title(ax, title)
    return _save(fig, path)


def plot_pareto(accuracy: Sequence[float], ece: Sequence[float], path: str | Path, *,
                front: Sequence[bool], chosen: int | None = None,
                label: str = "validation accuracy", title: str | None = None) -> Path:
    """Validation accuracy (or ``label``'s score) against validation ECE; the Pareto front
    joined, the choice starred."""
    import numpy as np

    plt = _pyplot()
    a = np.asarray(accuracy, dtype=float)
    c = np.asarray(ece, dtype=float)
    f = np.asarray(front, dtype=bool)
    fig, ax = plt.subplots(figsize=(6.0, 4.6))
    ax.scatter(100 * c[~f], 100 * a[~f], s=16, color="lightgrey", label="dominated")
    order = np.argsort(c[f])
    ax.plot(100 * c[f][order], 100 * a[f][order], "-o", ms=5, color="tab:blue",
            label="Pareto front")
    if chosen is not None:
        ax.scatter([100 * c[chosen]], [100 * a[chosen]], marker="*", s=260, color="gold",
                   edgecolors="black", zorder=5,
                   label=f"chosen: lowest ECE within 0.5 pt of the best "
                         f"{label.removeprefix('validation ')}")
    ax.set_xlabel("validation ECE (%, 15 equal-width bins) ↓")
    ax.set_ylabel(f"{label} (%) ↑")
    ax.legend(fontsize=7)
    _title(ax, title)
    return _save(fig, path)


_COMPARED = (("accuracy", "accuracy (%)", 100), ("ece", "ECE (%)", 100), ("nll", "NLL", 1),
             ("brier", "Brier", 1), ("confidence", "confidence (%)", 100),
             ("roc_auc", "ROC AUC (%)", 100))


def _cell(stats: Mapping[str, float], scale: float) -> str:
    digits = 2 if scale == 100 else 4
    return f"{stats['mean'] * scale:.{digits}f} ± {stats['std'] * scale:.{digits}f}"


def _comparison_rows(rows: Mapping[str, Mapping[str, Any]], split: str
                     ) -> list[tuple[str, list[str]]]:
    out = []
    for kind, suffix in (("", ""), (", temperature-scaled", "_calibrated")):
        for name, label, scale in _COMPARED:
            if kind and name == "accuracy":
                continue  # temperature scaling never changes the argmax
            if any(name not in s[f"{split}{suffix}"] for s in rows.values()):
                continue  # a summary written before graphls recorded this metric
            out.append((label + kind, [_cell(s[f"{split}{suffix}"][name], scale)
                                       for s in rows.values()]))
    return out


def format_comparison(rows: Mapping[str, Mapping[str, Any]], split: str = "test") -> str:
    """Side-by-side fixed-width table: one column per summary (``SeedSweep.summary()``)."""
    first = next(iter(rows.values()))
    body = _comparison_rows(rows, split)
    w0 = max(len(r[0]) for r in body)
    widths = [max(len(lbl), *(len(r[1][i]) for r in body)) for i, lbl in enumerate(rows)]
    lines = [f"{split} (mean ± std over {len(first['seeds'])} seeds; ECE 15 equal-width bins)",
             " " * w0 + "".join(f"  {lbl:>{w}s}" for lbl, w in zip(rows, widths, strict=True))]
    for label, cells in body:
        padded = "".join(f"  {c:>{w}s}" for c, w in zip(cells, widths, strict=True))
        lines.append(f"{label:<{w0}s}{padded}")
    return "\n".join(lines)


def _val_cell(name: str, val: Mapping[str, float]) -> str:
    label, scale = {"accuracy": ("accuracy", 100), "ece": ("ECE", 100), "nll": ("NLL", 1),
                    "brier": ("Brier", 1)}[name]
    value = val[f"val_{name}"]
    return f"{label} {100 * value:.2f} %" if scale == 100 else f"{label} {value:.4f}"


#: How :func:`comparison_lines` names the paired metrics.
_PAIRED = {"accuracy": ("test accuracy", 100, "points"), "accuracy_calibrated":
             ("test accuracy after temperature scaling", 100, "points"),
             "ece": ("test ECE", 100, "points"), "ece_calibrated":
             ("test ECE after temperature scaling", 100, "points")}


def comparison_lines(comparison: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The verdict (first line) and the paired differences behind it, best minus baseline.

    ``comparison`` is :func:`graphls.engine.compare`'s result. The verdict is
    accuracy's; each following line gives one metric's mean paired difference, its
    95 % interval and its own verdict.
    """
    acc = comparison["accuracy"]
    n = acc["n"]
    verdict = {"better": "better than", "worse": "worse than",
               "no detectable difference": "not detectably different from"}[acc["verdict"]]
    lines = [f"Verdict: the tuned configuration is {verdict} the baseline on test accuracy "
             f"(paired over {n} seeds, 95 % interval)."]
    for key, (label, scale, unit) in _PAIRED.items():
        if key not in comparison:
            continue
        d = comparison[key]
        interval = (f"[{scale * d['low']:+.2f}, {scale * d['high']:+.2f}]"
                    if math.isfinite(d["low"]) else "(one seed: no interval)")
        lines.append(f"- {label}: {scale * d['mean']:+.2f} {unit}, 95 % interval {interval}: "
                     f"{d['verdict']}")
    return lines


def recall_lines(rows: Mapping[str, Mapping[str, Any]], split: str = "test") -> list[str]:
    """A markdown table of each class's recall (%, mean over seeds) per summary, and a
    warning line for every class whose recall is 0 on some seed (accuracy hides it)."""
    have = {label: s[f"{split}_recall"] for label, s in rows.items() if f"{split}_recall" in s}
    if not have:
        return []
    k = len(next(iter(have.values())))
    lines = [f"Per-class {split} recall (%, mean ± std over seeds; nan: no such node):", "",
             "| class | " + " | ".join(have) + " |", "|---|" + "---:|" * len(have)]
    for c in range(k):
        cells = [f"{100 * r[c]['mean']:.1f} ± {100 * r[c]['std']:.1f}"
                 if math.isfinite(r[c]["mean"]) else "nan" for r in have.values()]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    for label, summary in rows.items():
        zero = summary.get(f"{split}_zero_recall") or {}
        for c, count in sorted(zero.items(), key=lambda kv: int(kv[0])):
            lines.append(f"\n**Warning:** {label}: class {c} has {split} recall 0 on {count} "
                         f"of {len(summary['seeds'])} seeds: the model never predicts it for "
                         "its nodes.")
    return lines


def study_markdown(result: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]]) -> str:
    """``summary.md`` of a study report (``result`` is ``best.json``'s content)."""
    counts = result.get("trials", {})
    total = sum(counts.values())
    states = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
    params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                       for k, v in result["params"].items())
    val = result.get("validation", {})
    seeds = result["report_seeds"]
    lines = [
        f"# Study `{result['study_name']}`",
        "",
        *([*comparison_lines(result["comparison"]), ""] if "comparison" in result else []),
        f"{result['dataset']} ({result.get('split') or 'default'} split), "
        f"{str(result['model']).upper()}, space `{result['space']}`, objective "
        f"`{result['objective']}` on validation; {total} trials ({states}).",
        "",
        f"**Best trial #{result['best_trial']}** ({result['selection_rule']}): {params}.",
        "",
        "Validation at the selected epoch (mean over the trial's seeds): "
        + ", ".join(_val_cell(name, val) for name in ("accuracy", "ece", "nll", "brier")
                    if f"val_{name}" in val) + ".",
        "",
        f"## Test, mean ± std over {len(seeds)} fresh seeds ({seeds[0]}–{seeds[-1]})",
        "",
        "| metric | " + " | ".join(rows) + " |",
        "|---|" + "---:|" * len(rows),
    ]
    for label, cells in _comparison_rows(rows, "test"):
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "ECE uses 15 equal-width confidence bins; temperature scaling is fitted on "
              "the validation split. The baseline is plain PyG (ε = 0, λ = 1) with the "
              "study's fixed settings.", ""]
    recall = recall_lines(rows)
    if recall:
        lines += [*recall, ""]
    from graphls.config import METRIC_LABELS

    scored = METRIC_LABELS["roc_auc" if result.get("score_metric") == "roc_auc" else "accuracy"]
    for name, caption in (("landscape", f"validation {scored} over (ε, λ)"),
                          ("importances", "parameter importances"),
                          ("history", "optimisation history"),
                          ("pareto", f"Pareto front (validation {scored} vs ECE)"),
                          ("reliability", "reliability, test, best vs baseline")):
        if name == "pareto" and len(result.get("directions", [])) < 2:
            continue
        lines += [f"![{caption}]({name}.png)", ""]
    return "\n".join(lines)
