"""graphls.tuning.objective: validation-only scores, directions, pruning hooks, batched trials."""

from __future__ import annotations

import optuna
import pytest
import torch
from optuna.trial import TrialState
from tuning_helpers import PNG, TEXAS, quick, study_table

from graphls.cli import main
from graphls.config import TrainConfig
from graphls.engine import fit
from graphls.tuning import (
    TRIAL_SEED_BASE,
    default_study_name,
    make_pruner,
    pruner_settings,
    score_metric,
    write_report,
)


def test_objective_never_reads_test_labels(graph):
    scrambled = graph.clone()
    g = torch.Generator().manual_seed(1)
    test = scrambled.test_mask
    scrambled.y = graph.y.clone()
    scrambled.y[test] = torch.randint(0, 3, (int(test.sum()),), generator=g)
    # the scramble matters to anything that reads test labels ...
    cfg = TrainConfig.for_model("gcn", epochs=8)
    assert (fit(graph, cfg).metrics["test"] != fit(scrambled, cfg).metrics["test"])
    # ... but not to the study
    a = quick(graph, n_trials=4, seed=5)
    b = quick(scrambled, n_trials=4, seed=5)
    assert study_table(a) == study_table(b)
    assert len(a.trials) == 4 and all(t.state == TrialState.COMPLETE for t in a.trials)
    assert set(a.trials[0].user_attrs) >= {"val_accuracy", "val_ece", "val_nll", "val_brier"}


def test_objectives_and_directions(graph):
    nll = quick(graph, n_trials=2, objective="nll")
    assert nll.direction == optuna.study.StudyDirection.MINIMIZE
    assert nll.trials[0].value == nll.trials[0].user_attrs["val_nll"]
    multi = quick(graph, n_trials=2, objective="multi", pruner="median")
    assert [d.name for d in multi.directions] == ["MAXIMIZE", "MINIMIZE"]
    t = multi.trials[0]
    assert t.values == [t.user_attrs["val_accuracy"], t.user_attrs["val_ece"]]
    assert multi.user_attrs["pruner"] == "none"  # Optuna cannot prune multi-objective trials


def test_roc_auc_objective_scores_and_selects_by_validation_auc(graph):
    seen = []
    study = quick(graph, n_trials=2, objective="roc_auc", pruner="median")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert study.study_name == "graphls-synthetic-gcn-joint-roc_auc"
    assert study.user_attrs["base_config"]["select"] == "roc_auc"
    for t in study.trials:
        assert t.value == t.user_attrs["val_roc_auc"]
        # the trial's value is the AUC of its run with the epoch kept by validation AUC
        cfg = TrainConfig.for_model("gcn", epochs=8, select="roc_auc", seed=TRIAL_SEED_BASE,
                                    **t.params)
        r = fit(graph, cfg, lambda epoch, val: seen.append(val["best_roc_auc"]))
        assert t.value == pytest.approx(r.metrics["val"]["roc_auc"], rel=1e-12)
        assert t.value == pytest.approx(max(h["val_roc_auc"] for h in r.history), rel=1e-12)
        # the pruner saw the running best AUC
        assert list(t.intermediate_values.values())[-1] == pytest.approx(seen[-1], rel=1e-12)
    # multi trades the selection metric against ECE: ROC AUC when epochs are kept by it
    multi = quick(graph, n_trials=2, objective="multi",
                  config=TrainConfig.for_model("gcn", select="roc_auc"))
    assert all(t.values == [t.user_attrs["val_roc_auc"], t.user_attrs["val_ece"]]
               for t in multi.trials)
    assert score_metric(multi) == "roc_auc" and score_metric(study) == "roc_auc"
    # other objectives keep accuracy selection and still record the AUC
    acc = quick(graph, n_trials=1)
    assert score_metric(acc) == "accuracy"
    assert acc.user_attrs["base_config"]["select"] == "accuracy"
    assert 0.0 <= acc.trials[0].user_attrs["val_roc_auc"] <= 1.0


