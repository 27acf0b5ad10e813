"""graphls.tuning: spaces, samplers/pruners, budgets, storage errors, no test-label reads, reports.

Most studies run on a tiny synthetic graph (90 nodes) for a few epochs; the
CLI tests use Texas (183 nodes) from ``datasets_root``. The multi-process
PostgreSQL tests are in ``test_postgres.py``.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402
from torch_geometric.data import Data  # noqa: E402

from graphls import tuning  # noqa: E402
from graphls.cli import main  # noqa: E402
from graphls.config import TrainConfig  # noqa: E402
from graphls.engine import fit  # noqa: E402
from graphls.tuning import (  # noqa: E402
    REPORT_SEED_BASE,
    TRIAL_SEED_BASE,
    default_study_name,
    file_lock,
    make_pruner,
    make_sampler,
    pruner_settings,
    run_study,
    score_metric,
    search_space,
    select_best_trial,
    write_report,
)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on small graphs a second (contended) thread only costs time."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def quiet_optuna():
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(before)


def synthetic(seed: int = 0) -> Data:
    """90 nodes, 3 classes: noisy class features and a homophilous random graph."""
    g = torch.Generator().manual_seed(seed)
    n, k = 90, 3
    y = torch.arange(n) % k
    x = 0.6 * torch.nn.functional.one_hot(y, k).float().repeat(1, 4)
    x = x + torch.randn(n, 4 * k, generator=g)
    same = y[:, None] == y[None, :]
    p = torch.where(same, torch.tensor(0.12), torch.tensor(0.01))
    adj = torch.rand(n, n, generator=g) < p
    adj = torch.triu(adj, diagonal=1)
    adj = adj | adj.t()
    edge_index = adj.nonzero().t().contiguous()
    order = torch.randperm(n, generator=g)
    train, val = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
    train[order[:15]] = True
    val[order[15:45]] = True
    test = ~(train | val)
    return Data(x=x, edge_index=edge_index, y=y, train_mask=train, val_mask=val,
                test_mask=test, num_classes=k, name="synthetic")


@pytest.fixture(scope="module")
def graph() -> Data:
    return synthetic()


def study_table(study) -> list[tuple]:
    skip = {"worker", "fit_seconds"}
    return [(t.number, t.state, t.params, t.values,
             {k: v for k, v in t.user_attrs.items() if k not in skip})
            for t in study.get_trials(deepcopy=False)]


def quick(graph, **kw):
    """A seeded, unpruned in-memory study on the synthetic graph."""
    kw.setdefault("storage", optuna.storages.InMemoryStorage())
    kw.setdefault("pruner", "none")
    kw.setdefault("epochs", 8)
    kw.setdefault("progress", False)
    return run_study("synthetic", data=graph, **kw)


# ---------------------------------------------------------------------------
# spaces, samplers, pruners
# ---------------------------------------------------------------------------

def test_spaces_name_the_two_knobs_and_grow_as_documented(tmp_path):
    joint = search_space("joint")
    assert list(joint) == ["epsilon", "structural"]
    assert (joint["epsilon"].low, joint["epsilon"].high) == (0.0, 0.5)
    assert (joint["structural"].low, joint["structural"].high) == (0.0, 1.0)
    full = search_space("full", prior="neighbors")
    assert list(full) == ["epsilon", "structural", "lr", "weight_decay", "dropout", "hidden",
                          "prior_weight"]
    assert full["lr"].log and (full["lr"].low, full["lr"].high) == (1e-3, 1e-1)
    assert full["hidden"].choices == (8, 16, 32, 64)
    toml = tmp_path / "space.toml"
    toml.write_text("[epsilon]\nhigh = 0.3\n[lr]\nlow = 0.005\nhigh = 0.05\nlog = true\n"
                    "[structural]\ngrid = [0.0, 1.0]\n")
    over = search_space("joint", space_file=toml)
    assert list(over) == ["epsilon", "structural", "lr"]
    assert over["epsilon"].high == 0.3 and over["lr"].low == 0.005
    assert over["structural"].grid_values() == [0.0, 1.0]
    assert over["epsilon"].grid_values() == pytest.approx([0, 0.06, 0.12, 0.18, 0.24, 0.3])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[epsilon]\nhigh = 1.5\n", r"epsilon.high must be in \[0, 1\]; got 1.5"),
        ("[epsilon]\nlow = 0.4\nhigh = 0.2\n", "epsilon.low must be <= epsilon.high"),
        ("[lr]\nlow = 0\nhigh = 0.1\nlog = true\n", r"lr.low must be in \[0, inf\)|lr.low must"),
        ("[momentum]\nlow = 0\n", "parameter 'momentum' is unknown; known: epsilon"),
        ("[epsilon]\nmax = 0.3\n", r"epsilon has unknown keys \['max'\]"),
        ("[hidden]\nchoices = [16, 0]\n", "hidden.choices must be a non-empty list"),
        ("[epsilon]\nhigh = 0.3\ngrid = [0.9]\n", "epsilon.grid values must lie in the range"),
        ("[epsilon\n", "is not valid TOML"),
    ],
)
def test_bad_space_files_are_one_clear_error(tmp_path, text, match):
    toml = tmp_path / "space.toml"
    toml.write_text(text)
    with pytest.raises(ValueError, match=match):
        search_space("joint", space_file=toml)


def test_missing_space_file():
    with pytest.raises(FileNotFoundError, match=r"space file 'nope\.toml' does not exist"):
        search_space("joint", space_file="nope.toml")


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


def test_only_tuning_imports_optuna():
    pkg = Path(__file__).resolve().parents[1] / "graphls"
    importers = []
    for path in sorted(pkg.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "optuna" for n in names):
                importers.append(path.name)
    assert sorted(set(importers)) == ["tuning.py"]


# ---------------------------------------------------------------------------
# studies
# ---------------------------------------------------------------------------

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


def test_a_new_study_writes_its_dataset_attribute_last(graph):
    """Workers that open the study while its creator writes its settings see all or none."""

    class Recording(optuna.storages.InMemoryStorage):
        def __init__(self):
            super().__init__()
            self.keys: list[str] = []

        def set_study_user_attr(self, study_id, key, value):
            self.keys.append(key)
            super().set_study_user_attr(study_id, key, value)

    storage = Recording()
    quick(graph, n_trials=1, storage=storage)
    assert storage.keys[-1] == "dataset" and {"base_config", "objective"} <= set(storage.keys)


def test_a_study_stored_before_select_existed_resumes(graph, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    study = quick(graph, n_trials=1, storage=url, study_name="s")
    old = dict(study.user_attrs["base_config"])
    del old["select"]  # as a study created by an older graphls stored it
    study.set_user_attr("base_config", old)
    assert len(quick(graph, n_trials=1, storage=url, study_name="s").trials) == 2
    with pytest.raises(ValueError, match="was created with select 'accuracy'; got 'roc_auc'"):
        quick(graph, n_trials=1, storage=url, study_name="s",
              config=TrainConfig.for_model("gcn", select="roc_auc"))


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
    """A batch judges its members from one read of the study per epoch (_EpochView); the
    median pruner's decisions equal Optuna's own ``trial.should_prune()``."""
    from graphls.tuning import _EpochView

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
            view = view or _EpochView(study)  # read once, after the first member's report
            ours = view.should_prune(t, step, value)
            assert ours == t.should_prune(), (step, k)
            decisions.append(ours)
    assert any(decisions) and not all(decisions)  # the comparison covers both answers


@pytest.mark.slow
def test_n_jobs_workers_share_the_study_and_its_exact_budget(graph, tmp_path):
    """run_study(n_jobs=2): a spawned worker process claims trials beside this one; together
    they add exactly n_trials, and a rerun adds n_trials more."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    kw = {"storage": url, "study_name": "jobs", "n_jobs": 2, "epochs": 100,
          "sampler": "random", "pruner": "none"}
    study = quick(graph, n_trials=40, **kw)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 40 and all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # two processes ran trials
    assert torch.get_num_threads() == 1  # restored after the run
    study = quick(graph, n_trials=2, **{**kw, "epochs": 100})
    assert sum(t.state == TrialState.COMPLETE for t in study.get_trials()) == 42


