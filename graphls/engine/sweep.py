"""Seed sweeps: one configuration over many seeds, trained together, with mean ± std."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphls._validation import check_positive_int
from graphls.config import REPORTED, TrainConfig, TrainResult
from graphls.engine.loop import fit_many

__all__ = ["SEED_BATCH_ELEMENTS", "SeedSweep", "compare", "default_seed_batch", "evaluate",
           "paired_difference", "summarize"]

#: Whether a larger value of a reported metric is better (for :func:`compare`'s verdicts).
HIGHER_IS_BETTER = {"accuracy": True, "roc_auc": True, "confidence": True, "ece": False,
                    "nll": False, "brier": False}


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


def evaluate(data: Any, config: TrainConfig | Sequence[TrainConfig],
             seeds: int | Sequence[int] = 10, *, batch_size: int | None = None,
             progress: bool = False, on_result: Callable[[TrainResult], None] | None = None
             ) -> SeedSweep | list[SeedSweep]:
    """Train ``config`` on each seed (``seeds`` a count from ``config.seed`` on, or a list).

    Seeds are trained together, ``batch_size`` at a time, by
    :func:`~graphls.engine.loop.fit_many`: seed ``s``'s result is the run
    ``fit(data, config.replace(seed=s))`` makes, faster (GCN: several times; GAT: 1.4x
    over one seed at a time on Cora, where each member still draws its dropout masks
    from its own generator). Given a list of configurations (of one model and width),
    every (configuration, seed) pair is a member of the same batches and a list of
    sweeps comes back, one per configuration: a study report trains its best
    configuration and the baseline this way, in one pass.

    Args:
        batch_size: Members per batch; ``None`` chooses by size
            (:func:`default_seed_batch`: all ten Planetoid seeds at once, twenty for
            two configurations); 1 is one run after another.
        progress: Show a tqdm bar on stderr (it counts the epochs of each batch,
            since a batch's members train together).
        on_result: Called with each finished result (e.g. to log it).
    """
    configs = [config] if isinstance(config, TrainConfig) else list(config)
    if not configs:
        raise ValueError("config must be a TrainConfig or a non-empty list of them; got []")
    first = configs[0]
    if isinstance(seeds, int):
        check_positive_int("seeds", seeds)
        seed_list = [first.seed + i for i in range(seeds)]
    else:
        seed_list = [int(s) for s in seeds]
        if not seed_list:
            raise ValueError("seeds must name at least one seed; got an empty list")
    members = [c.replace(seed=s) for c in configs for s in seed_list]
    if batch_size is None:
        batch_size = min(default_seed_batch(data, c, len(members)) for c in configs)
    else:
        check_positive_int("batch_size", batch_size)
    chunks = [members[lo:lo + batch_size] for lo in range(0, len(members), batch_size)]
    epochs = [max(c.epochs for c in chunk) for chunk in chunks]
    bar = None
    if progress:  # the members of a chunk train together: count the chunks' epochs
        from tqdm.auto import tqdm

        what = f"{len(seed_list)} seeds" + (f" × {len(configs)} configurations"
                                            if len(configs) > 1 else "")
        what += f" in {len(chunks)} batches" if len(chunks) > 1 else " together"
        bar = tqdm(total=sum(epochs), desc=f"{first.model} {what}", unit="epoch", leave=False)
    results: list[TrainResult] = []
    for k, chunk in enumerate(chunks):
        hook = None
        if bar is not None:
            start = sum(epochs[:k])

            def hook(_member: int, epoch: int, _val: dict[str, float], _start: int = start
                     ) -> None:
                if _start + epoch + 1 > bar.n:
                    bar.update(_start + epoch + 1 - bar.n)
        for r in fit_many(data, chunk, hook, group=True):
            assert isinstance(r, TrainResult)  # the hook never stops a member
            results.append(r)
            if on_result is not None:
                on_result(r)
        if bar is not None:  # early stopping may end a chunk before its last epoch
            bar.update(sum(epochs[:k + 1]) - bar.n)
            if "test" in results[0].metrics:
                mean = np.mean([r.metrics["test"]["accuracy"] for r in results])
                bar.set_postfix(test_acc=f"{mean:.3f}")
    if bar is not None:
        bar.close()
    n = len(seed_list)
    sweeps = [SeedSweep(c, results[i * n:(i + 1) * n]) for i, c in enumerate(configs)]
    return sweeps[0] if isinstance(config, TrainConfig) else sweeps


def paired_difference(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95,
                      higher_is_better: bool = True) -> dict[str, Any]:
    r"""The mean paired difference ``a - b`` with its t-interval, and a verdict.

    With :math:`d_s = a_s - b_s` over the ``n`` pairs (the same seeds, or the same
    splits), :math:`\bar d \pm t_{n-1, (1 + c)/2}\, s_d / \sqrt{n}`. The verdict is
    ``"better"`` (or ``"worse"``) when the whole interval lies on the good (or
    bad) side of 0, else ``"no detectable difference"``; with one pair (no
    interval) it is ``"no detectable difference"``.

    >>> r = paired_difference([0.82, 0.83, 0.82, 0.83], [0.80, 0.80, 0.80, 0.80])
    >>> round(r["mean"], 3), r["verdict"]
    (0.025, 'better')
    """
    from scipy.stats import t as student_t

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"a and b must be paired values of the same length (>= 1); got "
                         f"lengths {x.size} and {y.size}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    d = x - y
    n = d.size
    mean = float(d.mean())
    if n > 1:
        half = float(student_t.ppf((1 + confidence) / 2, n - 1) * d.std(ddof=1) / np.sqrt(n))
    else:
        half = float("inf")
    low, high = mean - half, mean + half
    verdict = "no detectable difference"
    if low > 0 or high < 0:
        verdict = "better" if (low > 0) == higher_is_better else "worse"
    return {"mean": mean, "low": low, "high": high, "n": n, "confidence": confidence,
            "verdict": verdict}


def compare(sweep: SeedSweep, baseline: SeedSweep, *, split: str = "test",
            metrics: Sequence[str] = ("accuracy", "ece"), confidence: float = 0.95
            ) -> dict[str, dict[str, Any]]:
    """Paired differences ``sweep - baseline`` seed by seed (:func:`paired_difference`),
    for ``metrics`` raw and after temperature scaling (``"ece_calibrated"``).

    Raises:
        ValueError: the two sweeps did not run the same seeds.
    """
    if sweep.seeds != baseline.seeds:
        raise ValueError(f"the sweeps must run the same seeds to be paired; got "
                         f"{sweep.seeds} and {baseline.seeds}")
    out = {}
    for name in metrics:
        for kind, attr in (("", "metrics"), ("_calibrated", "calibrated")):
            a = [getattr(r, attr)[split][name] for r in sweep.results]
            b = [getattr(r, attr)[split][name] for r in baseline.results]
            out[f"{name}{kind}"] = paired_difference(
                a, b, confidence=confidence, higher_is_better=HIGHER_IS_BETTER[name])
    return out

