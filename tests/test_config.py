"""graphls.config: TrainConfig's checks, recipes, round trips and model-dependent defaults."""

from __future__ import annotations

import math

import pytest

from graphls.config import TrainConfig


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
