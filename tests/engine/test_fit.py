"""graphls.engine.fit: selection rule, reproducibility, hooks, priors, no test-label reads."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from graphls.config import TrainConfig
from graphls.engine import StopMember, evaluate, fit, make_prior, summarize
from graphls.metrics import roc_auc_score

EPOCHS = 15


@pytest.fixture(scope="module")
def cora(datasets_root):
    from graphls.data import load_dataset

    return load_dataset("Cora", root=datasets_root, split="public")


def small(**kw) -> TrainConfig:
    return TrainConfig.for_model(kw.pop("model", "gcn"), epochs=kw.pop("epochs", EPOCHS), **kw)


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


def _binary(data, cls=3):
    """``data`` with the labels ``y == cls`` (an imbalanced one-vs-rest task, K = 2)."""
    out = data.clone()
    out.y = (data.y == cls).long()
    out.num_classes = 2
    return out


@pytest.mark.parametrize("binary", [False, True], ids=["macro-ovr", "binary"])
def test_select_roc_auc_keeps_the_best_validation_auc_epoch(cora, binary):
    data = _binary(cora) if binary else cora
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
    data = _binary(cora)
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


def _scramble(data, mask, seed=0):
    d = data.clone()
    g = torch.Generator().manual_seed(seed)
    y = d.y.clone()
    y[mask] = torch.randint(0, int(d.num_classes), (int(mask.sum()),), generator=g)
    d.y = y
    return d


@pytest.mark.parametrize("prior", ["uniform", "class", "neighbors", "posterior"])
def test_training_reads_no_label_outside_train_and_val(cora, prior):
    """Scrambling every label outside training and validation changes nothing (pseudo-label
    rounds included: they read predictions, never labels)."""
    rounds = 2 if prior == "posterior" else 0
    cfg = small(epsilon=0.2, prior=prior, prior_weight=1.0 if prior == "uniform" else 0.7,
                pseudo_label_rounds=rounds)
    a = fit(cora, cfg, splits=("train", "val"))
    b = fit(_scramble(cora, cora.test_mask), cfg, splits=("train", "val"))
    assert "test" not in a.metrics
    assert a.metrics == b.metrics and a.history == b.history


def test_neighbor_prior_reads_only_training_labels(cora):
    cfg = small(prior="neighbors", epsilon=0.3)
    outside = ~cora.train_mask
    p1 = make_prior(cora, cora.y, cfg, 7)
    p2 = make_prior(cora, _scramble(cora, outside).y, cfg, 7)
    torch.testing.assert_close(p1, p2)
    assert p1.shape == (int(cora.train_mask.sum()), 7)
    torch.testing.assert_close(p1.sum(-1), torch.ones(p1.size(0)))


def test_class_prior_is_training_label_frequency_mixed_with_uniform(cora):
    cfg = small(prior="class", prior_weight=0.5)
    p = make_prior(cora, cora.y, cfg, 7)
    freq = torch.bincount(cora.y[cora.train_mask], minlength=7).float()
    freq = freq / freq.sum()
    torch.testing.assert_close(p, 0.5 * freq + 0.5 / 7)


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


def test_evaluate_summary_is_mean_and_sample_std(cora):
    sweep = evaluate(cora, small(epochs=5), seeds=3)
    assert sweep.seeds == [0, 1, 2]
    s = sweep.summary()
    values = [r.metrics["test"]["accuracy"] for r in sweep.results]
    assert s["test"]["accuracy"]["values"] == values
    assert s["test"]["accuracy"]["mean"] == pytest.approx(np.mean(values))
    assert s["test"]["accuracy"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert summarize(sweep.results[:1])["test"]["ece"]["std"] == 0.0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"epsilon": 1.5}, r"epsilon must be in \[0, 1\]; got 1.5"),
        ({"structural": -0.1}, r"structural must be in \[0, 1\]; got -0.1"),
        ({"structural": (1.0, 0.5, 0.2)}, r"structural must have one value per layer \(2\); got 3"),
        ({"model": "sage"}, r"model must be one of 'gcn', 'gat'; got 'sage'"),
        ({"epochs": 0}, r"epochs must be an integer >= 1; got 0"),
        ({"label_noise": 1.0}, r"label_noise must be in \[0, 1\); got 1.0"),
        ({"lr": 0.0}, r"lr must be > 0; got 0.0"),
        ({"prior": "graph"},
         r"prior must be one of 'uniform', 'class', 'neighbors', 'posterior'; got 'graph'"),
        ({"select": "auc"}, r"select must be one of 'accuracy', 'roc_auc', 'nll'; got 'auc'"),
        ({"prior_weight": 0.5},
         r"prior_weight has no effect with prior='uniform'; got prior_weight=0.5; pick a prior"),
        ({"pseudo_label_rounds": 2},
         r"pseudo_label_rounds needs prior='posterior'; got pseudo_label_rounds=2 with "
         r"prior='uniform'"),
        ({"pseudo_label_rounds": -1}, r"pseudo_label_rounds must be an integer >= 0; got -1"),
        ({"stop_window": 0}, r"stop_window must be an integer >= 1; got 0"),
    ],
)
def test_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_config_round_trips_through_dict():
    cfg = TrainConfig(structural=(0.2, 0.9), epsilon=0.1, prior="neighbors", select="roc_auc")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"config has unknown keys \['bogus'\]"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_gat_defaults_are_pyg_example():
    cfg = TrainConfig.for_model("gat")
    assert (cfg.hidden, cfg.heads, cfg.dropout, cfg.lr) == (8, 8, 0.6, 0.005)
    assert math.isclose(TrainConfig.for_model("gcn").dropout, 0.5)


@pytest.mark.parametrize("model", ["gcn", "gat"])
@pytest.mark.parametrize("scope", ["first", "all"])
def test_weight_decay_follows_the_scope_for_gcn_and_gat(model, scope):
    """The engine's decay rule, parameter by parameter, named as the public model names them:
    ``first`` decays the first layer's parameters, ``all`` every one; λ never."""
    from torch_geometric.data import Data

    from graphls.engine.graph import prepare_graph
    from graphls.engine.members import Members

    cfg = TrainConfig.for_model(model, learn_structural=True, weight_decay_scope=scope,
                                weight_decay=0.25)
    n = 8
    data = Data(x=torch.randn(n, 5), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]),
                y=torch.arange(n) % 3, train_mask=torch.ones(n, dtype=torch.bool),
                val_mask=torch.ones(n, dtype=torch.bool), test_mask=torch.ones(n, dtype=torch.bool))
    members = Members(prepare_graph(data, torch.device("cpu"), ("train", "val")), [cfg, cfg])
    decays = [wd[0] for wd in members.weight_decay()]
    assert all(wd[0] == wd[1] for wd in members.weight_decay())
    # name each stacked parameter by the public state_dict entry it becomes
    named = {}
    state = members.state()
    for pos, tensor in enumerate(state):
        probe = [t.clone() for t in state]
        probe[pos] = tensor + 1.0
        changed = [k for k, v in members.member_state(probe, 0).items()
                   if not torch.equal(v, members.member_state(state, 0)[k])]
        assert len(changed) == 1
        named[changed[0]] = decays[pos]
    assert set(named) == set(cfg.build_model(5, 3).state_dict())
    for name, wd in named.items():
        want = (0.0 if name.endswith("structural_logit")
                else 0.25 if scope == "all" or name.startswith("convs.0.") else 0.0)
        assert wd == want, name


