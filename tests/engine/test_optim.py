"""graphls.engine.optim: BatchedAdam against torch.optim.Adam, member by member."""

from __future__ import annotations

import pytest
import torch
from engine_data import (
    SPLITS,
    synthetic,
)
from engine_reference import param_groups

from graphls.config import TrainConfig
from graphls.engine import (
    BatchedAdam,
)
from graphls.engine.graph import prepare_graph
from graphls.engine.members import Members
from graphls.models import GCN


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
