r"""The one training loop: :func:`fit_many` trains B configurations together; :func:`fit` is B = 1.

Every member trains full-batch with Adam (:class:`~graphls.engine.optim.BatchedAdam`:
its own learning rate and weight decay) on the training nodes against its own
label-smoothed targets. The members' losses are **summed**,
:math:`\mathcal{L} = \sum_b \mathcal{L}_b`, so each member gets exactly its own
gradient, and one stacked model pass (:mod:`graphls.engine.stacked`) serves
them all. A member's run is therefore the run it would make alone:
``fit_many(data, configs)[b]`` equals ``fit(data, configs[b])`` (the same code,
a batch of one; equal numbers in float64).

**Epoch selection rule** (one rule for every run, row and objective): the
epoch with the highest validation accuracy; ties go to the lower validation
NLL (plain cross-entropy of the unsmoothed labels), and remaining ties to the
earliest epoch. The rule matters: which epoch is kept moves the model's
confidence and ECE strongly, so it is fixed here rather than left to callers.
``TrainConfig(select="roc_auc")`` ranks epochs by validation ROC AUC instead
(same ties), for imbalanced sets where accuracy sits at the majority-class
rate (Minesweeper, Tolokers).

``select="nll"`` keeps the epoch of lowest validation loss (then the earliest), as
the BernNet/PosteL recipe.

**Stopping.** A member stops after ``epochs``, after ``patience`` epochs
without a better selected epoch, by the BernNet/PosteL rule (``stop_window=W``:
past epoch ``W``, when the validation loss exceeds the mean of the previous
``W`` epochs'), or when its ``on_epoch`` hook raises :class:`StopMember`
(pruning: its result is ``None``). A member whose training loss or validation
logits stop being finite stops too, with a :class:`TrainingDiverged` that
names the epoch. Stopped members leave the batch (the stacked tensors are
compacted), so the others run faster.

**Pseudo-label rounds** (``prior="posterior"``, ``pseudo_label_rounds=R``): a
finished member is trained again from its seed with the posterior prior
rebuilt from its predictions on the non-training nodes, while the validation
loss (at the selected epoch) improves, at most ``R`` times; the round of lowest
validation loss is returned. Members of a batch run their rounds together.

**Evaluation.** Every finished member is evaluated at its selected epoch, raw
and after temperature scaling fitted on its validation logits (where the fit
falls back to T = 1, its warning is kept as ``temperature_note`` instead of
being printed once per member), on the requested splits (the tuner asks for
train and val only, so no test label is read during a study).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphls.calibration import TemperatureScaling
from graphls.config import REPORTED, SPLITS, TrainConfig, TrainResult
from graphls.engine.graph import prepare_graph
from graphls.engine.members import Members
from graphls.engine.optim import BatchedAdam
from graphls.metrics import classification_report, kernels, recall_per_class

__all__ = ["BATCH_FIELDS", "StopMember", "TrainingDiverged", "batch_key", "fit", "fit_many"]

#: ``on_epoch(member, epoch, val)`` of :func:`fit_many`; raise :class:`StopMember` to stop
#: that member.
MemberHook = Callable[[int, int, dict[str, float]], None]
#: ``on_epoch(epoch, val)`` of :func:`fit`.
EpochHook = Callable[[int, dict[str, float]], None]

#: The ``TrainConfig`` fields that members trained together must share.
BATCH_FIELDS = ("model", "hidden", "layers", "heads", "learn_structural", "device")


class StopMember(Exception):
    """Raised by an ``on_epoch`` hook to stop (prune) that one member.

    The member leaves the batch at once and its result is ``None``; the other
    members go on. Any other exception from a hook ends the whole call.
    """


class TrainingDiverged(RuntimeError):
    """A member's training loss or validation logits stopped being finite.

    The message names the epoch, the value and the likely cause; ``config`` is
    the member's configuration and ``epoch`` the (0-based) epoch.
    """

    def __init__(self, message: str, config: TrainConfig, epoch: int) -> None:
        super().__init__(message)
        self.config = config
        self.epoch = epoch


def _diverged(config: TrainConfig, epoch: int, loss: float, nll: float) -> TrainingDiverged:
    what = (f"the training loss became {loss}" if not math.isfinite(loss)
            else f"the validation logits stopped being finite (validation NLL {nll})")
    return TrainingDiverged(
        f"{what} at epoch {epoch}: the weights overflowed; the learning rate "
        f"(lr={config.lr:g}) is the likely cause, or non-finite input features",
        config, epoch)


def batch_key(config: TrainConfig) -> tuple[Any, ...]:
    """What configurations must share to train in one batch (:data:`BATCH_FIELDS`).

    ``heads`` counts for GAT only. Everything else (ε, λ, prior, lr, weight
    decay and its scope, dropout, seed, epochs, patience, label noise, ε
    schedule, selection metric) may differ per member.
    """
    values = [getattr(config, name) for name in BATCH_FIELDS]
    if config.model != "gat":
        values[BATCH_FIELDS.index("heads")] = None
    return tuple(values)


def fit(data: Any, config: TrainConfig, on_epoch: EpochHook | None = None, *,
        splits: Sequence[str] = SPLITS) -> TrainResult | None:
    """Train one model on ``data`` as ``config`` says: :func:`fit_many` with one member.

    Args:
        data: A PyG ``Data`` with ``x``, ``edge_index``, ``y`` (N,), boolean
            ``train_mask``, ``val_mask``, ``test_mask``; ``num_classes`` if set.
        config: The run's configuration.
        on_epoch: Called after every epoch as ``on_epoch(epoch, val)`` with
            ``val = {"accuracy", "nll", "best_accuracy", "best_nll"}`` (the last
            two at the epoch selected so far), plus ``"roc_auc"`` and
            ``"best_roc_auc"`` when ``config.select == "roc_auc"``. Raising
            :class:`StopMember` stops the run (``fit`` returns ``None``); any
            other exception propagates.
        splits: The splits to evaluate at the end (the tuner passes
            ``("train", "val")`` so that no test label is read at all).

    Returns:
        A :class:`~graphls.config.TrainResult` (``None`` when stopped by the
        hook). The same seed gives the same numbers; ``result.model()`` is the
        trained public model.

    Raises:
        TrainingDiverged: the loss or the logits stopped being finite.
    """
    hook = None if on_epoch is None else (lambda _member, epoch, val: on_epoch(epoch, val))
    result = fit_many(data, [config], hook, splits=splits)[0]
    assert not isinstance(result, TrainingDiverged)  # raised, not returned
    return result


def fit_many(data: Any, configs: Sequence[TrainConfig], on_epoch: MemberHook | None = None, *,
             splits: Sequence[str] = SPLITS, group: bool = False, on_diverge: str = "raise"
             ) -> list[TrainResult | TrainingDiverged | None]:
    """Train ``configs`` together; member ``b``'s result is what ``fit(data, configs[b])`` gives.

    Args:
        data: As for :func:`fit`.
        configs: The members. They must share :data:`BATCH_FIELDS` (model,
            hidden, layers, heads for GAT, learn_structural, device) unless
            ``group=True``; everything else may differ.
        on_epoch: Called after every epoch of every active member as
            ``on_epoch(member, epoch, val)`` with :func:`fit`'s ``val``. Raising
            :class:`StopMember` stops (prunes) that member; any other exception
            propagates and ends the whole call.
        splits: The splits evaluated at the end.
        group: Split ``configs`` into groups of equal :func:`batch_key` and train
            each group as one batch, instead of raising.
        on_diverge: ``"raise"`` (the default): a member whose loss or logits stop
            being finite raises :class:`TrainingDiverged` once the batch is done;
            ``"return"``: its entry is that exception instead (the tuner fails
            that trial and goes on).

    Returns:
        One entry per config, in order: a :class:`~graphls.config.TrainResult`,
        ``None`` for a stopped member, or (``on_diverge="return"``) a
        :class:`TrainingDiverged`. ``wall_time`` is the member's share of the
        batch's training time plus its own evaluation (all its rounds).

    Raises:
        ValueError: ``configs`` is empty, or (``group=False``) its members differ in a
            :data:`BATCH_FIELDS` field, or a ``select="roc_auc"`` member meets
            validation labels of a single class.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("configs must hold at least one TrainConfig; got none")
    if on_diverge not in ("raise", "return"):
        raise ValueError(f"on_diverge must be one of 'raise', 'return'; got {on_diverge!r}")
    for i, c in enumerate(configs):
        if not isinstance(c, TrainConfig):
            raise TypeError(f"configs[{i}] must be a TrainConfig; got {type(c).__name__}")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(batch_key(c), []).append(i)
    if len(groups) > 1 and not group:
        first = batch_key(configs[0])
        i = next(i for i, c in enumerate(configs) if batch_key(c) != first)
        name = next(n for n, a, b in zip(BATCH_FIELDS, first, batch_key(configs[i]), strict=True)
                    if a != b)
        raise ValueError(
            f"configs must share {', '.join(BATCH_FIELDS)} to train in one batch; got "
            f"{name}={getattr(configs[0], name)!r} (config 0) and "
            f"{name}={getattr(configs[i], name)!r} (config {i}); pass group=True to train "
            "each group separately")
    results: list[TrainResult | TrainingDiverged | None] = [None] * len(configs)
    for idxs in groups.values():
        hook = None
        if on_epoch is not None:
            def hook(b: int, epoch: int, val: dict[str, float], _idxs: list[int] = idxs
                     ) -> None:
                on_epoch(_idxs[b], epoch, val)
        members = [configs[i] for i in idxs]
        out = _fit_batch(data, members, hook, splits)
        if any(c.pseudo_label_rounds for c in members):
            out = _pseudo_label_rounds(data, members, out, splits)
        for i, r in zip(idxs, out, strict=True):
            results[i] = r
    if on_diverge == "raise":
        for r in results:
            if isinstance(r, TrainingDiverged):
                raise r
    return results


