"""graphls.tuning.settings: StudySettings and run_study's keywords, each mistake one clear error."""

from __future__ import annotations

import dataclasses

import optuna
import pytest
from tuning_helpers import TEXAS, one_line_error, quick

from graphls.config import TrainConfig
from graphls.tuning import StudySettings, run_study


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--storage", "not a url"], "storage must be an SQLAlchemy URL"),
        (["--storage", "nosuchdb://x/y"], "database 'nosuchdb' in 'nosuchdb://x/y' is unknown"),
        (["--storage", "sqlite:////no/such/dir/x.db"], "directory '/no/such/dir' does not exist"),
        (["--sampler", "bayes"], "sampler 'bayes' is unknown; known: tpe, gp, cmaes"),
        (["--pruner", "asha"], "pruner 'asha' is unknown; known: median, hyperband, none"),
        (["--n-trials", "0"], "--n-trials must be an integer >= 1; got 0"),
        (["--n-trials", "-3"], "--n-trials must be an integer >= 1; got -3"),
        (["--total-trials", "0"], "--total-trials must be an integer >= 1; got 0"),
        (["--timeout", "0"], "--timeout must be a number > 0; got 0"),
    ],
)
def test_bad_tune_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, extra, match):
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, ["tune", *TEXAS, *extra], match)
    assert not (tmp_path / "graphls.db").exists()  # nothing was created


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"model": "sage"}, ValueError, "model must be one of 'gcn', 'gat'; got 'sage'"),
        ({"space": "wide"}, ValueError, "space must be one of 'joint', 'full'; got 'wide'"),
        ({"objective": "f1"}, ValueError,
         "objective must be one of 'accuracy', 'nll', 'roc_auc', 'multi'; got 'f1'"),
        ({"prior": "label"}, ValueError,
         "prior must be one of 'uniform', 'class', 'neighbors', 'posterior'; got 'label'"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1; got 0"),
        ({"seeds_per_trial": 0}, ValueError, "seeds_per_trial must be an integer >= 1; got 0"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1; got 0"),
        ({"heartbeat_interval": 0}, ValueError,
         "heartbeat_interval must be an integer >= 1; got 0"),
        ({"grace_period": -1}, ValueError, "grace_period must be an integer >= 1; got -1"),
        ({"sampler": "bayes"}, ValueError, "sampler 'bayes' is unknown; known: tpe, gp"),
        ({"sampler": "cmaes", "objective": "multi"}, ValueError,
         "sampler 'cmaes' is single-objective"),
        ({"pruner": "asha"}, ValueError, "pruner 'asha' is unknown; known: median"),
        ({"pruner": 3}, TypeError, "pruner must be a name .* or an Optuna pruner; got int"),
        ({"config": {"lr": 0.1}}, TypeError,
         "config must be a graphls.config.TrainConfig or None; got dict"),
        ({"space_file": "nope.toml"}, FileNotFoundError, "space file 'nope.toml' does not exist"),
    ],
)
def test_bad_settings_are_one_clear_error_when_made(kw, error, match):
    with pytest.raises(error, match=match):
        StudySettings(**kw)


def test_settings_are_frozen_and_resolve_what_trials_train(graph):
    settings = StudySettings(dataset="synthetic", data=graph, model="gat", epochs=7,
                             prior="class", objective="roc_auc",
                             config=TrainConfig.for_model("gcn", lr=0.05))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 8  # type: ignore[misc]
    base = settings.train_config()
    # model, epochs and prior go on top of config; roc_auc keeps epochs by ROC AUC;
    # the model change re-resolves the weight decay scope (GAT: all parameters)
    assert (base.model, base.epochs, base.prior, base.select, base.lr) == (
        "gat", 7, "class", "roc_auc", 0.05)
    assert base.weight_decay_scope == "all"
    assert list(settings.specs()) == ["epsilon", "structural", "prior_weight"]
    assert settings.load_data() is graph
    pruner, name = settings.make_pruner()
    assert isinstance(pruner, optuna.pruners.MedianPruner) and name == "median"
    multi = dataclasses.replace(settings, objective="multi")
    assert multi.multi and multi.make_pruner()[1] == "none"


def test_run_study_takes_settings_then_optimize_keywords(graph):
    with pytest.raises(TypeError, match=r"settings must be a StudySettings; got str 'synthetic'"
                                        r"; e.g. run_study\(StudySettings\(dataset="):
        run_study("synthetic", n_trials=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="positional"):
        run_study(StudySettings(data=graph), 1)  # type: ignore[misc]
    with pytest.raises(ValueError, match="n_trials must be an integer >= 1; got 0"):
        quick(graph, n_trials=0)
    with pytest.raises(ValueError, match="total_trials must be an integer >= 1; got 0"):
        quick(graph, n_trials=None, total_trials=0)
    with pytest.raises(ValueError, match="n_trials, total_trials or timeout must be set"):
        quick(graph, n_trials=None)
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0; got 0"):
        quick(graph, n_trials=1, timeout=0)
