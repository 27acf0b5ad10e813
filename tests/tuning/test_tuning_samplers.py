"""graphls.tuning.samplers: Optuna's samplers and pruners by name, seeded, sized by the epochs."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from tuning_helpers import FINISHED, quick

from graphls.tuning import make_pruner, make_sampler, pruner_settings


def test_pruner_settings_come_from_the_epoch_budget():
    assert pruner_settings("median", 200) == {"n_startup_trials": 10, "n_warmup_steps": 60,
                                              "interval_steps": 5, "n_min_trials": 5}
    assert pruner_settings("median", 20)["n_warmup_steps"] == 6
    assert pruner_settings("hyperband", 200) == {"min_resource": 60, "max_resource": 200,
                                                 "reduction_factor": 3}
    assert pruner_settings("none", 200) == {}
    median = make_pruner("median", 200)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_warmup_steps, median._n_startup_trials, median._interval_steps) == (
        60, 10, 5)
    hyper = make_pruner("hyperband", 100)
    assert (hyper._min_resource, hyper._max_resource) == (30, 100)
    assert isinstance(make_pruner("none", 5), optuna.pruners.NopPruner)
    assert make_pruner("median", 20, n_startup_trials=2)._n_startup_trials == 2


def test_unknown_sampler_and_pruner_list_the_known_ones():
    with pytest.raises(ValueError, match="sampler 'bayes' is unknown; known: tpe, gp, cmaes, "
                                         "random, grid"):
        make_sampler("bayes")
    with pytest.raises(ValueError, match="pruner 'asha' is unknown; known: median, hyperband, "
                                         "none"):
        make_pruner("asha", 200)
    with pytest.raises(ValueError, match="sampler 'cmaes' is single-objective"):
        make_sampler("cmaes", multi=True)


def test_samplers_are_optunas_and_seeded():
    kinds = {"tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler,
             "random": optuna.samplers.RandomSampler, "grid": optuna.samplers.GridSampler}
    for name, cls in kinds.items():
        assert isinstance(make_sampler(name, 0), cls)
    a, b = make_sampler("random", 3), make_sampler("random", 3)
    dist = optuna.distributions.FloatDistribution(0, 1)
    study = optuna.create_study()
    trial = optuna.trial.create_trial(state=TrialState.RUNNING)
    assert a.sample_independent(study, trial, "x", dist) == b.sample_independent(
        study, trial, "x", dist)


@pytest.mark.parametrize(("sampler", "pruner"), [("gp", "hyperband"), ("random", "median")])
def test_other_samplers_and_pruners_run_a_study(graph, sampler, pruner):
    study = quick(graph, n_trials=3, sampler=sampler, pruner=pruner, epochs=6)
    assert all(t.state in FINISHED for t in study.trials) and len(study.trials) == 3
    assert study.trials[0].state == TrialState.COMPLETE  # nothing to compare it with yet
    assert study.user_attrs["pruner"] == pruner and study.user_attrs["sampler"] == sampler
    assert sorted(study.trials[0].intermediate_values) == list(range(6))  # one report an epoch


def test_grid_sampler_stops_when_the_grid_is_done(graph, tmp_path):
    toml = tmp_path / "grid.toml"
    toml.write_text("[epsilon]\ngrid = [0.0, 0.2, 0.4]\n[structural]\ngrid = [0.0, 1.0]\n")
    study = quick(graph, n_trials=10, sampler="grid", space_file=toml, epochs=3)
    points = sorted((t.params["epsilon"], t.params["structural"]) for t in study.trials)
    assert points == [(e, s) for e in (0.0, 0.2, 0.4) for s in (0.0, 1.0)]
