"""Where a study lives: storage URLs, the journal file, SQLite in WAL mode, and claim locks.

``None`` is ``sqlite:///graphls.db`` in the working directory: rerunning the same
command resumes the same study. Any SQLAlchemy URL works
(``postgresql://user:pass@host/db`` for workers on several machines; without a
driver named, psycopg 3 is used if installed, else psycopg2). ``journal:PATH`` or a
path ending ``.log``/``.jsonl``/``.journal`` is Optuna's journal file storage (one
machine or a shared file system; no heartbeats). On RDB storages every running trial
sends a heartbeat every ``heartbeat_interval`` seconds; a trial silent for
``grace_period`` seconds (a killed worker) is marked FAIL and re-queued once more
(Optuna's ``RetryHeartbeatStaleTrialCallback``). Finished trials are never touched.

Workers claim trials one at a time under a lock: PostgreSQL's advisory lock on the
study's server, or for SQLite and journal files a file lock (:func:`file_lock`) on
``<file>.graphls.lock``. That file holds no data and may be deleted while no worker
runs; a SQLite storage that is refused leaves none behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from graphls._validation import check_positive_int

__all__ = ["DEFAULT_STORAGE", "StorageHandle", "file_lock", "open_storage"]

DEFAULT_STORAGE = "sqlite:///graphls.db"

_HINT = ("an SQLAlchemy URL such as sqlite:///graphls.db or "
         "postgresql://user:password@host:5432/db, or journal:PATH")


@dataclass
class StorageHandle:
    """An opened storage, how to name it in messages, and the lock that guards trial claims.

    Attributes:
        storage: The Optuna storage.
        display: The URL with its password hidden (or the storage's class name).
        lock_for: ``lock_for(study_name)``: a context manager held around each claim.
        heartbeat: The ``RDBStorage`` when heartbeats are on, else ``None``.
        exact: Whether the claim lock covers every worker that can reach the storage.
    """

    storage: optuna.storages.BaseStorage
    display: str
    lock_for: Callable[[str], contextlib.AbstractContextManager[Any]]
    heartbeat: Any = None
    exact: bool = True


def _journal_path(url: str) -> str | None:
    if url.startswith("journal:"):
        rest = url[len("journal:"):]
        return rest[2:] if rest.startswith("///") else rest[2:] if rest.startswith("//") else rest
    if "://" not in url and url.endswith((".log", ".jsonl", ".journal")):
        return url
    return None


def _retry_callback(max_retry: int) -> tuple[str, Any]:
    storages = optuna.storages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
            return ("heartbeat_stale_trial_callback",
                    storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry))
        return "failed_trial_callback", storages.RetryFailedTrialCallback(max_retry=max_retry)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block.

    The lock graphls takes around each claim of trials in a SQLite or journal-file
    study, and that ``benchmarks/run.py`` takes around its result files. It excludes
    other processes and other open descriptors in the same process (threads that each
    enter ``file_lock``), waits as long as the holder keeps it, and is released when the
    block ends or raises.

    On POSIX it is ``fcntl.flock``; on Windows ``msvcrt.locking`` of the file's first
    byte (retried until it is free: one ``LK_LOCK`` call gives up after 10 s). On some
    network file systems neither locks across machines: use a PostgreSQL study there.
    """
    with open(path, "a+") as f:
        _lock_file(f, exclusive=True)
        try:
            yield
        finally:
            _lock_file(f, exclusive=False)


def _lock_file(f: Any, exclusive: bool) -> None:
    """Take (``exclusive``) or drop the lock of :func:`file_lock` on the open file ``f``."""
    try:
        import fcntl
    except ModuleNotFoundError:  # Windows
        import msvcrt
    else:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_UN)
        return
    busy = getattr(errno, "EDEADLOCK", errno.EDEADLK)
    while True:
        f.seek(0)  # every holder locks the same byte, wherever the file ends
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK if exclusive else msvcrt.LK_UNLCK, 1)
            return
        except OSError as e:
            if not exclusive or e.errno != busy:  # not "still held after 10 tries"
                raise


