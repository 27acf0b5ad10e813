"""Test runs: a block's chosen configurations trained on fresh seeds, one split at a time.

All uncached runs of a split are one ``graphls.engine.fit_many`` call, cut into chunks
only at ``graphls.engine.default_seed_batch``'s memory cap (``batch_size = 1``: one run
per call). Runs that have a result line come from the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from graphls_bench.blocks import Block
from graphls_bench.records import Outcome, ResultCache, fit_key
from graphls_bench.settings import Settings


class TestRuns:
    """Trains test runs (or takes them from ``cache``) and counts the fits it trained."""

    __test__ = False  # not a pytest test class

    def __init__(self, settings: Settings, cache: ResultCache,
                 environment: Mapping[str, Any]) -> None:
        self.s = settings
        self.cache = cache
        self.env = dict(environment)
        self.fits = 0
        self.fit_seconds = 0.0

    def outcome(self, block: Block, split_id: int | None, config: Any, r: Any, data: Any,
                want_probs: bool) -> Outcome:
        """A fresh ``TrainResult`` as an outcome; writes the probs file if wanted."""
        import torch

        key = fit_key(block, split_id, config)
        self.fits += 1
        self.fit_seconds += r.wall_time
        probs = None
        if want_probs:
            test = data.test_mask
            logits = r.logits[test].double()
            probs = {"probs": torch.softmax(logits, -1),
                     "probs_ts": torch.softmax(logits / r.temperature, -1),
                     "y": data.y.view(-1)[test]}
            self.cache.save_probs(key, probs)
        prov = {**self.env, "command": self.s.command, "quick": self.s.quick,
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        return Outcome(key, r.metrics, r.calibrated, r.temperature, r.best_epoch, r.epochs_run,
                       r.structural, r.wall_time, prov, probs=probs, recall=r.recall)

    def fit_split(self, block: Block, split_id: int | None, load: Callable[[], Any],
                  jobs: Sequence[tuple[Any, bool]],
                  on_done: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
        """The runs ``jobs`` (config, want probs) on one split, in order.

        Cached runs are reused (the cache first takes in what other processes wrote for
        ``block`` since it was read); the others are trained together by
        ``graphls.engine.fit_many(group=True)`` (each result is ``fit``'s for the same
        seed, within float tolerance) on ``load()``'s data, in chunks of at most
        ``graphls.engine.default_seed_batch`` members (the memory cap of
        ``graphls.engine.evaluate``: one chunk on Planetoid-sized graphs). With
        ``batch_size = 1`` every run is its own ``fit``. Jobs with the same fit key (two
        rows that chose the same configuration, e.g. joint and multi picking the same
        trial) share one run: members of a batch can differ in the last bits, and the
        cache keeps one line per key. ``on_done(job, outcome)`` is called as soon as a
        job's outcome is known (cached ones first, then chunk by chunk), so that a stopped
        run keeps what it finished.
        """
        from graphls.engine import fit_many

        out: list[Outcome | None] = [None] * len(jobs)

        def done(i: int, o: Outcome) -> None:
            out[i] = o
            if on_done is not None:
                on_done(i, o)

        self.cache.refresh(block)
        first: dict[str, int] = {}  # fit key -> the job that trains it
        sharers: dict[int, list[int]] = {}  # training job -> the jobs it serves (itself too)
        for i, (config, want) in enumerate(jobs):
            key = fit_key(block, split_id, config)
            o = self.cache.get(key, want)
            if o is not None:
                done(i, o)
            else:
                k = first.setdefault(key, i)
                sharers.setdefault(k, []).append(i)
        todo = list(first.values())
        if todo:
            data = load()
            size = 1
            if self.s.batch_size > 1:
                from graphls.engine import default_seed_batch

                size = min(default_seed_batch(data, jobs[i][0], len(todo)) for i in todo)
            for lo in range(0, len(todo), size):
                chunk = todo[lo:lo + size]
                configs = [jobs[i][0] for i in chunk]
                results = fit_many(data, configs, group=True)
                for i, r in zip(chunk, results, strict=True):
                    want = any(jobs[j][1] for j in sharers[i])  # probs if any sharer wants them
                    o = self.outcome(block, split_id, jobs[i][0], r, data, want)
                    for j in sharers[i]:
                        done(j, o)
        return out  # type: ignore[return-value]
