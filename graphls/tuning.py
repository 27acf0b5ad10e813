"""Optuna search over label smoothing ε (``epsilon``) and structural smoothing λ (``structural``).

The only module of graphls that imports Optuna. ``run_study`` runs (or
resumes) a study whose objective trains on the training nodes and scores on
the **validation** nodes only (``fit_many(..., splits=("train", "val"))``: no test
label is read during the search); ``write_report`` then retrains the best
configuration and the ε = 0, λ = 1 baseline over fresh seeds and reports
test numbers. ``graphls tune`` and ``graphls report`` call the two.

**Objectives** (validation, at the epoch kept by ``graphls.engine``'s one
selection rule: best validation accuracy, then lower validation NLL, then the
earliest epoch):

- ``accuracy``: maximise validation accuracy;
- ``nll``: minimise validation NLL;
- ``roc_auc``: maximise validation ROC AUC (binary, or macro one-vs-rest), with
  epochs selected by validation ROC AUC too (``TrainConfig(select="roc_auc")``):
  the metric of the imbalanced binary sets, where accuracy sits at the
  majority-class rate and gives the sampler nothing to follow;
- ``multi``: (validation accuracy ↑, validation ECE ↓), a Pareto front. Its
  "best" configuration is the lowest-ECE Pareto point whose validation
  accuracy is within 0.5 points of the best validation accuracy. With
  ``config.select == "roc_auc"`` validation ROC AUC takes accuracy's place
  (first value, tolerance and epoch selection alike).

With ``seeds_per_trial = k`` every trial trains seeds ``TRIAL_SEED_BASE + s``
for ``s < k`` and averages; reports use seeds ``REPORT_SEED_BASE + s``, so
the test numbers come from runs the search never saw.

**Search spaces.** ``joint``: ``epsilon`` ∈ [0, 0.5], ``structural`` ∈ [0, 1].
``full`` adds ``lr`` ∈ [1e-3, 1e-1] (log), ``weight_decay`` ∈ [1e-6, 1e-2]
(log), ``dropout`` ∈ [0, 0.8] and ``hidden`` ∈ {8, 16, 32, 64}. A non-uniform
``prior`` (``class`` or ``neighbors``) adds ``prior_weight`` ∈ [0, 1]. A TOML
file overrides or adds ranges, one table per parameter::

    [epsilon]
    high = 0.3
    [lr]              # adds lr to the joint space
    low = 1e-3
    high = 1e-1
    log = true
    [hidden]
    choices = [16, 32]
    [structural]
    grid = [0.0, 0.5, 1.0]   # the points the grid sampler visits

Settings not searched come from ``config`` (default: PyG's example settings,
``TrainConfig.for_model(model)``).

**Budget.** ``n_trials`` keeps Optuna's meaning: this call (command) adds up
to ``n_trials`` trials, so ``--n-trials 30`` then ``--n-trials 10`` leaves
40. ``total_trials`` is a study-wide target shared by every worker: a worker
claims a trial only while COMPLETE + PRUNED + RUNNING + WAITING trials are
fewer than ``total_trials``, under a lock (PostgreSQL: an advisory lock on
the same server; SQLite and journal files: a file lock (:func:`file_lock`) on
``<file>.graphls.lock``), so N workers end with exactly ``total_trials``
COMPLETE or PRUNED trials. A worker whose claims are all taken but not yet
finished waits (while heartbeats are on) until they finish, so that a trial
failed by a dead worker is retried by a live one and the target is still met.

**Storage.** ``None`` is ``sqlite:///graphls.db`` in the working directory:
rerunning the same command resumes the same study. Any SQLAlchemy URL
works (``postgresql://user:pass@host/db`` for workers on several machines;
without a driver named, psycopg 3 is used if installed, else psycopg2).
``journal:PATH`` or a path ending ``.log``/``.jsonl``/``.journal`` is
Optuna's journal file storage (one machine or a shared file system; no
heartbeats). On RDB storages every running trial sends a heartbeat every
``heartbeat_interval`` seconds; a trial silent for ``grace_period`` seconds
(a killed worker) is marked FAIL and re-queued once more (Optuna's
``RetryHeartbeatStaleTrialCallback``). Finished trials are never touched.

**Pruning** (single objective only; Optuna cannot prune multi-objective
trials, so ``multi`` never prunes). Each epoch reports the running best
validation score, and the pruner's warm-up comes from the epoch budget (see
:func:`pruner_settings`), so that a trial is never stopped in the noisy
first epochs.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import json
import math
import os
import platform
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from graphls._validation import check_choice, check_positive_int
from graphls.config import METRIC_LABELS, TrainConfig, TrainResult
from graphls.engine import StopMember, evaluate, fit_many

__all__ = [
    "DEFAULT_STORAGE",
    "OBJECTIVES",
    "PRUNERS",
    "REPORT_SEED_BASE",
    "SAMPLERS",
    "SPACES",
    "TRIAL_SEED_BASE",
    "ParamSpec",
    "default_study_name",
    "file_lock",
    "load_study",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "pruner_settings",
    "run_report_command",
    "run_study",
    "run_tune_command",
    "search_space",
    "select_best_trial",
    "write_report",
]

DEFAULT_STORAGE = "sqlite:///graphls.db"
SAMPLERS = ("tpe", "gp", "cmaes", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
OBJECTIVES = ("accuracy", "nll", "roc_auc", "multi")
SPACES = ("joint", "full")
#: Trials train seeds TRIAL_SEED_BASE + s; reports use REPORT_SEED_BASE + s (fresh seeds).
TRIAL_SEED_BASE = 0
REPORT_SEED_BASE = 100
#: Multi-objective "best": the lowest-ECE Pareto point within this much validation accuracy.
MULTI_ACCURACY_TOLERANCE = 0.005
GRID_POINTS = 6
#: Study user attributes that must agree when a study is resumed.
_IDENTITY_ATTRS = ("dataset", "model", "space", "objective", "epochs", "split", "prior",
                   "seeds_per_trial")
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
_SUPPORTED_PARAMS = ("epsilon", "structural", "lr", "weight_decay", "dropout", "hidden",
                     "prior_weight")


# ---------------------------------------------------------------------------
# search space
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ParamSpec:
    """One searched ``TrainConfig`` field: a float range (optionally log) or integer choices.

    Attributes:
        name: The ``TrainConfig`` field and Optuna parameter name.
        low: Lower bound (floats).
        high: Upper bound (floats).
        log: Sample ``log(value)`` uniformly.
        choices: Categorical values (integers, e.g. ``hidden``) instead of a range.
        grid: The points the grid sampler visits (default: ``GRID_POINTS`` evenly
            spaced, geometrically for ``log``, or every choice).
    """

    name: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[int, ...] | None = None
    grid: tuple[float, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> float | int:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def grid_values(self, points: int = GRID_POINTS) -> list[float | int]:
        if self.grid is not None:
            return list(self.grid)
        if self.choices is not None:
            return list(self.choices)
        if self.log:
            values = np.geomspace(self.low, self.high, points)
        else:
            values = np.linspace(self.low, self.high, points)
        return [round(float(v), 10) for v in values]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        if self.choices is not None:
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, log=self.log)
        if self.grid is not None:
            d["grid"] = list(self.grid)
        return d


_BUILTIN: dict[str, ParamSpec] = {
    "epsilon": ParamSpec("epsilon", 0.0, 0.5),
    "structural": ParamSpec("structural", 0.0, 1.0),
    "lr": ParamSpec("lr", 1e-3, 1e-1, log=True),
    "weight_decay": ParamSpec("weight_decay", 1e-6, 1e-2, log=True),
    "dropout": ParamSpec("dropout", 0.0, 0.8),
    "hidden": ParamSpec("hidden", choices=(8, 16, 32, 64)),
    "prior_weight": ParamSpec("prior_weight", 0.0, 1.0),
}
# (low, high, high_open) that a range of each float parameter must stay within.
_LIMITS = {"epsilon": (0.0, 1.0, False), "structural": (0.0, 1.0, False),
           "dropout": (0.0, 1.0, True), "prior_weight": (0.0, 1.0, False),
           "lr": (0.0, math.inf, True), "weight_decay": (0.0, math.inf, True)}


def search_space(space: str = "joint", prior: str = "uniform",
                 space_file: str | os.PathLike | None = None) -> dict[str, ParamSpec]:
    """The searched parameters, in order: ``joint`` or ``full``, the prior weight, TOML overrides.

    Args:
        space: ``"joint"`` (ε, λ) or ``"full"`` (also lr, weight_decay, dropout, hidden).
        prior: A non-uniform prior (``"class"``, ``"neighbors"``) adds ``prior_weight``.
        space_file: TOML file with one table per parameter (keys ``low``, ``high``,
            ``log``, ``choices``, ``grid``); a table for a parameter not in the space adds it.

    Raises:
        ValueError: unknown space, parameter or key, or a range outside the parameter's limits.
        FileNotFoundError: ``space_file`` does not exist.
    """
    check_choice("space", space, SPACES)
    names = ["epsilon", "structural"]
    if space == "full":
        names += ["lr", "weight_decay", "dropout", "hidden"]
    if prior != "uniform":
        names.append("prior_weight")
    specs = {n: _BUILTIN[n] for n in names}
    if space_file is not None:
        for name, table in _read_toml(space_file).items():
            specs[name] = _override(specs.get(name) or _BUILTIN.get(name), name, table,
                                    str(space_file))
    return specs


def _read_toml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"space file {str(p)!r} does not exist")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"space file {str(p)!r} is not valid TOML: {exc}") from None


def _override(base: ParamSpec | None, name: str, table: Any, where: str) -> ParamSpec:
    if base is None:
        raise ValueError(f"space file {where!r}: parameter {name!r} is unknown; known: "
                         + ", ".join(_SUPPORTED_PARAMS))
    if not isinstance(table, dict):
        raise ValueError(f"space file {where!r}: {name} must be a table like [{name}]; "
                         f"got {table!r}")
    unknown = sorted(set(table) - {"low", "high", "log", "choices", "grid"})
    if unknown:
        raise ValueError(f"space file {where!r}: {name} has unknown keys {unknown}; "
                         "known: low, high, log, choices, grid")
    fields: dict[str, Any] = {"name": name, "low": base.low, "high": base.high,
                              "log": base.log, "choices": base.choices, "grid": base.grid}
    if "choices" in table:
        choices = table["choices"]
        if (not isinstance(choices, list) or not choices
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1
                           for c in choices)):
            raise ValueError(f"space file {where!r}: {name}.choices must be a non-empty list of "
                             f"integers >= 1; got {choices!r}")
        fields["choices"] = tuple(choices)
    elif base.choices is not None and ({"low", "high", "log"} & set(table)):
        raise ValueError(f"space file {where!r}: {name} is categorical; give choices = [...]")
    for key in ("low", "high"):
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"space file {where!r}: {name}.{key} must be a number; "
                                 f"got {v!r}")
            fields[key] = float(v)
    if "log" in table:
        if not isinstance(table["log"], bool):
            raise ValueError(f"space file {where!r}: {name}.log must be true or false; "
                             f"got {table['log']!r}")
        fields["log"] = table["log"]
    if fields["choices"] is None:
        lo, hi, high_open = _LIMITS[name]
        bracket = ")" if high_open else "]"
        for key in ("low", "high"):
            v = fields[key]
            if not (lo <= v and (v < hi if high_open else v <= hi)):
                raise ValueError(f"space file {where!r}: {name}.{key} must be in "
                                 f"[{lo:g}, {hi:g}{bracket}; got {v:g}")
        if fields["low"] > fields["high"]:
            raise ValueError(f"space file {where!r}: {name}.low must be <= {name}.high; "
                             f"got {fields['low']:g} > {fields['high']:g}")
        if fields["log"] and fields["low"] <= 0:
            raise ValueError(f"space file {where!r}: {name}.low must be > 0 with log = true; "
                             f"got {fields['low']:g}")
    if "grid" in table:
        grid = table["grid"]
        if not isinstance(grid, list) or not grid:
            raise ValueError(f"space file {where!r}: {name}.grid must be a non-empty list; "
                             f"got {grid!r}")
        for g in grid:
            inside = (g in fields["choices"] if fields["choices"] is not None
                      else isinstance(g, (int, float)) and not isinstance(g, bool)
                      and fields["low"] <= g <= fields["high"])
            if not inside:
                raise ValueError(f"space file {where!r}: {name}.grid values must lie in the "
                                 f"range or choices; got {g!r}")
        fields["grid"] = tuple(grid)
    return ParamSpec(**fields)


# ---------------------------------------------------------------------------
# samplers and pruners
# ---------------------------------------------------------------------------

def _unknown(kind: str, name: object, known: Sequence[str]) -> ValueError:
    return ValueError(f"{kind} {name!r} is unknown; known: {', '.join(known)}")


def make_sampler(name: str, seed: int | None = 0, *,
                 space: Mapping[str, ParamSpec] | None = None,
                 multi: bool = False) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name, seeded.

    ``tpe``: multivariate TPE with the constant liar (running trials count as
    bad guesses, so parallel workers spread out); ``gp``: Gaussian-process
    Bayesian optimisation (needs torch and scipy); ``cmaes``: CMA-ES (needs
    the ``cmaes`` package; single objective); ``random``; ``grid``: every point
    of the grid over ``space`` (``GRID_POINTS`` per float parameter, e.g. 6 × 6
    for the joint space), in a seeded random order.

    Raises:
        ValueError: unknown name, or a sampler that cannot serve the objective.
    """
    if name not in SAMPLERS:
        raise _unknown("sampler", name, SAMPLERS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if name == "cmaes":
            if multi:
                raise ValueError("sampler 'cmaes' is single-objective; with objective 'multi' "
                                 "use tpe, gp, random or grid")
            import importlib.util

            if importlib.util.find_spec("cmaes") is None:
                raise ValueError("sampler 'cmaes' needs the cmaes package; install it with "
                                 "`pip install cmaes`")
            return optuna.samplers.CmaEsSampler(seed=seed)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        specs = space if space is not None else search_space("joint")
        return _GridSampler(_grid(specs), seed=seed)


def _grid(specs: Mapping[str, ParamSpec]) -> dict[str, list[Any]]:
    return {n: s.grid_values() for n, s in specs.items()}


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``study.stop()`` call (valid only inside ``optimize``).

    The tuning loop stops by itself once every grid point is claimed.
    """

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        return None


def pruner_settings(name: str, epochs: int) -> dict[str, int]:
    """The pruner's settings, derived from the epoch budget ``epochs`` (E).

    ``median``: ``n_startup_trials = 10`` (no pruning before ten trials have run
    to the end: the median of fewer is noise), ``n_warmup_steps = ⌈0.3·E⌉`` (no
    trial is judged before 30 % of its epochs), ``interval_steps = max(1, E // 40)``
    (judge every 5 epochs at E = 200) and ``n_min_trials = 5`` (at least five
    trials must have reached that epoch). Measured on Cora (GCN, E = 200, 30 TPE
    trials run to the end): the running best at epoch 60 ranks the trials like
    their final score (Spearman 0.94, against 0.65 at epoch 11); half the trials
    are within 1 point of their final score by epoch 18, a few only after 145.
    ``hyperband``: ``min_resource = ⌈0.3·E⌉``, ``max_resource = E``,
    ``reduction_factor = 3``. ``none``: no settings.

    The reported value is the running best validation score (see ``run_study``),
    which only moves when the selected epoch would change.
    """
    if name not in PRUNERS:
        raise _unknown("pruner", name, PRUNERS)
    epochs = check_positive_int("epochs", epochs)
    warmup = max(1, math.ceil(0.3 * epochs))
    if name == "median":
        return {"n_startup_trials": 10, "n_warmup_steps": min(warmup, epochs - 1),
                "interval_steps": max(1, epochs // 40), "n_min_trials": 5}
    if name == "hyperband":
        return {"min_resource": min(warmup, epochs), "max_resource": epochs,
                "reduction_factor": 3}
    return {}


def make_pruner(name: str, epochs: int, **overrides: int) -> optuna.pruners.BasePruner:
    """The pruner ``name`` with :func:`pruner_settings` for ``epochs``, then ``overrides``.

    Raises:
        ValueError: unknown name.
    """
    settings = {**pruner_settings(name, epochs), **overrides}
    if name == "median":
        return optuna.pruners.MedianPruner(**settings)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(**settings)
    return optuna.pruners.NopPruner()


# ---------------------------------------------------------------------------
# storage
# ---------------------------------------------------------------------------

@dataclass
class _Storage:
    """An opened storage, how to name it in messages, and the lock that guards trial claims."""

    storage: optuna.storages.BaseStorage
    display: str
    lock_for: Callable[[str], contextlib.AbstractContextManager[Any]]
    heartbeat: Any = None  # the RDBStorage when heartbeats are on
    exact: bool = True  # whether the claim lock covers every worker that can reach the storage


def _journal_path(url: str) -> str | None:
    if url.startswith("journal:"):
        rest = url[len("journal:"):]
        return rest[2:] if rest.startswith("///") else rest[2:] if rest.startswith("//") else rest
    if "://" not in url and url.endswith((".log", ".jsonl", ".journal")):
        return url
    return None


def _mask(url: str) -> str:
    try:
        import sqlalchemy

        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _retry_callback(max_retry: int) -> tuple[str, Any]:
    storages = optuna.storages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
            return ("heartbeat_stale_trial_callback",
                    storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry))
        return "failed_trial_callback", storages.RetryFailedTrialCallback(max_retry=max_retry)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block.

    The lock graphls takes around each claim of trials in a SQLite or journal-file
    study, and that ``benchmarks/run.py`` takes around its result files. It excludes
    other processes and other open descriptors in the same process (threads that each
    enter ``file_lock``), waits as long as the holder keeps it, and is released when the
    block ends or raises.

    On POSIX it is ``fcntl.flock``; on Windows ``msvcrt.locking`` of the file's first
    byte (retried until it is free: one ``LK_LOCK`` call gives up after 10 s). On some
    network file systems neither locks across machines: use a PostgreSQL study there.
    """
    with open(path, "a+") as f:
        _lock_file(f, exclusive=True)
        try:
            yield
        finally:
            _lock_file(f, exclusive=False)


def _lock_file(f: Any, exclusive: bool) -> None:
    """Take (``exclusive``) or drop the lock of :func:`file_lock` on the open file ``f``."""
    try:
        import fcntl
    except ModuleNotFoundError:  # Windows
        import msvcrt
    else:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_UN)
        return
    busy = getattr(errno, "EDEADLOCK", errno.EDEADLK)
    while True:
        f.seek(0)  # every holder locks the same byte, wherever the file ends
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK if exclusive else msvcrt.LK_UNLCK, 1)
            return
        except OSError as e:
            if not exclusive or e.errno != busy:  # not "still held after 10 tries"
                raise


