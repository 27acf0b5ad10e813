"""Figures: the (ε, λ) landscapes of two joint studies and one reliability diagram,
written to ``<out>/figures`` with their captions in ``figures.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graphls.config import METRIC_LABELS
from graphls_bench.blocks import Block
from graphls_bench.settings import Settings
from graphls_bench.stats import summary


def _first_block(blocks: Sequence[Block], names: Sequence[str], row: str) -> Block | None:
    for name in names:
        for b in blocks:
            if b.dataset == name and b.noise == 0 and row in b.rows:
                return b
    return None


def figure_blocks(settings: Settings, blocks: Sequence[Block]) -> dict[str, Block]:
    """The blocks whose studies/runs are drawn: two landscapes and one reliability diagram."""
    f = settings.figures
    chosen = {
        "landscape_homophilic": _first_block(blocks, f.get("landscape_homophilic", ()), "joint"),
        "landscape_heterophilic": _first_block(blocks, f.get("landscape_heterophilic", ()),
                                               "joint"),
        "reliability": _first_block(blocks, f.get("reliability", ()), "joint"),
    }
    return {k: v for k, v in chosen.items() if v is not None}


def draw_figures(out: Path, studies: Mapping[tuple[str, str], Any],
                 probs: Mapping[tuple[str, str], list[Any]],
                 chosen: Mapping[str, Block]) -> dict[str, str]:
    """Write the figures of this run into ``<out>/figures``; return ``{file: caption}``.

    ``studies`` and ``probs`` are the run's, by (block name, row): its studies, and the
    test nodes' probabilities of its runs that kept them.
    """
    import torch
    from optuna.trial import TrialState

    from graphls import report

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, str] = {}
    for kind in ("landscape_homophilic", "landscape_heterophilic"):
        block = chosen.get(kind)
        study = studies.get((block.name, "joint")) if block else None
        if study is None:
            continue
        trials = study.get_trials(deepcopy=False,
                                  states=(TrialState.COMPLETE, TrialState.PRUNED))
        # the joint study's score: validation accuracy, or ROC AUC on a roc_auc block
        what = f"validation {METRIC_LABELS[block.metric]}"
        e, s, v, done = [], [], [], []
        for t in trials:
            value = t.user_attrs.get(f"val_{block.metric}")
            if value is None and t.intermediate_values:  # pruned: its running best
                value = t.intermediate_values[max(t.intermediate_values)]
            e.append(t.params["epsilon"])
            s.append(t.params["structural"])
            v.append(value)
            done.append(t.state == TrialState.COMPLETE)
        best = study.best_trial.params
        name = f"landscape-{block.name}.png"
        caption = (f"(ε, λ) {'validation-accuracy' if block.metric == 'accuracy' else what} "
                   f"landscape, {block.title}: joint study, {len(trials)} trials")
        report.plot_landscape(e, s, v, fig_dir / name, complete=done,
                              best=(best["epsilon"], best["structural"]), label=what,
                              title=f"{block.title}\n{what}, joint study, "
                                    f"{len(trials)} trials")
        drawn[name] = caption
    block = chosen.get("reliability")
    if block is not None and (block.name, "plain") in probs \
            and (block.name, "joint") in probs:
        plain = probs[(block.name, "plain")]
        joint = probs[(block.name, "joint")]
        y = torch.cat([p["y"] for p in plain])
        curves = {
            "plain (ε=0, λ=1)": (torch.cat([p["probs"] for p in plain]), y),
            "plain + temperature scaling": (torch.cat([p["probs_ts"] for p in plain]), y),
            "joint (ε, λ tuned)": (torch.cat([p["probs"] for p in joint]),
                                   torch.cat([p["y"] for p in joint])),
        }
        name = f"reliability-{block.name}.png"
        caption = (f"Reliability, test nodes, {block.title}: plain vs plain + temperature "
                   f"scaling vs joint, {len(plain)} run(s) pooled (15 equal-width bins)")
        report.plot_reliability(curves, fig_dir / name,
                                title=f"{block.title}\ntest nodes, {len(plain)} run(s) pooled")
        drawn[name] = caption
    index_file = fig_dir / "figures.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    index.update(drawn)
    index = {k: v for k, v in index.items() if (fig_dir / k).is_file()}
    index_file.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return drawn


#: The rows of the literature figure: result rows (mean ± std over the splits), then
#: PosteL's published rows (one value each), with their labels and marker styles.
PUBLISHED_ROWS = (("plain", "plain (fixed recipe)", "o", "0.55"),
                  ("posterior", "posterior (PosteL's defaults)", "s", "tab:orange"),
                  ("joint_posterior", "joint + posterior (graphls)", "D", "tab:blue"))
PUBLISHED_REFS = (("plain", "PosteL's table: one-hot", "x", "black"),
                  ("posterior", "PosteL's table: +PosteL", "*", "tab:red"))


def published_points(blocks: Sequence[tuple[tuple[Any, ...], Mapping[str, list]]],
                     refs: Sequence[Mapping[str, Any]]
                     ) -> list[tuple[str, dict[str, tuple[float, float]], dict[str, float]]]:
    """Per block with a joint + posterior row and PosteL's +PosteL number: its label, the test
    accuracy of :data:`PUBLISHED_ROWS` (mean, std in percent) and PosteL's published rows."""
    points = []
    for (ds, split, model, _), rows in blocks:
        published = {r["row"]: float(r["value"]) for r in refs
                     if (r["dataset"], r["split"], r["model"], r["metric"]) ==
                     (ds, split, model, "accuracy")}
        if not rows.get("joint_posterior") or "posterior" not in published:
            continue
        ours = {row: tuple(100 * v for v in summary([r["test"]["accuracy"]
                                                      for r in rows[row]])[:2])
                for row, *_ in PUBLISHED_ROWS if rows.get(row)}
        points.append((f"{ds} {model.upper()}", ours,
                       {row: published[row] for row, *_ in PUBLISHED_REFS if row in published}))
    return points


