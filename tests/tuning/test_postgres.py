"""graphls tune against a real PostgreSQL 15 server: shared budgets, killed workers, no loss.

The session fixture starts a throwaway cluster (``initdb`` as the ``postgres``
user, loopback port, socket in a temporary directory) and removes it after
the tests. Without the server binaries the tests skip, except in CI (``$CI``
set), where they fail: ``.ci/run`` installs ``postgresql-15`` so they run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# One torch thread per worker: several workers share the cores (oversubscribed OpenMP
# threads slow a small graph down by an order of magnitude).
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _bindir() -> Path | None:
    """PostgreSQL 15's server binaries: Debian's /usr/lib/postgresql/15/bin, else pg_config's."""
    candidates = [Path("/usr/lib/postgresql/15/bin")]
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=True).stdout.strip()
        candidates.append(Path(out))
    except (FileNotFoundError, subprocess.CalledProcessError):
        pass
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster on 127.0.0.1; yields a URL to an empty database."""
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries not found (initdb, pg_ctl); CI must run "
                        "the PostgreSQL tests: install postgresql-15")
        pytest.skip("PostgreSQL server binaries not found (initdb, pg_ctl)")
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_postgres = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="graphls-pg-"))
    data, sock, log = base / "data", base / "sock", base / "server.log"
    sock.mkdir()
    if as_postgres:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, text=True,
                       timeout=120)

    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off "
                  "-c max_connections=200", "start")
        started = True
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "graphls")
        yield f"postgresql://postgres@127.0.0.1:{port}/graphls"
    finally:
        pid = None
        pidfile = data / "postmaster.pid"
        if pidfile.is_file():
            pid = int(pidfile.read_text().splitlines()[0])
        if started:
            subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
        if pid is not None:
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.1)
            assert not _alive(pid), f"postgres server {pid} still running after the tests"


@pytest.fixture(scope="module")
def cora_root(datasets_root):
    """Process Cora once here, so that workers started together do not race on processed/."""
    from graphls.data import load_dataset

    load_dataset("Cora", root=datasets_root)
    return datasets_root


def _worker(url: str, root: Path, study: str, total: int, epochs: int, *,
            grace: int = 3) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "graphls.cli", "tune", "--dataset", "Cora", "--root",
           str(root), "--storage", url, "--study-name", study, "--total-trials", str(total),
           "--epochs", str(epochs), "--no-report", "--no-progress",
           "--heartbeat-interval", "1", "--grace-period", str(grace), "--batch-size", "1"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)


def _finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[str]:
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            outs.append(out + err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


def _trials(url: str, name: str) -> list:
    from graphls.tuning import load_study  # picks the installed PostgreSQL driver

    return load_study(url, name).get_trials(deepcopy=False)


def test_three_workers_share_a_total_budget_exactly(postgres_url, cora_root):
    # a long grace period: no worker here dies, and on a loaded machine a 3 s one let a live
    # worker's heartbeat go stale, failing its trial (CI saw 25 finished trials once)
    procs = [_worker(postgres_url, cora_root, "shared-24", 24, 4, grace=60) for _ in range(3)]
    outs = _finish(procs)
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out
    trials = _trials(postgres_url, "shared-24")
    states = [t.state for t in trials]
    assert sum(s in FINISHED for s in states) == 24
    assert all(s in FINISHED for s in states), states  # nothing running, waiting or failed
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == 24
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) >= 2  # the budget was shared, not run by one worker


def test_killed_worker_trial_fails_is_retried_and_nothing_is_lost(postgres_url, cora_root):
    name, total = "killed-worker", 8
    victim = _worker(postgres_url, cora_root, name, total, 30)
    survivor = None
    try:
        running = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                trials = _trials(postgres_url, name)
            except ValueError:  # the study is not created yet
                trials = []
            mine = [t for t in trials if t.user_attrs.get("worker", "").endswith(
                f":{victim.pid}")]
            done = [t for t in mine if t.state == TrialState.COMPLETE]
            running = next((t for t in mine if t.state == TrialState.RUNNING), None)
            if len(done) >= 2 and running is not None:
                break
            assert victim.poll() is None, victim.communicate()
            time.sleep(0.2)
        assert running is not None, "the worker never had a running trial"
        # freeze the worker, so the trial seen running is still running when it is killed
        # (a fast trial can finish between reading the study and the kill)
        os.kill(victim.pid, signal.SIGSTOP)
        for _ in range(100):
            running = next((t for t in _trials(postgres_url, name)
                            if t.state == TrialState.RUNNING and t.user_attrs.get(
                                "worker", "").endswith(f":{victim.pid}")), None)
            if running is not None:
                break
            os.kill(victim.pid, signal.SIGCONT)  # caught between two trials: let it go on
            time.sleep(0.05)
            os.kill(victim.pid, signal.SIGSTOP)
        assert running is not None, "the stopped worker had no running trial"
        before = {t.number: t.values for t in _trials(postgres_url, name)
                  if t.state == TrialState.COMPLETE}
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        assert _trials(postgres_url, name)[running.number].state == TrialState.RUNNING
        survivor = _worker(postgres_url, cora_root, name, total, 30)
        out = _finish([survivor])[0]
        assert survivor.returncode == 0, out
    finally:
        for p in (victim, survivor):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    trials = _trials(postgres_url, name)
    by_number = {t.number: t for t in trials}
    killed = by_number[running.number]
    assert killed.state == TrialState.FAIL  # marked failed after the heartbeat grace period
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == running.number]
    assert len(retries) == 1 and retries[0].state in FINISHED
    assert retries[0].params == killed.params  # the same configuration, run again
    assert sum(t.state in FINISHED for t in trials) == total
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for number, values in before.items():  # no completed trial lost or changed
        assert by_number[number].state == TrialState.COMPLETE
        assert by_number[number].values == values


def test_no_worker_or_server_process_left_behind(postgres_url):
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    workers = [line for line in ps.splitlines()
               if "graphls.cli tune" in line and postgres_url.split("@")[1] in line]
    assert workers == []