@pytest.mark.slow
def test_n_jobs_workers_fail_their_trials_when_the_parent_is_stopped(graph, tmp_path):
    """SIGTERM to the parent while a worker process trains: the parent stops its workers, and
    each marks the trial it holds FAIL instead of leaving it RUNNING for the heartbeat path."""
    from graphls.cli import sigterm_as_interrupt

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    seen: list[str] = []

    def kill_once_the_worker_trains() -> None:
        # Read the file directly: opening it with Optuna would race the run creating its tables.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.Error):  # no file or no tables yet
                con = sqlite3.connect(f"file:{tmp_path / 'jobs.db'}?mode=ro", uri=True)
                with contextlib.closing(con):
                    seen[:] = [json.loads(v) for (v,) in con.execute(
                        "SELECT a.value_json FROM trial_user_attributes a JOIN trials t "
                        "USING (trial_id) WHERE a.key = 'worker' AND t.state = 'RUNNING'")]
                if any(w != tuning._WORKER for w in seen):
                    break
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=kill_once_the_worker_trains)
    killer.start()
    try:
        with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
            quick(graph, n_trials=40, storage=url, study_name="stop", n_jobs=2, epochs=5000,
                  sampler="random")
    finally:
        killer.join()
    assert any(w != tuning._WORKER for w in seen)  # a worker held a trial at the kill
    trials = optuna.load_study(study_name="stop", storage=url).get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    assert any(t.state == TrialState.FAIL and t.user_attrs["worker"] != tuning._WORKER
               for t in trials)


