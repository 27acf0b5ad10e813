"""graphls.tuning.optimize: budgets, rerun semantics, heartbeats, waiting, callbacks, interrupts."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections import Counter
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState
from tuning_helpers import FINISHED, TEXAS, quick

import graphls.tuning.optimize as optimize_module
from graphls.cli import main
from graphls.tuning import default_study_name


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
    # a clock that moves only while the loop sleeps: training the free slot takes no time
    # on it, however loaded the machine (a real clock let a slow training use up the timeout)
    sleeps, clock = [], [0.0]

    def sleep(seconds):
        sleeps.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(optimize_module, "time",
                        SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
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


def test_n_jobs_needs_a_storage_other_processes_can_open(graph):
    with pytest.raises(ValueError, match=r"n_jobs > 1 needs a storage that other processes can "
                                         r"open .*; got 'InMemoryStorage'"):
        quick(graph, n_trials=2, n_jobs=2)
    with pytest.raises(ValueError, match="got 'sqlite:///:memory:'"):
        quick(graph, n_trials=2, n_jobs=2, storage="sqlite:///:memory:")
    with pytest.raises(ValueError, match="n_jobs must be an integer >= 1; got 0"):
        quick(graph, n_trials=2, n_jobs=0)


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


def _interrupt_next_batch(monkeypatch):
    """The next batch a study trains raises KeyboardInterrupt, as an interrupt midway does."""
    real = optimize_module.train_trials

    def interrupted(*args, **kw):
        monkeypatch.setattr(optimize_module, "train_trials", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(optimize_module, "train_trials", interrupted)


def test_a_failed_baseline_or_start_point_is_enqueued_again(graph, monkeypatch):
    # An interrupt failed the first batch: the baseline and the start point went with it,
    # and no sampler proposes them again. The resumed study runs both (seen on Photo GCN).
    start = {"epsilon": 0.3, "structural": 0.7}
    kw = {"storage": optuna.storages.InMemoryStorage(), "study_name": "s", "n_trials": None,
          "total_trials": 4, "enqueue": (start,), "batch_size": 2, "sampler": "random"}
    _interrupt_next_batch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        quick(graph, **kw)
    study = quick(graph, **kw)
    states = [(t.state, t.params, dict(t.user_attrs)) for t in study.trials]
    assert [s for s, _, _ in states[:2]] == [TrialState.FAIL, TrialState.FAIL]
    done = [(p, a) for s, p, a in states if s in FINISHED]
    assert len(done) == 4
    assert [p for p, a in done if a.get("baseline")] == [{"epsilon": 0.0, "structural": 1.0}]
    assert [p for p, a in done if a.get("enqueued")] == [start]
    # the two ran first, in order, and are not enqueued a third time on another resume
    assert done[0][0] == {"epsilon": 0.0, "structural": 1.0} and done[1][0] == start
    assert len(quick(graph, **{**kw, "total_trials": 5}).trials) == 7


def test_a_study_that_met_its_budget_without_its_baseline_runs_it_over_the_budget(
        graph, monkeypatch):
    from optuna.distributions import FloatDistribution

    kw = {"storage": optuna.storages.InMemoryStorage(), "study_name": "b", "n_trials": None,
          "total_trials": 2, "sampler": "random"}
    _interrupt_next_batch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        quick(graph, **kw)
    study = optuna.load_study(study_name="b", storage=kw["storage"])
    # trials a run before this fix added in the baseline's place: the budget is met
    dists = {"epsilon": FloatDistribution(0, 0.5), "structural": FloatDistribution(0, 1)}
    for eps in (0.1, 0.2):
        study.add_trial(optuna.trial.create_trial(
            params={"epsilon": eps, "structural": 0.5}, distributions=dists, value=0.5))
    study = quick(graph, **kw)
    finished = [t for t in study.trials if t.state in FINISHED]
    assert len(finished) == 3
    assert finished[-1].user_attrs["baseline"] is True
    assert finished[-1].params == {"epsilon": 0.0, "structural": 1.0}
    assert len(quick(graph, **kw).trials) == 4  # done now: nothing more


def test_a_trial_another_worker_tells_during_a_claim_is_never_counted_as_free(graph,
                                                                            monkeypatch):
    # Another worker tells its trial between the claim's reads of the study (telling takes
    # no claim lock). Counted neither as finished (first read) nor as running (second),
    # its slot looked free: the benchmark's Computers GCN study got 32 trials of 30.
    kw = {"storage": optuna.storages.InMemoryStorage(), "study_name": "r", "n_trials": None,
          "sampler": "random"}
    quick(graph, total_trials=2, **kw)
    study = optuna.load_study(study_name="r", storage=kw["storage"])
    other = study.ask()  # another worker's claimed trial: 2 finished + 1 running = 3
    real = optimize_module._enqueue_fixed

    def enqueue_while_the_other_worker_tells(study, objective, *, baseline_only):
        real(study, objective, baseline_only=baseline_only)
        if other.number in {t.number for t in study.get_trials(states=(TrialState.RUNNING,))}:
            study.tell(other, 0.5)

    monkeypatch.setattr(optimize_module, "_enqueue_fixed", enqueue_while_the_other_worker_tells)
    study = quick(graph, total_trials=3, **kw)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 3
    assert len(study.trials) == 3


def test_a_worker_claims_its_share_of_the_trials_left_beside_busy_workers(graph, monkeypatch):
    # Two benchmark workers, batches of 10, a budget of 30: the first one free took the last
    # 10 trials alone and the other sat idle for a whole batch. With another worker holding
    # running trials, a worker takes half of what is left (rounded up).
    kw = {"storage": optuna.storages.InMemoryStorage(), "study_name": "s", "n_trials": None,
          "sampler": "random"}
    quick(graph, total_trials=2, **kw)  # the baseline and one more
    other = optuna.load_study(study_name="s", storage=kw["storage"])
    for _ in range(4):  # another worker's batch, still running
        other.ask().set_user_attr("worker", "elsewhere:1")
    real, batches = optimize_module.train_trials, []

    def train_trials(objective, trials, params):
        batches.append(len(trials))
        return real(objective, trials, params)

    monkeypatch.setattr(optimize_module, "train_trials", train_trials)
    study = quick(graph, total_trials=14, batch_size=8, **kw)
    # 8 free beside the other worker's 4: this one takes 4, then 2 of the 4 left, 1, 1
    assert batches == [4, 2, 1, 1]
    assert Counter(t.state for t in study.trials) == {TrialState.COMPLETE: 10,
                                                      TrialState.RUNNING: 4}
    # alone (its own finished trials are not another worker's) it takes a whole batch
    batches.clear()
    for t in study.get_trials(states=(TrialState.RUNNING,)):
        study.tell(t.number, 0.5)
    quick(graph, total_trials=30, batch_size=8, **kw)
    assert batches == [8, 8]


@pytest.mark.parametrize("own_failure", [True, False])
def test_a_fixed_point_that_keeps_failing_is_not_retried_forever(graph, monkeypatch,
                                                                  own_failure):
    # A start point whose training diverges fails on its own: retrying it would loop.
    # One failed from outside every time (say, a worker that always dies on it) is
    # retried FIXED_RETRIES times, then left failed.
    start = {"epsilon": 0.3, "structural": 0.7}
    real, calls = optimize_module.train_trials, []

    def train_trials(objective, trials, params):
        calls.append(len(trials))
        assert len(calls) < 50, "the start point is retried forever"
        out = real(objective, trials, params)
        for i, (trial, p) in enumerate(zip(trials, params, strict=True)):
            if p == start:
                if own_failure:
                    trial.set_user_attr("fail_reason", "TrainingDiverged: at epoch 3")
                out[i] = (TrialState.FAIL, None)
        return out

    monkeypatch.setattr(optimize_module, "train_trials", train_trials)
    study = quick(graph, n_trials=None, total_trials=3, enqueue=(start,), sampler="random",
                  storage=optuna.storages.InMemoryStorage(), study_name="f")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all(t.params == start for t in failed)
    assert len(failed) == (1 if own_failure else 1 + optimize_module.FIXED_RETRIES)
    assert sum(t.state in FINISHED for t in study.trials) == 3


def test_trials_are_batched_by_default_from_the_graph_size(graph):
    from torch_geometric.data import Data

    from graphls.config import TrainConfig
    from graphls.tuning import MAX_TRIAL_BATCH, default_trial_batch

    cfg = TrainConfig()
    assert default_trial_batch(graph, cfg) == MAX_TRIAL_BATCH == 16
    assert default_trial_batch(graph, cfg, seeds_per_trial=3) == 16
    huge = Data(x=graph.x[:1], num_nodes=10**8)
    assert default_trial_batch(huge, cfg) == 1
    study = quick(graph, n_trials=5, batch_size=None)
    assert len(study.trials) == 5
    # claimed together: every trial started before the first one finished
    first_end = min(t.datetime_complete for t in study.trials)
    assert all(t.datetime_start <= first_end for t in study.trials)
