"""The settings of one invocation: ``configs/benchmark.toml`` resolved against the flags.

``run.py`` parses the command line; :func:`resolve` turns its flags into
:class:`Settings`, saved with every result line.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphls_bench.blocks import MODELS, ROWS, SPLIT_KINDS
from graphls_bench.checks import check_choice, check_fraction, check_positive_int

#: ``benchmarks/``: the default output folder, beside ``configs/``.
BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
CONFIGS = BENCH / "configs"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(path.read_text(encoding="utf-8"))


def load_config(path: Path | None = None) -> dict[str, Any]:
    """``configs/benchmark.toml``: defaults, quick settings, datasets and their splits."""
    return read_toml(path or CONFIGS / "benchmark.toml")


@dataclass
class Settings:
    """The resolved settings of one invocation (saved with every result line)."""

    datasets: dict[str, list[str]]
    models: list[str]
    rows: list[str]
    trials: int
    seeds: int
    epochs: int
    noise: list[float]
    noise_datasets: list[str]
    noise_split: str
    noise_rows: list[str]
    sampler: str
    pruner: str
    seeds_per_trial: int
    batch_size: int
    root: str | None
    out: Path | None
    quick: bool = False
    progress: bool = True
    cache: bool = True
    device: str = "cpu"
    threads: int | None = None
    noise_split_wanted: bool = True
    report_only: bool = False
    plan_only: bool = False
    command: str = ""
    overrides: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    #: dataset -> validation metric of its blocks (``[metric]``; absent: accuracy)
    metric: dict[str, str] = field(default_factory=dict)
    #: ``(k, n)``: run only the k-th (1-based) of n shards of every block's test runs
    shard: tuple[int, int] | None = None
    #: split kind -> the rows of its blocks (``[rows]``; absent: ``rows``), within ``--rows``
    split_rows: dict[str, list[str]] = field(default_factory=dict)

    def rows_of(self, split: str) -> list[str]:
        """The rows of a block on ``split``, in table order."""
        return self.split_rows.get(split, self.rows)

    @property
    def storage(self) -> str:
        return f"sqlite:///{self.out / 'results' / 'studies.db'}"


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)`` with ``1 <= K <= N``."""
    k, sep, n = text.partition("/")
    try:
        shard = (int(k), int(n)) if sep else None
    except ValueError:
        shard = None
    if shard is None or not 1 <= shard[0] <= shard[1]:
        raise ValueError(f"shard must be K/N with 1 <= K <= N, e.g. 1/2; got {text!r}")
    return shard


def split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def canonical_dataset(name: str) -> str:
    """``name`` as ``graphls.data.DATASETS`` spells it (case, ``-`` or ``_`` aside)."""
    from graphls.data import DATASETS

    lookup = {n.lower().replace("-", "_"): n for n in DATASETS}
    canonical = lookup.get(name.lower().replace("-", "_"))
    if canonical is None:
        raise ValueError(f"dataset {name!r} is unknown; known: {', '.join(DATASETS)}")
    return canonical


def default_root() -> str | None:
    for env in ("GRAPHLS_DATA", "GRAPHLS_SHARED_DATASETS"):
        if os.environ.get(env):
            return os.environ[env]
    shared = REPO.parent / "shared" / "datasets"
    return str(shared) if shared.is_dir() else None