def test_n_jobs_needs_a_storage_other_processes_can_open(graph):
    with pytest.raises(ValueError, match=r"n_jobs > 1 needs a storage that other processes can "
                                         r"open .*; got 'InMemoryStorage'"):
        quick(graph, n_trials=2, n_jobs=2)
    with pytest.raises(ValueError, match="got 'sqlite:///:memory:'"):
        quick(graph, n_trials=2, n_jobs=2, storage="sqlite:///:memory:")
    with pytest.raises(ValueError, match="n_jobs must be an integer >= 1; got 0"):
        quick(graph, n_trials=2, n_jobs=0)


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


def test_total_trials_is_a_study_wide_target(graph, tmp_path):
    url = f"sqlite:///{tmp_path / 'budget.db'}"
    kw = {"storage": url, "study_name": "budget", "n_trials": None}
    assert len(quick(graph, total_trials=3, **kw).trials) == 3
    assert len(quick(graph, total_trials=3, **kw).trials) == 3  # already there: adds none
    study = quick(graph, total_trials=10, **{**kw, "n_trials": 1})  # per-command cap too
    assert len(study.trials) == 4


def _another_workers_trial(graph, tmp_path, grace_period):
    """A 2-trial SQLite study plus a trial another worker claimed (one heartbeat sent)."""
    kw = {"storage": f"sqlite:///{tmp_path / 'shared.db'}", "study_name": "shared",
          "n_trials": None, "heartbeat_interval": 1, "grace_period": grace_period}
    quick(graph, total_trials=2, **kw)
    storage = optuna.storages.RDBStorage(kw["storage"], heartbeat_interval=1,
                                         grace_period=grace_period)
    trial = optuna.load_study(study_name="shared", storage=storage).ask()
    params = {"epsilon": trial.suggest_float("epsilon", 0, 0.5),
              "structural": trial.suggest_float("structural", 0, 1)}
    storage.record_heartbeat(trial._trial_id)
    return kw, trial, params


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning",
                            "ignore::optuna.exceptions.ExperimentalWarning")
def test_stale_trial_of_a_dead_worker_is_failed_and_retried(graph, tmp_path):
    # a worker that claims a trial and dies: heartbeats stop
    kw, dead, params = _another_workers_trial(graph, tmp_path, grace_period=1)
    time.sleep(2.2)
    study = quick(graph, total_trials=4, **kw)
    trials = study.get_trials(deepcopy=False)
    assert trials[dead.number].state == TrialState.FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retry) == 1 and retry[0].params == params and retry[0].state in FINISHED
    assert sum(t.state in FINISHED for t in trials) == 4


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning",
                            "ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("wait", [True, False])