def _lock_key(study_name: str) -> int:
    digest = hashlib.blake2b(f"graphls:{study_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _PostgresLock:
    """``pg_advisory_xact_lock`` on the study's server: one claim at a time across machines."""

    def __init__(self, url: Any, engine_kwargs: dict[str, Any]) -> None:
        self._url = url
        self._engine_kwargs = engine_kwargs
        self._engine: Any = None

    @contextlib.contextmanager
    def __call__(self, study_name: str) -> Iterator[None]:
        import sqlalchemy

        if self._engine is None:
            self._engine = sqlalchemy.create_engine(self._url, pool_size=1, max_overflow=0,
                                                    **self._engine_kwargs)
        with self._engine.begin() as conn:  # the lock is released when the transaction ends
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": _lock_key(study_name)})
            yield


def _thread_lock() -> Callable[[str], contextlib.AbstractContextManager[Any]]:
    lock = threading.Lock()

    @contextlib.contextmanager
    def hold(_name: str) -> Iterator[None]:
        with lock:
            yield

    return hold


def open_storage(storage: str | optuna.storages.BaseStorage | None = None, *,
                 heartbeat_interval: int | None = 60, grace_period: int | None = None,
                 max_retry: int = 1, must_exist: bool = False) -> StorageHandle:
    """Open ``storage`` (default ``sqlite:///graphls.db``) with heartbeats and a claim lock.

    Args:
        storage: An SQLAlchemy URL, ``journal:PATH`` (or a path ending ``.log``,
            ``.jsonl``, ``.journal``), or an Optuna storage object.
        heartbeat_interval: Seconds between a running trial's heartbeats (RDB storages;
            ``None`` turns heartbeats off).
        grace_period: Seconds without a heartbeat after which a running trial is marked
            FAIL and retried (default ``2 × heartbeat_interval``).
        max_retry: How many times a stale trial is re-queued.
        must_exist: For reading: an SQLite or journal file that does not exist is an error
            rather than created.

    Raises:
        ValueError: malformed URL, unknown database, missing driver, unreachable server.
    """
    if storage is None:
        storage = DEFAULT_STORAGE
    if isinstance(storage, optuna.storages.BaseStorage):
        return StorageHandle(storage, type(storage).__name__, _thread_lock())
    if not isinstance(storage, str) or not storage.strip():
        raise ValueError(f"storage must be an SQLAlchemy URL or a journal file; got {storage!r}")
    journal = _journal_path(storage)
    if journal is not None:
        return _open_journal(journal, storage, must_exist)
    return _open_rdb(storage, heartbeat_interval, grace_period, max_retry, must_exist)


def _open_journal(path: str, url: str, must_exist: bool) -> StorageHandle:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    p = Path(path)
    if must_exist and not p.is_file():
        raise ValueError(f"storage {url!r}: journal file {path!r} does not exist")
    if not p.parent.is_dir():
        raise ValueError(f"storage {url!r}: directory {str(p.parent)!r} does not exist")
    try:
        backend = JournalFileBackend(str(p))
    except OSError as exc:
        raise ValueError(f"storage {url!r} cannot be opened: {exc.strerror or exc}") from None
    lock_path = str(p) + ".graphls.lock"
    return StorageHandle(JournalStorage(backend), url, lambda _name: file_lock(lock_path))


def _open_rdb(url: str, heartbeat_interval: int | None, grace_period: int | None,
              max_retry: int, must_exist: bool) -> StorageHandle:
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"storage must be {_HINT}; got {url!r}") from None
    display = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    engine_kwargs: dict[str, Any] = {}
    lock_for: Callable[[str], contextlib.AbstractContextManager[Any]] = _thread_lock()
    exact = True
    lock_path: str | None = None
    if backend == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            p = Path(db)
            if must_exist and not p.is_file():
                raise ValueError(f"storage {display!r}: database file {db!r} does not exist "
                                 f"(in {os.getcwd()})")
            if not p.parent.is_dir():
                raise ValueError(f"storage {display!r}: directory {str(p.parent)!r} does not "
                                 "exist")
            lock_path = str(p) + ".graphls.lock"
            lock_for = lambda _name: file_lock(lock_path)  # noqa: E731
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif backend == "postgresql":
        if parsed.get_driver_name() == "psycopg" and "+" not in parsed.drivername:
            parsed = parsed.set(drivername=_postgres_driver(display))
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
        engine_kwargs["pool_pre_ping"] = True
        lock_for = _PostgresLock(parsed, engine_kwargs)
    else:
        engine_kwargs["pool_pre_ping"] = True
        exact = False  # no cross-machine claim lock for this database
    interval = heartbeat_interval
    kwargs: dict[str, Any] = {}
    if interval is not None:
        check_positive_int("heartbeat_interval", interval)
        grace = grace_period if grace_period is not None else 2 * interval
        check_positive_int("grace_period", grace)
        key, callback = _retry_callback(max_retry)
        kwargs = {"heartbeat_interval": interval, "grace_period": grace, key: callback}
    # The lock file beside a SQLite file is made by the first claim below; a storage
    # rejected there must not leave it behind (see _drop_new_lock).
    lock_existed = lock_path is not None and os.path.lexists(lock_path)
    try:
        rdb = _rdb_storage(parsed, display, backend, lock_for, engine_kwargs, kwargs)
    except BaseException:
        if lock_path is not None and not lock_existed:
            _drop_new_lock(lock_path, Path(parsed.database or ""))
        raise
    if backend == "sqlite":
        _sqlite_wal(rdb.engine)
    return StorageHandle(rdb, display, lock_for, rdb if interval is not None else None, exact)


