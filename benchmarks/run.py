#!/usr/bin/env python
"""Benchmarks of graphls: GCN/GAT with tuned label smoothing ε and structural smoothing λ.

One command reruns everything and regenerates ``RESULTS.md`` (no number in it is
typed by hand)::

    python benchmarks/run.py                 # the full benchmark (README.md, "Cost")
    python benchmarks/run.py --quick         # smoke test: Cora, GCN, 1 seed, 3 trials, 10 epochs
    python benchmarks/run.py --report-only   # rebuild RESULTS.md from results/*.jsonl

For each dataset × split × model (a *block*) it runs the rows

1. ``plain``: ε = 0, λ = 1, uniform prior: PyG's GCN/GAT with PyG's example settings;
2. ``ts``: the same runs after temperature scaling fitted on validation (``calibrated``);
3. ``ls``: ε tuned, λ = 1;
4. ``structural``: ε = 0, λ tuned;
5. ``joint``: (ε, λ) tuned;
6. ``joint_prior``: (ε, λ, prior weight w) tuned, prior = each node's histogram of its
   labelled training neighbours (``TrainConfig(prior="neighbors")``);
7. ``multi``: (ε, λ) tuned for (validation accuracy ↑, validation ECE ↓); the pick is
   the lowest-ECE Pareto point within 0.5 points of the best validation accuracy
   (``graphls.tuning.select_best_trial``).

Every tuned row is one ``graphls.tuning.run_study`` with the same trial budget, scored on
validation nodes only; rows 3 and 4 fix a knob with a degenerate range in their search
space file (``configs/searchspace/``). The chosen configuration is then trained on fresh
seeds (``REPORT_SEED_BASE + s``) and reported on the test nodes as mean ± std (ddof 1) of
accuracy, ECE (15 equal-width bins), NLL and Brier. Splits with several versions (dense
60/20/20 split seeds, shipped fixed splits) are tuned on split 0 and reported over splits
0..seeds-1 with one training seed each.

**Batching.** Runs are trained together with ``graphls.engine.fit_many`` (each result
equals ``graphls.engine.fit``'s for the same seed, within float tolerance): every tuned row's
study claims ``--batch-size`` trials at a time (``run_study(batch_size=...)``; each trial
is still pruned on its own, and the study-wide budget stays exact), and the test runs of
one split (every row × seed on a single split; every row on each split of dense/fixed) are
one ``fit_many`` call, cut only by ``graphls.engine.default_seed_batch``'s memory cap.
``--batch-size 1`` trains everything one run at a time with ``fit``, as before batching.

**Resuming.** Studies live in ``<out>/results/studies.db`` and, as text that is committed,
in ``<out>/results/studies/<study>.jsonl`` (rewritten after every finished trial; a study
missing from the database is restored from it first). ``--trials N`` is a study-wide
target (``run_study(total_trials=N)``): a rerun tops each study up to N finished trials and
never adds more, so rerunning the same command trains no new trial. Processes sharing a
block's studies (``--shard``) first train what is free in each study (``wait=False``),
then wait for each to finish. A result line whose
fit (dataset, split, configuration, seed) is already in ``<out>/results/*.jsonl`` is
reused (``--no-cache`` refits).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIGS = HERE / "configs"
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from graphls._validation import check_choice, check_fraction, check_positive_int  # noqa: E402
from graphls.config import METRIC_LABELS  # noqa: E402
from graphls.tuning import file_lock  # noqa: E402

#: The rows of every block, in table order, with their labels.
ROWS: dict[str, str] = {
    "plain": "plain (ε=0, λ=1) = PyG",
    "ts": "plain + temperature scaling",
    "ls": "label smoothing only (ε tuned, λ=1)",
    "structural": "structural only (ε=0, λ tuned)",
    "joint": "joint (ε, λ tuned)",
    "joint_prior": "joint + neighbour-label prior",
    "multi": "joint, multi-objective (val acc ↑, val ECE ↓)",
}
MODELS = ("gcn", "gat")
METRICS = ("accuracy", "ece", "nll", "brier", "confidence")
#: Split kinds reported over several splits (one training seed each) rather than seeds.
MULTI_SPLIT = ("dense", "fixed")
RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"
SPEED_START = "<!-- speed:start -->"
SCHEMA = 1


@dataclass(frozen=True)
class RowSpec:
    """How a tuned row searches: its space file, objective and smoothing prior."""

    space_file: str
    objective: str = "accuracy"
    prior: str = "uniform"


TUNED: dict[str, RowSpec] = {
    "ls": RowSpec("ls.toml"),
    "structural": RowSpec("structural.toml"),
    "joint": RowSpec("joint.toml"),
    "joint_prior": RowSpec("joint.toml", prior="neighbors"),
    "multi": RowSpec("joint.toml", objective="multi"),
}


def row_objective(spec: RowSpec, block: Block) -> str:
    """The row's tuning objective in ``block``: accuracy becomes the block's metric."""
    return block.metric if spec.objective == "accuracy" else spec.objective


# ---------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------

def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(path.read_text(encoding="utf-8"))


def load_config(path: Path | None = None) -> dict[str, Any]:
    """``configs/benchmark.toml``: defaults, quick settings, datasets and their splits."""
    return _read_toml(path or CONFIGS / "benchmark.toml")


#: The metrics a published reference may give (percent), with their short labels.
REF_METRICS = {"accuracy": "acc", "ece": "ECE", "roc_auc": "ROC AUC"}
_REF_KEYS = ("dataset", "model", "row", "split", "metric", "value", "source")


def load_references(path: Path | None = None) -> list[dict[str, Any]]:
    """The published numbers of ``configs/reference.toml``, each with its split named."""
    path = path or CONFIGS / "reference.toml"
    refs = list(_read_toml(path).get("reference", []))
    for i, r in enumerate(refs, 1):
        where = f"{path.name}, reference {i}"
        missing = [k for k in _REF_KEYS if not r.get(k)]
        if missing:
            raise ValueError(f"{where}: {', '.join(missing)} missing; every reference needs "
                             f"{', '.join(_REF_KEYS)}")
        check_choice(f"{where}: metric", r["metric"], REF_METRICS)
        check_choice(f"{where}: row", r["row"], (*ROWS, "other"))
        check_choice(f"{where}: model", r["model"], MODELS)
    return refs


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


def shard_units(runs: Sequence[tuple[int | None, int]], shard: tuple[int, int] | None
                ) -> list[tuple[int | None, int]]:
    """The test runs of shard ``(k, n)``: every n-th of ``runs`` from the k-th on."""
    if shard is None:
        return list(runs)
    k, n = shard
    return list(runs[k - 1::n])


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _canonical_dataset(name: str) -> str:
    from graphls.data import DATASETS

    lookup = {n.lower().replace("-", "_"): n for n in DATASETS}
    canonical = lookup.get(name.lower().replace("-", "_"))
    if canonical is None:
        raise ValueError(f"dataset {name!r} is unknown; known: {', '.join(DATASETS)}")
    return canonical


def _default_root() -> str | None:
    for env in ("GRAPHLS_DATA", "GRAPHLS_SHARED_DATASETS"):
        if os.environ.get(env):
            return os.environ[env]
    shared = REPO.parent / "shared" / "datasets"
    return str(shared) if shared.is_dir() else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Run the graphls benchmarks and regenerate RESULTS.md "
                    "(defaults from benchmarks/configs/benchmark.toml).")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: Cora public split, GCN, 1 seed, 3 trials, 10 epochs, "
                        "written to a temporary folder unless --out is given")
    p.add_argument("--datasets", help="comma-separated dataset names (default: all configured)")
    p.add_argument("--splits", help="only these split kinds (public, dense, fixed, official)")
    p.add_argument("--models", help="comma-separated: gcn,gat")
    p.add_argument("--rows", help="comma-separated rows: " + ",".join(ROWS))
    p.add_argument("--trials", type=int, help="trial budget of every tuned row (study-wide)")
    p.add_argument("--seeds", type=int,
                   help="test seeds (single split) or splits (dense/fixed), one seed each")
    p.add_argument("--epochs", type=int, help="epoch budget of every training run")
    p.add_argument("--noise", help="label-noise rates for Cora/CiteSeer, e.g. 0,0.2,0.4")
    p.add_argument("--sampler", help="Optuna sampler (tpe, gp, random, ...)")
    p.add_argument("--pruner", help="median, hyperband or none")
    p.add_argument("--seeds-per-trial", type=int, help="training seeds averaged per trial")
    p.add_argument("--batch-size", type=int,
                   help="trials each study claims and trains together (default from "
                        "benchmark.toml); test runs of a split train together; 1: every run "
                        "on its own with graphls.engine.fit")
    p.add_argument("--root", help="datasets folder (default $GRAPHLS_DATA, else "
                                  "../shared/datasets, else ~/.cache/graphls)")
    p.add_argument("--out", help="output folder (default: benchmarks/; --quick: a temp folder)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default 1, see benchmark.toml; 0: torch's default)")
    p.add_argument("--shard", metavar="K/N",
                   help="run only shard K of N of every block's test runs (its splits or "
                        "seeds dealt round-robin), kept as .partial lines; a run without "
                        "--shard then writes the block files from them")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    p.add_argument("--no-cache", action="store_true",
                   help="refit every run even if results/*.jsonl holds its result")
    p.add_argument("--report-only", action="store_true",
                   help="only rebuild RESULTS.md from <out>/results/*.jsonl")
    p.add_argument("--plan", action="store_true",
                   help="print the blocks, studies and training runs, then exit")
    return p


def parse_settings(argv: Sequence[str] | None = None,
                   config: Mapping[str, Any] | None = None) -> Settings:
    """Resolve the command line against ``configs/benchmark.toml``.

    Raises:
        ValueError: an unknown dataset, model, row or split, or a bad number.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    cfg = dict(config or load_config())
    d = dict(cfg["defaults"])
    quick = dict(cfg.get("quick", {})) if args.quick else {}
    configured = {_canonical_dataset(k): list(v) for k, v in cfg["datasets"].items()}

    if args.datasets:
        names = [_canonical_dataset(n) for n in _split_list(args.datasets)]
    else:
        names = [_canonical_dataset(n) for n in quick.get("datasets", configured)]
    from graphls.data import DATASETS

    datasets: dict[str, list[str]] = {}
    for name in names:
        splits = configured.get(name) or [DATASETS[name].splits[0]]
        datasets[name] = splits
    wanted_splits = (_split_list(args.splits) if args.splits else quick.get("splits"))
    if wanted_splits:
        for s in wanted_splits:
            check_choice("splits", s, ("public", "official", "dense", "fixed", "random"))
        datasets = {n: [s for s in sp if s in wanted_splits] or
                    [s for s in wanted_splits if s in DATASETS[n].splits][:1]
                    for n, sp in datasets.items()}
        datasets = {n: sp for n, sp in datasets.items() if sp}
        if not datasets:
            raise ValueError(f"splits {','.join(wanted_splits)} match none of the datasets "
                             f"{','.join(names)}")

    models = _split_list(args.models) if args.models else list(quick.get("models",
                                                                          d["models"]))
    for m in models:
        check_choice("models", m, MODELS)
    rows = _split_list(args.rows) if args.rows else list(d["rows"])
    for r in rows:
        check_choice("rows", r, ROWS)
    rows = [r for r in ROWS if r in rows]  # table order

    def pick(name: str, flag: Any) -> Any:
        return flag if flag is not None else quick.get(name, d[name])

    trials = check_positive_int("trials", pick("trials", args.trials))
    seeds = check_positive_int("seeds", pick("seeds", args.seeds))
    epochs = check_positive_int("epochs", pick("epochs", args.epochs))
    spt = check_positive_int("seeds_per_trial", pick("seeds_per_trial", args.seeds_per_trial))
    batch = args.batch_size if args.batch_size is not None else quick.get(
        "batch_size", d.get("batch_size", 1))
    batch = check_positive_int("batch_size", batch)
    if args.noise is not None:
        try:
            noise = [float(v) for v in _split_list(args.noise)]
        except ValueError:
            raise ValueError(f"noise must be comma-separated fractions like 0,0.2,0.4; "
                             f"got {args.noise!r}") from None
    else:
        noise = [float(v) for v in quick.get("noise", d["noise"])]
    noise = sorted({check_fraction("noise", v, high_open=True) for v in noise})
    sampler = pick("sampler", args.sampler)
    pruner = pick("pruner", args.pruner)
    from graphls.tuning import PRUNERS, SAMPLERS

    check_choice("sampler", sampler, SAMPLERS)
    check_choice("pruner", pruner, PRUNERS)
    threads = check_positive_int("threads", pick("threads", args.threads), minimum=0)
    shard = parse_shard(args.shard) if args.shard is not None else None

    if args.out:
        out = Path(args.out)
    elif args.quick:
        out = None  # a temporary folder, made when the run starts
    else:
        out = HERE
    ncfg = dict(cfg.get("noise", {}))
    noise_datasets = [_canonical_dataset(n) for n in ncfg.get("datasets", [])]
    from graphls.config import SELECT

    metric = {_canonical_dataset(k): check_choice(f"metric of {k}", v, SELECT)
              for k, v in cfg.get("metric", {}).items()}
    return Settings(
        datasets=datasets, models=models, rows=rows, trials=trials, seeds=seeds,
        epochs=epochs, noise=noise,
        noise_datasets=[n for n in noise_datasets if n in datasets],
        noise_split=ncfg.get("split", "public"),
        noise_rows=[r for r in ncfg.get("rows", ["plain", "ls", "joint"]) if r in rows],
        noise_split_wanted=not wanted_splits or ncfg.get("split", "public") in wanted_splits,
        sampler=sampler, pruner=pruner, seeds_per_trial=spt, batch_size=batch,
        root=args.root if args.root is not None else _default_root(), out=out,
        quick=args.quick, progress=not args.no_progress, cache=not args.no_cache,
        device=args.device, threads=threads or None, report_only=args.report_only,
        plan_only=args.plan, shard=shard,
        command=" ".join(["python", "benchmarks/run.py", *map(shlex.quote, argv)]),
        overrides={_canonical_dataset(k): v for k, v in cfg.get("overrides", {}).items()},
        figures=dict(cfg.get("figures", {})),
        metric=metric,
    )