def test_wait_false_moves_on_from_trials_other_workers_hold(graph, tmp_path, monkeypatch,
                                                           wait):
    # another worker holds a trial and is alive: its heartbeat is fresh for 600 s
    kw, held, _ = _another_workers_trial(graph, tmp_path, grace_period=600)
    sleeps = []
    monkeypatch.setattr(tuning, "time", SimpleNamespace(monotonic=time.monotonic,
                                                        sleep=sleeps.append))
    # wait=True polls until the held trial ends; the timeout ends the test's wait
    study = quick(graph, total_trials=4, wait=wait, poll=0.01, timeout=0.5, **kw)
    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    # the one free slot was trained either way; the held one is still the other worker's
    assert states[TrialState.COMPLETE] == 3 and states[TrialState.RUNNING] == 1
    assert study.trials[held.number].state == TrialState.RUNNING
    assert (len(sleeps) > 0) is wait


def test_wait_must_be_a_bool(graph):
    with pytest.raises(TypeError, match="wait must be True or False; got str 'no'"):
        quick(graph, n_trials=1, wait="no")


def test_journal_storage_resumes(graph, tmp_path):
    url = f"journal:{tmp_path / 'study.log'}"
    quick(graph, n_trials=2, storage=url)
    study = quick(graph, n_trials=1, storage=url)
    assert len(study.trials) == 3
    assert study.study_name == "graphls-synthetic-gcn-joint-accuracy"


def test_callbacks_see_every_told_trial_once_in_order(graph):
    seen = []
    study = quick(graph, n_trials=5, batch_size=2,
                  callbacks=[lambda s, t: seen.append((s.study_name, t.number, t.state,
                                                       t.values, t.params))])
    # one call per trial, after it is told: the stored state and values, batch by batch
    assert seen == [(study.study_name, t.number, t.state, t.values, t.params)
                    for t in study.trials]
    assert [n for _, n, *_ in seen] == [0, 1, 2, 3, 4]


def test_a_failing_callback_stops_the_study(graph):
    def boom(study, trial):
        raise RuntimeError(f"callback saw trial {trial.number}")

    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(RuntimeError, match="callback saw trial 0"):
        quick(graph, n_trials=3, storage=storage, study_name="cb", callbacks=[boom])
    study = optuna.load_study(study_name="cb", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]  # told before the call


