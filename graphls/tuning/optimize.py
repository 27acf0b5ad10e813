"""The optimisation loop: claim trials under a lock, train them, tell them, call back.

**Budget.** ``n_trials`` keeps Optuna's meaning: this call (command) adds up to
``n_trials`` trials, so ``--n-trials 30`` then ``--n-trials 10`` leaves 40.
``total_trials`` is a study-wide target shared by every worker: a worker claims a
trial only while COMPLETE + PRUNED + RUNNING + WAITING trials are fewer than
``total_trials``, under the storage's claim lock (:mod:`graphls.tuning.storage`), so
N workers end with exactly ``total_trials`` COMPLETE or PRUNED trials. A worker
claims at most its share of the trials left, split evenly with the workers that
hold running trials, so that the last trials of a study are trained side by side
rather than by whichever worker is free first while the others wait. A worker
whose claims are all taken but not yet finished waits (while heartbeats are on)
until they finish, so that a trial failed by a dead worker is retried by a live
one and the target is still met. The baseline (trial 0) and the start points are
enqueued again when their trial failed; a baseline that never finished runs even once
the target is met, so that every finished study holds it.

Every running trial sends heartbeats (RDB storages) from a daemon thread; the
trials of a batch are trained together (:func:`graphls.tuning.objective.train_trials`)
and told one by one, each followed by the callbacks.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from graphls._validation import check_positive_int
from graphls.config import TrainConfig
from graphls.engine import default_seed_batch
from graphls.tuning.objective import Objective, directions, train_trials
from graphls.tuning.samplers import make_sampler
from graphls.tuning.settings import StudySettings
from graphls.tuning.space import grid_space
from graphls.tuning.storage import StorageHandle, open_storage
from graphls.tuning.study import FINISHED, default_study_name, open_study, study_user_attrs
from graphls.tuning.workers import Workers

__all__ = ["MAX_TRIAL_BATCH", "WORKER", "Callback", "default_trial_batch", "run_study"]

#: Which process ran a trial (``host:pid``), recorded as the trial's ``worker`` user attribute.
WORKER = f"{platform.node()}:{os.getpid()}"
#: How many times a failed baseline or start point is enqueued again (:func:`_enqueue_fixed`).
FIXED_RETRIES = 3
#: ``callback(study, trial)``, called with each trial's ``FrozenTrial`` once it is told.
Callback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


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


#: The most trials :func:`default_trial_batch` claims together.
MAX_TRIAL_BATCH = 16


def default_trial_batch(data: Any, config: TrainConfig, seeds_per_trial: int = 1) -> int:
    """How many trials a study claims and trains together when ``batch_size`` is not given.

    As many as keep the batch's members (trials × seeds) within the engine's memory cap
    (:func:`graphls.engine.default_seed_batch`), at most :data:`MAX_TRIAL_BATCH`: 16 on
    Planetoid-sized graphs, fewer on large ones, 1 where one member is all that fits.
    """
    members = default_seed_batch(data, config, MAX_TRIAL_BATCH * seeds_per_trial)
    return max(1, min(MAX_TRIAL_BATCH, members // seeds_per_trial))


def _sampler_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _optimize(study: optuna.Study, handle: StorageHandle, objective: Objective, *,
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

        finished = len(study.get_trials(deepcopy=False, states=FINISHED))
        total = n_trials if n_trials is not None else max(0, (total_trials or 0) - finished)
        bar = tqdm(total=total, desc=name, unit="trial", file=sys.stderr, dynamic_ncols=True)

    def refresh(told: int) -> None:
        """Move the bar by this worker's ``told`` trials, or (``shared``) to every worker's."""
        if bar is None:
            return
        now = (len(study.get_trials(deepcopy=False, states=FINISHED)) - finished
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
                    outcomes = train_trials(objective, trials, [p for _, p in claim])
                except BaseException:
                    for t in trials:
                        with contextlib.suppress(Exception):
                            study.tell(t, state=TrialState.FAIL)
                    raise
            for t, (state, values) in zip(trials, outcomes, strict=True):
                try:
                    frozen = study.tell(t, values if state == TrialState.COMPLETE else None,
                                        state=state)
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


def _claim(study: optuna.Study, handle: StorageHandle, objective: Objective, *, sampler: str,
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
        size = math.prod(len(v) for v in grid_space(objective.specs).values())
        if len(claimed - {None}) >= size:  # every grid point is done or being done
            return None
    if total_trials is not None:
        counts = Counter(t.state for t in study.get_trials(deepcopy=False))
        finished = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        if sampler != "grid":
            _enqueue_fixed(study, objective, baseline_only=finished >= total_trials)
        # every count from this one read: other workers tell without the claim lock, and a
        # trial told between two reads would be neither finished nor running, a free slot
        trials = study.get_trials(deepcopy=False)
        counts = Counter(t.state for t in trials)
        finished = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        waiting, running = counts[TrialState.WAITING], counts[TrialState.RUNNING]
        if finished >= total_trials:
            # the budget is met, but a baseline that never finished still runs (over it)
            take = min(want, sum(t.state == TrialState.WAITING and
                                 t.user_attrs.get("baseline", False) for t in trials))
            if take == 0:
                return None
        else:
            free = max(0, total_trials - finished - running - waiting)
            # this worker's share of what is left beside the workers holding running
            # trials: the last trials are split between them, not all taken by the first
            # one free while the others then sit idle
            others = len({t.user_attrs.get("worker") for t in trials
                          if t.state == TrialState.RUNNING} - {WORKER})
            take = min(want, math.ceil((waiting + free) / (1 + others)))
        if take == 0:
            return [] if handle.heartbeat is not None and running > 0 else None
    elif sampler != "grid":
        _enqueue_fixed(study, objective, baseline_only=False)
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
        trial.set_user_attr("worker", WORKER)
        with warnings.catch_warnings():
            # the baseline may lie outside a narrowed range: it is the study's fixed setting
            warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
            claims.append((trial, objective.suggest(trial)))
    return claims


def _enqueue_fixed(study: optuna.Study, objective: Objective, *, baseline_only: bool) -> None:
    """Enqueue the study's fixed trials: the baseline and the start points.

    A new study gets the baseline as trial 0, then the start points in order. Later, one
    of them whose trial was failed from outside (its worker was killed, the run was
    interrupted) and that holds no live or finished trial is enqueued again with its
    parameters, since no sampler would propose it: a study is not done before its
    baseline (the tuned pick is never below it on validation). A trial that failed on
    its own (``fail_reason``: its training diverged) is not retried, and a point is
    retried at most :data:`FIXED_RETRIES` times. ``baseline_only``: the budget is met;
    only a failed baseline runs again, over it. The grid sampler holds ε = 0, λ = 1
    among its points and is not called here.
    """
    trials = study.get_trials(deepcopy=False)
    if not trials:
        study.enqueue_trial(objective.baseline(), user_attrs={"baseline": True})
        for params in objective.start:  # then the settings asked to be tried first
            study.enqueue_trial(params, user_attrs={"enqueued": True})
        return

    def key(params: Any) -> str:
        return json.dumps(params, sort_keys=True, default=str)

    kinds = ("baseline",) if baseline_only else ("baseline", "enqueued")
    fixed = [(t, next((k for k in kinds if t.user_attrs.get(k)), None)) for t in trials]
    fixed = [(t, kind, key(t.system_attrs.get("fixed_params"))) for t, kind in fixed
             if kind is not None and t.system_attrs.get("fixed_params") is not None]
    failures = Counter(k for t, _, k in fixed if t.state == TrialState.FAIL)
    # held: live or finished; or failed on its own; or out of retries
    held = {k for t, _, k in fixed if t.state != TrialState.FAIL
            or "fail_reason" in t.user_attrs or failures[k] > FIXED_RETRIES}
    for t, kind, k in fixed:
        if k not in held:
            held.add(k)
            study.enqueue_trial(t.system_attrs["fixed_params"], user_attrs={kind: True})


def run_study(settings: StudySettings, *, n_trials: int | None = 100,
              timeout: float | None = None, n_jobs: int = 1,
              callbacks: Sequence[Callback] = (), total_trials: int | None = None,
              wait: bool = True, progress: bool = True, poll: float = 1.0) -> optuna.Study:
    """Run (or resume) the validation-only Optuna search of ``settings``; return the study.

    Like Optuna's ``Study.optimize(func, n_trials, timeout, n_jobs, callbacks)``, with
    the study and its objective described by ``settings`` (:class:`StudySettings`).
    Every trial trains ``config.replace(**params)`` on the training nodes, for seeds
    ``TRIAL_SEED_BASE + s`` (``s < seeds_per_trial``), and scores the mean over seeds on
    the validation nodes (``splits=("train", "val")``: test labels are never read)::

        accuracy:  maximise  acc_val(θ)
        nll:       minimise  NLL_val(θ) = -1/|V| Σ_{i∈V} log p_θ(y_i | x)
        roc_auc:   maximise  AUC_val(θ)   (binary; macro one-vs-rest for K > 2)
        multi:     maximise acc_val(θ), minimise ECE_val(θ)  (15 equal-width bins;
                   AUC_val(θ) in place of acc_val(θ) when config.select is "roc_auc")

    at the epoch selected by ``graphls.engine``'s rule (by validation ROC AUC for
    ``roc_auc``, which sets ``select="roc_auc"`` on ``config``). Validation metrics (raw
    and temperature-scaled) are stored as trial user attributes.

    >>> from graphls.tuning import StudySettings, run_study
    >>> settings = StudySettings(dataset="Cora", model="gcn", storage="sqlite:///graphls.db")
    >>> study = run_study(settings, n_trials=30)  # doctest: +SKIP

    Args:
        settings: What is searched and where the study lives.
        n_trials: Trials this call adds (Optuna's meaning; ``None``: no per-call cap).
        timeout: Stop claiming trials after this many seconds.
        n_jobs: Worker processes on this machine (this one and ``n_jobs - 1`` more)
            sharing the study through ``settings.storage`` (a file or database URL), each
            with ``cpu_count // n_jobs`` torch threads. ``n_trials`` is then the number of
            trials the workers add together (exactly, under the claim lock).
        callbacks: Called as ``callback(study, trial)`` with the ``FrozenTrial`` of every
            trial this process finishes, right after it is told (as in Optuna's
            ``Study.optimize(callbacks=...)``; a trial that could not be recorded is not
            passed on). With ``n_jobs > 1`` each worker calls them for its own trials, so
            they must be picklable. An exception in a callback stops the study.
        total_trials: Study-wide target of COMPLETE + PRUNED trials shared by every worker,
            exact under the claim lock (see the module docstring).
        wait: When every trial left of ``total_trials`` is claimed by another worker's
            running trial, wait for those trials (the default: the target is then met
            when this returns, and a trial whose worker died is retried once its
            heartbeat is stale) or return at once (``False``), so that a process with
            other studies to run can move on and come back to this one later.
        progress: A tqdm bar on stderr.
        poll: Seconds between checks while waiting for other workers' running trials.

    Returns:
        The ``optuna.Study``.

    Raises:
        ValueError: bad argument, bad or unreachable storage, or an existing study with
            the same name but another direction or dataset/model/space/objective/epochs.
        TypeError: ``settings`` is not a :class:`StudySettings`, or ``wait`` not a bool.
    """
    if not isinstance(settings, StudySettings):
        raise TypeError(f"settings must be a StudySettings; got {type(settings).__name__} "
                        f"{settings!r}; e.g. run_study(StudySettings(dataset='Cora'), "
                        "n_trials=30)")
    if n_trials is not None:
        check_positive_int("n_trials", n_trials)
    if total_trials is not None:
        check_positive_int("total_trials", total_trials)
    if n_trials is None and total_trials is None and timeout is None:
        raise ValueError("n_trials, total_trials or timeout must be set; got none of them")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a number of seconds > 0; got {timeout!r}")
    check_positive_int("n_jobs", n_jobs)
    if not isinstance(wait, bool):
        raise TypeError(f"wait must be True or False; got {type(wait).__name__} {wait!r}")
    storage = settings.storage
    if n_jobs > 1 and not (storage is None or (isinstance(storage, str)
                                               and ":memory:" not in storage)):
        raise ValueError("n_jobs > 1 needs a storage that other processes can open (a "
                         "sqlite:///file.db, postgresql:// or journal: URL); got "
                         f"{storage if isinstance(storage, str) else type(storage).__name__!r}")
    specs = settings.specs()
    pruner, pruner_name = settings.make_pruner()
    base = settings.train_config()
    handle = open_storage(storage, heartbeat_interval=settings.heartbeat_interval,
                          grace_period=settings.grace_period)
    if total_trials is not None and not handle.exact:
        warnings.warn(f"storage {handle.display} has no cross-machine claim lock; "
                      "total_trials is exact only for workers on this machine", stacklevel=2)
    data = settings.load_data()
    first = data[0] if isinstance(data, list) else data  # the first of several splits
    attrs = study_user_attrs(settings, first, specs, base, pruner_name)
    study_name = settings.study_name or default_study_name(
        attrs["dataset"], settings.model, settings.space, settings.objective)
    study = open_study(handle, study_name, directions(settings.objective), attrs)
    study.pruner = pruner
    # Learning curves are reported for every single-objective study (also unpruned ones: the
    # dashboard shows them); Optuna does not accept reports from multi-objective trials.
    fn = Objective(data, base, specs, settings.objective, settings.seeds_per_trial,
                   report=not settings.multi, trial_seeds=settings.trial_seeds,
                   start=settings.enqueue)
    batch_size = (settings.batch_size if settings.batch_size is not None
                  else default_trial_batch(first, base, settings.seeds_per_trial))
    workers: Workers | None = None
    if n_jobs > 1:
        # The workers share one study-wide target: what is finished now plus n_trials.
        if n_trials is not None:
            finished = sum(t.state in FINISHED for t in study.get_trials(deepcopy=False))
            target = finished + n_trials
            total_trials = target if total_trials is None else min(total_trials, target)
            n_trials = None
        workers = Workers(n_jobs, run_study, (replace(settings, data=data),), dict(
            n_trials=None, total_trials=total_trials, timeout=timeout, callbacks=callbacks,
            wait=wait, progress=False, poll=poll))
    with warnings.catch_warnings(), (workers or contextlib.nullcontext()):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        _optimize(study, handle, fn, sampler=settings.sampler, seed=settings.seed,
                  n_trials=n_trials, total_trials=total_trials, timeout=timeout,
                  batch_size=batch_size, progress=progress, poll=poll,
                  shared=workers is not None, callbacks=callbacks, wait=wait)
    return study