def _pseudo_label_rounds(data: Any, configs: Sequence[TrainConfig],
                         results: list[TrainResult | TrainingDiverged | None],
                         splits: Sequence[str]) -> list[TrainResult | TrainingDiverged | None]:
    """PosteL's iterations for the members with ``pseudo_label_rounds`` (see the module doc)."""
    best = list(results)
    spent = [r.wall_time if isinstance(r, TrainResult) else 0.0 for r in results]
    active = [i for i, (c, r) in enumerate(zip(configs, results, strict=True))
              if c.pseudo_label_rounds > 0 and isinstance(r, TrainResult)]
    for round_ in range(1, max((c.pseudo_label_rounds for c in configs), default=0) + 1):
        active = [i for i in active if configs[i].pseudo_label_rounds >= round_]
        if not active:
            break
        pseudo = []
        for i in active:
            previous = best[i]
            assert isinstance(previous, TrainResult) and previous.logits is not None
            pseudo.append(previous.logits.argmax(dim=-1))  # training nodes: ignored
        again = _fit_batch(data, [configs[i] for i in active], None, splits, pseudo)
        still = []
        for i, r in zip(active, again, strict=True):
            if isinstance(r, TrainResult):
                spent[i] += r.wall_time
                previous = best[i]
                assert isinstance(previous, TrainResult)
                if r.metrics["val"]["nll"] < previous.metrics["val"]["nll"]:
                    r.pseudo_label_round = round_
                    best[i] = r
                    still.append(i)
        active = still
    for i, r in enumerate(best):
        if isinstance(r, TrainResult) and configs[i].pseudo_label_rounds:
            r.wall_time = spent[i]
    return best