def test_resuming_with_another_setup_is_refused(graph, tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    quick(graph, n_trials=1, storage=url, study_name="s")
    with pytest.raises(ValueError, match="was created with epochs 8; got 9; choose another"):
        quick(graph, n_trials=1, storage=url, study_name="s", epochs=9)
    with pytest.raises(ValueError, match=r"was created with lr 0\.01; got 0\.05; choose another"):
        quick(graph, n_trials=1, storage=url, study_name="s",
              config=TrainConfig.for_model("gcn", lr=0.05))
    assert len(quick(graph, n_trials=1, storage=url, study_name="s").trials) == 2


# ---------------------------------------------------------------------------
# the CLI: rerun semantics, one-line errors, reports
# ---------------------------------------------------------------------------

TEXAS = ["--dataset", "Texas", "--epochs", "4", "--no-progress"]


def test_rerunning_the_command_resumes_the_default_storage(tmp_path, monkeypatch, capsys,
                                                           datasets_root):
    monkeypatch.chdir(tmp_path)
    args = ["tune", *TEXAS, "--root", str(datasets_root), "--no-report"]
    assert main([*args, "--n-trials", "3"]) == 0
    assert main([*args, "--n-trials", "2"]) == 0
    out = capsys.readouterr().out
    name = default_study_name("Texas")
    assert f"study {name}: 5 trials" in out
    assert (tmp_path / "graphls.db").is_file()
    rows = sqlite3.connect(tmp_path / "graphls.db").execute(
        "SELECT COUNT(*) FROM trials JOIN studies USING (study_id) WHERE study_name = ?",
        (name,)).fetchone()
    assert rows == (5,)


def test_sigterm_ends_tune_in_one_line_and_fails_its_claimed_trials(tmp_path, monkeypatch,
                                                                    capsys, datasets_root,
                                                                    sigterm_next_batch):
    monkeypatch.chdir(tmp_path)
    args = ["tune", *TEXAS, "--root", str(datasets_root), "--no-report", "--batch-size", "2"]
    before = signal.getsignal(signal.SIGTERM)
    assert main([*args, "--n-trials", "2"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "graphls tune: interrupted" and "Traceback" not in err
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is restored
    study = optuna.load_study(study_name=default_study_name("Texas"),
                              storage="sqlite:///graphls.db")
    # the claimed batch is failed at once, not left RUNNING until its heartbeat is stale
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]
    assert main([*args, "--n-trials", "2"]) == 0
    assert sum(t.state in FINISHED for t in study.get_trials(deepcopy=False)) == 2


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


def one_line_error(capsys, argv, match) -> str:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


def test_unreachable_storage_fails_fast(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    err = one_line_error(capsys, ["tune", *TEXAS, "--storage",
                                  "postgresql://u:secret@127.0.0.1:1/db"],
                         "storage 'postgresql://u:***@127.0.0.1:1/db' is unreachable")
    assert "secret" not in err
    assert time.perf_counter() - start < 15


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


def test_existing_study_with_another_direction(capsys, tmp_path, datasets_root):
    url = f"sqlite:///{tmp_path / 'dir.db'}"
    optuna.create_study(storage=url, study_name="mine", direction="minimize")
    err = one_line_error(capsys, ["tune", *TEXAS, "--root", str(datasets_root), "--storage",
                                  url, "--study-name", "mine", "--objective", "accuracy"],
                         "exists with direction(s) minimize; objective 'accuracy' needs "
                         "maximize")
    assert "study 'mine' in sqlite:///" in err and "choose another --study-name" in err


def test_report_of_a_missing_study_or_file(capsys, tmp_path):
    one_line_error(capsys, ["report", "--storage", f"sqlite:///{tmp_path / 'none.db'}",
                            "--study-name", "x"], "none.db' does not exist")
    url = f"sqlite:///{tmp_path / 'one.db'}"
    optuna.create_study(storage=url, study_name="there")
    one_line_error(capsys, ["report", "--storage", url, "--study-name", "gone"],
                   "study 'gone' is not in sqlite:///")


def test_report_writes_tables_and_plots(tmp_path, capsys, datasets_root):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    study = run_study("Texas", n_trials=3, epochs=4, root=datasets_root, storage=url,
                      pruner="none", progress=False)
    out = tmp_path / "report"
    assert main(["report", "--storage", url, "--study-name", study.study_name, "--out",
                 str(out), "--seeds", "2", "--root", str(datasets_root), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "baseline (ε=0, λ=1)" in printed and "ECE (%), temperature-scaled" in printed
    assert "ROC AUC (%)" in printed
    best = json.loads((out / "best.json").read_text())
    # the report's summaries carry a ROC AUC per seed (its value is checked in test_train)
    aucs = best["best"]["test"]["roc_auc"]["values"]
    assert len(aucs) == 2 and all(0.0 <= v <= 1.0 for v in aucs)
    assert best["best_trial"] == study.best_trial.number
    assert best["params"] == study.best_params
    assert best["report_seeds"] == [REPORT_SEED_BASE, REPORT_SEED_BASE + 1]
    assert best["best"]["config"]["epsilon"] == study.best_params["epsilon"]
    assert best["baseline"]["config"]["epsilon"] == 0 and best["baseline"]["config"][
        "structural"] == 1
    assert len(best["best"]["test"]["accuracy"]["values"]) == 2
    csv = (out / "trials.csv").read_text().splitlines()
    assert len(csv) == 4 and "params_epsilon" in csv[0] and "params_structural" in csv[0]
    summary = (out / "summary.md").read_text()
    assert f"Best trial #{study.best_trial.number}" in summary and "| accuracy (%) |" in summary
    for name in ("landscape", "importances", "history", "reliability"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == PNG and len(png) > 5000, name
    assert not (out / "pareto.png").exists()


def test_multi_objective_best_is_lowest_ece_near_the_best_accuracy():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, ece in [(0.80, 0.10), (0.798, 0.05), (0.79, 0.01), (0.70, 0.20)]:
        study.add_trial(optuna.trial.create_trial(values=[acc, ece],
                                                  params={"epsilon": 0.1},
                                                  distributions={"epsilon": optuna.distributions
                                                                 .FloatDistribution(0, 0.5)}))
    assert select_best_trial(study).number == 1
    single = optuna.create_study()
    with pytest.raises(ValueError, match="has no completed trial yet"):
        select_best_trial(single)


def test_multi_objective_report_draws_the_pareto_front(graph, tmp_path):
    study = quick(graph, n_trials=3, objective="multi", epochs=4)
    result = write_report(study, tmp_path, seeds=2, data=graph, progress=False)
    assert (tmp_path / "pareto.png").read_bytes()[:8] == PNG
    assert result["best_trial"] == select_best_trial(study).number
    assert "Pareto" in result["selection_rule"]
    assert result["selection_rule"].endswith("best validation accuracy")
    assert "![Pareto front (validation accuracy vs ECE)](pareto.png)" in (
        tmp_path / "summary.md").read_text()
    auc = quick(graph, n_trials=3, objective="multi", epochs=4,
                config=TrainConfig.for_model("gcn", select="roc_auc"))
    result = write_report(auc, tmp_path / "auc", seeds=2, data=graph, progress=False)
    assert result["selection_rule"].endswith("best validation roc_auc")
    summary = (tmp_path / "auc" / "summary.md").read_text()
    assert "![Pareto front (validation ROC AUC vs ECE)](pareto.png)" in summary
    assert "![validation ROC AUC over (ε, λ)](landscape.png)" in summary


class _FakeMsvcrt:
    """``msvcrt.locking`` as Windows does it, over one ``threading.Lock`` per file: a
    held ``LK_LOCK`` gives up with EDEADLOCK (the real one after 10 tries of 1 s)."""

    LK_UNLCK, LK_LOCK = 0, 1

    def __init__(self) -> None:
        self.locks: dict[tuple[int, int], threading.Lock] = {}
        self.calls: list[tuple[int, int, int]] = []  # (mode, file position, nbytes)

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        st = os.fstat(fd)
        lock = self.locks.setdefault((st.st_dev, st.st_ino), threading.Lock())
        self.calls.append((mode, os.lseek(fd, 0, os.SEEK_CUR), nbytes))
        if mode == self.LK_UNLCK:
            lock.release()
        elif not lock.acquire(timeout=0.05):
            raise OSError(getattr(errno, "EDEADLOCK", errno.EDEADLK), "deadlock avoided")


@pytest.fixture(params=["posix", "windows"])
def lock_platform(request, monkeypatch):
    """``file_lock`` with ``fcntl`` (this machine), or as on Windows with a fake ``msvcrt``."""
    if request.param == "posix":
        return None
    fake = _FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "fcntl", None)  # ``import fcntl`` fails, as on Windows
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    return fake


def test_file_lock_excludes_a_second_holder_until_the_first_leaves(tmp_path, lock_platform):
    """Two threads, each opening the lock file itself, as two processes would: the
    second enters only after the first has left, also when the first raised."""
    path = tmp_path / "block.lock"
    path.write_text("grown\n")  # on Windows every holder still locks byte 0
    order: list[str] = []
    first_in, second_tried = threading.Event(), threading.Event()

    def first() -> None:
        with pytest.raises(RuntimeError), file_lock(path):
            order.append("first in")
            first_in.set()
            second_tried.wait(5)
            time.sleep(0.2)  # the second thread is blocked in flock by now
            order.append("first out")
            raise RuntimeError("released on error too")

    def second() -> None:
        first_in.wait(5)
        second_tried.set()
        with file_lock(str(path)):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in"]
    assert path.is_file()
    if lock_platform is not None:
        modes = [mode for mode, _, _ in lock_platform.calls]
        assert modes.count(_FakeMsvcrt.LK_UNLCK) == 2
        assert modes.count(_FakeMsvcrt.LK_LOCK) > 2  # the second retried while held
        assert {(pos, n) for _, pos, n in lock_platform.calls} == {(0, 1)}


def test_file_lock_on_windows_raises_a_locking_error_other_than_busy(tmp_path, monkeypatch):
    """Only EDEADLOCK ("still held") is retried; any other error reaches the caller."""
    def locking(fd: int, mode: int, nbytes: int) -> None:
        raise OSError(errno.EBADF, "bad file descriptor")

    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt",
                        type("msvcrt", (), {"LK_LOCK": 1, "LK_UNLCK": 0,
                                            "locking": staticmethod(locking)}))
    with pytest.raises(OSError, match="bad file descriptor"), file_lock(tmp_path / "x.lock"):
        pass
