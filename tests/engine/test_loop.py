"""The engine's loop: each member of a batch is the run a single public model makes alone."""

from __future__ import annotations

import math

import pytest
import torch
from engine_data import (
    GAT_RTOL,
    MEMBERS,
    SPLITS,
    assert_same_result,
    gat,
    synthetic,
)
from engine_reference import reference_fit

from graphls.config import TrainConfig
from graphls.engine import (
    StopMember,
    batch_key,
    fit_many,
)
from graphls.engine.graph import prepare_graph
from graphls.engine.members import Members
from graphls.models import GCN


def test_each_member_equals_a_separate_fit_float64(float64):
    data = synthetic()
    configs = [TrainConfig(**{"epochs": 12, **m}) for m in MEMBERS]
    configs.append(TrainConfig(epochs=12, seed=4, structural=0.7, learn_structural=False,
                               layers=2, lr=0.02))
    ours = fit_many(data, configs)
    for mine, cfg in zip(ours, configs, strict=True):
        assert_same_result(mine, reference_fit(data, cfg), rtol=1e-9, atol=1e-12)
    assert ours[4].epochs_run == 7  # its own epoch budget
    assert ours[3].epochs_run < 12  # its own patience
    assert ours[5].epochs_run < 12  # the BernNet rule (stop_window=3) stopped it


def test_learned_structural_and_three_layers_equal_fit(float64):
    data = synthetic(seed=1)
    configs = [TrainConfig(epochs=8, layers=3, hidden=8, learn_structural=True, structural=s,
                           seed=i, lr=0.05) for i, s in enumerate((0.5, 0.9, 0.1))]
    for mine, cfg in zip(fit_many(data, configs), configs, strict=True):
        ref = reference_fit(data, cfg)
        assert_same_result(mine, ref, rtol=1e-9, atol=1e-12)
        assert mine.structural != [cfg.structural] * 3  # λ moved, as in fit


def test_dense_features_equal_fit(float64):
    data = synthetic(density=0.5)  # above the sparse threshold: the dense path
    configs = [TrainConfig(epochs=6, seed=s, dropout=d) for s, d in ((0, 0.5), (1, 0.0))]
    assert prepare_graph(data, torch.device("cpu"), SPLITS).sparse is None
    for mine, cfg in zip(fit_many(data, configs), configs, strict=True):
        assert_same_result(mine, reference_fit(data, cfg), rtol=1e-9, atol=1e-12)


def test_each_member_equals_fit_on_cora_float32(datasets_root):
    from graphls.data import load_dataset

    data = load_dataset("Cora", root=datasets_root, split="public")
    configs = [TrainConfig(**{"epochs": 15, **m}) for m in MEMBERS[:4]]
    ours = fit_many(data, configs)
    assert prepare_graph(data, torch.device("cpu"), SPLITS).sparse is not None  # Cora is sparse
    for mine, cfg in zip(ours, configs, strict=True):
        assert_same_result(mine, reference_fit(data, cfg), rtol=2e-5, atol=2e-6)


def test_hook_sees_what_fit_hook_sees_and_pruned_member_is_excluded(float64):
    data = synthetic()
    configs = [TrainConfig(epochs=10, seed=s, epsilon=0.1 * s,
                           select="roc_auc" if s == 2 else "accuracy") for s in range(4)]
    seen: dict[int, list[tuple[int, dict[str, float]]]] = {b: [] for b in range(4)}

    def on_epoch(member, epoch, val):
        seen[member].append((epoch, dict(val)))
        if member == 1 and epoch == 2:
            raise StopMember
        if member == 3 and epoch == 4:
            raise StopMember

    ours = fit_many(data, configs, on_epoch)
    assert ours[1] is None and ours[3] is None
    assert [e for e, _ in seen[1]] == [0, 1, 2]  # never called again after the stop
    assert [e for e, _ in seen[3]] == [0, 1, 2, 3, 4]
    for b in (0, 2):
        calls = []
        ref = reference_fit(data, configs[b],
                            lambda epoch, val, calls=calls: calls.append((epoch, val)))
        assert_same_result(ours[b], ref, rtol=1e-9, atol=1e-12)
        assert [e for e, _ in seen[b]] == [e for e, _ in calls]
        for (_, mine), (_, theirs) in zip(seen[b], calls, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-9)
    assert "best_roc_auc" in seen[2][0][1] and "best_roc_auc" not in seen[0][0][1]


def test_other_hook_errors_propagate(float64):
    def on_epoch(member, epoch, val):
        raise RuntimeError("storage is gone")

    with pytest.raises(RuntimeError, match="storage is gone"):
        fit_many(synthetic(), [TrainConfig(epochs=3)], on_epoch)


def test_summed_loss_gives_each_member_its_own_gradient(float64):
    """One step without dropout: member b's gradient is that of its own model and loss."""
    from graphls.losses import LabelSmoothingLoss

    data = synthetic()
    configs = [TrainConfig(epochs=1, seed=s, epsilon=e, structural=lam, dropout=0.0)
               for s, e, lam in ((0, 0.0, 1.0), (1, 0.3, 0.4), (2, 0.1, 0.0))]
    graph = prepare_graph(data, torch.device("cpu"), SPLITS)
    members = Members(graph, configs)
    total, losses, _ = members.loss(members.forward(training=True, rows=graph.masks["train"]), 0)
    total.backward()
    train = data.train_mask
    for b, cfg in enumerate(configs):
        torch.manual_seed(cfg.seed)
        model = GCN(data.num_features, cfg.hidden, 2, 3, structural=cfg.structural, dropout=0.0)
        loss = LabelSmoothingLoss(cfg.epsilon)(model(data.x, data.edge_index)[train],
                                               data.y[train])
        loss.backward()
        assert math.isclose(losses[b], float(loss.detach()), rel_tol=1e-12)
        for layer, conv in enumerate(model.convs):
            torch.testing.assert_close(members.weights[layer].grad[b], conv.lin.weight.grad.t())
            torch.testing.assert_close(members.biases[layer].grad[b], conv.bias.grad)
    # a mean over members would have divided every gradient by 3
    assert math.isclose(float(total.detach()), sum(losses), rel_tol=1e-12)