def test_weight_decay_scope_follows_the_model_when_built_or_replaced():
    assert TrainConfig().weight_decay_scope == "first"
    assert TrainConfig(model="gat").weight_decay_scope == "all"
    assert TrainConfig().replace(model="gat") == TrainConfig(model="gat")
    assert TrainConfig(model="gat").replace(model="gcn") == TrainConfig()
    given = TrainConfig(weight_decay_scope="first").replace(model="gat")
    assert given.weight_decay_scope == "first"  # given explicitly: kept
    assert TrainConfig.from_dict(TrainConfig(model="gat").to_dict()) == TrainConfig(model="gat")
    assert "_scope_given" not in TrainConfig().to_dict()
    with pytest.raises(ValueError, match=r"weight_decay_scope must be one of 'first', 'all'"):
        TrainConfig(weight_decay_scope="last")


def _tiny(seed: int = 0, n: int = 40):
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 5, generator=g) + F_one_hot(y, 5)
    edge_index = torch.randint(0, n, (2, 4 * n), generator=g)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    for m, idx in zip(masks, (perm[:20], perm[20:30], perm[30:]), strict=True):
        m[idx] = True
    return Data(x=x, y=y, edge_index=edge_index, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2])


def F_one_hot(y, width):
    return torch.nn.functional.one_hot(y, width).to(torch.get_default_dtype()) * 2


def test_posterior_targets_are_postel_targets(float64):
    """epsilon = α, prior_weight = 1 - β: the loss targets are PosteL's
    α[(1 - β) p + β (1 - e_y)/(K - 1)] + (1 - α) e_y, computed here independently."""
    from graphls.engine.graph import prepare_graph
    from graphls.engine.members import Members
    from graphls.priors import posterior_label_prior

    data = _tiny()
    alpha, beta, k = 0.8, 0.4, 3
    cfg = TrainConfig(epsilon=alpha, prior="posterior", prior_weight=1 - beta)
    members = Members(prepare_graph(data, torch.device("cpu"), ("train", "val")), [cfg])
    train = data.train_mask
    p = posterior_label_prior(data.edge_index, data.y, train, k, dtype=torch.float64)[train]
    e = torch.nn.functional.one_hot(data.y[train], k).double()
    postel = alpha * ((1 - beta) * p + beta / (k - 1) * (1 - e)) + (1 - alpha) * e
    ours = (1 - alpha) * members.onehot[:, 0] + alpha * members.prior[:, 0]
    torch.testing.assert_close(ours, postel, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.sum(-1), torch.ones(len(ours)))


