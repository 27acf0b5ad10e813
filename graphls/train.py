"""Full-batch training of GCN/GAT with label smoothing (ε) and structural smoothing (λ).

``fit(data, config)`` trains one model with Adam, selects an epoch on the
validation set, restores that epoch's weights and reports accuracy and
calibration per split, raw and after temperature scaling fitted on the
validation split. ``evaluate(data, config, seeds)`` repeats it over seeds.
The tuner (``graphls.tuning``) and the benchmarks call the same code.

**Epoch selection rule** (one rule for every run, row and objective): the
epoch with the highest validation accuracy; ties go to the lower validation
NLL (plain cross-entropy of the unsmoothed labels), and remaining ties to the
earliest epoch. The rule matters: which epoch is kept moves the model's
confidence and ECE strongly, so it is fixed here rather than left to callers.
``TrainConfig(select="roc_auc")`` ranks epochs by validation ROC AUC instead
(same ties), for imbalanced sets where accuracy sits at the majority-class
rate (Minesweeper, Tolokers); the tuner's ``roc_auc`` objective uses it.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphls._validation import (
    check_choice,
    check_fraction,
    check_nonnegative_float,
    check_positive_int,
)

__all__ = [
    "SPLITS",
    "SeedSweep",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "evaluate",
    "fit",
    "make_prior",
    "summarize",
]

SPLITS = ("train", "val", "test")
#: Metrics reported per split (``*_calibrated`` after temperature scaling).
REPORTED = ("accuracy", "ece", "nll", "brier", "confidence", "roc_auc")
#: Validation metrics an epoch can be selected by (``TrainConfig.select``).
SELECT = ("accuracy", "roc_auc")
#: How reports name a validation score (selection metrics and tuning objectives).
METRIC_LABELS = {"accuracy": "accuracy", "nll": "NLL", "roc_auc": "ROC AUC"}

EpochHook = Callable[[int, dict[str, float]], None]


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
            example: ``"first"`` for GCN, ``"all"`` for GAT.
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
        if self.weight_decay_scope is None:
            object.__setattr__(self, "weight_decay_scope",
                               "first" if self.model == "gcn" else "all")
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
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(d["structural"], tuple):
            d["structural"] = list(d["structural"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; known: {sorted(names)}")
        d = dict(d)
        if isinstance(d.get("structural"), list):
            d["structural"] = tuple(d["structural"])
        return cls(**d)


@dataclass
class TrainResult:
    """The outcome of one ``fit``.

    Attributes:
        config: The resolved configuration.
        metrics: ``metrics[split][name]`` at the selected epoch, for splits
            train/val/test and names accuracy, ece, nll, brier, confidence.
        calibrated: The same after temperature scaling fitted on validation.
        temperature: The fitted temperature.
        best_epoch: The selected epoch (0-based).
        epochs_run: Epochs actually trained (early stopping may cut them).
        history: One dict per epoch: epoch, loss, epsilon, val_accuracy, val_nll.
        structural: λ per layer at the selected epoch (learned or fixed).
        wall_time: Seconds for the whole fit, evaluation included.
        logits: Logits of every node at the selected epoch (CPU tensor).
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


# ---------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------

def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def build_model(config: TrainConfig, in_channels: int, num_classes: int) -> torch.nn.Module:
    """The GCN or GAT that ``config`` describes (PyG's example architecture at λ = 1)."""
    from graphls.models import GAT, GCN

    if config.model == "gcn":
        return GCN(in_channels, config.hidden, num_classes, num_layers=config.layers,
                   dropout=config.dropout, structural=config.structural,
                   learn_structural=config.learn_structural, cached=True)
    return GAT(in_channels, config.hidden, num_classes, num_layers=config.layers,
               heads=config.heads, dropout=config.dropout, structural=config.structural,
               learn_structural=config.learn_structural)


def make_prior(data: Any, y_train: torch.Tensor, config: TrainConfig,
               num_classes: int) -> torch.Tensor | None:
    """The smoothing prior for the training nodes: ``None`` (uniform), ``(K,)`` or ``(n_train, K)``.

    Reads only training labels (``y_train`` at ``data.train_mask``).
    """
    if config.prior == "uniform" or config.prior_weight == 0:
        return None
    mask = data.train_mask
    uniform = torch.full((num_classes,), 1.0 / num_classes, device=y_train.device)
    if config.prior == "class":
        counts = torch.bincount(y_train[mask], minlength=num_classes).float()
        prior = counts / counts.sum().clamp_min(1)
    else:
        from graphls.functional import neighbor_label_prior

        prior = neighbor_label_prior(data.edge_index, y_train, mask, num_classes)[mask]
    w = config.prior_weight
    prior = w * prior + (1 - w) * uniform
    return prior / prior.sum(dim=-1, keepdim=True)


