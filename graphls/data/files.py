"""Where a dataset's files are: the root, its folders, writable copies, the not-found error.

The root is ``root`` (the argument), else ``$GRAPHLS_DATA``, else
``~/.cache/graphls``; a dataset lives in ``root/<subdir>`` in the folder
layout of its PyG class (``DatasetInfo.files`` lists every file expected
there). A read-only folder is never written to: it is copied once to
``~/.cache/graphls/copies/`` (or a temporary folder) and loaded from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from graphls.data.registry import DatasetInfo

__all__ = [
    "DatasetNotFoundError",
    "dataset_dir",
    "existing_ancestor",
    "is_writable",
    "missing_files",
    "not_found",
    "prune_empty_dirs",
    "resolve_root",
    "writable_copy",
]

_WARNED: set[str] = set()


class DatasetNotFoundError(FileNotFoundError):
    """The raw files of a dataset are missing and could not be downloaded.

    The message is one line naming the folder and the files expected in it.
    """


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The datasets folder: ``root``, else ``$GRAPHLS_DATA``, else ``~/.cache/graphls``.

    Nothing is created; ``~`` is expanded.
    """
    if root is None or str(root) == "":
        env = os.environ.get("GRAPHLS_DATA")
        root = env if env else Path.home() / ".cache" / "graphls"
    return Path(root).expanduser()


def is_writable(path: Path) -> bool:
    """Whether ``path`` (an existing folder) may be written to.

    ``os.access`` alone says yes to root on a ``chmod a-w`` folder; a folder
    with no write bit at all is taken as marked read-only, for root too.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(mode & 0o222)


def existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing parent."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def dataset_dir(root: Path, info: DatasetInfo) -> Path:
    """The folder that holds ``raw/`` for ``info`` under ``root``."""
    if info.family == "ogb":  # OGB prefers a previously downloaded <dir>_pyg folder
        pyg = root / f"{info.subdir}_pyg"
        if pyg.is_dir():
            return pyg
    return root / info.subdir


def missing_files(ds_dir: Path, info: DatasetInfo) -> list[str]:
    """The files of ``info.files`` absent from ``ds_dir``."""
    return [f for f in info.files if not (ds_dir / f).is_file()]


def _copies_dir() -> Path:
    home = Path.home() / ".cache" / "graphls" / "copies"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if is_writable(home):
            return home
    except OSError:
        pass
    uid = os.getuid() if hasattr(os, "getuid") else 0
    tmp = Path(tempfile.gettempdir()) / f"graphls-copies-{uid}"
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def writable_copy(root: Path, info: DatasetInfo) -> Path:
    """Copy ``root/<subdir>`` to a writable cache (once) and return the copy's root.

    Warns once per root and dataset; the warning points at ``load_dataset``'s caller.
    """
    src = dataset_dir(root, info)
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    new_root = _copies_dir() / digest
    dst = new_root / src.relative_to(root)
    for dirpath, _, filenames in os.walk(src):
        target = dst / Path(dirpath).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o755)
        for f in filenames:
            out = target / f
            if not out.exists():
                shutil.copyfile(Path(dirpath) / f, out)
                out.chmod(0o644)
    key = f"{root}:{info.name}"
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(f"{src} is read-only; loading {info.name} from a writable copy at {dst}",
                      stacklevel=4)
    return new_root


def prune_empty_dirs(top: Path, stop: Path) -> None:
    """Remove empty folders under and including ``top`` (never ``stop`` or above)."""
    if not top.is_dir():
        return
    for dirpath, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)
    parent = top.parent
    while parent != stop and stop in parent.parents:
        try:
            os.rmdir(parent)
        except OSError:
            break
        parent = parent.parent


def not_found(info: DatasetInfo, ds_dir: Path, missing: list[str],
              reason: str) -> DatasetNotFoundError:
    """One-line error: why the dataset is not there and which files to put where."""
    raw = [m.split("/", 1)[1] for m in missing if m.startswith("raw/")]
    other = [m for m in missing if not m.startswith("raw/")]
    where = f"put {', '.join(raw)} in {ds_dir / 'raw'}" if raw else ""
    if other:
        where += ("; " if where else "put ") + f"{', '.join(other)} under {ds_dir}"
    msg = (f"dataset {info.name!r} not found: {reason}; {where} "
           f"(root is the argument, else $GRAPHLS_DATA, else ~/.cache/graphls)")
    return DatasetNotFoundError(" ".join(msg.split()))
