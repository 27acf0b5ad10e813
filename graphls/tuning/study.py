"""Studies: their names, the user attributes that identify them, open and load, the best trial.

A study made by ``run_study`` stores its settings as user attributes (dataset,
model, space, objective, epochs, split, prior, seeds per trial, the fixed
training settings as ``base_config``, ...). Resuming it with other settings is
refused with the one that differs; the ``device`` may differ per worker.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from graphls import __version__
from graphls.config import TrainConfig
from graphls.tuning.objective import TRIAL_SEED_BASE
from graphls.tuning.settings import StudySettings
from graphls.tuning.space import ParamSpec
from graphls.tuning.storage import StorageHandle, open_storage

__all__ = ["FINISHED", "IDENTITY_ATTRS", "MULTI_ACCURACY_TOLERANCE", "default_study_name",
           "load_study", "open_study", "quiet_optuna", "score_metric", "select_best_trial",
           "study_user_attrs"]

#: Study user attributes that must agree when a study is resumed.
IDENTITY_ATTRS = ("dataset", "model", "space", "objective", "epochs", "split", "split_index",
                  "prior", "seeds_per_trial")
#: The states of a trial that counts towards a budget.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: Multi-objective "best": the lowest-ECE Pareto point within this much validation accuracy.
MULTI_ACCURACY_TOLERANCE = 0.005


def quiet_optuna() -> None:
    """Optuna logs warnings only (not a line per trial), as ``graphls tune`` and ``report`` do."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def default_study_name(dataset: str, model: str = "gcn", space: str = "joint",
                       objective: str = "accuracy") -> str:
    """``graphls-<dataset>-<model>-<space>-<objective>`` (``graphls-cora-gcn-joint-accuracy``)."""
    return f"graphls-{dataset.lower()}-{model}-{space}-{objective}"


def study_user_attrs(settings: StudySettings, data: Any, specs: dict[str, ParamSpec],
                     base: TrainConfig, pruner_name: str) -> dict[str, Any]:
    """What a study made with ``settings`` on ``data`` stores about itself."""
    return {
        "dataset": getattr(data, "name", None) or settings.dataset, "model": settings.model,
        "space": settings.space, "objective": settings.objective, "epochs": settings.epochs,
        "split": getattr(data, "split", None) or settings.split,
        "split_index": (list(settings.split_index) if isinstance(settings.split_index, tuple)
                        else settings.split_index), "data_seed": settings.seed,
        "prior": settings.prior, "seeds_per_trial": settings.seeds_per_trial,
        "trial_seed_base": TRIAL_SEED_BASE,
        "search_space": {n: s.to_dict() for n, s in specs.items()},
        "base_config": base.to_dict(), "sampler": settings.sampler, "pruner": pruner_name,
        "graphls_version": __version__,
    }


def open_study(handle: StorageHandle, study_name: str, directions: list[str],
               attrs: dict[str, Any]) -> optuna.Study:
    """Create the study, or resume it if its directions and ``attrs`` agree.

    Raises:
        ValueError: the storage went away, or a stored study of that name has other
            directions or identity attributes (the message names the first that differs).
    """
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
        for key in IDENTITY_ATTRS:
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
