"""The engine's loop: each member of a batch is the run a single public model makes alone."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from engine_reference import param_groups, reference_fit
from torch_geometric.data import Data

from graphls.config import TrainConfig
from graphls.engine import (
    SEED_BATCH_ELEMENTS,
    BatchedAdam,
    StopMember,
    batch_key,
    default_seed_batch,
    evaluate,
    fit,
    fit_many,
)
from graphls.engine.graph import MemberSparseMM, SparseFeatures, prepare_graph
from graphls.engine.members import Members
from graphls.models import GCN, value_dropout

SPLITS = ("train", "val", "test")


def synthetic(n: int = 60, f: int = 40, k: int = 3, density: float = 0.06, seed: int = 0,
              dtype: torch.dtype = torch.float64) -> Data:
    """A small bag-of-words graph whose labels follow the features (and the edges)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = (torch.rand(n, f, generator=g) < density).to(dtype)
    x[torch.arange(n), y * (f // k) + torch.randint(0, f // k, (n,), generator=g)] = 1.0
    src = torch.randint(0, n, (3 * n,), generator=g)
    dst = torch.where(torch.rand(3 * n, generator=g) < 0.7,
                      (src + k * torch.randint(1, 4, (3 * n,), generator=g)) % n,
                      torch.randint(0, n, (3 * n,), generator=g))
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    for m, idx in zip(masks, perm.chunk(3), strict=True):
        m[idx] = True
    return Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2])


def assert_same_result(ours, ref, *, rtol: float, atol: float) -> None:
    assert ours is not None
    assert ours.config == ref.config
    assert ours.best_epoch == ref.best_epoch
    assert ours.epochs_run == ref.epochs_run
    assert len(ours.history) == len(ref.history)
    for a, b in zip(ours.history, ref.history, strict=True):
        assert a.keys() == b.keys()
        assert a["epoch"] == b["epoch"] and a["val_accuracy"] == b["val_accuracy"]
        for key in ("loss", "epsilon", "val_nll", "val_roc_auc"):
            if key in b:
                assert math.isclose(a[key], b[key], rel_tol=rtol, abs_tol=atol), (key, a, b)
    # Temperature scaling is an L-BFGS search that stops at |grad| < 1e-7: logits equal to
    # 1e-16 can still move T and the calibrated metrics in their 5th digit when the
    # validation NLL is flat in T (nearly separable, or nearly constant logits).
    for attr, tol in (("metrics", rtol), ("calibrated", max(rtol, 1e-4))):
        mine, theirs = getattr(ours, attr), getattr(ref, attr)
        assert mine.keys() == theirs.keys()
        for split in theirs:
            for name, value in theirs[split].items():
                assert math.isclose(mine[split][name], value, rel_tol=tol, abs_tol=atol), \
                    (attr, split, name)
    assert math.isclose(ours.temperature, ref.temperature, rel_tol=max(100 * rtol, 1e-4),
                        abs_tol=atol)
    assert ours.structural == pytest.approx(ref.structural, rel=rtol, abs=atol)
    torch.testing.assert_close(ours.logits, ref.logits, rtol=rtol, atol=atol)


# Members that differ in ε, λ (also per layer), lr, weight decay and its scope, dropout,
# seed, prior, label noise, ε schedule, epochs, patience (so members leave the batch
# while others go on) and the epoch selection metric.
MEMBERS = [
    {},
    {"seed": 1, "epsilon": 0.2, "structural": 0.5, "lr": 0.03, "weight_decay": 1e-3,
     "dropout": 0.2, "select": "roc_auc"},
    {"seed": 2, "epsilon": 0.1, "prior": "class", "structural": (0.3, 1.0),
     "weight_decay_scope": "all", "dropout": 0.0},
    {"seed": 3, "epsilon": 0.3, "prior": "neighbors", "prior_weight": 0.5, "label_noise": 0.2,
     "structural": 0.0, "patience": 3},
    {"seed": 0, "epsilon": 0.4, "epsilon_schedule": "cosine", "epsilon_start": 0.0,
     "epochs": 7, "weight_decay": 0.0, "lr": 0.005, "dropout": 0.7},
    # the BernNet recipe's pieces: no input dropout, the epoch of lowest validation loss,
    # their stopping rule; and PosteL's posterior prior
    {"seed": 5, "input_dropout": False, "select": "nll", "stop_window": 3, "lr": 0.05,
     "epsilon": 0.8, "prior": "posterior", "prior_weight": 0.6},
]


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


