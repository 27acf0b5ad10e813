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

__all__ = ["METRIC_LABELS", "REPORTED", "SELECT", "SPLITS", "TrainConfig", "TrainResult"]

SPLITS = ("train", "val", "test")
#: Metrics reported per split (``*_calibrated`` after temperature scaling).
REPORTED = ("accuracy", "ece", "nll", "brier", "confidence", "roc_auc")
#: Validation metrics an epoch can be selected by (``TrainConfig.select``).
SELECT = ("accuracy", "roc_auc")
#: How reports name a validation score (selection metrics and tuning objectives).
METRIC_LABELS = {"accuracy": "accuracy", "nll": "NLL", "roc_auc": "ROC AUC"}
#: ``weight_decay_scope`` of each model when it is not given (PyG's examples).
DEFAULT_DECAY_SCOPE = {"gcn": "first", "gat": "all"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides one training run (saved with every result).

    Attributes:
        model: ``"gcn"`` or ``"gat"``.
        hidden: Hidden channels (per head for GAT).
        layers: Number of message-passing layers.
        heads: GAT attention heads in the hidden layers (ignored by GCN).
        dropout: Dropout probability on features (and GAT attention).
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
        select: The validation metric that picks the kept epoch:
            ``"accuracy"`` (the default) or ``"roc_auc"``
            (:func:`graphls.metrics.roc_auc_score`); ties go to the lower
            validation NLL, then to the earliest epoch.
        epsilon: Label smoothing ε in [0, 1] (PyTorch convention: ε/K to every
            class). With a schedule, the value reached at the last epoch.
        structural: λ in [0, 1] for every layer, or one value per layer.
        learn_structural: Learn λ per layer (kept in [0, 1]), starting at ``structural``.
        prior: Smoothing prior u: ``"uniform"``, ``"class"`` (training-label
            frequencies) or ``"neighbors"`` (each node's histogram of its
            labelled training neighbours).
        prior_weight: u = w·prior + (1 - w)·uniform (ignored for ``"uniform"``).
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
    lr: float = 0.01
    weight_decay: float = 5e-4
    weight_decay_scope: str | None = None
    epochs: int = 200
    patience: int | None = None
    select: str = "accuracy"
    epsilon: float = 0.0
    structural: float | tuple[float, ...] = 1.0
    learn_structural: bool = False
    prior: str = "uniform"
    prior_weight: float = 1.0
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
        check_choice("prior", self.prior, ("uniform", "class", "neighbors"))
        check_fraction("prior_weight", self.prior_weight)
        check_choice("epsilon_schedule", self.epsilon_schedule, ("constant", "linear", "cosine"))
        if self.epsilon_start is not None:
            check_fraction("epsilon_start", self.epsilon_start)
        check_fraction("label_noise", self.label_noise, high_open=True)
        check_choice("noise_kind", self.noise_kind, ("symmetric", "pair"))

    @classmethod
    def for_model(cls, model: str = "gcn", **overrides: Any) -> TrainConfig:
        """PyG's example settings for ``model`` (examples/gcn.py, examples/gat.py), then overrides.

        GCN: hidden 16, dropout 0.5, lr 0.01. GAT: hidden 8 × 8 heads, dropout 0.6, lr 0.005.
        Both: weight decay 5e-4, 200 epochs.
        """
        base: dict[str, Any] = {"model": model}
        if model == "gat":
            base.update(hidden=8, heads=8, dropout=0.6, lr=0.005)
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
                       learn_structural=self.learn_structural, cached=True)
        return GAT(in_channels, self.hidden, self.layers, num_classes, heads=self.heads,
                   dropout=self.dropout, structural=self.structural,
                   learn_structural=self.learn_structural)

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
        }
