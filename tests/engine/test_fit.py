"""graphls.engine.fit: selection rule, reproducibility, hooks, priors, no test-label reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_data import (
    binary_labels,
    scramble,
    small,
    tiny,
)

from graphls.config import TrainConfig
from graphls.engine import StopMember, fit
from graphls.metrics import roc_auc_score


def test_same_seed_same_numbers_and_other_seed_differs(cora):
    a = fit(cora, small(seed=3))
    b = fit(cora, small(seed=3))
    c = fit(cora, small(seed=4))
    assert a.metrics == b.metrics
    assert a.history == b.history
    torch.testing.assert_close(a.logits, b.logits)
    assert a.history != c.history


def test_selected_epoch_follows_the_rule_and_its_weights_are_restored(cora):
    r = fit(cora, small(seed=0, epochs=30))
    hist = r.history
    best_acc = max(h["val_accuracy"] for h in hist)
    ties = [h for h in hist if h["val_accuracy"] == best_acc]
    expected = min(ties, key=lambda h: (h["val_nll"], h["epoch"]))
    assert r.best_epoch == expected["epoch"]
    # the restored weights reproduce the selected epoch's validation numbers
    assert r.metrics["val"]["accuracy"] == pytest.approx(best_acc, abs=1e-9)
    assert r.metrics["val"]["nll"] == pytest.approx(expected["val_nll"], rel=1e-5)
    assert set(r.metrics) == {"train", "val", "test"}
    for split in r.metrics:
        assert set(r.metrics[split]) == {"accuracy", "ece", "nll", "brier", "confidence",
                                         "roc_auc"}
    # the recorded ROC AUC is the macro one-vs-rest AUC of the returned logits
    test = cora.test_mask
    assert r.metrics["test"]["roc_auc"] == pytest.approx(
        roc_auc_score(r.logits[test].double().softmax(-1), cora.y[test]), rel=1e-9)


@pytest.mark.parametrize("binary", [False, True], ids=["macro-ovr", "binary"])
def test_select_roc_auc_keeps_the_best_validation_auc_epoch(cora, binary):
    data = binary_labels(cora) if binary else cora
    seen = []
    r = fit(data, small(seed=0, epochs=30, select="roc_auc"),
            lambda epoch, val: seen.append(dict(val)))
    hist = r.history
    best_auc = max(h["val_roc_auc"] for h in hist)
    ties = [h for h in hist if h["val_roc_auc"] == best_auc]
    expected = min(ties, key=lambda h: (h["val_nll"], h["epoch"]))
    assert r.best_epoch == expected["epoch"]
    # the per-epoch score is the AUC the report computes: the restored weights give it back
    val = data.val_mask
    assert best_auc == pytest.approx(
        roc_auc_score(r.logits[val].double().softmax(-1), data.y[val]), rel=1e-9)
    assert r.metrics["val"]["roc_auc"] == pytest.approx(best_auc, rel=1e-9)
    # the hook sees this epoch's AUC and the running best
    assert [v["roc_auc"] for v in seen] == [h["val_roc_auc"] for h in hist]
    assert seen[-1]["best_roc_auc"] == best_auc
    assert [v["best_roc_auc"] for v in seen] == list(np.maximum.accumulate(
        [h["val_roc_auc"] for h in hist]))


def test_select_accuracy_records_no_per_epoch_auc(cora):
    r = fit(cora, small(seed=0, epochs=3))
    assert "val_roc_auc" not in r.history[0]
    assert r.config.select == "accuracy"


def test_select_roc_auc_on_a_single_class_validation_set_is_an_error(cora):
    data = binary_labels(cora)
    data.y = data.y.clone()
    data.y[data.val_mask] = 0
    with pytest.raises(ValueError, match=r"select='roc_auc' needs validation nodes of at least "
                       r"two classes \(of 2\); got labels \[0\]"):
        fit(data, small(epochs=2, select="roc_auc"))


def test_temperature_scaling_keeps_accuracy_and_does_not_worsen_val_nll(cora):
    r = fit(cora, small(seed=1, epochs=40))
    for split in ("val", "test"):
        assert r.calibrated[split]["accuracy"] == r.metrics[split]["accuracy"]
    assert r.calibrated["val"]["nll"] <= r.metrics["val"]["nll"] + 1e-6
    assert r.temperature > 0


def test_hook_sees_every_epoch_and_can_stop_the_run(cora):
    seen = []

    def hook(epoch, val):
        seen.append((epoch, dict(val)))
        if epoch == 4:
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        fit(cora, small(), on_epoch=hook)
    assert [e for e, _ in seen] == [0, 1, 2, 3, 4]
    assert set(seen[0][1]) == {"accuracy", "nll", "best_accuracy", "best_nll"}
    bests = [v["best_accuracy"] for _, v in seen]
    assert bests == sorted(bests)  # the running best never decreases


def test_stop_member_from_the_hook_stops_the_run_and_returns_none(cora):
    seen = []

    def hook(epoch, val):
        seen.append(epoch)
        if epoch == 2:
            raise StopMember

    assert fit(cora, small(), on_epoch=hook) is None
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("model", ["gcn", "gat"])
def test_result_model_is_the_public_model_with_the_selected_weights(model, float64):
    """``result.model()`` is a public GCN/GAT whose output equals the member's logits."""
    from torch_geometric.data import Data

    from graphls.models import GAT, GCN

    g = torch.Generator().manual_seed(0)
    n = 30
    data = Data(x=torch.randn(n, 6, generator=g), y=torch.arange(n) % 3,
                edge_index=torch.randint(0, n, (2, 90), generator=g),
                train_mask=torch.arange(n) < 15, val_mask=(torch.arange(n) >= 15)
                & (torch.arange(n) < 22), test_mask=torch.arange(n) >= 22)
    cfgs = [TrainConfig.for_model(model, epochs=12, seed=s, structural=lam, hidden=4,
                                  learn_structural=s == 1)
            for s, lam in ((0, 0.6), (1, 0.3), (2, 1.0))]
    from graphls.engine import fit_many

    for r in fit_many(data, cfgs, group=True):
        net = r.model()
        assert isinstance(net, GCN if model == "gcn" else GAT) and not net.training
        with torch.no_grad():
            out = net(data.x, data.edge_index)
        torch.testing.assert_close(out, r.logits, rtol=1e-10, atol=1e-12)
        assert net.structural_values == pytest.approx(r.structural, rel=1e-12)