def check_auc_defined(y_val: Tensor, num_classes: int) -> None:
    """Raise unless the validation labels give a defined ROC AUC (``select="roc_auc"``)."""
    present = torch.unique(y_val).tolist()
    ok = (num_classes >= 2 and len(present) >= 2
          and (num_classes > 2 or set(present) == {0, 1}))
    if not ok:
        raise ValueError(
            f"select='roc_auc' needs validation nodes of at least two classes (of "
            f"{num_classes}); got labels {present}; use select='accuracy'")


def _val_roc_auc(logits: Tensor, y: Tensor) -> float:
    """ROC AUC of ``(n, K)`` logits, computed as the final report computes it (float64 softmax).

    Once per epoch and member: the unchecked kernel (the validation labels were checked once
    by :func:`check_auc_defined`), not :func:`graphls.metrics.roc_auc_score`'s input checks.
    """
    return kernels.auc(logits.detach().to(torch.float64).log_softmax(dim=1).exp(), y)


def _split_metrics(logits: Tensor, y: Tensor, masks: dict[str, Tensor]
                   ) -> dict[str, dict[str, float]]:
    out = {}
    for s, m in masks.items():
        report = classification_report(logits[m], y[m])
        out[s] = {k: float(report[k]) for k in REPORTED}
    return out


