"""Seed sweeps: one configuration over many seeds, trained together, with mean ± std."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphls._validation import check_positive_int
from graphls.config import REPORTED, TrainConfig, TrainResult
from graphls.engine.loop import fit_many

__all__ = ["SEED_BATCH_ELEMENTS", "SeedSweep", "default_seed_batch", "evaluate", "summarize"]


@dataclass
class SeedSweep:
    """``fit`` repeated over seeds, with mean ± std summaries."""

    config: TrainConfig
    results: list[TrainResult]

    @property
    def seeds(self) -> list[int]:
        return [r.config.seed for r in self.results]

    def summary(self) -> dict[str, Any]:
        """``{"config", "seeds", "test", "val", "test_calibrated", "val_calibrated", ...}``.

        Each metric is ``{"mean", "std", "values"}``; std is the sample
        standard deviation (ddof = 1; 0 for one seed). Accuracy is a fraction.
        """
        return summarize(self.results, self.config)


def summarize(results: Sequence[TrainResult], config: TrainConfig | None = None
              ) -> dict[str, Any]:
    """Mean ± std (ddof = 1) of every reported metric over ``results``.

    Also each class's recall per split (``test_recall``: one ``{"mean", "std",
    "values"}`` per class; NaN for a class absent from the split), the classes
    whose recall is 0 on some seed (``test_zero_recall``: class -> number of
    seeds), and how many runs' temperature scaling fell back to T = 1.
    """
    if not results:
        raise ValueError("results must hold at least one TrainResult; got none")
    config = config or results[0].config
    out: dict[str, Any] = {
        "config": {k: v for k, v in config.to_dict().items() if k != "seed"},
        "seeds": [r.config.seed for r in results],
    }
    for split in ("test", "val"):
        for kind, attr in (("", "metrics"), ("_calibrated", "calibrated")):
            out[f"{split}{kind}"] = {
                name: _stats([getattr(r, attr)[split][name] for r in results])
                for name in REPORTED
            }
        if all(split in r.recall for r in results):
            per_seed = np.asarray([r.recall[split] for r in results], dtype=np.float64)
            out[f"{split}_recall"] = [_stats(column) for column in per_seed.T]
            out[f"{split}_zero_recall"] = {  # class -> on how many seeds its recall is 0
                c: int(n) for c, n in enumerate((per_seed == 0).sum(axis=0)) if n}
    out["temperature"] = _stats([r.temperature for r in results])
    out["temperature_fallbacks"] = sum(r.temperature_note is not None for r in results)
    out["best_epoch"] = _stats([float(r.best_epoch) for r in results])
    out["wall_time"] = _stats([r.wall_time for r in results])
    return out


def _stats(values: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "values": [float(v) for v in arr]}


#: Seeds trained together by default: as many as keep one stacked hidden layer
#: (nodes x hidden x seeds float32 values) under this many elements (256 MB): all ten
#: seeds of a Planetoid sweep at once, one or two at a time on ogbn-arxiv.
SEED_BATCH_ELEMENTS = 1 << 26


def default_seed_batch(data: Any, config: TrainConfig, count: int) -> int:
    """How many seeds :func:`evaluate` trains together when ``batch_size`` is not given.

    GCN: a member's stacked hidden layer is ``nodes × hidden`` values. GAT: its
    attention maps and hidden layer are about ``heads × (edges + nodes × (1 +
    hidden))`` values (one score per edge and head, per-head features), so
    graphs with many edges batch fewer GAT seeds.
    """
    nodes = int(getattr(data, "num_nodes", None) or data.x.size(0))
    per_member = nodes * config.hidden
    if config.model == "gat":
        edges = int(data.edge_index.size(1))
        per_member = config.heads * (edges + nodes * (1 + config.hidden))
    return max(1, min(count, SEED_BATCH_ELEMENTS // max(1, per_member)))


def evaluate(data: Any, config: TrainConfig, seeds: int | Sequence[int] = 10, *,
             batch_size: int | None = None, progress: bool = False,
             on_result: Callable[[TrainResult], None] | None = None) -> SeedSweep:
    """Run ``fit`` for each seed (``seeds`` a count from ``config.seed`` on, or a list).

    Seeds are trained together, ``batch_size`` at a time, by
    :func:`~graphls.engine.loop.fit_many`: seed ``s``'s result is the run
    ``fit(data, config.replace(seed=s))`` makes, faster (GCN: several times;
    GAT: 1.4x on Cora, where each member still draws its dropout masks from its
    own generator).

    Args:
        batch_size: Seeds per batch; ``None`` chooses by size
            (:func:`default_seed_batch`: all ten Planetoid seeds at once); 1 is
            one run after another.
        progress: Show a tqdm bar on stderr.
        on_result: Called with each finished result (e.g. to log it).
    """
    if isinstance(seeds, int):
        check_positive_int("seeds", seeds)
        seed_list = [config.seed + i for i in range(seeds)]
    else:
        seed_list = [int(s) for s in seeds]
        if not seed_list:
            raise ValueError("seeds must name at least one seed; got an empty list")
    if batch_size is None:
        batch_size = default_seed_batch(data, config, len(seed_list))
    else:
        check_positive_int("batch_size", batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seed_list), desc=f"{config.model} seeds", unit="run", leave=False)
    results: list[TrainResult] = []
    for lo in range(0, len(seed_list), batch_size):
        chunk = [config.replace(seed=s) for s in seed_list[lo:lo + batch_size]]
        for r in fit_many(data, chunk):
            assert r is not None  # no hook, so no member is stopped
            results.append(r)
            if on_result is not None:
                on_result(r)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test_acc=f"{r.metrics['test']['accuracy']:.3f}")
    if bar is not None:
        bar.close()
    return SeedSweep(config, results)
