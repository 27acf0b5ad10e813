"""The run: every block of the plan (its studies, then its test runs, then its result
file), then the figures and RESULTS.md."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from graphls_bench import studies
from graphls_bench.blocks import (
    FIXED,
    TUNED,
    Block,
    load_split,
    shard_units,
    tuning_split,
    units,
)
from graphls_bench.figures import draw_figures, figure_blocks
from graphls_bench.plan import describe_plan, plan
from graphls_bench.records import (
    Outcome,
    ResultCache,
    append_partial,
    environment,
    line_order,
    make_record,
    write_records,
)
from graphls_bench.results_md import render, write_results_md
from graphls_bench.settings import Settings, resolve
from graphls_bench.testruns import TestRuns


class Runner:
    """Runs blocks: loads data, tunes rows, fits seeds, writes result lines."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.results = settings.out / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        (self.results / ".gitignore").write_text(
            "# written by benchmarks/run.py: the working study database and figure caches are\n"
            "# not committed; studies travel as studies/*.jsonl, unfinished blocks as *.partial\n"
            "studies.db*\nprobs/\n*.tmp\n*.lock\n")
        self.tests = TestRuns(settings, ResultCache(self.results, enabled=settings.cache),
                              environment())
        #: this run's studies and the test probabilities it kept, by (block name, row)
        self.studies: dict[tuple[str, str], Any] = {}
        self.probs: dict[tuple[str, str], list[Any]] = {}
        self._data: dict[tuple[str, str, int | None], Any] = {}

    @property
    def fits(self) -> int:
        return self.tests.fits

    @property
    def fit_seconds(self) -> float:
        return self.tests.fit_seconds

    def data(self, block: Block, split_id: int | tuple[int, ...] | None) -> Any:
        """The block's data on ``split_id`` (a list for several splits), kept while in use."""
        if isinstance(split_id, tuple):
            return [self.data(block, k) for k in split_id]
        key = (block.dataset, block.split, split_id)
        if key not in self._data:
            tuning = tuning_split(block)
            keep = len(tuning) if isinstance(tuning, tuple) else 1
            if len(self._data) > keep:  # the tuning split(s) and the current one
                self._data.clear()
            self._data[key] = load_split(block, split_id, self.s.root)
        return self._data[key]

    def base_config(self, block: Block) -> Any:
        """The block's fixed settings: its recipe (PyG's examples, or the literature's on
        its own splits, with the recipe's epochs unless ``--quick``), the dataset's
        overrides, the block's label noise and validation metric."""
        from graphls.config import TrainConfig

        extra = dict(self.s.overrides.get(block.dataset, {}).get(block.model, {}))
        config = TrainConfig.for_model(block.model, recipe=block.recipe, **extra)
        epochs = config.epochs if block.recipe != "pyg" and not self.s.quick else self.s.epochs
        select = config.select if block.recipe != "pyg" else block.metric
        return config.replace(epochs=epochs, label_noise=block.noise, device=self.s.device,
                              select=select)

    def tune(self, block: Block, row: str, base: Any, *, wait: bool = True
             ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The row's study (:func:`graphls_bench.studies.tune`) on the block's tuning split:
        its pick's parameters and summary (``None`` with ``wait=False``)."""
        data = self.data(block, tuning_split(block))
        tuned = studies.tune(self.s, block, row, base, data, wait=wait)
        if tuned is None:
            return None
        study, params, info = tuned
        self.studies[(block.name, row)] = study
        return params, info

    def run_block(self, block: Block, figure_block: bool) -> list[dict[str, Any]]:
        base = self.base_config(block)
        runs = shard_units(units(block, self.s.seeds), self.s.shard)
        records: list[dict[str, Any]] = []
        todo: list[tuple[str, Any, dict[str, Any] | None, dict[str, Any]]] = []
        if "plain" in block.rows or "ts" in block.rows:
            todo.append(("plain", base, None, {}))
        for row in (r for r in block.rows if r in FIXED):
            todo.append((row, base.replace(**FIXED[row]), None, dict(FIXED[row])))
        tuned = [row for row in block.rows if row in TUNED]
        if len(tuned) > 1:
            # Another process on this block (--shard) may hold a study's last trials: train
            # what is free in every study first, then come back and wait for the rest.
            for row in tuned:
                self.tune(block, row, base, wait=False)
        for row in tuned:
            params, info = self.tune(block, row, base)
            config = base.replace(prior=TUNED[row].prior, **params)
            todo.append((row, config, info, params))
        # one split at a time (each is loaded once): every row's runs on it train together
        seeds: dict[int | None, list[int]] = {}
        for split_id, seed in runs:
            seeds.setdefault(split_id, []).append(seed)
        bar = _counter(len(runs) * len(todo), f"{block.name} test runs", self.s.progress)
        for split_id, split_seeds in seeds.items():
            jobs = [(seed, row, config, info, params, figure_block and row in ("plain", "joint"))
                    for seed in split_seeds for row, config, info, params in todo]

            def keep(i: int, o: Outcome, jobs: list[tuple[Any, ...]] = jobs,
                     split_id: int | None = split_id) -> None:
                seed, row, config, info, params, _ = jobs[i]
                for name in ("plain", "ts") if row == "plain" else (row,):
                    if name in block.rows:
                        records.append(make_record(self.s, block, name, split_id, seed, config,
                                                   o, info, params))
                        # kept for the cache if the run stops before the block's file is written
                        append_partial(self.results, block, records[-1])
                if bar is not None:
                    bar.update(1)

            def load(split_id: int | None = split_id) -> Any:
                return self.data(block, split_id)

            outcomes = self.tests.fit_split(
                block, split_id, load,
                [(config.replace(seed=seed), want) for seed, _, config, _, _, want in jobs], keep)
            for (_, row, _, _, _, want), o in zip(jobs, outcomes, strict=True):
                if want:  # in job order, as the reliability figure pools them
                    self.probs.setdefault((block.name, row), []).append(o.probs)
        if bar is not None:
            bar.close()
        return sorted(records, key=line_order)


def _bar(items: Sequence[Any], desc: str, show: bool) -> Iterable[Any]:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="run", leave=False, file=sys.stderr)


