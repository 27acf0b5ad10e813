"""graphls.tuning.workers: n_jobs processes share a study and its exact budget, and stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import threading
import time

import optuna
import pytest
import torch
from optuna.trial import TrialState
from tuning_helpers import quick

from graphls.tuning.optimize import WORKER


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
                if any(w != WORKER for w in seen):
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
    assert any(w != WORKER for w in seen)  # a worker held a trial at the kill
    trials = optuna.load_study(study_name="stop", storage=url).get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    assert any(t.state == TrialState.FAIL and t.user_attrs["worker"] != WORKER
               for t in trials)