def _lock_key(study_name: str) -> int:
    digest = hashlib.blake2b(f"graphls:{study_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _PostgresLock:
    """``pg_advisory_xact_lock`` on the study's server: one claim at a time across machines."""

    def __init__(self, url: Any, engine_kwargs: dict[str, Any]) -> None:
        self._url = url
        self._engine_kwargs = engine_kwargs
        self._engine: Any = None

    @contextlib.contextmanager
    def __call__(self, study_name: str) -> Iterator[None]:
        import sqlalchemy

        if self._engine is None:
            self._engine = sqlalchemy.create_engine(self._url, pool_size=1, max_overflow=0,
                                                    **self._engine_kwargs)
        with self._engine.begin() as conn:  # the lock is released when the transaction ends
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": _lock_key(study_name)})
            yield


def _thread_lock() -> Callable[[str], contextlib.AbstractContextManager[Any]]:
    lock = threading.Lock()

    @contextlib.contextmanager
    def hold(_name: str) -> Iterator[None]:
        with lock:
            yield

    return hold


def open_storage(storage: str | optuna.storages.BaseStorage | None = None, *,
                 heartbeat_interval: int | None = 60, grace_period: int | None = None,
                 max_retry: int = 1, must_exist: bool = False) -> _Storage:
    """Open ``storage`` (default ``sqlite:///graphls.db``) with heartbeats and a claim lock.

    Args:
        storage: An SQLAlchemy URL, ``journal:PATH`` (or a path ending ``.log``,
            ``.jsonl``, ``.journal``), or an Optuna storage object.
        heartbeat_interval: Seconds between a running trial's heartbeats (RDB storages;
            ``None`` turns heartbeats off).
        grace_period: Seconds without a heartbeat after which a running trial is marked
            FAIL and retried (default ``2 × heartbeat_interval``).
        max_retry: How many times a stale trial is re-queued.
        must_exist: For reading: an SQLite or journal file that does not exist is an error
            rather than created.

    Raises:
        ValueError: malformed URL, unknown database, missing driver, unreachable server.
    """
    if storage is None:
        storage = DEFAULT_STORAGE
    if isinstance(storage, optuna.storages.BaseStorage):
        return _Storage(storage, type(storage).__name__, _thread_lock())
    if not isinstance(storage, str) or not storage.strip():
        raise ValueError(f"storage must be an SQLAlchemy URL or a journal file; got {storage!r}")
    journal = _journal_path(storage)
    if journal is not None:
        return _open_journal(journal, storage, must_exist)
    return _open_rdb(storage, heartbeat_interval, grace_period, max_retry, must_exist)


def _open_journal(path: str, url: str, must_exist: bool) -> _Storage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    p = Path(path)
    if must_exist and not p.is_file():
        raise ValueError(f"storage {url!r}: journal file {path!r} does not exist")
    if not p.parent.is_dir():
        raise ValueError(f"storage {url!r}: directory {str(p.parent)!r} does not exist")
    try:
        backend = JournalFileBackend(str(p))
    except OSError as exc:
        raise ValueError(f"storage {url!r} cannot be opened: {exc.strerror or exc}") from None
    lock_path = str(p) + ".graphls.lock"
    return _Storage(JournalStorage(backend), url, lambda _name: file_lock(lock_path))


def _open_rdb(url: str, heartbeat_interval: int | None, grace_period: int | None,
              max_retry: int, must_exist: bool) -> _Storage:
    import sqlalchemy
    from sqlalchemy.engine import make_url

    hint = ("an SQLAlchemy URL such as sqlite:///graphls.db or "
            "postgresql://user:password@host:5432/db, or journal:PATH")
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"storage must be {hint}; got {url!r}") from None
    display = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any] = {}
    lock_for: Callable[[str], contextlib.AbstractContextManager[Any]] = _thread_lock()
    exact = True
    if backend == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            p = Path(db)
            if must_exist and not p.is_file():
                raise ValueError(f"storage {display!r}: database file {db!r} does not exist "
                                 f"(in {os.getcwd()})")
            if not p.parent.is_dir():
                raise ValueError(f"storage {display!r}: directory {str(p.parent)!r} does not "
                                 "exist")
            lock_path = str(p) + ".graphls.lock"
            lock_for = lambda _name: file_lock(lock_path)  # noqa: E731
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif backend == "postgresql":
        if parsed.get_driver_name() == "psycopg" and "+" not in parsed.drivername:
            parsed = parsed.set(drivername=_postgres_driver(display))
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
        engine_kwargs["pool_pre_ping"] = True
        lock_for = _PostgresLock(parsed, engine_kwargs)
    else:
        engine_kwargs["pool_pre_ping"] = True
        exact = False  # no cross-machine claim lock for this database
    interval = heartbeat_interval
    kwargs: dict[str, Any] = {}
    if interval is not None:
        check_positive_int("heartbeat_interval", interval)
        grace = grace_period if grace_period is not None else 2 * interval
        check_positive_int("grace_period", grace)
        key, callback = _retry_callback(max_retry)
        kwargs = {"heartbeat_interval": interval, "grace_period": grace, key: callback}
    try:
        # Workers started together must not create the tables concurrently (PostgreSQL:
        # duplicate key in pg_type; SQLite: "table already exists"): one at a time.
        with lock_for("graphls:create-tables"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rdb = optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False), engine_kwargs=engine_kwargs,
                **kwargs)
    except sqlalchemy.exc.NoSuchModuleError:
        raise ValueError(f"storage must be {hint}; database {backend!r} in {display!r} is "
                         "unknown to SQLAlchemy") from None
    except ImportError:
        raise ValueError(f"storage {display!r} needs a database driver for {backend!r}; "
                         "for PostgreSQL: pip install 'graphls[postgres]'") from None
    except sqlalchemy.exc.OperationalError as exc:
        raise ValueError(f"storage {display!r} is unreachable: {_reason(exc)}") from None
    except sqlalchemy.exc.DBAPIError as exc:
        raise ValueError(f"storage {display!r} cannot be used: {_reason(exc)}") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise ValueError(f"storage {display!r} cannot be used: {exc}") from None
    if backend == "sqlite":
        _sqlite_wal(rdb.engine)
    return _Storage(rdb, display, lock_for, rdb if interval is not None else None, exact)


