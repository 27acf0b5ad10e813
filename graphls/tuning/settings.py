"""What a study searches and where it lives: :class:`StudySettings`, checked when made.

``run_study(settings, n_trials=..., timeout=..., n_jobs=..., callbacks=...)`` reads
like Optuna's ``Study.optimize(func, n_trials, timeout, n_jobs, callbacks)``: the
settings say which study (and so which objective) is optimised, the keywords how
long and by how many processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from graphls._validation import check_choice, check_positive_int
from graphls.config import PRIORS, TrainConfig
from graphls.tuning.objective import OBJECTIVES
from graphls.tuning.samplers import make_pruner, make_sampler, pruner_settings
from graphls.tuning.space import SPACES, ParamSpec, search_space

__all__ = ["MODELS", "PRIORS", "TRIAL_SEEDS", "StudySettings", "check_enqueue",
           "check_split_index"]

MODELS = ("gcn", "gat")
#: How trials pick their training seeds (:attr:`StudySettings.trial_seeds`).
TRIAL_SEEDS = ("common", "per-trial")


@dataclass(frozen=True)
class StudySettings:
    """The settings of one study: what each trial trains and searches, and where it is stored.

    Every trial trains ``config.replace(**params)`` on the training nodes and is
    scored on the validation nodes (see :mod:`graphls.tuning.objective`). The
    fields that name the study (dataset, model, space, objective, epochs, split,
    prior, seeds per trial and the fixed training settings) must agree with a
    stored study of the same name for it to be resumed.

    What is searched:

    Attributes:
        dataset: Dataset name for ``graphls.data.load_dataset`` (and the study name).
        data: A PyG ``Data`` to use instead of loading ``dataset`` (its ``name``, if
            set, names the study), or one ``Data`` per split of ``split_index``.
        root: Passed to ``load_dataset``.
        split: Passed to ``load_dataset`` (``seed`` seeds random splits).
        split_index: Passed to ``load_dataset``: which numbered split (a shipped fixed
            one, or one of BernNet's). A tuple tunes on several: every trial trains its
            seeds on each of these splits and is scored by the mean validation metric
            over all of them, so a configuration is chosen for the protocol rather
            than for one split's validation nodes (pruning judges the first split).
        model: ``"gcn"`` or ``"gat"``.
        space: ``"joint"`` (ε, λ) or ``"full"`` (also lr, weight decay, dropout, hidden).
        space_file: A TOML file that overrides or adds ranges
            (:func:`graphls.tuning.search_space`).
        prior: Smoothing prior (``"uniform"``, ``"class"``, ``"neighbors"``,
            ``"posterior"``); a non-uniform one adds ``prior_weight`` to the space
            (``"posterior"`` also widens ε to [0, 1], PosteL's α = 0.8 included).
        pseudo_label_rounds: With ``prior="posterior"``: also search the number of
            pseudo-label rounds in ``0..pseudo_label_rounds`` (0: not searched).
        objective: ``"accuracy"``, ``"nll"``, ``"roc_auc"`` or ``"multi"``.
        epochs: Epoch budget per training run (``None``: ``config``'s, 200 for PyG's
            example settings).
        config: Settings that are not searched (default PyG's example settings for
            ``model``); ``model``, ``epochs`` and ``prior`` are applied on top, and
            ``select="roc_auc"`` for the ``roc_auc`` objective.
        seeds_per_trial: Seeds averaged per trial (default 3: measured on Cora and
            CiteSeer, repeated 30-trial studies with 3 common seeds chose the most stable
            (ε, λ) and the best test accuracy on fresh seeds; 1 seed ranked trials by one
            run's noise, 5 cost more for no gain; ``benchmarks/seeds_per_trial.py``).
        trial_seeds: ``"common"``: every trial trains seeds ``TRIAL_SEED_BASE + s``
            (``s < seeds_per_trial``), so trials differ only by their parameters;
            ``"per-trial"``: trial ``n`` trains seeds ``TRIAL_SEED_BASE +
            n·seeds_per_trial + s``, so no configuration is ranked by one lucky seed.
        sampler: ``tpe``, ``gp``, ``cmaes``, ``random`` or ``grid`` (trial n's sampler is
            seeded by ``(seed, n)``).
        pruner: ``median``, ``hyperband``, ``none`` (settings from ``epochs``, see
            :func:`graphls.tuning.pruner_settings`) or a pruner object. Ignored for
            ``multi``.
        seed: Sampler seed, and the seed of random splits.
        enqueue: Parameters to try first, right after the baseline (trial 0), each a
            mapping of searched parameters (the ones it leaves out are sampled): a
            published default, say, so that the search can only report a configuration
            at least as good on validation. Only a new study enqueues them.
        batch_size: Trials claimed together and trained in one model pass
            (:func:`graphls.engine.fit_many`; each trial is pruned on its own).
            ``None`` (the default) chooses from the graph's size
            (:func:`graphls.tuning.default_trial_batch`: 16 on Planetoid-sized graphs,
            fewer on large ones, 1 on ogbn-products-sized ones).

    Where the study lives:

    Attributes:
        storage: URL, journal file or Optuna storage; default ``sqlite:///graphls.db``
            (:func:`graphls.tuning.open_storage`).
        study_name: Default ``graphls-<dataset>-<model>-<space>-<objective>``.
        heartbeat_interval: Seconds between a running trial's heartbeats on RDB
            storages (``None``: no heartbeats).
        grace_period: A trial silent for this many seconds is marked FAIL and retried
            (default ``2 × heartbeat_interval``).

    Raises:
        ValueError: an unknown choice, a count below 1, a bad space file, or a sampler
            that cannot serve the objective.
        TypeError: ``config`` is not a ``TrainConfig`` or ``pruner`` not a name or pruner.
        FileNotFoundError: ``space_file`` does not exist.
    """

    dataset: str = "Cora"
    data: Any = field(default=None, repr=False, compare=False)
    root: str | os.PathLike | None = None
    split: str | None = None
    split_index: int | tuple[int, ...] = 0
    model: str = "gcn"
    space: str = "joint"
    space_file: str | os.PathLike | None = None
    prior: str = "uniform"
    objective: str = "accuracy"
    epochs: int | None = None
    config: TrainConfig | None = None
    seeds_per_trial: int = 3
    trial_seeds: str = "common"
    pseudo_label_rounds: int = 0
    sampler: str = "tpe"
    pruner: str | optuna.pruners.BasePruner = "median"
    seed: int = 0
    batch_size: int | None = None
    enqueue: tuple[dict[str, Any], ...] = ()
    storage: str | optuna.storages.BaseStorage | None = None
    study_name: str | None = None
    heartbeat_interval: int | None = 60
    grace_period: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "split_index", check_split_index(self.split_index))
        if isinstance(self.data, (list, tuple)):
            count = len(self.split_index) if isinstance(self.split_index, tuple) else 1
            if len(self.data) != count:
                raise ValueError(f"data must be one Data per split of split_index "
                                 f"{self.split_index!r} ({count}); got {len(self.data)}")
        check_choice("model", self.model, MODELS)
        check_choice("space", self.space, SPACES)
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("prior", self.prior, PRIORS)
        check_positive_int("seeds_per_trial", self.seeds_per_trial)
        check_choice("trial_seeds", self.trial_seeds, TRIAL_SEEDS)
        check_positive_int("pseudo_label_rounds", self.pseudo_label_rounds, minimum=0)
        if self.pseudo_label_rounds and self.prior != "posterior":
            raise ValueError(f"pseudo_label_rounds needs prior='posterior'; got "
                             f"pseudo_label_rounds={self.pseudo_label_rounds} with "
                             f"prior={self.prior!r}")
        if self.config is not None and not isinstance(self.config, TrainConfig):
            raise TypeError(f"config must be a graphls.config.TrainConfig or None; got "
                            f"{type(self.config).__name__}")
        if self.epochs is None:
            config = self.config or TrainConfig.for_model(self.model)
            object.__setattr__(self, "epochs", config.epochs)
        check_positive_int("epochs", self.epochs)
        if self.batch_size is not None:
            check_positive_int("batch_size", self.batch_size)
        for name in ("heartbeat_interval", "grace_period"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if (self.heartbeat_interval is not None and self.grace_period is not None
                and self.grace_period < self.heartbeat_interval):
            raise ValueError(f"grace_period must be at least heartbeat_interval "
                             f"({self.heartbeat_interval} s), or every live trial would be "
                             f"failed between two heartbeats; got {self.grace_period}")
        if isinstance(self.pruner, str):
            pruner_settings(self.pruner, self.epochs)  # an unknown name lists the known ones
        elif not isinstance(self.pruner, optuna.pruners.BasePruner):
            raise TypeError(f"pruner must be a name (median, hyperband, none) or an Optuna "
                            f"pruner; got {type(self.pruner).__name__}")
        # the space file is read, and the sampler made, now: a mistake fails before a
        # storage is opened or a dataset loaded
        specs = self.specs()
        make_sampler(self.sampler, self.seed, space=specs, multi=self.multi)
        object.__setattr__(self, "enqueue", check_enqueue(self.enqueue, specs))
        if self.enqueue and self.sampler == "grid":
            raise ValueError("enqueue needs a sampler that takes enqueued trials; the grid "
                             "sampler visits its own points (got sampler='grid')")

    @property
    def multi(self) -> bool:
        """Whether the objective has two values (``multi``: a Pareto front)."""
        return self.objective == "multi"

    def specs(self) -> dict[str, ParamSpec]:
        """The searched parameters (:func:`graphls.tuning.search_space`)."""
        return search_space(self.space, self.prior, self.space_file,
                            pseudo_label_rounds=self.pseudo_label_rounds)

    def train_config(self) -> TrainConfig:
        """The settings every trial starts from (the searched parameters go on top)."""
        base = (self.config or TrainConfig.for_model(self.model)).replace(
            model=self.model, epochs=self.epochs, prior=self.prior)
        if self.objective == "roc_auc":  # the epoch is kept by the metric the trial is scored on
            base = base.replace(select="roc_auc")
        return base

    def make_pruner(self) -> tuple[optuna.pruners.BasePruner, str]:
        """The pruner and its name as stored with the study (``none`` for ``multi``)."""
        if self.multi:  # Optuna does not support pruning multi-objective trials
            return optuna.pruners.NopPruner(), "none"
        if isinstance(self.pruner, str):
            return make_pruner(self.pruner, self.epochs), self.pruner
        return self.pruner, type(self.pruner).__name__

    @property
    def split_indices(self) -> tuple[int, ...]:
        """The split(s) trials train on, as a tuple."""
        k = self.split_index
        return k if isinstance(k, tuple) else (k,)

    def load_data(self) -> Any:
        """``data``, or the dataset loaded with ``root``, ``split``, ``seed``, ``split_index``:
        one ``Data``, or a list of one per split when ``split_index`` is a tuple."""
        if self.data is not None:
            return list(self.data) if isinstance(self.data, (list, tuple)) else self.data
        from graphls.data import load_dataset

        datas = [load_dataset(self.dataset, root=self.root, split=self.split, seed=self.seed,
                              split_index=k) for k in self.split_indices]
        return datas if isinstance(self.split_index, tuple) else datas[0]


def check_enqueue(value: Any, specs: dict[str, ParamSpec]) -> tuple[dict[str, Any], ...]:
    """``value`` (mappings of searched parameters to values) as a tuple of dicts.

    Raises:
        TypeError: an entry is not a mapping, or a value not a number.
        ValueError: a parameter the study does not search, or a value outside its range.
    """
    if isinstance(value, Mapping):
        value = (value,)
    out = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise TypeError(f"enqueue must hold mappings of parameters to values; got "
                            f"{type(entry).__name__} {entry!r}")
        for name, v in entry.items():
            if name not in specs:
                raise ValueError(f"enqueue: {name!r} is not searched by this study; searched: "
                                 f"{', '.join(specs)}")
            spec = specs[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"enqueue: {name} must be a number; got {v!r}")
            ok = (v in spec.choices) if spec.choices is not None else spec.low <= v <= spec.high
            if not ok:
                allowed = (f"one of {list(spec.choices)}" if spec.choices is not None
                           else f"in [{spec.low:g}, {spec.high:g}]")
                raise ValueError(f"enqueue: {name} must be {allowed}; got {v!r}")
        out.append(dict(entry))
    return tuple(out)


def check_split_index(value: Any) -> int | tuple[int, ...]:
    """``value`` as a split index (an int >= 0) or a tuple of distinct ones (a list too).

    Raises:
        ValueError: a negative, repeated or non-integer index, or an empty sequence.
    """
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("split_index must be an integer >= 0 or a non-empty sequence "
                             "of them; got an empty sequence")
        indices = tuple(check_positive_int("split_index", v, minimum=0) for v in value)
        if len(set(indices)) != len(indices):
            raise ValueError(f"split_index must not repeat a split; got {list(value)}")
        return indices[0] if len(indices) == 1 else indices
    return check_positive_int("split_index", value, minimum=0)