# ---------------------------------------------------------------------------
# the plan
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One dataset × split × model × label-noise rate, and the rows it runs."""

    dataset: str
    split: str
    model: str
    noise: float
    rows: tuple[str, ...]
    #: validation metric: tuning objective and epoch selection (``TrainConfig.select``)
    metric: str = "accuracy"

    @property
    def name(self) -> str:
        tag = f"{self.dataset}-{self.split}-{self.model}"
        return tag + (f"-noise{round(100 * self.noise)}" if self.noise else "")

    @property
    def title(self) -> str:
        return f"{self.dataset} ({split_name(self.split)}), {self.model.upper()}"


def split_name(split: str) -> str:
    return {"public": "public split", "official": "OGB official split",
            "dense": "60/20/20 random splits", "fixed": "10 fixed splits shipped with the data",
            "random": "random per-class splits"}.get(split, split)


def units(block: Block, seeds: int) -> list[tuple[int | None, int]]:
    """``(split id, training seed)`` of every test run: seeds on one split, or one per split."""
    from graphls.data import DATASETS
    from graphls.tuning import REPORT_SEED_BASE

    if block.split in MULTI_SPLIT:
        n = seeds
        if block.split == "fixed":
            n = min(seeds, DATASETS[block.dataset].num_fixed_splits)
        return [(k, REPORT_SEED_BASE + k) for k in range(n)]
    return [(None, REPORT_SEED_BASE + s) for s in range(seeds)]


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
                blocks.append(Block(name, split, model, 0.0, tuple(settings.rows), metric))
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


# ---------------------------------------------------------------------------
# provenance
# ---------------------------------------------------------------------------

def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def environment() -> dict[str, Any]:
    """Versions, git SHA and machine, recorded with every result line."""
    import optuna
    import torch
    import torch_geometric

    import graphls

    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "versions": {"graphls": graphls.__version__, "torch": torch.__version__,
                     "torch_geometric": torch_geometric.__version__,
                     "optuna": optuna.__version__, "python": platform.python_version()},
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": bool(dirty) if dirty is not None else None,
        "machine": {"platform": platform.platform(), "processor": platform.processor()
                    or platform.machine(), "nproc": os.cpu_count(),
                    "torch_threads": torch.get_num_threads()},
    }


# ---------------------------------------------------------------------------
# fitting (with the result cache)
# ---------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one ``fit`` left for the tables (from a fresh fit or a result line)."""

    key: str
    metrics: dict[str, dict[str, float]]
    calibrated: dict[str, dict[str, float]]
    temperature: float
    best_epoch: int
    epochs_run: int
    structural_values: list[float]
    wall_time: float
    provenance: dict[str, Any]
    reused: bool = False
    probs: Any = None  # {"probs", "probs_ts", "y"} of the test nodes, for figures