def resolve(config: Mapping[str, Any] | None = None, *, argv: Sequence[str] = (),
            quick: bool = False, datasets: str | None = None, splits: str | None = None,
            models: str | None = None, rows: str | None = None, trials: int | None = None,
            seeds: int | None = None, epochs: int | None = None, noise: str | None = None,
            sampler: str | None = None, pruner: str | None = None,
            seeds_per_trial: int | None = None, batch_size: int | None = None,
            root: str | None = None, out: str | None = None, device: str = "cpu",
            threads: int | None = None, shard: str | None = None, no_progress: bool = False,
            no_cache: bool = False, report_only: bool = False, plan: bool = False
            ) -> Settings:
    """Resolve the flags (``run.py``'s, by name; ``None``: not given) against ``config``
    (default ``configs/benchmark.toml``); ``argv`` is recorded as the command.

    Raises:
        ValueError: an unknown dataset, model, row or split, or a bad number.
    """
    cfg = dict(config or load_config())
    d = dict(cfg["defaults"])
    q = dict(cfg.get("quick", {})) if quick else {}
    configured = {canonical_dataset(k): list(v) for k, v in cfg["datasets"].items()}

    if datasets:
        names = [canonical_dataset(n) for n in split_list(datasets)]
    else:
        names = [canonical_dataset(n) for n in q.get("datasets", configured)]
    from graphls.data import DATASETS

    chosen: dict[str, list[str]] = {}
    for name in names:
        chosen[name] = configured.get(name) or [DATASETS[name].splits[0]]
    wanted_splits = (split_list(splits) if splits else q.get("splits"))
    if wanted_splits:
        for s in wanted_splits:
            check_choice("splits", s, SPLIT_KINDS)
        chosen = {n: [s for s in sp if s in wanted_splits] or
                  [s for s in wanted_splits if s in DATASETS[n].splits][:1]
                  for n, sp in chosen.items()}
        chosen = {n: sp for n, sp in chosen.items() if sp}
        if not chosen:
            raise ValueError(f"splits {','.join(wanted_splits)} match none of the datasets "
                             f"{','.join(names)}")

    model_list = split_list(models) if models else list(q.get("models", d["models"]))
    for m in model_list:
        check_choice("models", m, MODELS)
    row_list = split_list(rows) if rows else list(d["rows"])
    for r in row_list:
        check_choice("rows", r, ROWS)
    per_split: dict[str, list[str]] = {}
    for kind, names in dict(cfg.get("rows", {})).items():
        check_choice("[rows] split", kind, SPLIT_KINDS)
        for r in names:
            check_choice(f"[rows] {kind}", r, ROWS)
        chosen_rows = [r for r in ROWS if r in names and (not rows or r in row_list)]
        per_split[kind] = chosen_rows
    row_list = [r for r in ROWS if r in row_list]  # table order

    def pick(name: str, flag: Any) -> Any:
        return flag if flag is not None else q.get(name, d[name])

    n_trials = check_positive_int("trials", pick("trials", trials))
    n_seeds = check_positive_int("seeds", pick("seeds", seeds))
    n_epochs = check_positive_int("epochs", pick("epochs", epochs))
    spt = check_positive_int("seeds_per_trial", pick("seeds_per_trial", seeds_per_trial))
    batch = batch_size if batch_size is not None else q.get(
        "batch_size", d.get("batch_size", 1))
    batch = check_positive_int("batch_size", batch)
    if noise is not None:
        try:
            rates = [float(v) for v in split_list(noise)]
        except ValueError:
            raise ValueError(f"noise must be comma-separated fractions like 0,0.2,0.4; "
                             f"got {noise!r}") from None
    else:
        rates = [float(v) for v in q.get("noise", d["noise"])]
    rates = sorted({check_fraction("noise", v, high_open=True) for v in rates})
    sampler = pick("sampler", sampler)
    pruner = pick("pruner", pruner)
    from graphls.tuning import PRUNERS, SAMPLERS

    check_choice("sampler", sampler, SAMPLERS)
    check_choice("pruner", pruner, PRUNERS)
    n_threads = check_positive_int("threads", pick("threads", threads), minimum=0)
    shards = parse_shard(shard) if shard is not None else None

    if out:
        out_dir: Path | None = Path(out)
    elif quick:
        out_dir = None  # a temporary folder, made when the run starts
    else:
        out_dir = BENCH
    ncfg = dict(cfg.get("noise", {}))
    noise_datasets = [canonical_dataset(n) for n in ncfg.get("datasets", [])]
    from graphls.config import SELECT

    metric = {canonical_dataset(k): check_choice(f"metric of {k}", v, SELECT)
              for k, v in cfg.get("metric", {}).items()}
    return Settings(
        datasets=chosen, models=model_list, rows=row_list, trials=n_trials, seeds=n_seeds,
        epochs=n_epochs, noise=rates,
        noise_datasets=[n for n in noise_datasets if n in chosen],
        noise_split=ncfg.get("split", "public"),
        noise_rows=[r for r in ncfg.get("rows", ["plain", "ls", "joint"]) if r in row_list],
        noise_split_wanted=not wanted_splits or ncfg.get("split", "public") in wanted_splits,
        sampler=sampler, pruner=pruner, seeds_per_trial=spt, batch_size=batch,
        root=root if root is not None else default_root(), out=out_dir,
        quick=quick, progress=not no_progress, cache=not no_cache,
        device=device, threads=n_threads or None, report_only=report_only,
        plan_only=plan, shard=shards,
        command=" ".join(["python", "benchmarks/run.py", *map(shlex.quote, argv)]),
        overrides={canonical_dataset(k): v for k, v in cfg.get("overrides", {}).items()},
        figures=dict(cfg.get("figures", {})),
        metric=metric, split_rows=per_split,
    )