def test_tune_command_takes_the_roc_auc_objective(tmp_path, monkeypatch, capsys, datasets_root):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", *TEXAS, "--root", str(datasets_root), "--no-report",
                 "--objective", "roc_auc", "--n-trials", "2"]) == 0
    name = default_study_name("Texas", objective="roc_auc")
    assert f"study {name}: 2 trials" in capsys.readouterr().out
    study = optuna.load_study(study_name=name, storage="sqlite:///graphls.db")
    assert study.user_attrs["base_config"]["select"] == "roc_auc"
    assert all(t.value == t.user_attrs["val_roc_auc"] for t in study.trials)
    # the report retrains the best configuration and the baseline with the same selection
    result = write_report(study, tmp_path / "report", seeds=2, root=datasets_root,
                          progress=False)
    assert result["best"]["config"]["select"] == result["baseline"]["config"]["select"] \
        == "roc_auc"
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "![validation ROC AUC over (ε, λ)](landscape.png)" in summary
    assert (tmp_path / "report" / "landscape.png").read_bytes()[:8] == PNG


def test_median_pruner_prunes_but_never_before_the_warmup(graph):
    epochs = 20
    warmup = pruner_settings("median", epochs)["n_warmup_steps"]
    study = quick(graph, n_trials=12, epochs=epochs, sampler="random", seed=0,
                  pruner=make_pruner("median", epochs, n_startup_trials=3, n_min_trials=1))
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t in study.trials]
    for t in pruned:
        assert t.user_attrs["pruned_at_epoch"] >= warmup
        assert max(t.intermediate_values) == t.user_attrs["pruned_at_epoch"]
    # the reported value is the running best, so it never decreases
    for t in study.trials:
        steps = sorted(t.intermediate_values)
        vals = [t.intermediate_values[s] for s in steps]
        assert vals == sorted(vals)


class PruneEvenTrials(optuna.pruners.BasePruner):
    """Prunes every even-numbered trial once it has reported epoch ``at`` or later."""

    def __init__(self, at: int) -> None:
        self.at = at

    def prune(self, study, trial) -> bool:
        step = trial.last_step
        return trial.number % 2 == 0 and step is not None and step >= self.at


def test_batched_trials_equal_one_at_a_time_and_prune_each_on_its_own(graph):
    """--batch-size trains claimed trials together: same params, values and attributes as
    one trial at a time (the random sampler is seeded per trial number), and a pruned
    trial leaves the batch while the others finish."""
    kw = {"n_trials": 6, "sampler": "random", "seed": 3, "epochs": 10, "seeds_per_trial": 2}
    one = quick(graph, pruner=PruneEvenTrials(4), **kw)
    batched = quick(graph, pruner=PruneEvenTrials(4), batch_size=4, **kw)
    states = [t.state for t in batched.trials]
    assert states == [TrialState.PRUNED, TrialState.COMPLETE] * 3
    assert [t.user_attrs["pruned_at_epoch"] for t in batched.trials[::2]] == [4] * 3
    for mine, ref in zip(study_table(batched), study_table(one), strict=True):
        number, state, params, values, attrs = mine
        assert (number, state, params) == ref[:3]
        assert values == pytest.approx(ref[3], rel=1e-5)
        assert attrs.keys() == ref[4].keys()
        for key, value in attrs.items():
            assert value == pytest.approx(ref[4][key], rel=1e-4), key
    for t, ref in zip(batched.trials, one.trials, strict=True):
        assert t.intermediate_values == pytest.approx(ref.intermediate_values, rel=1e-6)
    assert all(t.user_attrs["seeds"] == [0, 1] for t in batched.trials[1::2])


def test_epoch_view_prunes_as_trial_should_prune():
    """A batch judges its members from one read of the study per epoch (EpochView); the
    median pruner's decisions equal Optuna's own ``trial.should_prune()``."""
    from graphls.tuning.objective import EpochView

    study = optuna.create_study(direction="maximize",
                                pruner=make_pruner("median", 20, n_startup_trials=2,
                                                       n_min_trials=1))
    for final in (0.5, 0.6, 0.7):  # finished trials with learning curves
        t = study.ask()
        for step in range(20):
            t.report(final * (step + 1) / 20, step)
        study.tell(t, final)
    running = [study.ask() for _ in range(3)]
    decisions = []
    for step in range(20):
        view = None
        for k, t in enumerate(running):
            value = (0.45 + 0.1 * k) * (step + 1) / 20
            t.report(value, step)
            view = view or EpochView(study)  # read once, after the first member's report
            ours = view.should_prune(t, step, value)
            assert ours == t.should_prune(), (step, k)
            decisions.append(ours)
    assert any(decisions) and not all(decisions)  # the comparison covers both answers


