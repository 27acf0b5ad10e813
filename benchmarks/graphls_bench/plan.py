"""The plan of an invocation: its blocks (main and label-noise), the datasets skipped
because their files are missing, and ``--plan``'s description of the work."""

from __future__ import annotations

from collections.abc import Sequence

from graphls.config import METRIC_LABELS
from graphls_bench.blocks import TUNED, Block, tuning_split, units
from graphls_bench.settings import Settings


def plan(settings: Settings) -> tuple[list[Block], list[str]]:
    """The blocks to run, and one note per dataset skipped because its files are missing."""
    from graphls.data import DATASETS, list_datasets

    available = {r["name"]: r for r in list_datasets(settings.root)}
    blocks: list[Block] = []
    skipped: list[str] = []
    for name, splits in settings.datasets.items():
        info = available[name]
        if not info["available"]:
            raw = ", ".join(DATASETS[name].raw_files) or "its files"
            skipped.append(f"{name}: skipped, its files are missing under {info['path']} "
                           f"(put {raw} there, or let PyG/OGB download them, then rerun "
                           f"with --datasets {name})")
            continue
        metric = settings.metric.get(name, "accuracy")
        for split in splits:
            for model in settings.models:
                rows = tuple(settings.rows_of(split))
                if rows:
                    blocks.append(Block(name, split, model, 0.0, rows, metric))
    main = {(b.dataset, b.split, b.model) for b in blocks}
    if not any(settings.noise) or not settings.noise_split_wanted:
        return blocks, skipped  # no noisy rate asked for (or its split is filtered out)
    for name in settings.noise_datasets:
        if not available[name]["available"]:
            continue
        for model in settings.models:
            for rate in settings.noise:
                if rate == 0 and (name, settings.noise_split, model) in main:
                    continue  # the main block holds the noise-free runs
                if settings.noise_rows:
                    blocks.append(Block(name, settings.noise_split, model, rate,
                                        tuple(settings.noise_rows),
                                        settings.metric.get(name, "accuracy")))
    return blocks, skipped


def describe_plan(settings: Settings, blocks: Sequence[Block], skipped: Sequence[str]) -> str:
    studies = sum(1 for b in blocks for r in b.rows if r in TUNED)
    fits = sum(len(units(b, settings.seeds)) * (sum(1 for r in b.rows if r in TUNED)
                                               + (1 if {"plain", "ts"} & set(b.rows) else 0))
               for b in blocks)
    runs = sum(len(split) if isinstance(split := tuning_split(b), tuple) else 1
               for b in blocks for r in b.rows if r in TUNED)
    lines = [f"{len(blocks)} blocks, {studies} studies × {settings.trials} trials "
             f"({runs * settings.trials * settings.seeds_per_trial} tuning runs), "
             f"{fits} test runs, {settings.epochs} epochs each"
             + ("" if all(b.recipe == "pyg" for b in blocks) or settings.quick else
                " (blocks with a recipe: the recipe's, at most)")
             + f"; studies claim up to "
             f"{settings.batch_size} trials at a time"
             + ("" if settings.batch_size > 1 else " (every run on its own)")]
    lines += [f"  {b.name}: rows {','.join(b.rows)}; {len(units(b, settings.seeds))} test runs"
              f" per row" + ("" if b.metric == "accuracy" else
                             f"; tuned and selected on validation {METRIC_LABELS[b.metric]}")
              for b in blocks]
    lines += [f"  {s}" for s in skipped]
    return "\n".join(lines)