def draw_published(path: Path, points: Sequence[tuple[str, Mapping[str, tuple[float, float]],
                                                       Mapping[str, float]]]) -> str:
    """A dot plot of :func:`published_points`, one line per block; return its caption."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.42 * len(points)))
    ys = range(len(points))[::-1]  # the first block on top, as in the table
    for k, (row, label, marker, color) in enumerate(PUBLISHED_ROWS):
        at = [(y, ours[row]) for y, (_, ours, _) in zip(ys, points, strict=True) if row in ours]
        if at:
            offset = 0.18 * (k - 1)
            ax.errorbar([m for _, (m, _) in at], [y + offset for y, _ in at],
                        xerr=[s for _, (_, s) in at], fmt=marker, color=color, ms=5,
                        capsize=2, lw=1, label=f"{label}, mean ± std")
    for row, label, marker, color in PUBLISHED_REFS:
        at = [(y, pub[row]) for y, (_, _, pub) in zip(ys, points, strict=True) if row in pub]
        if at:
            ax.scatter([v for _, v in at], [y for y, _ in at], marker=marker, color=color,
                       s=70 if marker == "*" else 40, zorder=3, label=label)
    ax.set_yticks(list(ys), [name for name, _, _ in points])
    ax.set_ylim(-0.7, len(points) - 0.3)
    ax.set_xlabel("test accuracy (%), mean ± std over the ten BernNet splits")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.9 / (1.2 + 0.42 * len(points))),
              ncol=2, fontsize=8, frameon=False)
    ax.set_title("BernNet 60/20/20 splits: graphls against PosteL's published table")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return (f"Test accuracy on the BernNet splits, {len(points)} block"
            f"{'s' if len(points) != 1 else ''}: plain, posterior "
            "and joint + posterior (mean ± std over the ten splits) against PosteL's "
            "published one-hot and +PosteL numbers")
