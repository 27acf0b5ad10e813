"""SIGTERM as an interrupt: the one signal helper the CLI, the benchmarks and the
``run_study(n_jobs=...)`` workers share (kept apart from ``graphls.cli``, which the
library does not import, and from ``graphls.tuning``, which ``graphls --help`` does not)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["sigterm_as_interrupt"]


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (as Ctrl-C does).

    ``kill`` and job schedulers stop a run with SIGTERM, which by default ends Python at
    once: the trials a study had claimed would stay RUNNING until their heartbeat goes
    stale. As an interrupt, they are marked FAIL on the way out (and claimed again on
    resume), and the command ends with one line. Only the main thread can set a handler;
    elsewhere the block runs unchanged. The previous handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:  # None: a handler set outside Python, which cannot be put back; use the default
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
