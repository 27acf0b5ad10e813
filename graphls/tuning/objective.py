"""The trial objective: train a trial's configuration, score it on validation, prune it.

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
for ``s < k`` and averages (``trial_seeds="per-trial"``: trial ``n`` trains
``TRIAL_SEED_BASE + n·k + s`` instead). Given several splits (one ``Data`` per
split), every seed trains on each split and the trial is scored by the mean over
all of those runs. No test label is read: every run is ``fit_many(...,
splits=("train", "val"))``.

**The baseline is trial 0.** A new study first runs the baseline (ε = 0, λ = 1,
no pseudo-label rounds, the other searched parameters at the study's fixed
settings; :meth:`Objective.baseline`), enqueued, so the search can never report
a "best" that is worse on validation than the plain model it started from. A
trial whose training diverges (non-finite loss) fails (``FAIL``) with the reason
in its ``fail_reason`` user attribute; the study goes on.

**Pruning** (single objective only; Optuna cannot prune multi-objective
trials, so ``multi`` never prunes). Each epoch reports the running best
validation score, and the pruner's warm-up comes from the epoch budget (see
:func:`graphls.tuning.pruner_settings`), so that a trial is never stopped in the
noisy first epochs. A batch of trials trains as one :func:`graphls.engine.fit_many`
call (:func:`train_trials`), each trial judged on its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from graphls.config import TrainConfig, TrainResult
from graphls.engine import StopMember, TrainingDiverged, fit_many
from graphls.tuning.space import ParamSpec

__all__ = ["OBJECTIVES", "TRIAL_SEED_BASE", "EpochView", "Objective", "directions",
           "train_trials"]

OBJECTIVES = ("accuracy", "nll", "roc_auc", "multi")
#: Trials train seeds ``TRIAL_SEED_BASE + s``; reports use fresh ones (``REPORT_SEED_BASE``).
TRIAL_SEED_BASE = 0


def directions(objective: str) -> list[str]:
    """The study direction of each of the objective's values."""
    return {"accuracy": ["maximize"], "nll": ["minimize"], "roc_auc": ["maximize"],
            "multi": ["maximize", "minimize"]}[objective]


