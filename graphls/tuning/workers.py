"""``n_jobs``: worker processes on this machine that claim trials of the same study.

Each worker is a spawned process that runs the same study (``run_study`` with
``n_jobs=1``) beside this one, with ``cpu_count // n_jobs`` torch threads; the
claim lock of the study's storage keeps their shared budget exact. The parent
stops its workers with SIGTERM when it fails or is interrupted, and each worker
then marks the trials it holds FAIL before it exits.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphls._signals import sigterm_as_interrupt
from graphls.tuning.study import quiet_optuna

__all__ = ["Workers", "worker_main"]


def worker_main(target: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any],
                threads: int, errors: Any) -> None:
    """A worker process: ``target(*args, **kwargs)`` with ``threads`` torch threads.

    SIGTERM is an interrupt here (the trials the worker holds are failed on the way
    out); any exception is put on ``errors`` for the parent, which raises it.
    """
    import torch

    torch.set_num_threads(threads)
    quiet_optuna()
    try:
        with warnings.catch_warnings(), sigterm_as_interrupt():
            warnings.simplefilter("ignore")
            target(*args, **kwargs)
    except BaseException as exc:  # reported by the parent, which raises it
        errors.put(f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


class Workers:
    """``n_jobs - 1`` worker processes (spawned) beside this one, each with its share of the
    cores; this process runs as a worker too and waits for the others on exit.

    Args:
        n_jobs: Processes in all, this one included.
        target: What each worker runs (a module-level function: it is pickled).
        args, kwargs: Its arguments (pickled too).

    Raises:
        RuntimeError: on a clean exit of this process, when a worker failed.
    """

    def __init__(self, n_jobs: int, target: Callable[..., Any], args: Sequence[Any] = (),
                 kwargs: Mapping[str, Any] | None = None) -> None:
        self.n_jobs = n_jobs
        self.target = target
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.threads = max(1, (os.cpu_count() or 1) // n_jobs)

    def __enter__(self) -> Workers:
        import multiprocessing

        import torch

        ctx = multiprocessing.get_context("spawn")
        self.errors = ctx.Queue()
        self.procs = [ctx.Process(target=worker_main, name=f"graphls-worker-{i}",
                                  args=(self.target, self.args, self.kwargs, self.threads,
                                        self.errors), daemon=True)
                      for i in range(1, self.n_jobs)]
        for p in self.procs:
            p.start()
        self.saved_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import torch

        torch.set_num_threads(self.saved_threads)
        if exc_type is not None:  # this worker failed (or was interrupted): stop the others
            for p in self.procs:
                p.terminate()
        for p in self.procs:
            p.join()
        if exc_type is None:
            failed = [p for p in self.procs if p.exitcode != 0]
            if failed:
                reason = self.errors.get() if not self.errors.empty() else (
                    f"exit status {failed[0].exitcode}")
                raise RuntimeError(f"{len(failed)} of {self.n_jobs - 1} worker processes "
                                   f"failed: {reason}")