def test_batched_adam_equals_torch_adam_per_member(float64):
    g = torch.Generator().manual_seed(0)
    lrs, decays = [0.01, 0.1, 0.003], [5e-4, 0.0, 1e-2]
    stacked = torch.randn(3, 4, 5, generator=g, requires_grad=True)
    singles = [stacked[b].detach().clone().requires_grad_() for b in range(3)]
    ours = BatchedAdam([stacked], lrs, [decays])
    refs = [torch.optim.Adam([p], lr=lr, weight_decay=wd)
            for p, lr, wd in zip(singles, lrs, decays, strict=True)]
    for _ in range(6):
        grad = torch.randn(3, 4, 5, generator=g)
        stacked.grad = grad.clone()
        ours.step()
        for b, (p, opt) in enumerate(zip(singles, refs, strict=True)):
            p.grad = grad[b].clone()
            opt.step()
    for b in range(3):
        torch.testing.assert_close(stacked.detach()[b], singles[b].detach(), rtol=1e-14,
                                   atol=1e-15)
        state = refs[b].state[singles[b]]
        torch.testing.assert_close(ours.exp_avg[0][b], state["exp_avg"])
        torch.testing.assert_close(ours.exp_avg_sq[0][b], state["exp_avg_sq"])


def test_batched_adam_weight_decay_follows_fit_param_groups():
    configs = [TrainConfig(weight_decay=1e-3), TrainConfig(weight_decay=2e-3,
                                                           weight_decay_scope="all")]
    members = Members(prepare_graph(synthetic(dtype=torch.float32), torch.device("cpu"), SPLITS),
                       configs)
    # order: weights of layers 0, 1, then biases of layers 0, 1
    assert members.weight_decay() == [[1e-3, 2e-3], [0.0, 2e-3], [1e-3, 2e-3], [0.0, 2e-3]]
    model = GCN(40, 16, 2, 3, dropout=0.5)
    groups = param_groups(model, configs[0])
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.convs[0].parameters()}


def test_batched_adam_rejects_a_wrong_number_of_rates():
    p = torch.zeros(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"lr must hold one value per member \(2\); got 3"):
        BatchedAdam([p], [0.1, 0.1, 0.1], [[0.0, 0.0]])
    with pytest.raises(ValueError, match=r"weight_decay must hold one sequence per parameter "
                                         r"\(1\); got 2"):
        BatchedAdam([p], [0.1, 0.1], [[0.0, 0.0], [0.0, 0.0]])


def test_sparse_first_layer_equals_dense_product_with_the_same_mask(float64):
    data = synthetic()
    x = data.x
    sx = SparseFeatures.from_csr(x.to_sparse_csr())
    torch.testing.assert_close(sx.csr_t(sx.values).to_dense(), x.t())
    g = torch.Generator().manual_seed(0)
    values = torch.stack([value_dropout(sx.values, p, g) for p in (0.5, 0.0, 0.2)])
    w = torch.randn(3, x.size(1), 4, generator=g, requires_grad=True)
    out = MemberSparseMM.apply(w, values, sx)
    w_ref = w.detach().clone().requires_grad_()
    dense = [sx.csr(values[b]).to_dense() for b in range(3)]
    ref = torch.stack([dense[b] @ w_ref[b] for b in range(3)], 1)
    torch.testing.assert_close(out, ref)
    upstream = torch.randn(out.shape, generator=g)
    (out * upstream).sum().backward()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(w.grad, w_ref.grad)
    for b, p in enumerate((0.5, 0.0, 0.2)):  # zeros stay zero; kept values scaled by 1/(1-p)
        kept = dense[b] != 0
        assert bool((dense[b][x == 0] == 0).all())
        torch.testing.assert_close(dense[b][kept], x[kept] / (1 - p))


