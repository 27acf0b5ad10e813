"""graphls.engine.members: priors, loss targets and the weight-decay rule of the stacked members."""

from __future__ import annotations

import pytest
import torch
from engine_data import (
    scramble,
    small,
    tiny,
)
from torch_geometric.data import Data

from graphls.config import TrainConfig
from graphls.engine import (
    make_prior,
)
from graphls.engine.graph import prepare_graph
from graphls.engine.members import Members


def test_neighbor_prior_reads_only_training_labels(cora):
    cfg = small(prior="neighbors", epsilon=0.3)
    outside = ~cora.train_mask
    p1 = make_prior(cora, cora.y, cfg, 7)
    p2 = make_prior(cora, scramble(cora, outside).y, cfg, 7)
    torch.testing.assert_close(p1, p2)
    assert p1.shape == (int(cora.train_mask.sum()), 7)
    torch.testing.assert_close(p1.sum(-1), torch.ones(p1.size(0)))


def test_class_prior_is_training_label_frequency_mixed_with_uniform(cora):
    cfg = small(prior="class", prior_weight=0.5)
    p = make_prior(cora, cora.y, cfg, 7)
    freq = torch.bincount(cora.y[cora.train_mask], minlength=7).float()
    freq = freq / freq.sum()
    torch.testing.assert_close(p, 0.5 * freq + 0.5 / 7)


@pytest.mark.parametrize("model", ["gcn", "gat"])
@pytest.mark.parametrize("scope", ["first", "all"])
def test_weight_decay_follows_the_scope_for_gcn_and_gat(model, scope):
    """The engine's decay rule, parameter by parameter, named as the public model names them:
    ``first`` decays the first layer's parameters, ``all`` every one; λ never."""

    from graphls.engine.graph import prepare_graph

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


def test_posterior_targets_are_postel_targets(float64):
    """epsilon = α, prior_weight = 1 - β: the loss targets are PosteL's
    α[(1 - β) p + β (1 - e_y)/(K - 1)] + (1 - α) e_y, computed here independently."""
    from graphls.priors import posterior_label_prior

    data = tiny()
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