class Objective:
    """Train one trial's configuration on every trial seed (and split) and score it on
    validation.

    ``data`` is one PyG ``Data``, or a sequence of them (one per split): a trial
    then trains every seed on each split, the first split first.
    """

    def __init__(self, data: Any, base: TrainConfig, specs: Mapping[str, ParamSpec],
                 objective: str, seeds_per_trial: int, report: bool,
                 trial_seeds: str = "common", start: Sequence[Mapping[str, Any]] = ()
                 ) -> None:
        self.datas = list(data) if isinstance(data, (list, tuple)) else [data]
        if not self.datas:
            raise ValueError("data must be a Data or a non-empty sequence of them; got an "
                             "empty sequence")
        self.base = base
        self.specs = specs
        self.objective = objective
        self.seeds_per_trial = seeds_per_trial
        self.trial_seeds = trial_seeds
        self.report = report
        #: parameters a new study tries right after the baseline (``StudySettings.enqueue``)
        self.start = [dict(p) for p in start]

    def seeds(self, number: int) -> list[int]:
        """The training seeds of trial ``number``."""
        first = TRIAL_SEED_BASE + (number * self.seeds_per_trial
                                   if self.trial_seeds == "per-trial" else 0)
        return [first + s for s in range(self.seeds_per_trial)]

    def baseline(self) -> dict[str, Any]:
        """Trial 0's parameters: ε = 0, λ = 1, no pseudo-label rounds, the rest as ``base``."""
        fixed = {"epsilon": 0.0, "structural": 1.0, "pseudo_label_rounds": 0}
        out = {}
        for name in self.specs:
            value = fixed.get(name, getattr(self.base, name))
            out[name] = value[0] if isinstance(value, tuple) else value
        return out

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample the trial's parameters, in the order of the search space."""
        return {name: spec.suggest(trial) for name, spec in self.specs.items()}

    def configs(self, params: Mapping[str, Any], number: int = 0) -> list[TrainConfig]:
        """Trial ``number``'s training runs: ``base`` with ``params``, once per trial seed."""
        config = self.base.replace(**params)
        return [config.replace(seed=seed) for seed in self.seeds(number)]

    def score(self, trial: optuna.Trial, results: Sequence[TrainResult]) -> list[float]:
        """Store the validation metrics (mean over seeds) on ``trial``; return its values."""
        attrs = {f"val_{m}": float(np.mean([r.metrics["val"][m] for r in results]))
                 for m in ("accuracy", "ece", "nll", "brier", "confidence", "roc_auc")}
        attrs.update({f"val_{m}_calibrated": float(np.mean([r.calibrated["val"][m]
                                                               for r in results]))
                      for m in ("ece", "nll", "brier")})
        attrs["best_epoch"] = float(np.mean([r.best_epoch for r in results]))
        attrs["fit_seconds"] = float(sum(r.wall_time for r in results))
        attrs["seeds"] = [r.config.seed for r in results]
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if self.objective == "accuracy":
            return [attrs["val_accuracy"]]
        if self.objective in ("nll", "roc_auc"):
            return [attrs[f"val_{self.objective}"]]
        return [attrs[f"val_{self.base.select}"], attrs["val_ece"]]

    def pruning_hook(self, trial: optuna.Trial,
                     views: Callable[[int], EpochView] | None = None
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


class EpochView:
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


def train_trials(objective: Objective, trials: Sequence[optuna.Trial],
                 params: Sequence[dict[str, Any]]
                 ) -> list[tuple[TrialState, list[float] | None]]:
    """Train a batch of claimed trials together and return each trial's outcome.

    Every (trial, seed) run is one member of :func:`graphls.engine.fit_many`
    (a single trial is a batch of one; members that differ in ``hidden`` or
    ``layers`` train as separate groups). A trial's first seed reports its
    learning curve and may be pruned; a pruned trial's other seeds leave the
    batch at their next epoch, and the trials still running go on without them.
    With several splits, the batch trains on one split after the other (their
    masks differ), the first split with pruning; a trial pruned there, or one whose
    training diverged on a split, does not train on the next ones.
    """
    configs: list[TrainConfig] = []
    owner: list[tuple[int, int]] = []  # member -> (trial, seed position)
    for t, p in enumerate(params):
        for k, config in enumerate(objective.configs(p, trials[t].number)):
            configs.append(config)
            owner.append((t, k))
    results: list[Any] = []
    pruned = [False] * len(trials)
    diverged: set[int] = set()  # trials that already failed: the next splits skip them
    for position, data in enumerate(objective.datas):
        members = [m for m, (t, _) in enumerate(owner) if not pruned[t] and t not in diverged]
        report = objective.report and position == 0
        got = _train_split(objective, data, trials, [configs[m] for m in members],
                           [owner[m] for m in members], pruned, report)
        results.extend((owner[m][0], r) for m, r in zip(members, got, strict=True))
        diverged |= {owner[m][0] for m, r in zip(members, got, strict=True)
                     if isinstance(r, TrainingDiverged)}
    outcomes: list[tuple[TrialState, list[float] | None]] = []
    for t, trial in enumerate(trials):
        if pruned[t]:
            outcomes.append((TrialState.PRUNED, None))
            continue
        failed = [r for owner_t, r in results
                  if owner_t == t and isinstance(r, TrainingDiverged)]
        if failed:
            trial.set_user_attr("fail_reason", f"TrainingDiverged: {failed[0]}")
            outcomes.append((TrialState.FAIL, None))
            continue
        # only a pruned trial's members stop early, so every member here has a result
        mine = [r for owner_t, r in results if owner_t == t and isinstance(r, TrainResult)]
        outcomes.append((TrialState.COMPLETE, objective.score(trial, mine)))
    return outcomes


def _train_split(objective: Objective, data: Any, trials: Sequence[optuna.Trial],
                 configs: list[TrainConfig], owner: list[tuple[int, int]],
                 pruned: list[bool], report: bool) -> list[Any]:
    """One ``fit_many`` over ``data`` for the members ``configs`` (of ``owner``'s
    (trial, seed position)); sets ``pruned[t]`` for a trial its pruner stops."""
    held: list[EpochView | int | None] = [None, None]  # (view, its epoch)

    def views(epoch: int) -> EpochView:
        if held[1] != epoch:
            held[:] = [EpochView(trials[0].study), epoch]
        return held[0]  # type: ignore[return-value]

    hooks = [objective.pruning_hook(trial, views) if report else None for trial in trials]

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

    if not configs:
        return []
    return fit_many(data, configs, on_epoch, splits=("train", "val"), group=True,
                    on_diverge="return")