def _counter(total: int, desc: str, show: bool) -> Any:
    """A tqdm bar on stderr advanced by hand (``None`` when hidden)."""
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", leave=False, file=sys.stderr)


def run(settings: Settings) -> dict[str, Any]:
    """Run the plan, write results/*.jsonl, figures and RESULTS.md; return a summary."""
    import optuna
    import torch

    start = time.perf_counter()
    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    blocks, skipped = plan(settings)
    if settings.plan_only:
        print(describe_plan(settings, blocks, skipped))
        return {"blocks": len(blocks)}
    if settings.out is None:
        settings.out = Path(tempfile.mkdtemp(prefix="graphls-bench-quick-"))
    (settings.out / "results").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    runner = None
    if not settings.report_only:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        runner = Runner(settings)
        chosen = figure_blocks(settings, blocks)
        bar = _bar(blocks, "blocks", settings.progress)
        for block in bar:
            records = runner.run_block(block, block == chosen.get("reliability"))
            if settings.shard is None:  # a shard's lines stay .partial: the block is not whole
                written.append(write_records(runner.results, block, records))
        if settings.shard is None:
            draw_figures(settings.out, runner.studies, runner.probs, chosen)
    expected, report_skipped = [], list(skipped)
    if not settings.quick:  # the report covers every result line, so list every gap
        full = replace(resolve(), root=settings.root, out=settings.out)
        expected, report_skipped = plan(full)
    md = write_results_md(settings.out / "RESULTS.md",
                          render(settings, report_skipped, expected))
    summary = {"out": str(settings.out), "results_md": str(md), "jsonl": [str(p) for p in written],
               "blocks": len(blocks), "skipped": list(skipped),
               "fits": runner.fits if runner else 0,
               "fit_seconds": runner.fit_seconds if runner else 0.0,
               "wall_seconds": time.perf_counter() - start}
    return summary