def _rdb_storage(parsed: Any, display: str, backend: str,
                 lock_for: Callable[[str], contextlib.AbstractContextManager[Any]],
                 engine_kwargs: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """Optuna's ``RDBStorage`` for ``parsed``, its tables created under ``lock_for``.

    Raises:
        ValueError: unknown database, missing driver, unreachable or unusable database.
    """
    import sqlalchemy

    try:
        # Workers started together must not create the tables concurrently (PostgreSQL:
        # duplicate key in pg_type; SQLite: "table already exists"): one at a time.
        with lock_for("graphls:create-tables"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False), engine_kwargs=engine_kwargs,
                **kwargs)
    except sqlalchemy.exc.NoSuchModuleError:
        raise ValueError(f"storage must be {_HINT}; database {backend!r} in {display!r} is "
                         "unknown to SQLAlchemy") from None
    except ImportError:
        raise ValueError(f"storage {display!r} needs a database driver for {backend!r}; "
                         "for PostgreSQL: pip install 'graphls[postgres]'") from None
    except sqlalchemy.exc.OperationalError as exc:
        raise ValueError(f"storage {display!r} is unreachable: {_reason(exc)}") from None
    except sqlalchemy.exc.DBAPIError as exc:
        raise ValueError(f"storage {display!r} cannot be used: {_reason(exc)}") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise ValueError(f"storage {display!r} cannot be used: {exc}") from None


def _drop_new_lock(lock_path: str, db: Path) -> None:
    """Remove the lock file this call created for a SQLite storage that was then rejected.

    Kept when ``db`` is (or may be becoming) a SQLite database: then another worker may
    be waiting on this very lock file, and removing it would let a later worker take a
    second one. Removed when ``db`` does not exist or is not a database at all.
    """
    try:
        with open(db, "rb") as f:
            header = f.read(16)
    except FileNotFoundError:
        header = None
    except OSError:
        return
    if header is None or (header and header != b"SQLite format 3\x00"):
        with contextlib.suppress(OSError):
            os.remove(lock_path)


def _sqlite_wal(engine: Any) -> None:
    """Write-ahead logging with ``synchronous=NORMAL`` on every connection of a SQLite engine.

    Optuna commits every report, user attribute and state change on its own; in
    SQLite's default rollback journal each commit syncs the file twice. In WAL mode a
    commit appends to the ``-wal`` file (measured here: 0.62 ms a report instead of
    1.75 ms). Committed trials survive a crash of the process (a killed worker loses
    nothing); only a power cut can roll back the last commits, never corrupt the file.
    Readers and the writer no longer block each other. WAL needs a local file system
    (not NFS), as SQLite's locking does anyway.
    """
    import sqlalchemy

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        except Exception:  # another process holds a lock: keep the default journal
            pass
        finally:
            cursor.close()

    sqlalchemy.event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened while creating the tables get the pragmas too


def _reason(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _postgres_driver(display: str) -> str:
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg"
    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2"
    raise ValueError(f"storage {display!r} needs a PostgreSQL driver; "
                     "pip install 'graphls[postgres]' (psycopg2) or psycopg")
