"""Shared fixtures: tiny hand-made graphs and a writable copy of the real datasets."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# One torch thread: on 2 cores shared with worker subprocesses, two threads per
# process oversubscribe and run many times slower; alone, 2 threads gain ~1.1x.
torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path | None:
    """The read-only raw datasets: ``$GRAPHLS_SHARED_DATASETS`` or ``../shared/datasets``."""
    env = os.environ.get("GRAPHLS_SHARED_DATASETS")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "datasets", REPO / "shared" / "datasets"]
    for c in candidates:
        if (c / "Cora" / "raw").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory) -> Path:
    """A writable copy of ``../shared/datasets`` (PyG writes ``processed/`` beside ``raw/``).

    In CI (``CI`` set) a missing copy is an error, so real-data tests cannot skip silently.
    """
    src = shared_datasets_dir()
    if src is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/datasets not found; CI must run the real-data tests")
        pytest.skip("../shared/datasets not found")
    dst = tmp_path_factory.mktemp("datasets")
    shutil.copytree(src, dst, dirs_exist_ok=True, copy_function=shutil.copyfile)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    dst.chmod(0o755)
    return dst


@pytest.fixture
def sigterm_next_batch(monkeypatch) -> None:
    """The next batch of trials a study trains first sends SIGTERM to this process, as
    ``kill`` does; later batches train normally."""
    import graphls.tuning.optimize as optimize

    real = optimize.train_trials

    def train_trials(*args, **kw):
        monkeypatch.setattr(optimize, "train_trials", real)
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kw)

    monkeypatch.setattr(optimize, "train_trials", train_trials)


@pytest.fixture
def path_graph() -> torch.Tensor:
    """Undirected path 0-1-2-3 plus an isolated node 4 (edge_index, both directions)."""
    src = torch.tensor([0, 1, 1, 2, 2, 3])
    dst = torch.tensor([1, 0, 2, 1, 3, 2])
    return torch.stack([src, dst])


@pytest.fixture
def two_triangles() -> torch.Tensor:
    """Two triangles {0,1,2} and {3,4,5} joined by the bridge 2-3, and an isolated node 6."""
    und = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
    e = torch.tensor(und).t()
    return torch.cat([e, e.flip(0)], dim=1)
