"""graphls.tuning.storage: journal files, unreachable servers, the claim's file lock."""

from __future__ import annotations

import errno
import os
import sys
import threading
import time

import pytest
from tuning_helpers import TEXAS, one_line_error, quick

from graphls.tuning import file_lock, open_storage


def test_journal_storage_resumes(graph, tmp_path):
    url = f"journal:{tmp_path / 'study.log'}"
    quick(graph, n_trials=2, storage=url)
    study = quick(graph, n_trials=1, storage=url)
    assert len(study.trials) == 3
    assert study.study_name == "graphls-synthetic-gcn-joint-accuracy"


def test_unreachable_storage_fails_fast(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    err = one_line_error(capsys, ["tune", *TEXAS, "--storage",
                                  "postgresql://u:secret@127.0.0.1:1/db"],
                         "storage 'postgresql://u:***@127.0.0.1:1/db' is unreachable")
    assert "secret" not in err
    assert time.perf_counter() - start < 15


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


@pytest.mark.parametrize(("storage", "match"), [
    ("sqlite:///notes.db", "storage 'sqlite:///notes.db' cannot be used: file is not a database"),
    ("sqlite:///missing/x.db", "storage 'sqlite:///missing/x.db': directory 'missing' does not "
                               "exist"),
    ("nosuchdb:///x.db", "database 'nosuchdb' in 'nosuchdb:///x.db' is unknown to SQLAlchemy"),
])
def test_a_rejected_storage_leaves_no_lock_file(storage, match, capsys, tmp_path, monkeypatch):
    """``graphls tune --storage`` that is refused leaves the folder as it was: no
    ``<db file>.graphls.lock`` beside a file that is no database, or anywhere."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.db").write_text("my notes, not a database\n")
    one_line_error(capsys, ["tune", *TEXAS, "--n-trials", "1", "--storage", storage], match)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]
    assert (tmp_path / "notes.db").read_text() == "my notes, not a database\n"


def test_a_rejected_sqlite_storage_keeps_a_lock_file_it_did_not_make(tmp_path):
    """A lock file that was there before (another worker's) is never removed."""
    db = tmp_path / "notes.db"
    db.write_text("not a database")
    lock = tmp_path / "notes.db.graphls.lock"
    lock.write_text("")
    with pytest.raises(ValueError, match=r"storage 'sqlite:///.*notes\.db' cannot be used: "
                                         r"file is not a database"):
        open_storage(f"sqlite:///{db}")
    assert lock.is_file()


def test_an_accepted_sqlite_storage_has_its_lock_file_beside_it(tmp_path):
    handle = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    try:
        assert (tmp_path / "study.db.graphls.lock").is_file()
    finally:
        handle.storage.engine.dispose()


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