def _sqlite_wal(engine: Any) -> None:
    """Write-ahead logging with ``synchronous=NORMAL`` on every connection of a SQLite engine.

    Optuna commits every report, user attribute and state change on its own; in
    SQLite's default rollback journal each commit syncs the file twice. In WAL mode a
    commit appends to the ``-wal`` file (measured here: 0.62 ms a report instead of
    1.75 ms). Committed trials survive a crash of the process (a killed worker loses
    nothing); only a power cut can roll back the last commits, never corrupt the file.
    Readers and the writer no longer block each other. WAL needs a local file system
    (not NFS), as SQLite's locking does anyway.
    """
    import sqlalchemy

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        except Exception:  # another process holds a lock: keep the default journal
            pass
        finally:
            cursor.close()

    sqlalchemy.event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened while creating the tables get the pragmas too


def _reason(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _postgres_driver(display: str) -> str:
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg"
    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2"
    raise ValueError(f"storage {display!r} needs a PostgreSQL driver; "
                     "pip install 'graphls[postgres]' (psycopg2) or psycopg")


# ---------------------------------------------------------------------------
# studies
# ---------------------------------------------------------------------------

def default_study_name(dataset: str, model: str = "gcn", space: str = "joint",
                       objective: str = "accuracy") -> str:
    """``graphls-<dataset>-<model>-<space>-<objective>`` (``graphls-cora-gcn-joint-accuracy``)."""
    return f"graphls-{dataset.lower()}-{model}-{space}-{objective}"


def _directions(objective: str) -> list[str]:
    return {"accuracy": ["maximize"], "nll": ["minimize"], "roc_auc": ["maximize"],
            "multi": ["maximize", "minimize"]}[objective]


def _open_study(handle: _Storage, study_name: str, directions: list[str],
                attrs: dict[str, Any]) -> optuna.Study:
    try:
        study = optuna.create_study(storage=handle.storage, study_name=study_name,
                                    directions=directions, load_if_exists=True)
    except Exception as exc:  # a storage that went away between open and create
        import sqlalchemy

        if isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
            raise ValueError(f"storage {handle.display!r} cannot be used: "
                             f"{str(exc).splitlines()[0]}") from None
        raise
    have = [d.name.lower() for d in study.directions]
    if have != directions:
        raise ValueError(
            f"study {study_name!r} in {handle.display} exists with direction(s) "
            f"{', '.join(have)}; objective {attrs['objective']!r} needs {', '.join(directions)}; "
            "choose another --study-name")
    stored = study.user_attrs
    if "dataset" in stored:
        for key in _IDENTITY_ATTRS:
            if key in stored and stored[key] != attrs[key]:
                raise ValueError(
                    f"study {study_name!r} in {handle.display} was created with {key} "
                    f"{stored[key]!r}; got {attrs[key]!r}; choose another --study-name")
        # The fixed (not searched) settings must agree too; the device may differ per worker.
        # A field missing from the stored settings is newer than the study: it had the
        # field's default (``select``: studies made before it selected by accuracy).
        new = attrs["base_config"]
        defaults = {f.name: f.default for f in dataclass_fields(TrainConfig)}
        old = {k: defaults.get(k) for k in new} | stored.get("base_config", {})
        for key in sorted(set(old) | set(new)):
            if key != "device" and old.get(key) != new.get(key):
                raise ValueError(
                    f"study {study_name!r} in {handle.display} was created with {key} "
                    f"{old.get(key)!r}; got {new.get(key)!r}; choose another --study-name")
    else:
        # "dataset" goes last: a worker that opens the study meanwhile sees either no
        # settings at all (and writes the same ones) or all of them, never a part.
        for key, value in [*((k, v) for k, v in attrs.items() if k != "dataset"),
                           ("dataset", attrs["dataset"])]:
            study.set_user_attr(key, value)
    return study


def load_study(storage: str | optuna.storages.BaseStorage | None, study_name: str
               ) -> optuna.Study:
    """An existing study (read-only use: the report).

    Raises:
        ValueError: bad or unreachable storage, or no study of that name there.
    """
    handle = open_storage(storage, heartbeat_interval=None, must_exist=True)
    try:
        return optuna.load_study(study_name=study_name, storage=handle.storage)
    except KeyError:
        names = optuna.get_all_study_names(storage=handle.storage)
        known = ", ".join(names) if names else "none"
        raise ValueError(f"study {study_name!r} is not in {handle.display}; studies there: "
                         f"{known}") from None


# ---------------------------------------------------------------------------
# the objective
# ---------------------------------------------------------------------------

class _Heartbeat:
    """Record a heartbeat for ``trial_ids`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, storage: Any, trial_ids: Sequence[int]) -> None:
        self._storage = storage
        self._ids = list(trial_ids)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self._storage is None:
            return self
        interval = self._storage.get_heartbeat_interval()
        for tid in self._ids:
            self._storage.record_heartbeat(tid)

        def beat() -> None:
            while not self._stop.wait(interval):
                for tid in self._ids:
                    with contextlib.suppress(Exception):  # a missed beat is retried next time
                        self._storage.record_heartbeat(tid)

        self._thread = threading.Thread(target=beat, name="graphls-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class _Objective:
    """Train one trial's configuration on every trial seed and score it on validation."""

    def __init__(self, data: Any, base: TrainConfig, specs: Mapping[str, ParamSpec],
                 objective: str, seeds_per_trial: int, report: bool) -> None:
        self.data = data
        self.base = base
        self.specs = specs
        self.objective = objective
        self.seeds = [TRIAL_SEED_BASE + s for s in range(seeds_per_trial)]
        self.report = report

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {name: spec.suggest(trial) for name, spec in self.specs.items()}

    def configs(self, params: Mapping[str, Any]) -> list[TrainConfig]:
        """The trial's training runs: ``base`` with ``params``, once per trial seed."""
        config = self.base.replace(**params)
        return [config.replace(seed=seed) for seed in self.seeds]

    def score(self, trial: optuna.Trial, results: Sequence[TrainResult]) -> list[float]:
        """Store the validation metrics (mean over seeds) on ``trial``; return its values."""
        attrs = {f"val_{m}": float(np.mean([r.metrics["val"][m] for r in results]))
                 for m in ("accuracy", "ece", "nll", "brier", "confidence", "roc_auc")}
        attrs.update({f"val_{m}_calibrated": float(np.mean([r.calibrated["val"][m]
                                                               for r in results]))
                      for m in ("ece", "nll", "brier")})
        attrs["best_epoch"] = float(np.mean([r.best_epoch for r in results]))
        attrs["fit_seconds"] = float(sum(r.wall_time for r in results))
        attrs["seeds"] = self.seeds
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if self.objective == "accuracy":
            return [attrs["val_accuracy"]]
        if self.objective in ("nll", "roc_auc"):
            return [attrs[f"val_{self.objective}"]]
        return [attrs[f"val_{self.base.select}"], attrs["val_ece"]]

    def _hook(self, trial: optuna.Trial, views: Callable[[int], _EpochView] | None = None
              ) -> Callable[[int, dict[str, float]], None]:
        """Report to (and prune by) the study on the pruner's grid; ``views`` serves a batch."""
        key = f"best_{self.objective if self.objective in ('nll', 'roc_auc') else 'accuracy'}"
        # Each report is a storage write and each should_prune a read: reporting every
        # epoch cost more than the training itself on Cora with SQLite. Report on the
        # pruners' own grid instead (median's interval_steps = E // 40; Hyperband looks at
        # the latest step at or past each rung) and at the last epoch.
        every = max(1, self.base.epochs // 40)
        last = self.base.epochs - 1

        def on_epoch(epoch: int, val: dict[str, float]) -> None:
            if epoch % every and epoch != last:
                return
            # Report the running best (the score at the epoch the selection rule keeps so
            # far), not this epoch's: under dropout the current validation accuracy jumps by
            # several points from one epoch to the next, so a median rule on it prunes on
            # noise, while the running best is what the trial would return if stopped now,
            # so trials are compared like with like.
            trial.report(val[key], epoch)
            if (trial.should_prune() if views is None
                    else views(epoch).should_prune(trial, epoch, val[key])):
                trial.set_user_attr("pruned_at_epoch", epoch)
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        return on_epoch


class _EpochView:
    """The study as its pruner sees it at one epoch of a batch: the trials, read once.

    Optuna's ``Trial.should_prune`` reads every trial from storage, the running ones
    included, on each call: 13 ms with 16 running Cora trials on SQLite, more than
    their training. The members of a batch are judged at the same epochs, so one read
    per epoch serves them all. Each member is judged with its own reports up to this
    epoch; other members' reports of this same epoch may not be in the view yet (the
    median pruner reads finished trials only; Hyperband's brackets read the storage
    themselves).
    """

    def __init__(self, study: optuna.Study) -> None:
        self._study = study
        self._trials = study.get_trials(deepcopy=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def get_trials(self, deepcopy: bool = True,
                   states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        trials = [t for t in self._trials if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def should_prune(self, trial: optuna.Trial, step: int, value: float) -> bool:
        """``trial.should_prune()`` right after ``trial.report(value, step)``, from the view."""
        frozen = copy.copy(next(t for t in self._trials if t.number == trial.number))
        frozen.intermediate_values = {**frozen.intermediate_values, step: value}
        return bool(self._study.pruner.prune(self, frozen))  # type: ignore[arg-type]


def _members(objective: _Objective, trials: Sequence[optuna.Trial],
             params: Sequence[dict[str, Any]]) -> list[tuple[TrialState, list[float] | None]]:
    """Train a batch of claimed trials together and return each trial's outcome.

    Every (trial, seed) run is one member of :func:`graphls.engine.fit_many`
    (a single trial is a batch of one; members that differ in ``hidden`` or
    ``layers`` train as separate groups). A trial's first seed reports its
    learning curve and may be pruned; a pruned trial's other seeds leave the
    batch at their next epoch, and the trials still running go on without them.
    """
    configs: list[TrainConfig] = []
    owner: list[tuple[int, int]] = []  # member -> (trial, seed position)
    for t, p in enumerate(params):
        for k, config in enumerate(objective.configs(p)):
            configs.append(config)
            owner.append((t, k))
    held: list[_EpochView | int | None] = [None, None]  # (view, its epoch)

    def views(epoch: int) -> _EpochView:
        if held[1] != epoch:
            held[:] = [_EpochView(trials[0].study), epoch]
        return held[0]  # type: ignore[return-value]

    hooks = [objective._hook(trial, views) if objective.report else None for trial in trials]
    pruned = [False] * len(trials)

    def on_epoch(member: int, epoch: int, val: dict[str, float]) -> None:
        t, k = owner[member]
        if pruned[t]:
            raise StopMember
        hook = hooks[t]
        if k == 0 and hook is not None:
            try:
                hook(epoch, val)
            except optuna.TrialPruned:
                pruned[t] = True
                raise StopMember from None

    results = fit_many(objective.data, configs, on_epoch, splits=("train", "val"), group=True)
    outcomes: list[tuple[TrialState, list[float] | None]] = []
    for t, trial in enumerate(trials):
        if pruned[t]:
            outcomes.append((TrialState.PRUNED, None))
            continue
        # only a pruned trial's members stop early, so every member here has a result
        mine = [r for r, (owner_t, _) in zip(results, owner, strict=True)
                if owner_t == t and r is not None]
        outcomes.append((TrialState.COMPLETE, objective.score(trial, mine)))
    return outcomes


# ---------------------------------------------------------------------------
# the optimisation loop
# ---------------------------------------------------------------------------

#: Which process ran a trial (``host:pid``), recorded as the trial's ``worker`` user attribute.
_WORKER = f"{platform.node()}:{os.getpid()}"
#: ``callback(study, trial)``, called with each trial's ``FrozenTrial`` once it is told.
Callback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def _sampler_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _optimize(study: optuna.Study, handle: _Storage, objective: _Objective, *,
              sampler: str, seed: int, n_trials: int | None, total_trials: int | None,
              timeout: float | None, batch_size: int, progress: bool, poll: float,
              shared: bool = False, callbacks: Sequence[Callback] = (),
              wait: bool = True) -> int:
    """Claim, train and tell trials until a budget or the timeout is reached; return the count."""
    start = time.monotonic()
    name = study.study_name
    done = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        finished = len(study.get_trials(deepcopy=False, states=_FINISHED))
        total = n_trials if n_trials is not None else max(0, (total_trials or 0) - finished)
        bar = tqdm(total=total, desc=name, unit="trial", file=sys.stderr, dynamic_ncols=True)

    def refresh(told: int) -> None:
        """Move the bar by this worker's ``told`` trials, or (``shared``) to every worker's."""
        if bar is None:
            return
        now = (len(study.get_trials(deepcopy=False, states=_FINISHED)) - finished
               if shared else bar.n + told)
        bar.update(max(0, (min(bar.total, now) if bar.total else now) - bar.n))
        with contextlib.suppress(ValueError):
            best = study.best_value if len(study.directions) == 1 else None
            if best is not None:
                bar.set_postfix(best=f"{best:.4f}")

    try:
        while True:
            if timeout is not None and time.monotonic() - start >= timeout:
                break
            want = batch_size if n_trials is None else min(batch_size, n_trials - done)
            if want <= 0:
                break
            with handle.lock_for(name):
                claim = _claim(study, handle, objective, sampler=sampler, seed=seed, want=want,
                               total_trials=total_trials)
            if claim is None:  # the study-wide target is reached
                break
            if not claim:  # every slot is claimed by running trials: wait for them
                if not wait:
                    break
                time.sleep(poll)
                refresh(0)
                continue
            trials = [t for t, _ in claim]
            done += len(trials)
            with _Heartbeat(handle.heartbeat, [t._trial_id for t in trials]):
                try:
                    outcomes = _members(objective, trials, [p for _, p in claim])
                except BaseException:
                    for t in trials:
                        with contextlib.suppress(Exception):
                            study.tell(t, state=TrialState.FAIL)
                    raise
            for t, (state, values) in zip(trials, outcomes, strict=True):
                try:
                    frozen = study.tell(t, values, state=state)
                except (RuntimeError, ValueError) as exc:  # failed by another worker as stale
                    warnings.warn(f"trial {t.number} could not be recorded: {exc}",
                                  stacklevel=2)
                    continue
                for callback in callbacks:
                    callback(study, frozen)
            refresh(len(trials))
    finally:
        if bar is not None:
            bar.close()
    return done


def _claim(study: optuna.Study, handle: _Storage, objective: _Objective, *, sampler: str,
           seed: int, want: int, total_trials: int | None
           ) -> list[tuple[optuna.Trial, dict[str, Any]]] | None:
    """Under the claim lock: fail stale trials, count, ask and sample up to ``want`` trials.

    Returns ``None`` when the study-wide target is reached, ``[]`` when every remaining
    slot is held by a running trial (and heartbeats can still free it), else the claims.
    """
    if handle.heartbeat is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
    take = want
    if sampler == "grid":
        claimed = {t.system_attrs.get("grid_id") for t in study.get_trials(deepcopy=False)
                   if t.state != TrialState.FAIL}
        size = math.prod(len(v) for v in _grid(objective.specs).values())
        if len(claimed - {None}) >= size:  # every grid point is done or being done
            return None
    if total_trials is not None:
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        finished = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        if finished >= total_trials:
            return None
        waiting, running = counts[TrialState.WAITING], counts[TrialState.RUNNING]
        free = max(0, total_trials - finished - running - waiting)
        take = min(want, waiting + free)
        if take == 0:
            return [] if handle.heartbeat is not None and running > 0 else None
    claims = []
    multi = len(study.directions) > 1
    for _ in range(take):
        number = len(study.get_trials(deepcopy=False))
        # A fresh sampler seeded by (seed, trial number): the draws of trial n do not depend on
        # which worker claims it, and concurrent workers never repeat each other's draws.
        # (The grid sampler keeps ``seed``: it numbers its grid points by a seeded shuffle.)
        sampler_seed = seed if sampler == "grid" else _sampler_seed(seed, number)
        study.sampler = make_sampler(sampler, sampler_seed, space=objective.specs, multi=multi)
        with warnings.catch_warnings():
            # Optuna warns that heartbeats are meant for optimize(); this loop sends its own.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = study.ask()
        trial.set_user_attr("worker", _WORKER)
        claims.append((trial, objective.suggest(trial)))
    return claims


def run_study(dataset: str = "Cora", model: str = "gcn", n_trials: int | None = 100, *,
              total_trials: int | None = None, space: str = "joint",
              objective: str = "accuracy",
              storage: str | optuna.storages.BaseStorage | None = None,
              study_name: str | None = None, sampler: str = "tpe",
              pruner: str | optuna.pruners.BasePruner = "median", seeds_per_trial: int = 1,
              timeout: float | None = None, root: str | os.PathLike | None = None,
              split: str | None = None, split_index: int = 0,
              space_file: str | os.PathLike | None = None, prior: str = "uniform",
              epochs: int = 200, seed: int = 0, config: TrainConfig | None = None,
              batch_size: int = 1, n_jobs: int = 1, heartbeat_interval: int | None = 60,
              grace_period: int | None = None, progress: bool = True, poll: float = 1.0,
              wait: bool = True,
              data: Any = None, callbacks: Sequence[Callback] = ()) -> optuna.Study:
    """Run (or resume) a validation-only Optuna search over (ε, λ) and return the study.

    Every trial trains ``config.replace(**params)`` with ``fit`` on the training
    nodes, for seeds ``TRIAL_SEED_BASE + s`` (``s < seeds_per_trial``), and scores
    the mean over seeds on the validation nodes (``splits=("train", "val")``: test
    labels are never read)::

        accuracy:  maximise  acc_val(θ)
        nll:       minimise  NLL_val(θ) = -1/|V| Σ_{i∈V} log p_θ(y_i | x)
        roc_auc:   maximise  AUC_val(θ)   (binary; macro one-vs-rest for K > 2)
        multi:     maximise acc_val(θ), minimise ECE_val(θ)  (15 equal-width bins;
                   AUC_val(θ) in place of acc_val(θ) when config.select is "roc_auc")

    at the epoch selected by ``graphls.engine``'s rule (by validation ROC AUC for
    ``roc_auc``, which sets ``select="roc_auc"`` on ``config``). Validation metrics (raw and
    temperature-scaled) are stored as trial user attributes.

    Args:
        dataset: Dataset name for ``graphls.data.load_dataset`` (and the study name).
        model: ``"gcn"`` or ``"gat"``.
        n_trials: Trials this call adds (Optuna's meaning; ``None``: no per-call cap).
        total_trials: Study-wide target of COMPLETE + PRUNED trials shared by every worker,
            exact under the claim lock (see the module docstring).
        space: ``"joint"`` or ``"full"``; ``space_file`` overrides ranges (TOML).
        objective: ``"accuracy"``, ``"nll"``, ``"roc_auc"`` or ``"multi"``.
        storage: URL, journal file or Optuna storage; default ``sqlite:///graphls.db``.
        study_name: Default ``graphls-<dataset>-<model>-<space>-<objective>``.
        sampler: ``tpe``, ``gp``, ``cmaes``, ``random`` or ``grid`` (seeded by ``seed``).
        pruner: ``median``, ``hyperband``, ``none`` (settings from ``epochs``, see
            :func:`pruner_settings`) or a pruner object. Ignored for ``multi``.
        seeds_per_trial: Seeds averaged per trial.
        timeout: Stop claiming trials after this many seconds.
        root, split, split_index: Passed to ``load_dataset`` (``seed`` seeds random splits).
        prior: Smoothing prior; a non-uniform one adds ``prior_weight`` to the space.
        epochs: Epoch budget per training run.
        seed: Sampler seed (trial n's sampler is seeded by ``(seed, n)``).
        config: Settings that are not searched (default PyG's example settings for
            ``model``); ``model``, ``epochs`` and ``prior`` are applied on top, and
            ``select="roc_auc"`` for the ``roc_auc`` objective.
        batch_size: Trials claimed together and trained in one model pass
            (:func:`graphls.engine.fit_many`; each trial is pruned on its own).
        n_jobs: Worker processes on this machine (this one and ``n_jobs - 1`` more)
            sharing the study through ``storage`` (a file or database URL), each with
            ``cpu_count // n_jobs`` torch threads. ``n_trials`` is then the number of
            trials the workers add together (exactly, under the claim lock).
        heartbeat_interval, grace_period: Heartbeats of running trials on RDB storages;
            a trial silent for ``grace_period`` seconds is marked FAIL and retried.
        progress: A tqdm bar on stderr.
        poll: Seconds between checks while waiting for other workers' running trials.
        wait: When every trial left of ``total_trials`` is claimed by another worker's
            running trial, wait for those trials (the default: the target is then met
            when this returns, and a trial whose worker died is retried once its
            heartbeat is stale) or return at once (``False``), so that a process with
            other studies to run can move on and come back to this one later.
        data: A PyG ``Data`` to use instead of loading ``dataset``.
        callbacks: Called as ``callback(study, trial)`` with the ``FrozenTrial`` of every
            trial this process finishes, right after it is told (as in Optuna's
            ``Study.optimize(callbacks=...)``; a trial that could not be recorded is not
            passed on). With ``n_jobs > 1`` each worker calls them for its own trials, so
            they must be picklable. An exception in a callback stops the study.

    Returns:
        The ``optuna.Study``.

    Raises:
        ValueError: bad argument, bad or unreachable storage, or an existing study with
            the same name but another direction or dataset/model/space/objective/epochs.
    """
    check_choice("model", model, ("gcn", "gat"))
    check_choice("space", space, SPACES)
    check_choice("objective", objective, OBJECTIVES)
    check_choice("prior", prior, ("uniform", "class", "neighbors"))
    if n_trials is not None:
        check_positive_int("n_trials", n_trials)
    if total_trials is not None:
        check_positive_int("total_trials", total_trials)
    if n_trials is None and total_trials is None and timeout is None:
        raise ValueError("n_trials, total_trials or timeout must be set; got none of them")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a number of seconds > 0; got {timeout!r}")
    check_positive_int("seeds_per_trial", seeds_per_trial)
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_int("n_jobs", n_jobs)
    if not isinstance(wait, bool):
        raise TypeError(f"wait must be True or False; got {type(wait).__name__} {wait!r}")
    if n_jobs > 1 and not (storage is None or (isinstance(storage, str)
                                               and ":memory:" not in storage)):
        raise ValueError("n_jobs > 1 needs a storage that other processes can open (a "
                         "sqlite:///file.db, postgresql:// or journal: URL); got "
                         f"{storage if isinstance(storage, str) else type(storage).__name__!r}")
    specs = search_space(space, prior, space_file)
    multi = objective == "multi"
    make_sampler(sampler, seed, space=specs, multi=multi)  # fail fast on a bad name
    if isinstance(pruner, str):
        pruner_obj = make_pruner(pruner, epochs)
        pruner_name = pruner
    else:
        pruner_obj, pruner_name = pruner, type(pruner).__name__
    if multi:  # Optuna does not support pruning multi-objective trials
        pruner_obj, pruner_name = optuna.pruners.NopPruner(), "none"
    base = (config or TrainConfig.for_model(model)).replace(model=model, epochs=epochs,
                                                             prior=prior)
    if objective == "roc_auc":  # the epoch is kept by the metric the trial is scored on
        base = base.replace(select="roc_auc")
    handle = open_storage(storage, heartbeat_interval=heartbeat_interval,
                          grace_period=grace_period)
    if total_trials is not None and not handle.exact:
        warnings.warn(f"storage {handle.display} has no cross-machine claim lock; "
                      "total_trials is exact only for workers on this machine", stacklevel=2)
    if data is None:
        from graphls.data import load_dataset

        data = load_dataset(dataset, root=root, split=split, seed=seed,
                            split_index=split_index)
    name = getattr(data, "name", None) or dataset
    study_name = study_name or default_study_name(name, model, space, objective)
    attrs = {
        "dataset": name, "model": model, "space": space, "objective": objective,
        "epochs": epochs, "split": getattr(data, "split", None) or split,
        "split_index": split_index, "data_seed": seed, "prior": prior,
        "seeds_per_trial": seeds_per_trial, "trial_seed_base": TRIAL_SEED_BASE,
        "search_space": {n: s.to_dict() for n, s in specs.items()},
        "base_config": base.to_dict(), "sampler": sampler, "pruner": pruner_name,
        "graphls_version": _version(),
    }
    study = _open_study(handle, study_name, _directions(objective), attrs)
    study.pruner = pruner_obj
    # Learning curves are reported for every single-objective study (also unpruned ones: the
    # dashboard shows them); Optuna does not accept reports from multi-objective trials.
    fn = _Objective(data, base, specs, objective, seeds_per_trial, report=not multi)
    workers: _Workers | None = None
    if n_jobs > 1:
        # The workers share one study-wide target: what is finished now plus n_trials.
        if n_trials is not None:
            finished = sum(t.state in _FINISHED for t in study.get_trials(deepcopy=False))
            target = finished + n_trials
            total_trials = target if total_trials is None else min(total_trials, target)
            n_trials = None
        workers = _Workers(n_jobs, dict(
            dataset=dataset, model=model, n_trials=None, total_trials=total_trials,
            space=space, objective=objective, storage=storage, study_name=study_name,
            sampler=sampler, pruner=pruner, seeds_per_trial=seeds_per_trial, timeout=timeout,
            split=split, split_index=split_index, space_file=space_file, prior=prior,
            epochs=epochs, seed=seed, config=config, batch_size=batch_size,
            heartbeat_interval=heartbeat_interval, grace_period=grace_period, progress=False,
            poll=poll, wait=wait, data=data, callbacks=callbacks))
    with warnings.catch_warnings(), (workers or contextlib.nullcontext()):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        _optimize(study, handle, fn, sampler=sampler, seed=seed, n_trials=n_trials,
                  total_trials=total_trials, timeout=timeout, batch_size=batch_size,
                  progress=progress, poll=poll, shared=workers is not None,
                  callbacks=callbacks, wait=wait)
    return study


def _worker_main(kwargs: dict[str, Any], threads: int, errors: Any) -> None:
    """A worker process of ``run_study(n_jobs=...)``: the same study, one more claimer.

    The parent stops its workers with SIGTERM when it fails or is interrupted; here that
    is an interrupt, so the worker marks the trials it holds FAIL before it exits.
    """
    import torch

    from graphls._signals import sigterm_as_interrupt

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings(), sigterm_as_interrupt():
            warnings.simplefilter("ignore")
            run_study(**kwargs)
    except BaseException as exc:  # reported by the parent, which raises it
        errors.put(f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


class _Workers:
    """``n_jobs - 1`` worker processes (spawned) beside this one, each with its share of the
    cores; this process runs as a worker too and waits for the others on exit."""

    def __init__(self, n_jobs: int, kwargs: dict[str, Any]) -> None:
        self.n_jobs = n_jobs
        self.kwargs = kwargs
        self.threads = max(1, (os.cpu_count() or 1) // n_jobs)

    def __enter__(self) -> _Workers:
        import multiprocessing

        import torch

        ctx = multiprocessing.get_context("spawn")
        self.errors = ctx.Queue()
        self.procs = [ctx.Process(target=_worker_main, name=f"graphls-worker-{i}",
                                  args=(self.kwargs, self.threads, self.errors), daemon=True)
                      for i in range(1, self.n_jobs)]
        for p in self.procs:
            p.start()
        self.saved_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import torch

        torch.set_num_threads(self.saved_threads)
        if exc_type is not None:  # this worker failed (or was interrupted): stop the others
            for p in self.procs:
                p.terminate()
        for p in self.procs:
            p.join()
        if exc_type is None:
            failed = [p for p in self.procs if p.exitcode != 0]
            if failed:
                reason = self.errors.get() if not self.errors.empty() else (
                    f"exit status {failed[0].exitcode}")
                raise RuntimeError(f"{len(failed)} of {self.n_jobs - 1} worker processes "
                                   f"failed: {reason}")


def _version() -> str:
    from graphls import __version__

    return __version__


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

def select_best_trial(study: optuna.Study) -> FrozenTrial:
    """The study's best trial; for ``multi``, the lowest-ECE Pareto point near the best accuracy.

    Multi-objective rule: among the Pareto-optimal trials (validation accuracy ↑,
    validation ECE ↓) keep those with accuracy ≥ max accuracy − 0.005 (half a
    point), and take the lowest ECE (ties: higher accuracy, then lower number).
    A study trained with ``select="roc_auc"`` has validation ROC AUC as its first
    value, and the same rule applies to it.

    Raises:
        ValueError: the study has no completed trial.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no completed trial yet; "
                         "run graphls tune first")
    if len(study.directions) == 1:
        return study.best_trial
    front = study.best_trials
    top = max(t.values[0] for t in front)
    near = [t for t in front if t.values[0] >= top - MULTI_ACCURACY_TOLERANCE - 1e-12]
    return min(near, key=lambda t: (t.values[1], -t.values[0], t.number))


def score_metric(study: optuna.Study) -> str:
    """The metric of a study's (first) value: its objective, or for ``multi`` the
    epoch-selection metric of its settings (``accuracy`` or ``roc_auc``)."""
    attrs = study.user_attrs
    if attrs.get("objective") != "multi" and len(study.directions) == 1:
        return str(attrs.get("objective", "objective"))
    return str(attrs.get("base_config", {}).get("select", "accuracy"))


def _importances(study: optuna.Study) -> dict[str, float]:
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    target = None if len(study.directions) == 1 else (lambda t: t.values[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0),
                                              target=target))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def _load_report_data(study: optuna.Study, root: str | os.PathLike | None) -> Any:
    from graphls.data import load_dataset

    a = study.user_attrs
    return load_dataset(a["dataset"], root=root, split=a.get("split"),
                        seed=a.get("data_seed", 0), split_index=a.get("split_index", 0))


def write_report(study: optuna.Study, out: str | os.PathLike, *, seeds: int = 10,
                 root: str | os.PathLike | None = None, data: Any = None,
                 device: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Retrain the best configuration and the ε = 0, λ = 1 baseline; write files to ``out``.

    The best trial is :func:`select_best_trial`'s; the baseline is the study's
    fixed settings (PyG's example settings unless the study was given others) with
    ``epsilon = 0``, ``structural = 1`` and the uniform prior, i.e. plain PyG.
    Both train on seeds ``REPORT_SEED_BASE + s`` (``s < seeds``), never used in the
    search, and are evaluated on the test split (mean ± std, ECE with 15 bins).

    Writes ``best.json``, ``trials.csv`` (``study.trials_dataframe()``),
    ``summary.md``, ``landscape.png`` (validation accuracy over (ε, λ)),
    ``importances.png``, ``history.png``, ``reliability.png`` (test, best vs
    baseline, all seeds pooled) and, for ``multi``, ``pareto.png``.

    Returns:
        The content of ``best.json``.
    """
    import torch

    from graphls import report

    check_positive_int("seeds", seeds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    attrs = study.user_attrs
    if "base_config" not in attrs:
        raise ValueError(f"study {study.study_name!r} was not made by graphls tune "
                         "(no base_config user attribute)")
    best = select_best_trial(study)
    base = TrainConfig.from_dict(attrs["base_config"])
    if device is not None:
        base = base.replace(device=device)
    if data is None:
        data = _load_report_data(study, root)
    seed_list = [REPORT_SEED_BASE + s for s in range(seeds)]
    best_config = base.replace(**best.params, seed=seed_list[0])
    baseline_config = base.replace(epsilon=0.0, structural=1.0, prior="uniform",
                                   seed=seed_list[0])
    best_sweep = evaluate(data, best_config, seed_list, progress=progress)
    base_sweep = evaluate(data, baseline_config, seed_list, progress=progress)
    best_summary, base_summary = best_sweep.summary(), base_sweep.summary()

    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    label_best = _knob_label(best_config)
    result: dict[str, Any] = {
        "study_name": study.study_name,
        "dataset": attrs.get("dataset"), "split": attrs.get("split"),
        "model": attrs.get("model"), "space": attrs.get("space"),
        "objective": attrs.get("objective"),
        "score_metric": score_metric(study),
        "directions": [d.name.lower() for d in study.directions],
        "trials": dict(sorted(counts.items())),
        "best_trial": best.number, "params": best.params, "values": best.values,
        "validation": {k: v for k, v in best.user_attrs.items() if k.startswith("val_")},
        "selection_rule": ("lowest validation ECE among Pareto trials within 0.5 points of the "
                           f"best validation {score_metric(study)}")
        if len(study.directions) > 1 else f"best validation {attrs.get('objective')}",
        "report_seeds": seed_list,
        "best": best_summary, "baseline": base_summary,
        "environment": {"python": platform.python_version(), "optuna": optuna.__version__,
                        "torch": torch.__version__, "graphls": _version(),
                        "machine": platform.machine(), "node": platform.node()},
    }
    (out / "best.json").write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
    study.trials_dataframe().to_csv(out / "trials.csv", index=False)

    rows = {label_best: best_summary, "baseline (ε=0, λ=1)": base_summary}
    title = (f"{attrs.get('dataset')} {str(attrs.get('model')).upper()} "
             f"({attrs.get('split') or 'default'} split)")
    _plots(study, out, best, title)
    y = data.y.view(-1)
    test = data.test_mask
    curves = {}
    for label, sweep in ((label_best, best_sweep), ("baseline (ε=0, λ=1)", base_sweep)):
        probs = torch.cat([torch.softmax(r.logits[test], -1) for r in sweep.results])
        curves[label] = (probs, y[test].repeat(len(sweep.results)))
    report.plot_reliability(curves, out / "reliability.png",
                            title=f"{title}: test, {seeds} seeds pooled")
    (out / "summary.md").write_text(report.study_markdown(result, rows))
    return result


def _knob_label(config: TrainConfig) -> str:
    return f"best (ε={config.epsilon:.3g}, λ={_fmt_structural(config.structural)})"


def _fmt_structural(value: float | tuple[float, ...]) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:.3g}" for v in value)
    return f"{value:.3g}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def _plots(study: optuna.Study, out: Path, best: FrozenTrial, title: str) -> None:
    from graphls import report

    trials = study.get_trials(deepcopy=False, states=_FINISHED)
    multi = len(study.directions) > 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # landscape: validation accuracy (ROC AUC for a roc_auc study) over (ε, λ); pruned
    # trials at the value they were stopped with
    objective = study.user_attrs.get("objective", "objective")
    metric = "roc_auc" if score_metric(study) == "roc_auc" else "accuracy"
    what = f"validation {METRIC_LABELS[metric]}"
    points = []
    for t in trials:
        if "epsilon" not in t.params or "structural" not in t.params:
            continue
        value = t.user_attrs.get(f"val_{metric}")
        if (value is None and t.state == TrialState.PRUNED and t.intermediate_values
                and objective == metric):
            value = t.intermediate_values[max(t.intermediate_values)]
        points.append((t.params["epsilon"], t.params["structural"], value,
                       t.state == TrialState.COMPLETE))
    report.plot_landscape(
        [p[0] for p in points], [p[1] for p in points], [p[2] for p in points],
        out / "landscape.png", complete=[p[3] for p in points],
        best=(best.params.get("epsilon"), best.params.get("structural")), label=what,
        title=f"{title}: {what} over (ε, λ)")
    target = METRIC_LABELS.get(score_metric(study), score_metric(study))
    report.plot_importances(_importances(study), out / "importances.png",
                            title=f"{title}: importance for validation {target} (fANOVA)")
    report.plot_history(
        [t.number for t in trials],
        [t.values[0] if t.values else math.nan for t in trials],
        out / "history.png", pruned=[t.state == TrialState.PRUNED for t in trials],
        maximize=study.directions[0] == optuna.study.StudyDirection.MAXIMIZE,
        label=f"validation {target}",
        title=f"{title}: optimisation history")
    if multi:
        front = {t.number for t in study.best_trials}
        report.plot_pareto(
            [t.values[0] for t in complete], [t.values[1] for t in complete],
            out / "pareto.png", front=[t.number in front for t in complete],
            chosen=next(i for i, t in enumerate(complete) if t.number == best.number),
            label=f"validation {target}", title=f"{title}: validation {target} vs ECE")


# ---------------------------------------------------------------------------
# CLI glue
# ---------------------------------------------------------------------------

def _print_comparison(result: dict[str, Any]) -> None:
    from graphls import report

    best_label = _knob_label(TrainConfig.from_dict(result["best"]["config"] | {"seed": 0}))
    print(report.format_comparison({best_label: result["best"],
                                    "baseline (ε=0, λ=1)": result["baseline"]}))


def run_tune_command(args: Any, out: Path | None) -> int:
    """``graphls tune``: run or resume the study, print its best trial, then the report."""
    config = TrainConfig.for_model(
        args.model, hidden=args.hidden, layers=args.layers, heads=args.heads,
        dropout=args.dropout, lr=args.lr, weight_decay=args.weight_decay,
        weight_decay_scope=args.weight_decay_scope, epochs=args.epochs,
        patience=args.patience, label_noise=args.noise, noise_kind=args.noise_kind,
        select=args.select, device=args.device)
    n_trials = args.n_trials
    if n_trials is None and args.total_trials is None:
        n_trials = 100
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = run_study(
        args.dataset, args.model, n_trials, total_trials=args.total_trials, space=args.space,
        objective=args.objective, storage=args.storage, study_name=args.study_name,
        sampler=args.sampler, pruner=args.pruner, seeds_per_trial=args.seeds_per_trial,
        timeout=args.timeout, root=args.root, split=args.split, split_index=args.split_index,
        space_file=args.space_file, prior=args.prior, epochs=args.epochs, seed=args.seed,
        config=config, batch_size=args.batch_size, n_jobs=args.n_jobs,
        heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period,
        progress=not args.no_progress)
    counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    print(f"study {study.study_name}: {sum(counts.values())} trials ("
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")")
    try:
        best = select_best_trial(study)
    except ValueError:
        print("no completed trial yet")
        return 0
    values = ", ".join(f"{v:.4f}" for v in best.values)
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in best.params.items())
    print(f"best trial #{best.number}: validation {study.user_attrs['objective']} = {values}; "
          f"{params}")
    if args.no_report:
        return 0
    out = out or _writable(Path(study.study_name))
    result = write_report(study, out, seeds=args.report_seeds, root=args.root,
                          device=args.device, progress=not args.no_progress)
    _print_comparison(result)
    print(f"wrote {out}/best.json, trials.csv, summary.md and plots")
    return 0


def _writable(path: Path) -> Path:
    from graphls.cli import check_writable_dir

    return check_writable_dir(path)


def run_report_command(args: Any, out: Path | None) -> int:
    """``graphls report``: rebuild the report of a stored study from the storage alone."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(args.storage, args.study_name)
    out = out or _writable(Path(study.study_name))
    result = write_report(study, out, seeds=args.seeds, root=args.root, device=args.device,
                          progress=not getattr(args, "no_progress", False))
    _print_comparison(result)
    print(f"wrote {out}/best.json, trials.csv, summary.md and plots")
    return 0

