"""Result lines and the result cache.

A result line is one row × test seed of a block, with its numbers, its configuration, its
study and its provenance (versions, git SHA, machine, command). A block's lines live in
``results/<block>.jsonl``; the runs of a block that stopped before that file was written
wait in ``<block>.jsonl.partial``. Both feed the cache, keyed by :func:`fit_key`: a fit
whose dataset, split, configuration and seed have a line is reused, not retrained. The
cache is read when a process starts and takes in its block's files again before each split,
so the lines a shard or another process wrote meanwhile are reused too.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphls.tuning import file_lock
from graphls_bench.blocks import ROWS, TUNED, Block, units
from graphls_bench.settings import REPO, Settings

SCHEMA = 1
#: The provenance fields of a line, reused with its numbers when the cache serves it.
PROVENANCE = ("versions", "git_sha", "git_dirty", "machine", "command", "quick", "timestamp")


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
# one fit's outcome, and its line
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
    recall: dict[str, list[float]] | None = None  # per class, per split (newer lines only)


#: ``TrainConfig`` fields added after the first results, with the value every older result had.
LATER_FIELDS = {"select": "accuracy", "input_dropout": True, "stop_window": None,
                "pseudo_label_rounds": 0}


def fit_key(block: Block, split_id: int | None, config: Any) -> str:
    """A hash of everything that decides one fit's numbers."""
    cfg = {k: v for k, v in config.to_dict().items() if k != "device"}
    # fields added after results were recorded, at their defaults, stay out of the hash, so
    # keys from before them stay valid
    for name, default in LATER_FIELDS.items():
        if name in cfg and cfg[name] == default:
            del cfg[name]
    blob = json.dumps({"dataset": block.dataset, "split": block.split, "split_id": split_id,
                       "config": cfg}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def line_order(record: Mapping[str, Any]) -> tuple[int, int]:
    """Where a result line sits in its block's file: row (table order), then seed."""
    return list(ROWS).index(record["row"]), record["seed"]


def make_record(settings: Settings, block: Block, row: str, split_id: int | None, seed: int,
                config: Any, o: Outcome, study: dict[str, Any] | None,
                params: dict[str, Any]) -> dict[str, Any]:
    """The result line of ``row`` on one test run (``ts``: the calibrated numbers)."""
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
        "trials": settings.trials if row in TUNED else 0, "epochs": cfg.epochs,
        "seeds": len(units(block, settings.seeds)), "study": study,
        "config": cfg.to_dict(), "fit_key": o.key, "wall_time": o.wall_time,
        "reused": o.reused, **o.provenance,
        **({"recall": o.recall} if o.recall is not None else {}),
    }


class ResultCache:
    """The fits that have a result line under ``results`` (``.partial`` ones too), by fit
    key, with the test nodes' probabilities of those that kept them (``probs/<key>.pt``)."""

    def __init__(self, results: Path, enabled: bool = True) -> None:
        self.results = results
        self.enabled = enabled
        old = read_records(results, partial=True) if enabled else {}
        self.lines: dict[str, dict[str, Any]] = {r["fit_key"]: r for r in old.values()
                                                 if "fit_key" in r}

    def refresh(self, block: Block) -> None:
        """Add the lines other processes wrote for ``block`` since this cache was read (a
        shard on the same study, a process on other rows), so that their runs are reused
        rather than trained again."""
        if not self.enabled:
            return
        with _block_lock(self.results, block):
            for path in (self.results / f"{block.name}.jsonl",
                         self.results / f"{block.name}.jsonl.partial"):
                for r in file_records(path) if path.is_file() else ():
                    if r.get("schema") == SCHEMA and "fit_key" in r:
                        self.lines.setdefault(r["fit_key"], r)

    def probs_file(self, key: str) -> Path:
        return self.results / "probs" / f"{key}.pt"

    def get(self, key: str, want_probs: bool) -> Outcome | None:
        """The run's outcome from its result line (and probs file if wanted), else None."""
        import torch

        probs_file = self.probs_file(key)
        old = self.lines.get(key)
        if old is None or (want_probs and not probs_file.is_file()):
            return None
        probs = torch.load(probs_file) if want_probs else None
        return Outcome(key, old["raw"], old["calibrated"], old["temperature"],
                       old["best_epoch"], old["epochs_run"], old["structural_values"],
                       old["wall_time"], {k: old[k] for k in PROVENANCE if k in old},
                       reused=True, probs=probs, recall=old.get("recall"))

    def save_probs(self, key: str, probs: Mapping[str, Any]) -> None:
        import torch

        probs_file = self.probs_file(key)
        probs_file.parent.mkdir(exist_ok=True)
        torch.save(probs, probs_file)


# ---------------------------------------------------------------------------
# the files
# ---------------------------------------------------------------------------

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


def file_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path``."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def replace_lines(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write ``records`` as JSON lines to ``path`` through a temporary file (a stop midway
    leaves the old file whole)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two writers never share one
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records),
                   encoding="utf-8")
    tmp.replace(path)


def _unflagged(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``records`` as their JSON lines read back, without the ``reused`` flag (which says
    only where a line came from)."""
    return [{k: v for k, v in json.loads(json.dumps(r, sort_keys=True)).items()
             if k != "reused"} for r in records]


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
        old = file_records(path) if path.is_file() else None
        kept = [r for r in old or () if r["row"] not in block.rows]
        ordered = sorted([*kept, *records], key=line_order)
        if old is None or _unflagged(old) != _unflagged(ordered):
            replace_lines(path, ordered)
        # else every line came back from the cache: leave the file (and git) as it was
        # rather than rewrite it with ``"reused": true`` on every line
        partial = path.with_suffix(".jsonl.partial")
        others = [r for r in file_records(partial) if r["row"] not in block.rows] \
            if partial.is_file() else []
        if others:
            replace_lines(partial, others)
        else:
            partial.unlink(missing_ok=True)
    return path