def test_the_baseline_is_trial_0_and_the_best_is_never_worse_on_validation(graph):
    study = quick(graph, n_trials=5, seed=3)
    first = study.trials[0]
    assert first.params == {"epsilon": 0.0, "structural": 1.0}
    assert first.user_attrs["baseline"] is True
    assert study.best_value >= first.value
    assert all("baseline" not in t.user_attrs for t in study.trials[1:])
    resumed = quick(graph, n_trials=2, seed=3, storage=study._storage,
                    study_name=study.study_name)
    assert sum("baseline" in t.user_attrs for t in resumed.trials) == 1  # only once


def test_trial_seeds_common_or_per_trial(graph):
    common = quick(graph, n_trials=3, seeds_per_trial=2)
    assert [t.user_attrs["seeds"] for t in common.trials] == [[0, 1]] * 3
    own = quick(graph, n_trials=3, seeds_per_trial=2, trial_seeds="per-trial")
    assert [t.user_attrs["seeds"] for t in own.trials] == [[0, 1], [2, 3], [4, 5]]


def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(graph, tmp_path):
    space = tmp_path / "lr.toml"
    space.write_text("[lr]\nlow = 1e20\nhigh = 1e30\nlog = true\n")
    study = quick(graph, n_trials=3, space_file=space, batch_size=2)
    states = [t.state for t in study.trials]
    # the baseline keeps the study's lr (0.01); every sampled lr diverges
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    for t in study.trials[1:]:
        assert t.user_attrs["fail_reason"].startswith("TrainingDiverged: ")
        assert "at epoch" in t.user_attrs["fail_reason"]


def _resplit(graph, seed: int):
    """``graph`` with other train/val/test masks (a second "split" of the same nodes)."""
    g = torch.Generator().manual_seed(100 + seed)
    n = graph.num_nodes
    order = torch.randperm(n, generator=g)
    out = graph.clone()
    out.train_mask = torch.zeros(n, dtype=torch.bool)
    out.val_mask = torch.zeros(n, dtype=torch.bool)
    out.train_mask[order[:15]] = True
    out.val_mask[order[15:45]] = True
    out.test_mask = ~(out.train_mask | out.val_mask)
    return out


def test_a_multi_split_trial_is_scored_by_its_mean_over_the_splits(graph):
    """split_index=(0, 1): every trial trains each seed on each split; its value is the
    mean validation accuracy of those runs, each equal to a separate fit on its split."""
    splits = [graph, _resplit(graph, 1)]
    study = quick(splits, split_index=(0, 1), n_trials=3, sampler="random", seed=2,
                  seeds_per_trial=2, batch_size=3)
    assert study.user_attrs["split_index"] == [0, 1]
    base = TrainConfig.for_model("gcn", epochs=8)
    for t in study.trials:
        config = base.replace(**t.params)
        runs = [fit(d, config.replace(seed=s)) for d in splits for s in (0, 1)]
        expected = sum(r.metrics["val"]["accuracy"] for r in runs) / len(runs)
        assert t.values[0] == pytest.approx(expected, abs=1e-9)
        assert t.user_attrs["seeds"] == [0, 1, 0, 1]
    # one split alone gives other values: both splits count
    alone = quick(graph, n_trials=3, sampler="random", seed=2, seeds_per_trial=2, batch_size=3)
    assert [t.values for t in alone.trials] != [t.values for t in study.trials]


def test_a_trial_pruned_on_the_first_split_does_not_train_on_the_others(graph, monkeypatch):
    import graphls.tuning.objective as objective

    calls = []
    real = objective.fit_many

    def counting(data, configs, *args, **kw):
        calls.append((data.val_mask.clone(), len(configs)))
        return real(data, configs, *args, **kw)

    monkeypatch.setattr(objective, "fit_many", counting)
    splits = [graph, _resplit(graph, 1)]
    study = quick(splits, split_index=(3, 5), n_trials=4, sampler="random", seed=3,
                  epochs=10, batch_size=4, pruner=PruneEvenTrials(4))
    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.COMPLETE] * 2
    # first split: the 4 trials; second split: only the 2 trials still running
    assert [n for _, n in calls] == [4, 2]
    assert torch.equal(calls[0][0], graph.val_mask)
    assert torch.equal(calls[1][0], splits[1].val_mask)