def test_mismatched_hidden_is_refused_unless_grouped(float64):
    data = synthetic()
    configs = [TrainConfig(epochs=3), TrainConfig(epochs=3, hidden=8, seed=1),
               TrainConfig(epochs=3, seed=2)]
    with pytest.raises(ValueError, match=r"configs must share model, hidden, layers, heads, "
                       r"learn_structural, device to train in one batch; got hidden=16 "
                       r"\(config 0\) and hidden=8 \(config 1\); pass group=True"):
        fit_many(data, configs)
    grouped = fit_many(data, configs, group=True)
    for mine, cfg in zip(grouped, configs, strict=True):
        assert_same_result(mine, reference_fit(data, cfg), rtol=1e-9, atol=1e-12)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="configs must hold at least one TrainConfig; got none"):
        fit_many(synthetic(), [])
    with pytest.raises(TypeError, match="configs\\[1\\] must be a TrainConfig; got dict"):
        fit_many(synthetic(), [TrainConfig(), {"epochs": 3}])


def test_batch_key_ignores_heads_for_gcn_only():
    assert batch_key(TrainConfig(heads=2)) == batch_key(TrainConfig(heads=4, epsilon=0.3,
                                                                      lr=0.1, seed=5))
    assert batch_key(TrainConfig(model="gat", heads=2)) != batch_key(
        TrainConfig(model="gat", heads=4))


def test_gat_members_equal_a_separate_fit_float64(float64):
    data = synthetic()
    configs = [gat(**{"epochs": 20, **m}) for m in MEMBERS]
    configs += [gat(seed=4, structural=0.7, weight_decay=0.0),
                gat(seed=5, lr=0.5, patience=2, epochs=20)]
    stops = []

    def on_epoch(member, epoch, val):
        if member == len(configs) and epoch == 2:
            stops.append(epoch)
            raise StopMember

    ours = fit_many(data, [*configs, gat(seed=9)], on_epoch)
    assert ours[-1] is None and stops == [2]  # pruned, as in fit's hook protocol
    for mine, cfg in zip(ours[:-1], configs, strict=True):
        assert_same_result(mine, reference_fit(data, cfg), rtol=GAT_RTOL, atol=1e-10)
    assert ours[4].epochs_run == 7 and ours[7].epochs_run < 20  # own budget, own patience


def test_gat_learned_structural_three_layers_and_dense_features_equal_fit(float64):
    for data, extra in ((synthetic(seed=1), {"layers": 3, "learn_structural": True}),
                        (synthetic(density=0.5), {})):
        configs = [gat(seed=i, structural=s, lr=0.05, **extra)
                   for i, s in enumerate((0.5, 1.0, 0.0))]
        for mine, cfg in zip(fit_many(data, configs), configs, strict=True):
            assert_same_result(mine, reference_fit(data, cfg), rtol=GAT_RTOL, atol=1e-10)


def test_gat_seeds_at_lambda_one_equal_a_separate_fit_float64(float64):
    """What ``evaluate`` trains: every member at λ = 1 (the attention is the whole layer and
    a hidden layer's bias joins the sparse product), attention dropout, 2 and 3 layers."""
    data = synthetic()
    for extra in ({}, {"layers": 3, "dropout": 0.3, "weight_decay_scope": "first"}):
        configs = [gat(seed=s, epochs=12, **extra) for s in range(3)]
        for mine, cfg in zip(fit_many(data, configs), configs, strict=True):
            assert_same_result(mine, reference_fit(data, cfg), rtol=GAT_RTOL, atol=1e-10)


def test_gat_per_layer_structural_zero_skips_attention_draws_as_fit(float64):
    """λ fixed at 0 in a layer: StructuralGATConv skips attention and its dropout draw, so the
    member's later masks only match fit if it draws nothing there either."""
    data = synthetic(seed=2)
    configs = [gat(seed=0, layers=3, structural=(0.0, 0.6, 1.0)),
               gat(seed=1, layers=3, structural=(1.0, 0.0, 0.0)),
               gat(seed=2, layers=3, structural=(0.0, 0.0, 0.0), epsilon=0.2)]
    for mine, cfg in zip(fit_many(data, configs), configs, strict=True):
        assert_same_result(mine, reference_fit(data, cfg), rtol=GAT_RTOL, atol=1e-10)


def test_gat_members_equal_fit_on_cora_float32(datasets_root):
    from graphls.data import load_dataset

    data = load_dataset("Cora", root=datasets_root, split="public")
    configs = [TrainConfig.for_model("gat", epochs=8, **m) for m in MEMBERS[:3]]
    for mine, cfg in zip(fit_many(data, configs), configs, strict=True):
        assert_same_result(mine, reference_fit(data, cfg), rtol=2e-5, atol=1e-5)


