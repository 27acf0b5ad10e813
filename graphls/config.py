"""What decides one training run (:class:`TrainConfig`) and what it gives (:class:`TrainResult`).

Both are plain data: the engine (:mod:`graphls.engine`) reads a config and
returns results, the tuner and the benchmarks build configs, and every result
is saved with its resolved config (``to_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch

from graphls._validation import (
    check_choice,
    check_fraction,
    check_nonnegative_float,
    check_positive_int,
)

__all__ = ["METRIC_LABELS", "PRIORS", "RECIPES", "REPORTED", "SELECT", "SPLITS", "TrainConfig",
           "TrainResult"]

SPLITS = ("train", "val", "test")
#: Metrics reported per split (``*_calibrated`` after temperature scaling).
REPORTED = ("accuracy", "ece", "nll", "brier", "confidence", "roc_auc")
#: Validation metrics an epoch can be selected by (``TrainConfig.select``); ``"nll"``
#: keeps the epoch of lowest validation loss (the BernNet/PosteL recipe).
SELECT = ("accuracy", "roc_auc", "nll")
#: Smoothing priors (``TrainConfig.prior``).
PRIORS = ("uniform", "class", "neighbors", "posterior")
#: How reports name a validation score (selection metrics and tuning objectives).
METRIC_LABELS = {"accuracy": "accuracy", "nll": "NLL", "roc_auc": "ROC AUC"}
#: ``weight_decay_scope`` of each model when it is not given (PyG's examples).
DEFAULT_DECAY_SCOPE = {"gcn": "first", "gat": "all"}
#: Named training recipes, per model: the settings :meth:`TrainConfig.for_model` starts from.
#: ``pyg``: PyG's ``examples/gcn.py`` / ``examples/gat.py`` (200 epochs, the best
#: validation accuracy kept). ``bernnet``: the recipe of BernNet (He et al., NeurIPS 2021)
#: and PosteL (Heo et al., AAAI 2026) on their 60/20/20 splits: GCN 64 hidden units, lr 0.05,
#: weight decay 5e-4 on every parameter, up to 1000 epochs, the epoch of lowest
#: validation loss kept, stopped by their rule (``stop_window=200``); GCN drops between
#: layers only, GAT (8 heads of 8 units: PosteL's appendix B, BernNet's GAT) also drops
#: its input, as their ``GCN_Net``/``GAT_Net``.
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "pyg": {
        "gcn": {},
        "gat": {"hidden": 8, "heads": 8, "dropout": 0.6, "lr": 0.005},
    },
    "bernnet": {
        "gcn": {"hidden": 64, "lr": 0.05, "weight_decay": 5e-4, "weight_decay_scope": "all",
                "dropout": 0.5, "input_dropout": False, "epochs": 1000, "select": "nll",
                "stop_window": 200},
        "gat": {"hidden": 8, "heads": 8, "lr": 0.05, "weight_decay": 5e-4,
                "weight_decay_scope": "all", "dropout": 0.5, "input_dropout": True,
                "epochs": 1000, "select": "nll", "stop_window": 200},
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides one training run (saved with every result).

    Attributes:
        model: ``"gcn"`` or ``"gat"``.
        hidden: Hidden channels (per head for GAT).
        layers: Number of message-passing layers.
        heads: GAT attention heads in the hidden layers (ignored by GCN).
        dropout: Dropout probability on features (and GAT attention).
        input_dropout: Drop the input features too (``False``: between layers only).
        lr: Adam learning rate.
        weight_decay: Adam L2 penalty.
        weight_decay_scope: Which parameters it applies to: ``"first"`` (the
            first layer only, as Kipf & Welling and PyG's examples/gcn.py) or
            ``"all"`` (PyG's examples/gat.py). ``None`` picks the model's
            example: ``"first"`` for GCN, ``"all"`` for GAT, and picks again
            when :meth:`replace` changes the model.
        epochs: Maximum number of epochs.
        patience: Stop after this many epochs without a better selected epoch
            (``None``: run all ``epochs``).
        stop_window: BernNet/PosteL's stopping rule: after epoch ``W`` (0-based
            epoch ``> W``), stop when this epoch's validation loss exceeds the mean
            of the previous ``W`` epochs' (``None``: off).
        select: The validation metric that picks the kept epoch:
            ``"accuracy"`` (the default), ``"roc_auc"``
            (:func:`graphls.metrics.roc_auc_score`) or ``"nll"`` (the lowest
            validation loss); ties go to the lower validation NLL, then to the
            earliest epoch.
        epsilon: Label smoothing ε in [0, 1] (PyTorch convention: ε/K to every
            class). With a schedule, the value reached at the last epoch.
        structural: λ in [0, 1] for every layer, or one value per layer.
        learn_structural: Learn λ per layer (kept in [0, 1]), starting at ``structural``.
        prior: Smoothing prior u: ``"uniform"``, ``"class"`` (training-label
            frequencies), ``"neighbors"`` (each node's histogram of its
            labelled training neighbours) or ``"posterior"`` (PosteL's posterior,
            :func:`graphls.priors.posterior_label_prior`).
        prior_weight: u = w·prior + (1 - w)·uniform; for ``"posterior"`` the
            uniform part is over the *other* classes, ``(1 - e_y)/(K - 1)``, as
            PosteL's (so PosteL's α, β are ``epsilon = α``, ``prior_weight = 1 - β``).
            Must stay 1 for ``"uniform"``.
        pseudo_label_rounds: With ``prior="posterior"``, retrain up to this many
            times with the previous round's predictions on the non-training nodes
            as pseudo-labels in the posterior, while the validation loss improves;
            the round of lowest validation loss is kept (PosteL's iterations).
        epsilon_schedule: ``"constant"``, ``"linear"`` or ``"cosine"`` from
            ``epsilon_start`` to ``epsilon`` over ``epochs``.
        epsilon_start: Schedule start (``None``: ``epsilon``, i.e. constant).
        label_noise: Fraction of training labels flipped (seeded by ``seed``).
        noise_kind: ``"symmetric"`` or ``"pair"``.
        seed: Seeds weights, dropout and label noise.
        device: Torch device string.

    >>> TrainConfig(model="gat").weight_decay_scope
    'all'
    >>> TrainConfig().replace(model="gat").weight_decay_scope
    'all'
    """

    model: str = "gcn"
    hidden: int = 16
    layers: int = 2
    heads: int = 8
    dropout: float = 0.5
    input_dropout: bool = True
    lr: float = 0.01
    weight_decay: float = 5e-4
    weight_decay_scope: str | None = None
    epochs: int = 200
    patience: int | None = None
    stop_window: int | None = None
    select: str = "accuracy"
    epsilon: float = 0.0
    structural: float | tuple[float, ...] = 1.0
    learn_structural: bool = False
    prior: str = "uniform"
    prior_weight: float = 1.0
    pseudo_label_rounds: int = 0
    epsilon_schedule: str = "constant"
    epsilon_start: float | None = None
    label_noise: float = 0.0
    noise_kind: str = "symmetric"
    seed: int = 0
    device: str = "cpu"
    #: Whether ``weight_decay_scope`` was given (else it follows the model).
    _scope_given: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice("model", self.model, ("gcn", "gat"))
        check_positive_int("hidden", self.hidden)
        check_positive_int("layers", self.layers)
        check_positive_int("heads", self.heads)
        check_fraction("dropout", self.dropout, high_open=True)
        if not isinstance(self.input_dropout, bool):
            raise TypeError(f"input_dropout must be a bool; got "
                            f"{type(self.input_dropout).__name__} {self.input_dropout!r}")
        lr = check_nonnegative_float("lr", self.lr)
        if lr == 0:
            raise ValueError(f"lr must be > 0; got {self.lr!r}")
        check_nonnegative_float("weight_decay", self.weight_decay)
        object.__setattr__(self, "_scope_given", self.weight_decay_scope is not None)
        if self.weight_decay_scope is None:
            object.__setattr__(self, "weight_decay_scope", DEFAULT_DECAY_SCOPE[self.model])
        check_choice("weight_decay_scope", self.weight_decay_scope, ("first", "all"))
        check_positive_int("epochs", self.epochs)
        if self.patience is not None:
            check_positive_int("patience", self.patience)
        if self.stop_window is not None:
            check_positive_int("stop_window", self.stop_window)
        check_choice("select", self.select, SELECT)
        check_fraction("epsilon", self.epsilon)
        if isinstance(self.structural, (list, tuple)):
            values = tuple(check_fraction("structural", s) for s in self.structural)
            if len(values) != self.layers:
                raise ValueError(f"structural must have one value per layer ({self.layers}); "
                                 f"got {len(values)} values")
            object.__setattr__(self, "structural", values)
        else:
            check_fraction("structural", self.structural)
        check_choice("prior", self.prior, PRIORS)
        check_fraction("prior_weight", self.prior_weight)
        if self.prior == "uniform" and self.prior_weight != 1.0:
            raise ValueError(f"prior_weight has no effect with prior='uniform'; got "
                             f"prior_weight={self.prior_weight!r}; pick a prior "
                             f"({', '.join(PRIORS[1:])}) or leave prior_weight at 1")
        if not isinstance(self.pseudo_label_rounds, int) or self.pseudo_label_rounds < 0:
            raise ValueError(f"pseudo_label_rounds must be an integer >= 0; got "
                             f"{self.pseudo_label_rounds!r}")
        if self.pseudo_label_rounds and self.prior != "posterior":
            raise ValueError(f"pseudo_label_rounds needs prior='posterior'; got "
                             f"pseudo_label_rounds={self.pseudo_label_rounds} with "
                             f"prior={self.prior!r}")
        check_choice("epsilon_schedule", self.epsilon_schedule, ("constant", "linear", "cosine"))
        if self.epsilon_start is not None:
            check_fraction("epsilon_start", self.epsilon_start)
        check_fraction("label_noise", self.label_noise, high_open=True)
        check_choice("noise_kind", self.noise_kind, ("symmetric", "pair"))

    @classmethod
    def for_model(cls, model: str = "gcn", recipe: str = "pyg", **overrides: Any
                  ) -> TrainConfig:
        """A recipe's settings for ``model`` (:data:`RECIPES`), then ``overrides``
        (``None`` values are skipped).

        ``pyg`` (the default): PyG's examples, GCN hidden 16, dropout 0.5, lr 0.01;
        GAT hidden 8 × 8 heads, dropout 0.6, lr 0.005; both weight decay 5e-4, 200
        epochs. ``bernnet``: the BernNet/PosteL recipe (see :data:`RECIPES`).

        >>> TrainConfig.for_model("gcn", recipe="bernnet").hidden
        64
        """
        check_choice("model", model, tuple(DEFAULT_DECAY_SCOPE))
        check_choice("recipe", recipe, tuple(RECIPES))
        base: dict[str, Any] = {"model": model, **RECIPES[recipe][model]}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated again).

        A ``weight_decay_scope`` that was never given follows the model, so
        ``TrainConfig().replace(model="gat")`` equals ``TrainConfig(model="gat")``.
        """
        if "weight_decay_scope" not in changes and not self._scope_given:
            changes["weight_decay_scope"] = None
        return replace(self, **changes)

    @property
    def structural_per_layer(self) -> list[float]:
        """λ of each layer (a single ``structural`` repeated ``layers`` times)."""
        if isinstance(self.structural, tuple):
            return [float(v) for v in self.structural]
        return [float(self.structural)] * self.layers

    def build_model(self, in_channels: int, num_classes: int) -> torch.nn.Module:
        """The public :class:`~graphls.models.GCN` or :class:`~graphls.models.GAT` this
        config describes (PyG's example architecture at λ = 1), freshly initialised."""
        from graphls.models import GAT, GCN

        if self.model == "gcn":
            return GCN(in_channels, self.hidden, self.layers, num_classes,
                       dropout=self.dropout, structural=self.structural,
                       learn_structural=self.learn_structural, cached=True,
                       input_dropout=self.input_dropout)
        return GAT(in_channels, self.hidden, self.layers, num_classes, heads=self.heads,
                   dropout=self.dropout, structural=self.structural,
                   learn_structural=self.learn_structural, input_dropout=self.input_dropout)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_scope_given")
        if isinstance(d["structural"], tuple):
            d["structural"] = list(d["structural"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; known: {sorted(names)}")
        d = dict(d)
        if isinstance(d.get("structural"), list):
            d["structural"] = tuple(d["structural"])
        return cls(**d)


@dataclass
class TrainResult:
    """The outcome of one training run (one member of a batch).

    Attributes:
        config: The resolved configuration.
        metrics: ``metrics[split][name]`` at the selected epoch, for splits
            train/val/test and names accuracy, ece, nll, brier, confidence, roc_auc.
        calibrated: The same after temperature scaling fitted on validation.
        temperature: The fitted temperature.
        best_epoch: The selected epoch (0-based).
        epochs_run: Epochs actually trained (early stopping may cut them).
        history: One dict per epoch: epoch, loss, epsilon, val_accuracy, val_nll
            (and val_roc_auc with ``select="roc_auc"``).
        structural: λ per layer at the selected epoch (learned or fixed).
        wall_time: Seconds for the run: its share of the batch's training time
            plus its own evaluation.
        logits: Logits of every node at the selected epoch (CPU tensor).
        state: The parameters at the selected epoch, as the ``state_dict`` of the
            public model :meth:`model` builds (CPU tensors).
        pseudo_label_round: The kept round of ``pseudo_label_rounds`` (0: the
            first training, without pseudo-labels).
        temperature_note: Why temperature scaling fell back to T = 1 (the fit
            reached a bound or did not lower the validation NLL), else ``None``.
        recall: ``recall[split]``: each class's recall at the selected epoch
            (:func:`graphls.metrics.recall_per_class`; NaN for a class absent from
            the split). A 0 is a class the model never predicts for its nodes.
    """

    config: TrainConfig
    metrics: dict[str, dict[str, float]]
    calibrated: dict[str, dict[str, float]]
    temperature: float
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]] = field(repr=False)
    structural: list[float]
    wall_time: float
    logits: torch.Tensor | None = field(default=None, repr=False)
    state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    pseudo_label_round: int = 0
    temperature_note: str | None = field(default=None, repr=False)
    recall: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def model(self) -> torch.nn.Module:
        """The trained model as a public :class:`~graphls.models.GCN` / :class:`~graphls.models.GAT`
        in ``eval()`` mode, with the weights of the selected epoch.

        Its output on the training graph equals :attr:`logits`.
        """
        if self.state is None:
            raise ValueError("this result holds no parameters (state is None); results of "
                             "graphls.engine.fit keep them")
        first = self.state["convs.0.lin.weight"]
        last = self.state[f"convs.{self.config.layers - 1}.bias"]
        model = self.config.build_model(first.size(1), last.size(0))
        model.load_state_dict(self.state)
        return model.to(first.dtype).eval()

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "metrics": self.metrics,
            "calibrated": self.calibrated,
            "temperature": self.temperature,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "structural": self.structural,
            "wall_time": self.wall_time,
            "pseudo_label_round": self.pseudo_label_round,
            "recall": self.recall,
        }
