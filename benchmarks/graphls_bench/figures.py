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