def _epsilon_at(config: TrainConfig) -> Callable[[int], float]:
    if config.epsilon_schedule == "constant" or config.epsilon_start is None:
        return lambda _epoch: config.epsilon
    from graphls.losses import EpsilonSchedule

    return EpsilonSchedule(config.epsilon_schedule, config.epsilon_start, config.epsilon,
                           num_epochs=config.epochs)


def val_roc_auc(logits: torch.Tensor, y: torch.Tensor) -> float:
    """ROC AUC of ``(n, K)`` logits, computed as ``classification_report`` does (float64 softmax).

    The per-epoch score of ``select="roc_auc"``; at the kept epoch it equals the
    reported validation ``roc_auc``.
    """
    from graphls.metrics import _auc

    return _auc(logits.detach().to(torch.float64).log_softmax(dim=1).exp(), y)


def check_auc_defined(y_val: torch.Tensor, num_classes: int) -> None:
    """Raise unless the validation labels give a defined ROC AUC (``select="roc_auc"``)."""
    present = torch.unique(y_val).tolist()
    ok = (num_classes >= 2 and len(present) >= 2
          and (num_classes > 2 or set(present) == {0, 1}))
    if not ok:
        raise ValueError(
            f"select='roc_auc' needs validation nodes of at least two classes (of "
            f"{num_classes}); got labels {present}; use select='accuracy'")


def _initial_best(by_auc: bool) -> dict[str, float]:
    """The selected epoch's validation scores before any epoch ran."""
    best = {"accuracy": 0.0, "nll": math.inf}
    if by_auc:
        best["roc_auc"] = 0.0
    return best


