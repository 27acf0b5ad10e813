"""The independent reference for the engine: one public model trained the textbook way.

``reference_fit`` is the single-model loop graphls used before the engine
(PyG's example loop: the public :class:`graphls.GCN`/:class:`graphls.GAT`
modules, ``torch.optim.Adam`` with parameter groups, ``LabelSmoothingLoss``,
the selection rule, temperature scaling). The engine's stacked members must
reproduce it: same selected epoch, history, metrics and logits.
"""

from __future__ import annotations

import math
import random
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from graphls.calibration import TemperatureScaling
from graphls.config import REPORTED, SPLITS, TrainConfig, TrainResult
from graphls.data import add_label_noise
from graphls.engine.graph import graph_inputs
from graphls.engine.members import epsilon_at, make_prior
from graphls.losses import LabelSmoothingLoss
from graphls.metrics import classification_report, roc_auc_score


class _View:
    def __init__(self, edge_index, train_mask):
        self.edge_index, self.train_mask = edge_index, train_mask


def param_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict]:
    """Decay on the first conv layer only (``"first"``) or on everything; never on λ."""
    first = {id(p) for p in model.convs[0].parameters()}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if name.endswith("structural_logit"):
            no_decay.append(p)
        elif config.weight_decay_scope == "all" or id(p) in first:
            decay.append(p)
        else:
            no_decay.append(p)
    return [{"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _metrics(logits, y, masks):
    return {s: {k: float(v) for k, v in classification_report(logits[m], y[m]).items()
                if k in REPORTED} for s, m in masks.items()}


def reference_fit(data, config: TrainConfig, on_epoch=None, *, splits=SPLITS) -> TrainResult:
    start = time.perf_counter()
    device = torch.device(config.device)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    x, edge_index, y, masks, k = graph_inputs(data, device, splits)
    y_train = y
    if config.label_noise > 0:
        y_train = add_label_noise(y, masks["train"], config.label_noise, kind=config.noise_kind,
                                  seed=config.seed, num_classes=k)
    prior = make_prior(_View(edge_index, masks["train"]), y_train, config, k)
    criterion = LabelSmoothingLoss(epsilon=config.epsilon, prior=prior)
    eps_at = epsilon_at(config)
    model = config.build_model(x.size(1), k).to(device)
    optimizer = torch.optim.Adam(param_groups(model, config), lr=config.lr)
    train_idx = masks["train"].nonzero().view(-1)
    val_mask = masks["val"]
    y_val = y[val_mask]
    by_auc = config.select == "roc_auc"
    best_key, best_state, best_epoch, since = (-math.inf, -math.inf), {}, 0, 0
    best_val = {"accuracy": 0.0, "nll": math.inf, **({"roc_auc": 0.0} if by_auc else {})}
    history = []
    for epoch in range(config.epochs):
        criterion.epsilon = eps = float(eps_at(epoch))
        model.train()
        optimizer.zero_grad()
        loss = criterion(model(x, edge_index)[train_idx], y_train[train_idx])
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            lv = model(x, edge_index)[val_mask]
            val = {"accuracy": int((lv.argmax(-1) == y_val).sum()) / y_val.numel(),
                   "nll": float(F.cross_entropy(lv, y_val))}
            if by_auc:
                val["roc_auc"] = roc_auc_score(lv.double().log_softmax(1).exp(), y_val)
        history.append({"epoch": epoch, "loss": float(loss.detach()), "epsilon": eps,
                        **{f"val_{n}": v for n, v in val.items()}})
        score = -val["nll"] if config.select == "nll" else val[config.select]
        key = (score, -val["nll"])
        if key > best_key:
            best_key, best_epoch, since, best_val = key, epoch, 0, val
            best_state = {n: v.detach().clone() for n, v in model.state_dict().items()}
        else:
            since += 1
        if on_epoch is not None:
            on_epoch(epoch, {**val, **{f"best_{n}": v for n, v in best_val.items()}})
        if config.patience is not None and since >= config.patience:
            break
        w = config.stop_window
        if w is not None and epoch > w:  # BernNet's rule, as their training script writes it
            window = torch.tensor([h["val_nll"] for h in history[-(w + 1):-1]])
            if val["nll"] > window.mean().item():
                break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        logits = model(x, edge_index)
    eval_masks = {s: masks[s] for s in splits}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fallback to T = 1 is the engine's to report
        scaler = TemperatureScaling().fit(logits[val_mask], y_val)
    return TrainResult(
        config=config, metrics=_metrics(logits, y, eval_masks),
        calibrated=_metrics(scaler(logits).detach(), y, eval_masks),
        temperature=float(scaler.temperature), best_epoch=best_epoch,
        epochs_run=len(history), history=history,
        structural=[float(v) for v in model.structural_values],
        wall_time=time.perf_counter() - start, logits=logits.cpu(), state=best_state)