def test_patience_stops_early(cora):
    r = fit(cora, small(epochs=200, patience=3, lr=0.5))
    assert r.epochs_run < 200
    assert r.epochs_run - 1 - r.best_epoch == 3


@pytest.mark.parametrize("prior", ["uniform", "class", "neighbors", "posterior"])
def test_training_reads_no_label_outside_train_and_val(cora, prior):
    """Scrambling every label outside training and validation changes nothing (pseudo-label
    rounds included: they read predictions, never labels)."""
    rounds = 2 if prior == "posterior" else 0
    cfg = small(epsilon=0.2, prior=prior, prior_weight=1.0 if prior == "uniform" else 0.7,
                pseudo_label_rounds=rounds)
    a = fit(cora, cfg, splits=("train", "val"))
    b = fit(scramble(cora, cora.test_mask), cfg, splits=("train", "val"))
    assert "test" not in a.metrics
    assert a.metrics == b.metrics and a.history == b.history


def test_label_noise_changes_training_but_metrics_use_true_labels(cora):
    clean = fit(cora, small(seed=2))
    noisy = fit(cora, small(seed=2, label_noise=0.4))
    assert clean.history != noisy.history
    # train accuracy is measured against the true labels, so heavy noise lowers it
    assert noisy.metrics["train"]["accuracy"] < clean.metrics["train"]["accuracy"]


def test_gat_and_learned_structural_run_and_report_lambda(cora):
    r = fit(cora, small(model="gat", epochs=5, structural=0.5, learn_structural=True))
    assert len(r.structural) == 2
    assert all(0.0 <= v <= 1.0 for v in r.structural)
    assert r.structural != [0.5, 0.5]  # learned, so it moved