def _split_metrics(logits: torch.Tensor, y: torch.Tensor,
                   masks: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    from graphls.metrics import classification_report

    return {s: _pick(classification_report(logits[m], y[m])) for s, m in masks.items()}


def _pick(report: dict[str, float]) -> dict[str, float]:
    return {k: float(report[k]) for k in REPORTED}


# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------

def fit(data: Any, config: TrainConfig, on_epoch: EpochHook | None = None, *,
        splits: Sequence[str] = SPLITS) -> TrainResult:
    """Train one model on ``data`` (a PyG ``Data`` with train/val/test masks) as ``config`` says.

    Full-batch Adam on the training nodes with
    ``LabelSmoothingLoss(epsilon, prior)``; the epoch kept is chosen by the
    module's selection rule (best validation accuracy, or ROC AUC with
    ``config.select == "roc_auc"``, then lower validation NLL, then earliest)
    and its weights are restored before evaluation.

    Args:
        data: ``x``, ``edge_index``, ``y`` (N,), boolean ``train_mask``,
            ``val_mask``, ``test_mask``; ``num_classes`` if set.
        config: The run's configuration.
        on_epoch: Called after every epoch as ``on_epoch(epoch, val)`` with
            ``val = {"accuracy", "nll", "best_accuracy", "best_nll"}`` (the
            last two at the selected epoch so far), plus ``"roc_auc"`` and
            ``"best_roc_auc"`` when ``config.select == "roc_auc"``. It may raise to stop the
            run (the tuner raises ``optuna.TrialPruned``); the exception
            propagates.
        splits: The splits to evaluate at the end. The tuner passes
            ``("train", "val")`` so that no test label is read at all.

    Returns:
        A :class:`TrainResult`. The same seed gives the same numbers.

    Raises:
        ValueError: ``config.select == "roc_auc"`` but the validation nodes hold
            fewer than two classes (the AUC is undefined).
    """
    from graphls.calibration import TemperatureScaling
    from graphls.losses import LabelSmoothingLoss

    start = time.perf_counter()
    device = torch.device(config.device)
    seed_everything(config.seed)

    x, edge_index, y, masks, num_classes = graph_inputs(data, device, splits)

    y_train = y
    if config.label_noise > 0:
        from graphls.data import add_label_noise

        y_train = add_label_noise(y, masks["train"], config.label_noise,
                                  kind=config.noise_kind, seed=config.seed,
                                  num_classes=num_classes)

    train_view = _MaskView(edge_index, masks["train"])
    prior = make_prior(train_view, y_train, config, num_classes)
    criterion = LabelSmoothingLoss(epsilon=config.epsilon, prior=prior).to(device)
    epsilon_at = _epsilon_at(config)

    model = build_model(config, x.size(1), num_classes).to(device)
    optimizer = torch.optim.Adam(param_groups(model, config), lr=config.lr)
    train_idx = masks["train"].nonzero().view(-1)
    val_mask = masks["val"]
    y_train_nodes = y_train[train_idx]
    y_val = y[val_mask]

    by_auc = config.select == "roc_auc"
    if by_auc:
        check_auc_defined(y_val, num_classes)
    best_key = (-math.inf, -math.inf)  # (val accuracy or AUC, -val nll): larger is better
    best_state: dict[str, torch.Tensor] = {}
    best_epoch, since_best = 0, 0
    best_val = _initial_best(by_auc)
    history: list[dict[str, float]] = []
    epoch = -1
    for epoch in range(config.epochs):
        eps = float(epsilon_at(epoch))
        criterion.epsilon = eps
        model.train()
        optimizer.zero_grad(set_to_none=True)
        out = model(x, edge_index)
        loss = criterion(out[train_idx], y_train_nodes)
        loss.backward()
        optimizer.step()

        model.eval()
        with torch.no_grad():
            logits_val = model(x, edge_index)[val_mask]
            val_acc = int((logits_val.argmax(-1) == y_val).sum()) / max(y_val.numel(), 1)
            val_nll = float(F.cross_entropy(logits_val, y_val))
            val = {"accuracy": val_acc, "nll": val_nll}
            if by_auc:
                val["roc_auc"] = val_roc_auc(logits_val, y_val)
        history.append({"epoch": epoch, "loss": float(loss.detach()), "epsilon": eps,
                        **{f"val_{k}": v for k, v in val.items()}})
        key = (val[config.select], -val_nll)
        if key > best_key:
            best_key, best_epoch, since_best = key, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best_val = val
        else:
            since_best += 1
        if on_epoch is not None:
            on_epoch(epoch, {**val, **{f"best_{k}": v for k, v in best_val.items()}})
        if config.patience is not None and since_best >= config.patience:
            break

    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        logits = model(x, edge_index).detach()
    # Metrics use the true labels everywhere; training used y_train (noisy if asked).
    eval_masks = {s: masks[s] for s in splits}
    metrics = _split_metrics(logits, y, eval_masks)
    scaler = TemperatureScaling().fit(logits[val_mask], y_val)
    calibrated = _split_metrics(scaler(logits).detach(), y, eval_masks)
    structural = _structural_values(model)
    return TrainResult(
        config=config, metrics=metrics, calibrated=calibrated,
        temperature=float(scaler.temperature), best_epoch=best_epoch, epochs_run=epoch + 1,
        history=history, structural=structural, wall_time=time.perf_counter() - start,
        logits=logits.cpu(),
    )


def graph_inputs(data: Any, device: torch.device, splits: Sequence[str] = SPLITS
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor], int]:
    """``(x, edge_index, y, masks, num_classes)`` on ``device``, as :func:`fit` reads ``data``.

    ``x`` is CSR when sparse enough (:func:`graphls.models.sparse_features`: a
    sparse first-layer product and dropout on the stored values); ``y`` is 1-D
    (OGB's ``(N, 1)`` labels flattened); ``masks`` holds ``train``, ``val`` and
    ``splits``, each 1-D.

    Raises:
        ValueError: an unknown split, or a mask with several columns.
    """
    from graphls.models import sparse_features

    y = data.y.view(-1) if data.y.dim() == 2 and data.y.size(1) == 1 else data.y
    num_classes = int(getattr(data, "num_classes", None) or int(y.max()) + 1)
    x = sparse_features(data.x).to(device)
    edge_index = data.edge_index.to(device)
    for s in splits:
        check_choice("splits", s, SPLITS)
    masks = {s: getattr(data, f"{s}_mask").to(device) for s in ("train", "val", *splits)}
    for s, m in masks.items():
        if m.dim() != 1:
            raise ValueError(f"{s}_mask must be 1-D (one split); got shape {tuple(m.shape)}; "
                             "pick a column for datasets that ship several splits")
    return x, edge_index, y.to(device), masks, num_classes