def test_pseudo_label_rounds_keep_the_round_of_lowest_validation_loss(float64):
    data = _tiny(seed=1)
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

    data = _tiny()
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
    r = fit(_tiny(), TrainConfig(epochs=25, select="nll", lr=0.05))
    losses = [h["val_nll"] for h in r.history]
    assert r.best_epoch == losses.index(min(losses))


def test_bernnet_recipe_and_its_stopping_rule():
    cfg = TrainConfig.for_model("gcn", recipe="bernnet", epochs=60, stop_window=5)
    assert (cfg.hidden, cfg.lr, cfg.weight_decay_scope, cfg.input_dropout, cfg.select) == (
        64, 0.05, "all", False, "nll")
    r = fit(_tiny(), cfg)
    losses = [h["val_nll"] for h in r.history]
    last = r.epochs_run - 1
    if r.epochs_run < 60:  # stopped by the rule at the first epoch that breaks it
        assert last > 5 and losses[last] > np.mean(losses[last - 5:last])
    for e in range(6, last):
        assert not losses[e] > np.mean(losses[e - 5:e])
    with pytest.raises(ValueError, match=r"recipe must be one of 'pyg', 'bernnet'; got 'x'"):
        TrainConfig.for_model("gcn", recipe="x")


def test_results_and_summaries_carry_per_class_recall_and_flag_zeros():
    from graphls.metrics import recall_per_class

    data = _tiny()
    sweep = evaluate(data, TrainConfig(epochs=3, lr=1e-4), seeds=2)  # barely trained
    for r in sweep.results:
        for split in ("train", "val", "test"):
            mask = getattr(data, f"{split}_mask")
            expected = recall_per_class(r.logits[mask], data.y[mask], 3)
            np.testing.assert_array_equal(r.recall[split], expected)
    s = sweep.summary()
    assert len(s["test_recall"]) == 3
    zero = {c: sum(r.recall["test"][c] == 0 for r in sweep.results) for c in range(3)}
    assert s["test_zero_recall"] == {c: n for c, n in zero.items() if n}
    assert s["test_zero_recall"]  # three classes, one predicted: some recall is 0


def test_seed_progress_counts_the_epochs_of_each_batch(capsys):
    """Seeds train together, so the bar counts epochs of the batch, not finished seeds."""
    evaluate(_tiny(), TrainConfig(epochs=7), seeds=3, batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "gcn 3 seeds in 2 batches" in err and "14/14" in err and "epoch" in err


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=12))
def test_paired_difference_is_the_t_interval_of_the_differences(pairs):
    from scipy import stats

    from graphls.engine import paired_difference

    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    r = paired_difference(a, b)
    d = np.subtract(a, b)
    assert r["mean"] == pytest.approx(d.mean(), abs=1e-12)
    if d.std(ddof=1) > 0:
        low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert (r["low"], r["high"]) == pytest.approx((low, high), abs=1e-9)
    flipped = paired_difference(a, b, higher_is_better=False)["verdict"]
    assert {r["verdict"], flipped} in ({"better", "worse"}, {"no detectable difference"})
    assert (r["verdict"] == "better") == (r["low"] > 0)


def test_compare_pairs_the_same_seeds_only():
    from graphls.engine import compare

    data = _tiny()
    a = evaluate(data, TrainConfig(epochs=5), seeds=3)
    b = evaluate(data, TrainConfig(epochs=5, epsilon=0.3), seeds=3)
    out = compare(a, b)
    assert set(out) == {"accuracy", "accuracy_calibrated", "ece", "ece_calibrated"}
    diffs = [x.metrics["test"]["ece"] - y.metrics["test"]["ece"]
             for x, y in zip(a.results, b.results, strict=True)]
    assert out["ece"]["mean"] == pytest.approx(np.mean(diffs))
    with pytest.raises(ValueError, match=r"the sweeps must run the same seeds to be paired"):
        compare(a, evaluate(data, TrainConfig(epochs=5, seed=7), seeds=3))
    with pytest.raises(ValueError, match=r"a and b must be paired values of the same length"):
        from graphls.engine import paired_difference

        paired_difference([1.0], [1.0, 2.0])