def test_value_dropout_draws_from_the_given_generator_like_the_global_one():
    v = torch.rand(1000)
    torch.manual_seed(7)
    global_draw = value_dropout(v, 0.3)
    ours = value_dropout(v, 0.3, torch.Generator().manual_seed(7))
    assert torch.equal(global_draw, ours)
    kept = ours != 0
    assert 0.6 < float(kept.float().mean()) < 0.8
    torch.testing.assert_close(ours[kept], v[kept] / 0.7)
    assert value_dropout(v, 0.0, None) is v
    # unbiased: E[dropout(v)] = v
    g = torch.Generator().manual_seed(1)
    mean = torch.stack([value_dropout(v[:50], 0.5, g) for _ in range(4000)]).mean(0)
    torch.testing.assert_close(mean, v[:50], atol=0.06, rtol=0.06)


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


# GAT sums attention scores and messages in another order than PyG's GATConv (a batched
# product and a sparse product instead of mul-sum and scatter), so float64 results agree to
# ~1e-8 after a few epochs rather than 1e-9.
GAT_RTOL = 1e-7


def gat(**kwargs):
    return TrainConfig.for_model("gat", **{"hidden": 4, "heads": 2, "epochs": 8, **kwargs})


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


def test_evaluate_trains_seeds_together_and_equals_fit_per_seed(float64):
    data = synthetic()
    config = TrainConfig(epochs=6, epsilon=0.1)
    seen = []
    ours = evaluate(data, config, 3, batch_size=2, on_result=seen.append)
    one_by_one = evaluate(data, config, 3, batch_size=1)
    assert ours.seeds == one_by_one.seeds == [0, 1, 2] == [r.config.seed for r in seen]
    for s, mine, theirs in zip((0, 1, 2), ours.results, one_by_one.results, strict=True):
        ref = reference_fit(data, config.replace(seed=s))
        assert_same_result(mine, ref, rtol=1e-9, atol=1e-12)
        assert_same_result(theirs, fit(data, config.replace(seed=s)), rtol=0, atol=0)
        assert_same_result(theirs, ref, rtol=1e-9, atol=1e-12)
    assert ours.summary()["test"]["accuracy"]["mean"] == pytest.approx(
        one_by_one.summary()["test"]["accuracy"]["mean"])
    with pytest.raises(ValueError, match="seeds must name at least one seed; got an empty list"):
        evaluate(data, config, [])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        evaluate(data, config, 2, batch_size=0)


def test_default_seed_batch_follows_graph_size():
    small = synthetic(dtype=torch.float32)
    assert default_seed_batch(small, TrainConfig(), 10) == 10
    big = Data(x=torch.zeros(1, 1), num_nodes=169_343)
    per_seed = 169_343 * 256
    assert default_seed_batch(big, TrainConfig(hidden=256), 10) == SEED_BATCH_ELEMENTS // per_seed
    assert default_seed_batch(Data(x=torch.zeros(1, 1), num_nodes=10**8), TrainConfig(), 10) == 1
    # GAT: the attention maps (edges x heads per member) count too
    gat_cfg = TrainConfig.for_model("gat")
    assert default_seed_batch(small, gat_cfg, 10) == 10
    dense = Data(x=torch.zeros(1, 1), num_nodes=11_758,
                 edge_index=torch.zeros(2, 1_038_000, dtype=torch.long))
    per_seed = gat_cfg.heads * (1_038_000 + 11_758 * (1 + gat_cfg.hidden))
    assert default_seed_batch(dense, gat_cfg, 10) == SEED_BATCH_ELEMENTS // per_seed


def test_members_share_one_propagation_over_concatenated_channels(float64):
    """λ mix per member: a λ = 0 member ignores the graph, a λ = 1 member is plain GCN."""
    data = synthetic()
    configs = [TrainConfig(structural=0.0, seed=0), TrainConfig(structural=1.0, seed=0)]
    members = Members(prepare_graph(data, torch.device("cpu"), SPLITS), configs)
    out = members.forward(training=False)
    torch.manual_seed(0)
    model = GCN(data.num_features, 16, 2, 3, dropout=0.5).eval()
    torch.testing.assert_close(out[:, 1], model(data.x, data.edge_index))
    plain = data.x @ model.convs[0].lin.weight.t() + model.convs[0].bias
    expected = F.relu(plain) @ model.convs[1].lin.weight.t() + model.convs[1].bias
    torch.testing.assert_close(out[:, 0], expected)
