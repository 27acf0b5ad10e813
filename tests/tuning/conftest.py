"""Fixtures of the graphls.tuning tests: one torch thread, quiet Optuna, the synthetic graph."""

from __future__ import annotations

import optuna
import pytest
import torch
from tuning_helpers import synthetic


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


@pytest.fixture(scope="module")
def graph():
    return synthetic()