def test_a_trial_that_diverges_on_the_first_split_does_not_train_on_the_others(
        graph, tmp_path, monkeypatch):
    import graphls.tuning.objective as objective

    calls = []
    real = objective.fit_many

    def counting(data, configs, *args, **kw):
        calls.append(len(configs))
        return real(data, configs, *args, **kw)

    monkeypatch.setattr(objective, "fit_many", counting)
    space = tmp_path / "lr.toml"
    space.write_text("[lr]\nlow = 1e20\nhigh = 1e30\nlog = true\n")
    study = quick([graph, _resplit(graph, 1)], split_index=(0, 1), n_trials=3,
                  space_file=space, batch_size=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                               TrialState.FAIL]
    assert calls == [3, 1]  # the second split trains the baseline only


@pytest.mark.parametrize("value, error, match", [
    ((), ValueError, "non-empty"), ((0, 0), ValueError, "repeat"),
    ((0, -1), ValueError, ">= 0"), (-2, ValueError, ">= 0"), ("all", TypeError, "integer"),
    ((0, 1.5), TypeError, "integer"),
])
def test_split_index_is_checked(value, error, match):
    from graphls.tuning import StudySettings

    with pytest.raises(error, match=match):
        StudySettings(split_index=value)


def test_split_index_list_becomes_a_tuple_and_data_must_match_it(graph):
    from graphls.tuning import StudySettings

    assert StudySettings(split_index=[2, 4]).split_index == (2, 4)
    assert StudySettings(split_index=[3]).split_index == 3
    with pytest.raises(ValueError, match=r"one Data per split of split_index \(0, 1\) \(2\); "
                                         r"got 3"):
        StudySettings(data=[graph] * 3, split_index=(0, 1))


def test_tune_on_several_bernnet_splits_and_report_on_each(tmp_path, capsys, datasets_root):
    """``graphls tune --split bernnet --split-index 0,1`` tunes on both splits; the report
    retrains on each (seeds × splits runs, paired)."""
    out = tmp_path / "rep"
    argv = ["tune", "--dataset", "Texas", "--split", "bernnet", "--split-index", "0,1",
            "--epochs", "4", "--n-trials", "2", "--report-seeds", "2", "--no-progress",
            "--root", str(datasets_root), "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--out", str(out), "--seeds-per-trial", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    import json

    best = json.loads((out / "best.json").read_text())
    assert best["report_splits"] == 2
    assert len(best["best"]["test"]["accuracy"]["values"]) == 4
    assert (out / "reliability.png").read_bytes()[:8] == PNG


def test_enqueued_parameters_run_right_after_the_baseline(graph):
    start = {"epsilon": 0.3, "structural": 0.7}
    storage = optuna.storages.InMemoryStorage()
    study = quick(graph, n_trials=4, sampler="random", seed=1, enqueue=(start,), batch_size=4,
                  storage=storage, study_name="s")
    assert study.trials[0].user_attrs["baseline"] is True
    assert study.trials[1].params == start and study.trials[1].user_attrs["enqueued"] is True
    assert all(t.params != start for t in study.trials[2:])
    # a resumed study does not enqueue them again
    more = quick(graph, n_trials=2, sampler="random", seed=1, enqueue=(start,),
                 storage=storage, study_name="s")
    assert sum(t.params == start for t in more.trials) == 1


@pytest.mark.parametrize("enqueue, error, match", [
    ({"lr": 0.01}, ValueError, "'lr' is not searched by this study; searched: epsilon, "
                               "structural"),
    ({"epsilon": 0.9}, ValueError, r"epsilon must be in \[0, 0.5\]; got 0.9"),
    ({"epsilon": "a"}, TypeError, "epsilon must be a number"),
    ([0.1], TypeError, "mappings of parameters"),
])
def test_enqueue_is_checked_against_the_search_space(enqueue, error, match):
    from graphls.tuning import StudySettings

    with pytest.raises(error, match=match):
        StudySettings(enqueue=enqueue)


def test_enqueue_is_refused_with_the_grid_sampler():
    from graphls.tuning import StudySettings

    with pytest.raises(ValueError, match="grid sampler visits its own points"):
        StudySettings(enqueue=({"epsilon": 0.1},), sampler="grid")