def param_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Adam parameter groups: weight decay on the first conv layer only, or on everything.

    A learnable λ (``structural_logit``) is never decayed: decay would pull it
    toward λ = 0.5 rather than toward a smaller model.
    """
    first = (set() if not hasattr(model, "convs") else
             {id(p) for p in model.convs[0].parameters()})
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if name.endswith("structural_logit"):
            no_decay.append(p)
        elif config.weight_decay_scope == "all" or id(p) in first or not first:
            decay.append(p)
        else:
            no_decay.append(p)
    return [{"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


class _MaskView:
    """The two attributes ``make_prior`` reads, on the training device."""

    def __init__(self, edge_index: torch.Tensor, train_mask: torch.Tensor) -> None:
        self.edge_index = edge_index
        self.train_mask = train_mask


def _structural_values(model: torch.nn.Module) -> list[float]:
    values = getattr(model, "structural_values", None)
    if values is None:
        return []
    values = values() if callable(values) else values
    return [float(v) for v in values]


# ---------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------

@dataclass
class SeedSweep:
    """``fit`` repeated over seeds, with mean ± std summaries."""

    config: TrainConfig
    results: list[TrainResult]

    @property
    def seeds(self) -> list[int]:
        return [r.config.seed for r in self.results]

    def summary(self) -> dict[str, Any]:
        """``{"config", "seeds", "test", "val", "test_calibrated", "val_calibrated", ...}``.

        Each metric is ``{"mean", "std", "values"}``; std is the sample
        standard deviation (ddof = 1; 0 for one seed). Accuracy is a fraction.
        """
        return summarize(self.results, self.config)


def summarize(results: Sequence[TrainResult], config: TrainConfig | None = None
              ) -> dict[str, Any]:
    """Mean ± std (ddof = 1) of every reported metric over ``results``."""
    if not results:
        raise ValueError("results must hold at least one TrainResult; got none")
    config = config or results[0].config
    out: dict[str, Any] = {
        "config": {k: v for k, v in config.to_dict().items() if k != "seed"},
        "seeds": [r.config.seed for r in results],
    }
    for split in ("test", "val"):
        for kind, attr in (("", "metrics"), ("_calibrated", "calibrated")):
            out[f"{split}{kind}"] = {
                name: _stats([getattr(r, attr)[split][name] for r in results])
                for name in REPORTED
            }
    out["temperature"] = _stats([r.temperature for r in results])
    out["best_epoch"] = _stats([float(r.best_epoch) for r in results])
    out["wall_time"] = _stats([r.wall_time for r in results])
    return out


def _stats(values: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "values": [float(v) for v in arr]}


#: Seeds trained together by default: as many as keep one stacked hidden layer
#: (nodes x hidden x seeds float32 values) under this many elements (256 MB): all ten
#: seeds of a Planetoid sweep at once, one or two at a time on ogbn-arxiv.
SEED_BATCH_ELEMENTS = 1 << 26


def default_seed_batch(data: Any, config: TrainConfig, count: int) -> int:
    """How many seeds :func:`evaluate` trains together when ``batch_size`` is not given.

    GCN: a member's stacked hidden layer is ``nodes × hidden`` values. GAT: its
    attention maps and hidden layer are about ``heads × (edges + nodes × (1 +
    hidden))`` values (one score per edge and head, per-head features), so
    graphs with many edges batch fewer GAT seeds.
    """
    nodes = int(getattr(data, "num_nodes", None) or data.x.size(0))
    per_member = nodes * config.hidden
    if config.model == "gat":
        edges = int(data.edge_index.size(1))
        per_member = config.heads * (edges + nodes * (1 + config.hidden))
    return max(1, min(count, SEED_BATCH_ELEMENTS // max(1, per_member)))


def evaluate(data: Any, config: TrainConfig, seeds: int | Sequence[int] = 10, *,
             batch_size: int | None = None, progress: bool = False,
             on_result: Callable[[TrainResult], None] | None = None) -> SeedSweep:
    """Run ``fit`` for each seed (``seeds`` a count from ``config.seed`` on, or a list).

    Seeds are trained together, ``batch_size`` at a time, by
    :func:`graphls.batched.fit_many`: seed ``s``'s result is the run
    ``fit(data, config.replace(seed=s))`` makes (equal up to floating-point
    summation order), faster (GCN: several times; GAT: 1.4-1.6x on Cora).

    Args:
        batch_size: Seeds per batch; ``None`` chooses by size
            (:func:`default_seed_batch`: all ten Planetoid seeds at once); 1 is
            one ``fit`` after another.
        progress: Show a tqdm bar on stderr.
        on_result: Called with each finished result (e.g. to log it).
    """
    from graphls.batched import fit_many

    if isinstance(seeds, int):
        check_positive_int("seeds", seeds)
        seed_list = [config.seed + i for i in range(seeds)]
    else:
        seed_list = [int(s) for s in seeds]
        if not seed_list:
            raise ValueError("seeds must name at least one seed; got an empty list")
    if batch_size is None:
        batch_size = default_seed_batch(data, config, len(seed_list))
    else:
        check_positive_int("batch_size", batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seed_list), desc=f"{config.model} seeds", unit="run", leave=False)
    results: list[TrainResult] = []
    for lo in range(0, len(seed_list), batch_size):
        chunk = [config.replace(seed=s) for s in seed_list[lo:lo + batch_size]]
        done = [fit(data, chunk[0])] if len(chunk) == 1 else fit_many(data, chunk)
        for r in done:
            assert r is not None  # no hook, so no member is pruned
            results.append(r)
            if on_result is not None:
                on_result(r)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(test_acc=f"{r.metrics['test']['accuracy']:.3f}")
    if bar is not None:
        bar.close()
    return SeedSweep(config, results)


# ---------------------------------------------------------------------------
# CLI glue
# ---------------------------------------------------------------------------

def format_table(summary: dict[str, Any], split: str = "test") -> str:
    """A fixed-width table of ``split`` metrics, raw and temperature-scaled (percent)."""
    rows = [("raw", summary[split]), ("temperature-scaled", summary[f"{split}_calibrated"])]
    head = (f"{'':20s}{'accuracy':>16s}{'ECE':>16s}{'NLL':>16s}{'Brier':>16s}"
            f"{'confidence':>16s}{'ROC AUC':>16s}")
    lines = [f"{split} (mean ± std over {len(summary['seeds'])} seeds; accuracy/ECE/"
             "confidence/ROC AUC in %, ECE 15 equal-width bins)", head]
    for label, m in rows:
        cells = []
        for name, scale in (("accuracy", 100), ("ece", 100), ("nll", 1), ("brier", 1),
                            ("confidence", 100), ("roc_auc", 100)):
            st = m[name]
            digits = 2 if scale == 100 else 4
            cells.append(f"{st['mean'] * scale:.{digits}f} ± {st['std'] * scale:.{digits}f}")
        lines.append(f"{label:20s}" + "".join(f"{c:>16s}" for c in cells))
    return "\n".join(lines)


def config_from_args(args: Any) -> TrainConfig:
    """A ``TrainConfig`` from ``graphls train`` arguments (model defaults from PyG's examples)."""
    return TrainConfig.for_model(
        args.model, hidden=args.hidden, layers=args.layers, heads=args.heads,
        dropout=args.dropout, lr=args.lr, weight_decay=args.weight_decay,
        weight_decay_scope=getattr(args, "weight_decay_scope", None), epochs=args.epochs,
        patience=args.patience, select=getattr(args, "select", None),
        epsilon=args.epsilon, structural=args.structural,
        learn_structural=args.learn_structural, prior=args.prior,
        prior_weight=args.prior_weight, epsilon_schedule=args.epsilon_schedule,
        epsilon_start=args.epsilon_start, label_noise=args.noise, noise_kind=args.noise_kind,
        seed=args.seed, device=args.device,
    )


def run_train_command(args: Any, out: Path | None) -> int:
    """``graphls train``: train over seeds, print the table, write result.json/reliability.png."""
    from graphls.data import load_dataset

    config = config_from_args(args)
    data = load_dataset(args.dataset, root=args.root, split=args.split, seed=args.seed,
                        split_index=args.split_index)
    sweep = evaluate(data, config, args.seeds, progress=not args.no_progress)
    summary = sweep.summary()
    summary["dataset"] = getattr(data, "name", args.dataset)
    summary["split"] = getattr(data, "split", args.split)
    print(f"{summary['dataset']} ({summary['split']} split), {config.model.upper()}, "
          f"epsilon={config.epsilon:g}, structural={config.structural}, prior={config.prior}")
    print(format_table(summary, "test"))
    if out is not None:
        (out / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
        from graphls.report import plot_reliability

        y = data.y.view(-1)
        test = data.test_mask
        probs = [torch.softmax(r.logits[test], -1) for r in sweep.results]
        plot_reliability({"graphls": (torch.cat(probs), y[test].repeat(len(probs)))},
                         out / "reliability.png",
                         title=f"{summary['dataset']} {config.model.upper()} (test, all seeds)")
        print(f"wrote {out / 'result.json'} and {out / 'reliability.png'}")
    return 0