def fit_key(block: Block, split_id: int | None, config: Any) -> str:
    """A hash of everything that decides one fit's numbers."""
    cfg = {k: v for k, v in config.to_dict().items() if k != "device"}
    if cfg.get("select") == "accuracy":  # the default: keys from before the field stay valid
        del cfg["select"]
    blob = json.dumps({"dataset": block.dataset, "split": block.split, "split_id": split_id,
                       "config": cfg}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


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
        self.env = environment()
        old = read_records(self.results, partial=True) if settings.cache else {}
        self.cache: dict[str, dict[str, Any]] = {r["fit_key"]: r for r in old.values()
                                                 if "fit_key" in r}
        self.studies: dict[tuple[str, str], Any] = {}
        self.probs: dict[tuple[str, str], list[Any]] = {}
        self.fits = 0
        self.fit_seconds = 0.0
        self._data: dict[tuple[str, str, int | None], Any] = {}

    # -- data -------------------------------------------------------------
    def data(self, block: Block, split_id: int | None) -> Any:
        from graphls.data import load_dataset

        key = (block.dataset, block.split, split_id)
        if key not in self._data:
            if len(self._data) > 1:  # the tuning split and the current one
                self._data.clear()
            kwargs: dict[str, Any] = {}
            if block.split == "dense":
                kwargs["seed"] = split_id or 0
            elif block.split == "fixed":
                kwargs["split_index"] = split_id or 0
            self._data[key] = load_dataset(block.dataset, root=self.s.root, split=block.split,
                                           **kwargs)
        return self._data[key]

    def base_config(self, block: Block) -> Any:
        from graphls.config import TrainConfig

        extra = dict(self.s.overrides.get(block.dataset, {}).get(block.model, {}))
        return TrainConfig.for_model(block.model, **extra).replace(
            epochs=self.s.epochs, label_noise=block.noise, device=self.s.device,
            select=block.metric)

    # -- fitting ----------------------------------------------------------
    def cached(self, block: Block, split_id: int | None, config: Any, want_probs: bool
               ) -> Outcome | None:
        """The run's outcome from a result line (and its probs file if wanted), else None."""
        import torch

        key = fit_key(block, split_id, config)
        probs_file = self.results / "probs" / f"{key}.pt"
        old = self.cache.get(key)
        if old is None or (want_probs and not probs_file.is_file()):
            return None
        probs = torch.load(probs_file) if want_probs else None
        return Outcome(key, old["raw"], old["calibrated"], old["temperature"],
                       old["best_epoch"], old["epochs_run"], old["structural_values"],
                       old["wall_time"], {k: old[k] for k in _PROVENANCE if k in old},
                       reused=True, probs=probs)

    def outcome(self, block: Block, split_id: int | None, config: Any, r: Any,
                want_probs: bool) -> Outcome:
        """A fresh ``TrainResult`` as an outcome; writes the probs file if wanted."""
        import torch

        key = fit_key(block, split_id, config)
        self.fits += 1
        self.fit_seconds += r.wall_time
        probs = None
        if want_probs:
            data = self.data(block, split_id)
            test = data.test_mask
            logits = r.logits[test].double()
            probs = {"probs": torch.softmax(logits, -1),
                     "probs_ts": torch.softmax(logits / r.temperature, -1),
                     "y": data.y.view(-1)[test]}
            probs_file = self.results / "probs" / f"{key}.pt"
            probs_file.parent.mkdir(exist_ok=True)
            torch.save(probs, probs_file)
        prov = {**self.env, "command": self.s.command, "quick": self.s.quick,
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        return Outcome(key, r.metrics, r.calibrated, r.temperature, r.best_epoch, r.epochs_run,
                       r.structural, r.wall_time, prov, probs=probs)

    def fit_split(self, block: Block, split_id: int | None,
                  jobs: Sequence[tuple[Any, bool]],
                  on_done: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
        """The runs ``jobs`` (config, want probs) on one split, in order.

        Cached runs are reused; the others are trained together by
        ``graphls.engine.fit_many(group=True)`` (each result is ``fit``'s for the same
        seed, within float tolerance), in chunks of at most
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

        first: dict[str, int] = {}  # fit key -> the job that trains it
        sharers: dict[int, list[int]] = {}  # training job -> the jobs it serves (itself too)
        for i, (config, want) in enumerate(jobs):
            o = self.cached(block, split_id, config, want)
            if o is not None:
                done(i, o)
            else:
                k = first.setdefault(fit_key(block, split_id, config), i)
                sharers.setdefault(k, []).append(i)
        todo = list(first.values())
        if todo:
            data = self.data(block, split_id)
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
                    o = self.outcome(block, split_id, jobs[i][0], r, want)
                    for j in sharers[i]:
                        done(j, o)
        return out  # type: ignore[return-value]

    # -- tuning -----------------------------------------------------------
    def study_name(self, block: Block, row: str) -> str:
        name = f"bench-{block.dataset.lower()}-{block.split}-{block.model}-{row}-e{self.s.epochs}"
        if block.noise:
            name += f"-noise{round(100 * block.noise)}"
        if self.s.seeds_per_trial != 1:
            name += f"-k{self.s.seeds_per_trial}"
        if block.metric == "roc_auc":
            name += "-auc"
        return name

    def trial_batch(self, data: Any, base: Any) -> int:
        """Trials a study trains together: ``batch_size``, within the memory cap.

        A batch holds ``batch_size × seeds_per_trial`` members; like the test runs it is
        capped by ``graphls.engine.default_seed_batch`` (large graphs: fewer trials).
        """
        from graphls.engine import default_seed_batch

        want, spt = self.s.batch_size, self.s.seeds_per_trial
        if want == 1:
            return 1
        return max(1, min(want, default_seed_batch(data, base, want * spt) // spt))

    def tune(self, block: Block, row: str, base: Any, *, wait: bool = True
             ) -> tuple[Any, dict[str, Any]] | None:
        """Run (or top up) the row's study on split 0's validation nodes; return best params.

        ``wait=False`` is a first pass over a block's studies: it trains the trials still
        free and returns ``None`` instead of waiting for trials another process holds.
        """
        from optuna.trial import TrialState

        from graphls.tuning import StudySettings, run_study, select_best_trial

        spec = TUNED[row]
        objective = row_objective(spec, block)
        split_id = 0 if block.split in MULTI_SPLIT else None
        data = self.data(block, split_id)
        batch = self.trial_batch(data, base)
        name = self.study_name(block, row)
        archive = archive_path(self.results, name)
        restore_study(self.s.storage, name, archive)
        settings = StudySettings(
            dataset=block.dataset, data=data, split=block.split, split_index=split_id or 0,
            model=block.model, space="joint",
            space_file=CONFIGS / "searchspace" / spec.space_file, prior=spec.prior,
            objective=objective, epochs=self.s.epochs, config=base,
            seeds_per_trial=self.s.seeds_per_trial, sampler=self.s.sampler,
            pruner=self.s.pruner, seed=0, batch_size=batch, storage=self.s.storage,
            study_name=name)
        study = run_study(settings, n_trials=None, total_trials=self.s.trials,
                          callbacks=[_Archiver(archive)], wait=wait, progress=self.s.progress)
        if not wait:  # the callback archived every trial it added
            return None
        export_study(study, archive)  # also when no trial was added (a restored study)
        self.studies[(block.name, row)] = study
        best = select_best_trial(study)
        trials = study.get_trials(deepcopy=False)
        counts = Counter(t.state for t in trials)
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        info = {
            "name": study.study_name, "storage": "results/studies.db",
            "archive": str(archive.relative_to(self.s.out)),
            "objective": objective, "space_file": f"configs/searchspace/{spec.space_file}",
            "prior": spec.prior, "budget": self.s.trials,
            "complete": counts[TrialState.COMPLETE], "pruned": counts[TrialState.PRUNED],
            "sampler": self.s.sampler,
            "pruner": "none" if spec.objective == "multi" else self.s.pruner,
            "seeds_per_trial": self.s.seeds_per_trial, "batch_size": batch,
            "tuned_on": (f"validation nodes of split 0 ({block.split})"
                         if split_id is not None else f"validation nodes ({block.split})"),
            "best_trial": best.number, "best_values": list(best.values),
            "tuning_seconds": busy_seconds(finished),
        }
        return best.params, info

    # -- a block ----------------------------------------------------------
    def run_block(self, block: Block, figure_block: bool) -> list[dict[str, Any]]:
        base = self.base_config(block)
        runs = shard_units(units(block, self.s.seeds), self.s.shard)
        records: list[dict[str, Any]] = []
        todo: list[tuple[str, Any, dict[str, Any] | None, dict[str, Any]]] = []
        if "plain" in block.rows or "ts" in block.rows:
            todo.append(("plain", base, None, {}))
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
                        records.append(self.record(block, name, split_id, seed, config, o,
                                                   info, params))
                        # kept for the cache if the run stops before the block's file is written
                        append_partial(self.results, block, records[-1])
                if bar is not None:
                    bar.update(1)

            outcomes = self.fit_split(block, split_id, [(config.replace(seed=seed), want)
                                                        for seed, _, config, _, _, want in jobs],
                                      keep)
            for (_, row, _, _, _, want), o in zip(jobs, outcomes, strict=True):
                if want:  # in job order, as the reliability figure pools them
                    self.probs.setdefault((block.name, row), []).append(o.probs)
        if bar is not None:
            bar.close()
        return sorted(records, key=lambda r: (list(ROWS).index(r["row"]), r["seed"]))

    def record(self, block: Block, row: str, split_id: int | None, seed: int, config: Any,
               o: Outcome, study: dict[str, Any] | None, params: dict[str, Any]
               ) -> dict[str, Any]:
        reported = o.calibrated if row == "ts" else o.metrics
        cfg = config.replace(seed=seed)
        return {
            "schema": SCHEMA,
            "dataset": block.dataset, "split": block.split,
            "split_id": split_id, "model": block.model, "noise": block.noise,
            "row": row, "label": ROWS[row], "seed": seed,
            "epsilon": cfg.epsilon, "structural": cfg.structural, "prior": cfg.prior,
            "prior_weight": cfg.prior_weight if cfg.prior != "uniform" else None,
            "params": params,
            "test": reported["test"], "val": reported["val"],
            "raw": o.metrics, "calibrated": o.calibrated, "temperature": o.temperature,
            "best_epoch": o.best_epoch, "epochs_run": o.epochs_run,
            "structural_values": o.structural_values,
            "trials": self.s.trials if row in TUNED else 0, "epochs": self.s.epochs,
            "seeds": len(units(block, self.s.seeds)), "study": study,
            "config": cfg.to_dict(), "fit_key": o.key, "wall_time": o.wall_time,
            "reused": o.reused, **o.provenance,
        }


def busy_seconds(trials: Iterable[Any]) -> float:
    """Seconds during which at least one of ``trials`` ran (the union of their intervals).

    A batch's trials all start before and finish after its one training pass, so the sum
    of their durations would count that pass once per trial; one at a time, the two agree.
    """
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials
                   if t.datetime_start is not None and t.datetime_complete is not None)
    total, end = 0.0, None
    for lo, hi in spans:
        if end is None or lo > end:
            total += (hi - lo).total_seconds()
            end = hi
        elif hi > end:
            total += (hi - end).total_seconds()
            end = hi
    return total


_PROVENANCE = ("versions", "git_sha", "git_dirty", "machine", "command", "quick", "timestamp")


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


def read_records(results: Path, partial: bool = False) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every result line under ``results`` (``*.jsonl``), keyed by (block, row, seed).

    ``partial`` also reads the ``*.jsonl.partial`` lines of blocks a stopped run left
    unfinished (for the result cache; RESULTS.md never shows them). Lines of other
    writers in the same folder (``speed.py``'s ``speed.jsonl``) have no ``schema`` and
    are skipped.
    """
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    paths = sorted(results.glob("*.jsonl"))
    if partial:
        paths += sorted(results.glob("*.jsonl.partial"))
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("schema") != SCHEMA:
                continue
            out[(r["dataset"], r["split"], r["model"], r["noise"], r["row"], r["seed"])] = r
    return out


def _file_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _unflagged(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``records`` as their JSON lines read back, without the ``reused`` flag (which says
    only where a line came from)."""
    return [{k: v for k, v in json.loads(json.dumps(r, sort_keys=True)).items()
             if k != "reused"} for r in records]


def _replace_lines(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write ``records`` as JSON lines to ``path`` through a temporary file (a stop midway
    leaves the old file whole)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two writers never share one
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records),
                   encoding="utf-8")
    tmp.replace(path)


def _block_lock(results: Path, block: Block) -> AbstractContextManager[None]:
    """The lock every writer of ``block``'s files holds: two processes may run disjoint
    rows of one block (``--rows``), and each rewrites the block's file and its
    ``.partial`` lines, keeping the other's."""
    return file_lock(results / f"{block.name}.jsonl.lock")


def append_partial(results: Path, block: Block, record: Mapping[str, Any]) -> None:
    """Append one finished run to ``<block>.jsonl.partial`` (read by the cache)."""
    with _block_lock(results, block), \
            open(results / f"{block.name}.jsonl.partial", "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def write_records(results: Path, block: Block, records: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``<block>.jsonl``: this run's lines, plus the old lines of rows it did not run.

    The ``.partial`` lines of this run's rows go (the file now holds them); those of other
    rows, which another process may still be running, stay. Both files change under the
    block's lock, so two processes on disjoint rows cannot drop each other's lines.
    """
    path = results / f"{block.name}.jsonl"
    with _block_lock(results, block):
        old = _file_records(path) if path.is_file() else None
        kept = [r for r in old or () if r["row"] not in block.rows]
        ordered = sorted([*kept, *records],
                         key=lambda r: (list(ROWS).index(r["row"]), r["seed"]))
        if old is None or _unflagged(old) != _unflagged(ordered):
            _replace_lines(path, ordered)
        # else every line came back from the cache: leave the file (and git) as it was
        # rather than rewrite it with ``"reused": true`` on every line
        partial = path.with_suffix(".jsonl.partial")
        others = [r for r in _file_records(partial) if r["row"] not in block.rows] \
            if partial.is_file() else []
        if others:
            _replace_lines(partial, others)
        else:
            partial.unlink(missing_ok=True)
    return path


# ---------------------------------------------------------------------------
# study archives: the studies, as text that travels with the results
# ---------------------------------------------------------------------------

#: Trial states an archive keeps: the finished ones (a running trial's claim dies with its
#: process; the resumed study claims its slot again).
ARCHIVED = ("COMPLETE", "PRUNED", "FAIL")


def _archived_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return tuple(TrialState[name] for name in ARCHIVED)


def archive_path(results: Path, study_name: str) -> Path:
    return results / "studies" / f"{study_name}.jsonl"


def export_study(study: Any, path: Path) -> int:
    """Write ``study``'s finished trials to ``path``; return how many.

    JSON lines: a head line (name, directions, user attributes), then one line per
    COMPLETE, PRUNED or FAIL trial in number order, with its values, parameters and their
    distributions, learning curve (intermediate values), attributes and timestamps: all
    that the sampler, the pruner, ``select_best_trial`` and the tuning-time sums read. The
    file is replaced whole through a temporary file, so a stop midway leaves the old one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Under the archive's lock, snapshot and file go together: of two processes on one
    # study, the later writer holds the later snapshot, so no finished trial drops out.
    with file_lock(path.with_name(path.name + ".lock")):
        return _export(study, path)


def _export(study: Any, path: Path) -> int:
    from optuna.distributions import distribution_to_json

    def when(t: datetime | None) -> str | None:
        # Optuna keeps naive local times; the archive says which instant, in UTC
        return None if t is None else t.astimezone(timezone.utc).isoformat()

    head = {"study": study.study_name,
            "directions": [d.name.lower() for d in study.directions],
            "user_attrs": study.user_attrs}
    trials = [{"number": t.number, "state": t.state.name, "values": t.values,
               "params": t.params,
               "distributions": {k: json.loads(distribution_to_json(d))
                                 for k, d in t.distributions.items()},
               "intermediate_values": {str(k): v for k, v in t.intermediate_values.items()},
               "user_attrs": t.user_attrs, "system_attrs": t.system_attrs,
               "datetime_start": when(t.datetime_start),
               "datetime_complete": when(t.datetime_complete)}
              for t in study.get_trials(deepcopy=False) if t.state.name in ARCHIVED]
    _replace_lines(path, [head, *trials])
    return len(trials)


def restore_study(storage: str, study_name: str, path: Path) -> int:
    """Recreate ``study_name`` in ``storage`` from its archive ``path`` if the storage lacks
    it (a fresh checkout, another machine); return the trials restored (0: nothing to do).

    Trials keep their order, values, curves, attributes and timestamps (numbers close up
    over trials that were running when the archive was written). Runs under a lock beside
    the archive, so two processes starting on one block restore it once.

    Raises:
        ValueError: the archive is not one of ``study_name`` or cannot be read, or the
            storage holds the study with fewer finished trials than the archive (a stale
            copy: resuming it would overwrite the archive with less).
    """
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.trial import FrozenTrial, TrialState

    from graphls.tuning import open_storage

    if not path.is_file():
        return 0
    with file_lock(path.with_name(path.name + ".lock")):
        handle = open_storage(storage, heartbeat_interval=None)
        if study_name in optuna.get_all_study_names(storage=handle.storage):
            have = len(optuna.load_study(study_name=study_name, storage=handle.storage)
                       .get_trials(deepcopy=False, states=_archived_states()))
            kept = sum(1 for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()) - 1
            if kept > have:  # the next export would drop trials that ran elsewhere
                raise ValueError(
                    f"study {study_name!r} has {have} finished trials in {storage} but "
                    f"{kept} in its archive {path}; delete the stale copy (optuna "
                    f"delete-study --study-name {study_name} --storage {storage}) to restore "
                    "it from the archive")
            return 0
        try:
            head, *lines = _file_records(path)
            if head.get("study") != study_name:
                raise ValueError(f"it holds study {head.get('study')!r}")
            trials = [FrozenTrial(
                number=i, state=TrialState[t["state"]], value=None, values=t["values"],
                datetime_start=_parse_time(t["datetime_start"]),
                datetime_complete=_parse_time(t["datetime_complete"]), params=t["params"],
                distributions={k: json_to_distribution(json.dumps(d))
                               for k, d in t["distributions"].items()},
                user_attrs=t["user_attrs"], system_attrs=t["system_attrs"],
                intermediate_values={int(k): v for k, v in t["intermediate_values"].items()},
                trial_id=i) for i, t in enumerate(lines)]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"study archive {path}: cannot restore {study_name!r}: "
                             f"{exc}") from None
        study = optuna.create_study(storage=handle.storage, study_name=study_name,
                                    directions=head["directions"])
        # "dataset" last, as graphls.tuning writes them: a study with it has all of them
        attrs = head["user_attrs"]
        for key in [*(k for k in attrs if k != "dataset"), *(["dataset"] if "dataset" in attrs
                                                            else [])]:
            study.set_user_attr(key, attrs[key])
        study.add_trials(trials)
        return len(trials)


def _parse_time(text: str | None) -> datetime | None:
    """An archive's timestamp as Optuna keeps it: naive local time. Archives written before
    timestamps carried their UTC offset hold naive local times already."""
    if text is None:
        return None
    t = datetime.fromisoformat(text)
    return t if t.tzinfo is None else t.astimezone().replace(tzinfo=None)


class _Archiver:
    """A ``run_study`` callback: rewrites the study's archive after every finished trial,
    so that a stopped run loses at most the trials it was training."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, study: Any, trial: Any) -> None:
        export_study(study, self.path)


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------

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


def draw_figures(runner: Runner, chosen: Mapping[str, Block]) -> dict[str, str]:
    """Write the figures of this run into ``<out>/figures``; return ``{file: caption}``."""
    import torch
    from optuna.trial import TrialState

    from graphls import report

    fig_dir = runner.s.out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, str] = {}
    for kind in ("landscape_homophilic", "landscape_heterophilic"):
        block = chosen.get(kind)
        study = runner.studies.get((block.name, "joint")) if block else None
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
    if block is not None and (block.name, "plain") in runner.probs \
            and (block.name, "joint") in runner.probs:
        plain = runner.probs[(block.name, "plain")]
        joint = runner.probs[(block.name, "joint")]
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


# ---------------------------------------------------------------------------
# RESULTS.md
# ---------------------------------------------------------------------------

def _stats(values: Sequence[float]) -> tuple[float, float, int]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std, n


def _cell(values: Sequence[float], scale: float) -> str:
    mean, std, _ = _stats(values)
    digits = 2 if scale == 100 else 4
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, (list, tuple)):
        return ",".join(_fmt(x) for x in v)
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _group(records: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, ...], dict[str, list]]:
    groups: dict[tuple[Any, ...], dict[str, list]] = {}
    for r in records:
        key = (r["dataset"], r["split"], r["model"], float(r["noise"]))
        groups.setdefault(key, {}).setdefault(r["row"], []).append(r)
    for rows in groups.values():
        for rs in rows.values():
            rs.sort(key=lambda r: r["seed"])
    return groups


def _order(settings: Settings, key: tuple[Any, ...]) -> tuple[Any, ...]:
    # benchmark.toml's order, whichever subset this command ran (RESULTS.md must not
    # reorder with the command that rebuilt it); datasets it lacks follow in run order
    names = [*_configured_names(), *settings.datasets]
    ds, split, model, noise = key
    return (names.index(ds) if ds in names else len(names), ds,
            ["public", "official", "dense", "fixed", "random"].index(split)
            if split in ("public", "official", "dense", "fixed", "random") else 9,
            MODELS.index(model) if model in MODELS else 9, noise)


@functools.lru_cache(maxsize=1)
def _configured_names() -> tuple[str, ...]:
    return tuple(load_config()["datasets"])


def _references_for(refs: Sequence[Mapping[str, Any]], dataset: str, split: str, model: str
                    ) -> list[Mapping[str, Any]]:
    plain_splits = ("public", "official", "dense", "fixed")
    return [r for r in refs if r["dataset"] == dataset and r["model"] == model
            and (r["split"] == split or r["split"] not in plain_splits)]


def _ref_text(r: Mapping[str, Any]) -> str:
    return f"{REF_METRICS[r['metric']]} {r['value']} ({split_name(r['split'])}; {r['source']})"


def _block_table(key: tuple[Any, ...], rows: Mapping[str, list], refs: Sequence[Mapping]
                 ) -> list[str]:
    ds, split, model, _noise = key
    any_row = next(iter(rows.values()))
    first = any_row[0]
    seeds = [r["seed"] for r in any_row]
    tuned = [rs[0] for name, rs in rows.items() if name in TUNED]
    commands = sorted({r.get("command", "?") for rs in rows.values() for r in rs})
    if split in MULTI_SPLIT:
        ids = sorted({r["split_id"] for r in any_row})
        over = (f"{len(ids)} splits ({'split seeds' if split == 'dense' else 'split indices'} "
                f"{ids[0]}–{ids[-1]}), one training seed each")
        tuned_on = "split 0's validation nodes"
    else:
        over = (f"{len(seeds)} training seeds ({seeds[0]}–{seeds[-1]}, unseen by the search)"
                if len(seeds) > 1 else f"1 training seed ({seeds[0]}, unseen by the search)")
        tuned_on = "the validation nodes"
    lines = [f"### {ds} ({split_name(split)}), {model.upper()}", ""]
    if any(r.get("quick") for rs in rows.values() for r in rs):
        lines += ["**Quick mode (smoke test): too few seeds, trials and epochs to mean "
                  "anything.**", ""]
    batch = tuned[0]["study"].get("batch_size", 1) if tuned else 1
    budget = (f"{tuned[0]['study']['budget']} trials per tuned row "
              f"({tuned[0]['study']['sampler']} sampler, {tuned[0]['study']['pruner']} pruner "
              f"except multi{f', claimed {batch} at a time' if batch > 1 else ''}), "
              f"tuned on {tuned_on}") if tuned else "no tuned row"
    # ROC AUC (binary: class 1; else macro one-vs-rest) is in the lines written since it
    # was added to graphls' metrics; older blocks keep their table without the column
    auc = any("roc_auc" in r["test"] for rs in rows.values() for r in rs)
    by = ""
    if any(line_metric(r) == "roc_auc" for rs in rows.values() for r in rs):
        by = (" Tuned and selected on **validation ROC AUC**: the tuned rows maximise it "
              "(multi: validation ROC AUC ↑, ECE ↓, the pick within 0.5 points of the best "
              "ROC AUC) and every row keeps the epoch with the best validation ROC AUC.")
    lines += [
        f"Test mean ± std over {over}; {first['epochs']} epochs; budget: {budget}.{by}",
        "Command: " + "; ".join(f"`{c}`" for c in commands), "",
        "| row | ε | λ | prior w | accuracy (%) | ECE (%) | NLL | Brier | ECE after TS (%) "
        + ("| ROC AUC (%) " if auc else "") + "| trials | published |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if auc else "") + "---|---|",
    ]
    block_refs = _references_for(refs, ds, split, model)
    for row in ROWS:
        rs = rows.get(row)
        if not rs:
            continue
        r0 = rs[0]
        test = {m: [r["test"][m] for r in rs] for m in METRICS}
        ece_ts = [r["calibrated"]["test"]["ece"] for r in rs]
        trials = "—"
        if r0.get("study"):
            st = r0["study"]
            trials = f"{st['complete'] + st['pruned']}"
            if st["pruned"]:
                trials += f" ({st['pruned']} pruned)"
        pub = "; ".join(_ref_text(r) for r in block_refs if r["row"] == row) or ""
        lines.append(
            f"| {ROWS[row]} | {_fmt(r0['epsilon'])} | {_fmt(r0['structural'])} | "
            f"{_fmt(r0['prior_weight'])} | {_cell(test['accuracy'], 100)} | "
            f"{_cell(test['ece'], 100)} | {_cell(test['nll'], 1)} | {_cell(test['brier'], 1)} "
            f"| {_cell(ece_ts, 100)} | " + (f"{_auc_cell(rs)} | " if auc else "")
            + f"{trials} | {pub} |")
    for r in block_refs:
        if r["row"] == "other":
            lines.append(f"| published: {r.get('method', r['source'])} | | | | {r['value']} "
                         f"| | | | | {'| ' if auc else ''}| {_ref_text(r)} |")
    lines.append("")
    return lines


def _auc_cell(rs: Sequence[Mapping[str, Any]]) -> str:
    values = [r["test"].get("roc_auc") for r in rs]
    if any(v is None for v in values):
        return "—"  # some lines predate the metric
    return _cell(values, 100)


def _noise_tables(groups: Mapping[tuple[Any, ...], Mapping[str, list]], settings: Settings
                  ) -> list[str]:
    pairs = sorted({(k[0], k[1], k[2]) for k in groups if k[3] > 0},
                   key=lambda p: _order(settings, (*p, 0.0)))
    if not pairs:
        return ["No label-noise block has run yet.", ""]
    lines: list[str] = []
    for ds, split, model in pairs:
        rates = sorted({k[3] for k in groups if k[:3] == (ds, split, model)})
        lines += [f"### {ds} ({split_name(split)}), {model.upper()}: symmetric training-label "
                  "noise", "",
                  "Test accuracy (%) / ECE (%), mean ± std; tuned rows re-tuned at every "
                  "noise rate on clean validation labels.", "",
                  "| row | " + " | ".join(f"{round(100 * p)} % noise" for p in rates) + " |",
                  "|---|" + "---:|" * len(rates)]
        for row in ("plain", "ls", "joint"):
            cells = []
            for p in rates:
                rs = groups.get((ds, split, model, p), {}).get(row)
                if not rs:
                    cells.append("—")
                    continue
                acc = _cell([r["test"]["accuracy"] for r in rs], 100)
                ece = _cell([r["test"]["ece"] for r in rs], 100)
                cells.append(f"{acc} / {ece}")
            lines.append(f"| {ROWS[row]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


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
)


#: Smallest difference a verdict counts (0.1 points of accuracy, ECE or ROC AUC). Below it a
#: difference is a tie whatever its error bars: rows whose seeds all give the same
#: predictions have std 0, and a one-node difference would otherwise be a "win".
MIN_EFFECT = 0.001


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
    ma, sa, na = _stats(a)
    mb, sb, nb = _stats(b)
    d = ma - mb
    se = math.sqrt(sa**2 / na + sb**2 / nb)
    signed = d if higher else -d
    # se >= 0, so beyond 2·se is strictly positive; the slack keeps a difference of
    # exactly min_effect (0.851 - 0.850 in float) from a tie
    floor = min_effect - 1e-12
    if abs(signed) > 2 * se and abs(signed) >= floor:
        return ("win" if signed > 0 else "loss"), d
    return "tie", d


def _closing_note(groups: Mapping[tuple[Any, ...], Mapping[str, list]], settings: Settings
                  ) -> list[str]:
    lines = ["Rule: a row *wins* against another when its mean is better by more than two "
             "standard errors of the difference (√(s₁²/n₁ + s₂²/n₂)) and by at least "
             f"{100 * MIN_EFFECT:g} points, *loses* when worse by as much, and *ties* "
             "otherwise. Test numbers; accuracy, ECE and ROC AUC in "
             "points.",
             ""]
    details: list[str] = []
    table = ["| comparison (noise-free blocks) | wins | ties | losses |", "|---|---:|---:|---:|"]
    for row, base, metric, higher in VERDICTS:
        out: dict[str, list[str]] = {"win": [], "tie": [], "loss": []}
        for key in sorted(groups, key=lambda k: _order(settings, k)):
            if key[3] != 0:
                continue
            rows = groups[key]
            if row not in rows or base not in rows or any(
                    metric not in r["test"] for r in (*rows[row], *rows[base])):
                continue
            a = [r["test"][metric] for r in rows[row]]
            b = [r["test"][metric] for r in rows[base]]
            v, d = verdict(a, b, higher)
            out[v].append(f"{key[0]} {key[1]} {key[2].upper()} ({100 * d:+.2f})")
        if not any(out.values()):
            continue
        name = {"accuracy": "accuracy", "ece": "ECE", "roc_auc": "ROC AUC"}[metric]
        what = f"{ROWS[row]} vs {ROWS[base]}, test {name}"
        table.append(f"| {what} | {len(out['win'])} | {len(out['tie'])} | "
                     f"{len(out['loss'])} |")
        details.append(f"- **{what}**: wins on {len(out['win'])}, ties on {len(out['tie'])}, "
                       f"loses on {len(out['loss'])}.")
        for v, plural in (("win", "wins"), ("tie", "ties"), ("loss", "losses")):
            if out[v]:
                details.append(f"  - {plural}: " + "; ".join(out[v]))
    if details:
        lines += [*table, "", *details]
    for key, rows in sorted(groups.items(), key=lambda kv: _order(settings, kv[0])):
        if key[3] == 0 and rows.get("joint") and rows["joint"][0]["split"] in MULTI_SPLIT:
            lines += ["", "Splits with several versions are tuned on split 0 only; on the "
                      "other splits some of split 0's validation nodes are test nodes, a "
                      "small optimistic bias of the tuned rows against plain and plain + TS."]
            break
    lines.append("")
    return lines


def _environment_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, int] = {}
    for r in records:
        v = r.get("versions", {})
        m = r.get("machine", {})
        text = (f"graphls {v.get('graphls')}, torch {v.get('torch')}, PyG "
                f"{v.get('torch_geometric')}, Optuna {v.get('optuna')}, Python {v.get('python')}"
                f"; git {str(r.get('git_sha'))[:10]}{' (dirty)' if r.get('git_dirty') else ''}; "
                f"{m.get('platform')}, {m.get('nproc')} CPUs ({m.get('torch_threads')} torch "
                "threads)")
        seen[text] = seen.get(text, 0) + 1
    return [f"- {t} — {n} result lines" for t, n in seen.items()] + [""]


def line_metric(record: Mapping[str, Any]) -> str:
    """The validation metric a result line was tuned and selected on (older lines: accuracy)."""
    return str(record.get("config", {}).get("select", "accuracy"))


def missing_blocks(groups: Mapping[tuple[Any, ...], Mapping[str, Any]],
                   expected: Sequence[Block]) -> list[str]:
    """One note per block of ``expected`` with rows that have no result line yet."""
    notes = []
    for b in expected:
        have = groups.get((b.dataset, b.split, b.model, float(b.noise)), {})
        absent = [r for r in b.rows if r not in have]
        # rows run with another validation metric than the block's are out of date
        stale = [r for r in b.rows if r in have
                 and any(line_metric(x) != b.metric for x in have[r])]
        if not absent and not stale:
            continue
        if stale:
            old = sorted({line_metric(x) for r in stale for x in have[r]} - {b.metric})
            who = "run" if len(stale) == len(b.rows) else f"rows {', '.join(stale)} were"
            what = (f"{who} tuned and "
                    f"selected on validation {', '.join(METRIC_LABELS[m] for m in old)}; the "
                    f"benchmark uses {METRIC_LABELS[b.metric]} for {b.dataset} now")
            if absent:
                what += f"; rows {', '.join(absent)} not run yet"
            absent = [r for r in b.rows if r in absent or r in stale]
        else:
            what = "not run yet" if len(absent) == len(b.rows) else (
                f"rows {', '.join(absent)} not run yet")
        noise = f", {round(100 * b.noise)} % label noise" if b.noise else ""
        flags = f"--models {b.model} --datasets {b.dataset} --splits {b.split}"
        if len(absent) < len(b.rows):
            flags += f" --rows {','.join(absent)}"
        notes.append(f"{b.title}{noise}: {what} (`python benchmarks/run.py {flags}`)")
    return notes


def render(settings: Settings, skipped: Sequence[str] = (),
           expected: Sequence[Block] = ()) -> str:
    """The generated section of RESULTS.md, from every ``results/*.jsonl`` line.

    ``skipped`` notes the datasets whose files are missing; every block of ``expected``
    (the full benchmark's plan) that has rows without result lines is listed under
    "Not run here" too, so a table never silently lacks a block.
    """
    records = list(read_records(settings.out / "results").values())
    refs = load_references()
    groups = _group(records)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [RESULTS_START,
             f"<!-- generated by benchmarks/run.py from results/*.jsonl on {stamp}; "
             "do not edit by hand: rerun the command -->", "",
             "## Results", "",
             "Rows: plain = PyG's GCN/GAT with PyG's example settings (ε = 0, λ = 1); "
             "plain + TS = the same runs after temperature scaling fitted on validation; "
             "tuned rows search with Optuna on validation only, one study per row with the "
             "same trial budget, then retrain the chosen configuration on fresh seeds. "
             "ECE uses 15 equal-width confidence bins; NLL and Brier are per node; "
             "\"ECE after TS\" re-scales each row's own logits. The multi-objective pick is "
             "the lowest-ECE Pareto trial within 0.5 points of the best validation accuracy.",
             ""]
    if not records:
        lines += ["No results yet: run `python benchmarks/run.py`.", ""]
    main_keys = sorted((k for k in groups if k[3] == 0), key=lambda k: _order(settings, k))
    for key in main_keys:
        lines += _block_table(key, groups[key], refs)
    lines += ["## Label noise", "", *_noise_tables(groups, settings)]
    fig_dir = settings.out / "figures"
    index_file = fig_dir / "figures.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    lines += ["## Figures", ""]
    if index:
        for name, caption in sorted(index.items()):
            lines += [f"- [{caption}](figures/{name})"]
        lines.append("")
        for name, caption in sorted(index.items()):
            lines += [f"![{caption}](figures/{name})", ""]
    else:
        lines += ["No figure yet.", ""]
    lines += ["## Where joint tuning wins, ties or loses", ""]
    lines += _closing_note(groups, settings)
    lines += ["## Published references", "",
              "| dataset | model | split | metric (%) | value | source |",
              "|---|---|---|---|---:|---|"]
    for r in refs:
        method = r.get("method") or ROWS.get(r["row"], r["row"])
        lines.append(f"| {r['dataset']} | {r['model'].upper()} ({method}) | "
                     f"{split_name(r['split'])} | "
                     f"{METRIC_LABELS.get(r['metric'], REF_METRICS[r['metric']])} | {r['value']} | "
                     f"{r['source']} |")
    lines.append("")
    not_run = [*skipped, *missing_blocks(groups, expected)]
    if not_run:
        lines += ["## Not run here", "", *(f"- {s}" for s in not_run), ""]
    lines += ["## Environment", "", *_environment_lines(records)]
    lines.append(RESULTS_END)
    return "\n".join(lines) + "\n"


def write_results_md(path: Path, section: str) -> Path:
    """Replace the ``results`` markers' section of ``path`` (create it; keep other sections)."""
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if RESULTS_START in text and RESULTS_END in text:
            head, rest = text.split(RESULTS_START, 1)
            _, tail = rest.split(RESULTS_END, 1)
            text = head + section.rstrip("\n") + tail
        elif SPEED_START in text:
            head, tail = text.split(SPEED_START, 1)
            text = head + section + "\n" + SPEED_START + tail
        else:
            text = text.rstrip("\n") + "\n\n" + section
    else:
        text = ("# graphls benchmark results\n\nGenerated by `benchmarks/run.py` (see "
                "`benchmarks/README.md`); every number below comes from `results/*.jsonl`.\n\n"
                + section)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def describe_plan(settings: Settings, blocks: Sequence[Block], skipped: Sequence[str]) -> str:
    studies = sum(1 for b in blocks for r in b.rows if r in TUNED)
    fits = sum(len(units(b, settings.seeds)) * (sum(1 for r in b.rows if r in TUNED)
                                               + (1 if {"plain", "ts"} & set(b.rows) else 0))
               for b in blocks)
    lines = [f"{len(blocks)} blocks, {studies} studies × {settings.trials} trials "
             f"({studies * settings.trials * settings.seeds_per_trial} tuning runs), "
             f"{fits} test runs, {settings.epochs} epochs each; studies claim up to "
             f"{settings.batch_size} trials at a time"
             + ("" if settings.batch_size > 1 else " (every run on its own)")]
    lines += [f"  {b.name}: rows {','.join(b.rows)}; {len(units(b, settings.seeds))} test runs"
              f" per row" + ("" if b.metric == "accuracy" else
                             f"; tuned and selected on validation {METRIC_LABELS[b.metric]}")
              for b in blocks]
    lines += [f"  {s}" for s in skipped]
    return "\n".join(lines)


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
            draw_figures(runner, chosen)
    expected, report_skipped = [], list(skipped)
    if not settings.quick:  # the report covers every result line, so list every gap
        full = replace(parse_settings([]), root=settings.root, out=settings.out)
        expected, report_skipped = plan(full)
    md = write_results_md(settings.out / "RESULTS.md",
                          render(settings, report_skipped, expected))
    summary = {"out": str(settings.out), "results_md": str(md), "jsonl": [str(p) for p in written],
               "blocks": len(blocks), "skipped": list(skipped),
               "fits": runner.fits if runner else 0,
               "fit_seconds": runner.fit_seconds if runner else 0.0,
               "wall_seconds": time.perf_counter() - start}
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2: bad input, 1: a run failed)."""
    try:
        settings = parse_settings(argv)
    except (ValueError, TypeError) as exc:
        print(f"benchmarks/run.py: error: {exc}", file=sys.stderr)
        return 2
    from graphls.cli import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            summary = run(settings)
    except (ValueError, TypeError) as exc:
        print(f"benchmarks/run.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmarks/run.py: interrupted; rerun the same command to resume (finished "
              "trials are in results/studies/, finished test runs in results/*.jsonl.partial)",
              file=sys.stderr)
        return 130
    if settings.plan_only:
        return 0
    print(f"wrote {summary['results_md']} and {len(summary['jsonl'])} result files under "
          f"{settings.out / 'results'}; {summary['fits']} fits "
          f"({summary['fit_seconds']:.1f} s training), {summary['wall_seconds']:.1f} s in all")
    for note in summary["skipped"]:
        print(f"note: {note}")
    if settings.shard is not None:
        print(f"note: shard {settings.shard[0]}/{settings.shard[1]}: its test runs are kept in "
              "results/*.jsonl.partial; rerun without --shard once every shard is done to "
              "write the block files (it reuses them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