def _above_window_mean(history: list[dict[str, float]], window: int) -> bool:
    """BernNet/PosteL's rule: this epoch's validation loss exceeds the mean of the previous
    ``window`` epochs' (``history`` ends with this epoch)."""
    previous = [h["val_nll"] for h in history[-(window + 1):-1]]
    return history[-1]["val_nll"] > sum(previous) / len(previous)


def _fit_batch(data: Any, configs: Sequence[TrainConfig], on_epoch: MemberHook | None,
               splits: Sequence[str], pseudo_labels: Sequence[Tensor] | None = None
               ) -> list[TrainResult | TrainingDiverged | None]:
    start = time.perf_counter()
    device = torch.device(configs[0].device)
    graph = prepare_graph(data, device, splits)
    if pseudo_labels is not None:
        pseudo_labels = [p.to(device) for p in pseudo_labels]
    members = Members(graph, configs, pseudo_labels)
    optimizer = BatchedAdam(members.parameters(), [c.lr for c in configs],
                            members.weight_decay())
    count = len(configs)
    # boolean (a no-op for boolean masks): the rows GAT passes compute (engine.graph.Cone)
    train_mask, val_mask = graph.masks["train"].bool(), graph.masks["val"].bool()
    y_val = graph.y[val_mask]
    n_val = max(y_val.numel(), 1)

    by_auc = [c.select == "roc_auc" for c in configs]
    if any(by_auc):
        check_auc_defined(y_val, graph.num_classes)
    best_key = [(-math.inf, -math.inf)] * count  # (val accuracy or AUC, -val nll)
    best_epoch, since_best, epochs_run = [0] * count, [0] * count, [0] * count
    best_val: list[dict[str, float]] = [
        {"accuracy": 0.0, "nll": math.inf, **({"roc_auc": 0.0} if a else {})} for a in by_auc]
    history: list[list[dict[str, float]]] = [[] for _ in range(count)]
    stopped = [False] * count
    diverged: list[TrainingDiverged | None] = [None] * count
    best_state = [p.detach().clone() for p in members.state()]  # indexed by member id

    epoch = 0
    while members.ids:
        optimizer.zero_grad()
        out = members.forward(training=True, rows=train_mask)  # (n_train, B, K)
        loss, losses, eps = members.loss(out, epoch)
        loss.backward()
        optimizer.step()

        with torch.no_grad():
            logits_val = members.forward(training=False, rows=val_mask)  # (n_val, B, K)
            correct = (logits_val.argmax(-1) == y_val.unsqueeze(1)).sum(0).tolist()
            logp = F.log_softmax(logits_val, dim=-1)
            nll = (-logp.gather(2, y_val.view(-1, 1, 1).expand(-1, logp.size(1), 1))
                   .squeeze(2).mean(0)).tolist()
        keep, improved = [], []
        for pos, member in enumerate(members.ids):
            cfg = members.configs[pos]
            val = {"accuracy": correct[pos] / n_val, "nll": float(nll[pos])}
            if by_auc[member]:
                val["roc_auc"] = _val_roc_auc(logits_val[:, pos], y_val)
            history[member].append({"epoch": epoch, "loss": float(losses[pos]),
                                    "epsilon": eps[pos],
                                    **{f"val_{k}": v for k, v in val.items()}})
            epochs_run[member] = epoch + 1
            if not (math.isfinite(losses[pos]) and math.isfinite(val["nll"])):
                diverged[member] = _diverged(cfg, epoch, float(losses[pos]), val["nll"])
                continue  # leaves the batch; its result is the error
            score = -val["nll"] if cfg.select == "nll" else val[cfg.select]
            key = (score, -val["nll"])
            if key > best_key[member]:
                best_key[member], best_epoch[member], since_best[member] = key, epoch, 0
                best_val[member] = val
                improved.append(pos)
            else:
                since_best[member] += 1
            if on_epoch is not None:
                try:
                    on_epoch(member, epoch,
                             {**val, **{f"best_{k}": v for k, v in best_val[member].items()}})
                except StopMember:
                    stopped[member] = True
            done = (stopped[member] or epoch + 1 >= cfg.epochs
                    or (cfg.patience is not None and since_best[member] >= cfg.patience)
                    or (cfg.stop_window is not None and epoch > cfg.stop_window
                        and _above_window_mean(history[member], cfg.stop_window)))
            if not done:
                keep.append(pos)
        if improved:
            pos_idx = torch.as_tensor(improved, device=device)
            ids = torch.as_tensor([members.ids[p] for p in improved], device=device)
            for saved, current in zip(best_state, members.state(), strict=True):
                saved.index_copy_(0, ids, current.index_select(0, pos_idx))
        if len(keep) < len(members.ids):
            if keep:
                optimizer.keep(keep, members.keep(keep))
            else:
                members.ids = []
        epoch += 1
    train_seconds = time.perf_counter() - start

    # evaluate every finished member at its selected epoch, in one forward pass
    results: list[TrainResult | TrainingDiverged | None] = list(diverged)
    finished = [i for i in range(count) if not stopped[i] and diverged[i] is None]
    if not finished:
        return results
    best = members.unpack(best_state)
    structural = [c.structural_per_layer for c in configs]
    with torch.no_grad():
        all_logits = members.run(best_state, structural, None, [])  # (N, B, K)
    eval_masks = {s: graph.masks[s] for s in splits}
    for i in finished:
        t0 = time.perf_counter()
        logits = all_logits[:, i].contiguous()
        metrics = _split_metrics(logits, graph.y, eval_masks)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scaler = TemperatureScaling().fit(logits[val_mask], y_val)
        calibrated = _split_metrics(scaler(logits).detach(), graph.y, eval_masks)
        recall = {s: recall_per_class(logits[m].argmax(-1), graph.y[m], graph.num_classes)
                  for s, m in eval_masks.items()}
        lams = (structural[i] if not members.learn
                else [float(torch.sigmoid(t[i])) for t in best.logits])
        results[i] = TrainResult(
            config=configs[i], metrics=metrics, calibrated=calibrated,
            temperature=float(scaler.temperature), best_epoch=best_epoch[i],
            epochs_run=epochs_run[i], history=history[i], structural=lams,
            wall_time=train_seconds / count + time.perf_counter() - t0, logits=logits.cpu(),
            temperature_note=str(caught[-1].message) if caught else None, recall=recall,
            state=members.member_state(best_state, i))
    return results
