"""Optuna search over label smoothing ε (``epsilon``) and structural smoothing λ (``structural``).

The only package of graphls that imports Optuna. :func:`run_study` runs (or
resumes) a study whose objective trains on the training nodes and scores on the
**validation** nodes only (no test label is read during the search);
:func:`write_report` then retrains the best configuration and the ε = 0, λ = 1
baseline over fresh seeds and reports test numbers. ``graphls tune`` and
``graphls report`` (:mod:`graphls.cli`) call the two.

- :mod:`~graphls.tuning.space`: the searched parameters and their ranges
  (``joint``, ``full``, a TOML file);
- :mod:`~graphls.tuning.samplers`: samplers and pruners by name, seeded, with
  settings from the epoch budget;
- :mod:`~graphls.tuning.storage`: storage URLs, the journal file, SQLite in WAL
  mode, file and PostgreSQL claim locks;
- :mod:`~graphls.tuning.settings`: :class:`StudySettings`, what a study searches
  and where it lives;
- :mod:`~graphls.tuning.study`: study names, identity attributes, open and load,
  the best trial;
- :mod:`~graphls.tuning.objective`: the trial objective, its pruning hooks and
  batches of trials trained together;
- :mod:`~graphls.tuning.optimize`: claims, the loop, heartbeats, callbacks and
  :func:`run_study`;
- :mod:`~graphls.tuning.workers`: ``n_jobs`` worker processes;
- :mod:`~graphls.tuning.report`: the after-study report (plots by :mod:`graphls.report`).

>>> from graphls.tuning import StudySettings, run_study, write_report
>>> settings = StudySettings(dataset="Cora", model="gcn", objective="accuracy")
>>> study = run_study(settings, n_trials=30)  # doctest: +SKIP
>>> write_report(study, "runs/cora")  # doctest: +SKIP
"""

from graphls.tuning.objective import OBJECTIVES, TRIAL_SEED_BASE
from graphls.tuning.optimize import MAX_TRIAL_BATCH, Callback, default_trial_batch, run_study
from graphls.tuning.report import REPORT_SEED_BASE, param_importances, write_report
from graphls.tuning.samplers import PRUNERS, SAMPLERS, make_pruner, make_sampler, pruner_settings
from graphls.tuning.settings import StudySettings
from graphls.tuning.space import GRID_POINTS, SPACES, ParamSpec, search_space
from graphls.tuning.storage import DEFAULT_STORAGE, file_lock, open_storage
from graphls.tuning.study import (
    MULTI_ACCURACY_TOLERANCE,
    default_study_name,
    load_study,
    quiet_optuna,
    score_metric,
    select_best_trial,
)

__all__ = [
    "DEFAULT_STORAGE",
    "GRID_POINTS",
    "MAX_TRIAL_BATCH",
    "MULTI_ACCURACY_TOLERANCE",
    "OBJECTIVES",
    "PRUNERS",
    "REPORT_SEED_BASE",
    "SAMPLERS",
    "SPACES",
    "TRIAL_SEED_BASE",
    "Callback",
    "ParamSpec",
    "StudySettings",
    "default_study_name",
    "default_trial_batch",
    "file_lock",
    "load_study",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "param_importances",
    "pruner_settings",
    "quiet_optuna",
    "run_study",
    "score_metric",
    "search_space",
    "select_best_trial",
    "write_report",
]