def test_epsilon_schedule_is_followed(cora):
    r = fit(cora, small(epochs=5, epsilon=0.0, epsilon_start=0.4, epsilon_schedule="linear"))
    eps = [h["epsilon"] for h in r.history]
    np.testing.assert_allclose(eps, [0.4, 0.3, 0.2, 0.1, 0.0], atol=1e-12)


def test_pseudo_label_rounds_keep_the_round_of_lowest_validation_loss(float64):
    data = tiny(seed=1)
    base = TrainConfig(epochs=30, epsilon=0.8, prior="posterior", prior_weight=0.6,
                       select="nll", lr=0.05)
    kept = []
    for seed in range(6):
        plain = fit(data, base.replace(seed=seed))
        rounds = fit(data, base.replace(pseudo_label_rounds=3, seed=seed))
        assert plain.pseudo_label_round == 0
        assert 0 <= rounds.pseudo_label_round <= 3
        kept.append(rounds.pseudo_label_round)
        if rounds.pseudo_label_round == 0:
            assert rounds.metrics == plain.metrics
        else:  # a later round won: its targets came from earlier predictions
            assert rounds.metrics["val"]["nll"] < plain.metrics["val"]["nll"]
            assert rounds.wall_time > plain.wall_time  # every round's time counts
    assert max(kept) >= 1  # the rounds do run (seed 5 keeps round 2 here)
    from graphls.engine import fit_many

    rounds = fit(data, base.replace(pseudo_label_rounds=3))
    batch = fit_many(data, [base.replace(pseudo_label_rounds=3, seed=s) for s in (0, 5)])
    # rounds run in a batch as alone
    assert batch[0].pseudo_label_round == rounds.pseudo_label_round
    for split in ("train", "val", "test"):
        assert batch[0].metrics[split] == pytest.approx(rounds.metrics[split], rel=1e-9)


def test_a_diverging_run_stops_with_the_epoch_and_the_cause():
    from graphls.engine import TrainingDiverged, fit_many

    data = tiny()
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+: the weights overflowed; the "
                                                r"learning rate \(lr=1e\+30\) is the likely"):
        fit(data, TrainConfig(lr=1e30, epochs=20))
    out = fit_many(data, [TrainConfig(epochs=5), TrainConfig(lr=1e30, epochs=20, seed=1)],
                   on_diverge="return")
    assert out[0] is not None and out[0].epochs_run == 5  # the other member goes on
    assert isinstance(out[1], TrainingDiverged) and out[1].config.lr == 1e30
    with pytest.raises(ValueError, match="on_diverge must be one of 'raise', 'return'; got 'x'"):
        fit_many(data, [TrainConfig(epochs=1)], on_diverge="x")


def test_select_nll_keeps_the_epoch_of_lowest_validation_loss():
    r = fit(tiny(), TrainConfig(epochs=25, select="nll", lr=0.05))
    losses = [h["val_nll"] for h in r.history]
    assert r.best_epoch == losses.index(min(losses))


def test_bernnet_recipe_and_its_stopping_rule():
    cfg = TrainConfig.for_model("gcn", recipe="bernnet", epochs=60, stop_window=5)
    assert (cfg.hidden, cfg.lr, cfg.weight_decay_scope, cfg.input_dropout, cfg.select) == (
        64, 0.05, "all", False, "nll")
    r = fit(tiny(), cfg)
    losses = [h["val_nll"] for h in r.history]
    last = r.epochs_run - 1
    if r.epochs_run < 60:  # stopped by the rule at the first epoch that breaks it
        assert last > 5 and losses[last] > np.mean(losses[last - 5:last])
    for e in range(6, last):
        assert not losses[e] > np.mean(losses[e - 5:e])
    with pytest.raises(ValueError, match=r"recipe must be one of 'pyg', 'bernnet'; got 'x'"):
        TrainConfig.for_model("gcn", recipe="x")


