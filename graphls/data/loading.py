"""Loading: a dataset through its own PyG/OGB class, as one PyG ``Data`` with one split.

The filtered chameleon/squirrel sets have no PyG class and are read from their
``.npz`` directly (nothing is written).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphls.data.files import (
    dataset_dir,
    existing_ancestor,
    is_writable,
    missing_files,
    not_found,
    prune_empty_dirs,
    resolve_root,
    writable_copy,
)
from graphls.data.registry import DATASETS, DatasetInfo, dataset_info
from graphls.data.splits import check_split, check_split_index, select_split

if TYPE_CHECKING:  # pragma: no cover
    from torch_geometric.data import Data

__all__ = ["copy_datasets", "list_datasets", "load_dataset"]

_FILTERED_URL = "https://github.com/yandex-research/heterophilous-graphs/raw/main/data"


def _open_pyg(info: DatasetInfo, root: Path) -> tuple[Any, dict[str, Any]]:
    """Build the PyG/OGB dataset object (downloads if raw files are missing)."""
    import torch_geometric.datasets as D

    r = str(root)
    if info.family == "planetoid":
        return D.Planetoid(r, info.name), {}
    if info.family == "webkb":
        return D.WebKB(r, info.name), {}
    if info.family == "actor":
        return D.Actor(str(root / info.subdir)), {}
    if info.family == "wikipedia":
        return D.WikipediaNetwork(r, info.name, geom_gcn_preprocess=True), {}
    if info.family == "heterophilous":
        return D.HeterophilousGraphDataset(r, info.name), {}
    if info.family == "linkx":
        return D.LINKXDataset(r, info.name.lower()), {}
    if info.family == "amazon":
        return D.Amazon(r, info.name), {}
    if info.family == "coauthor":
        return D.Coauthor(r, info.name), {}
    if info.family == "ogb":
        from graphls.data.ogb import open_ogb

        return open_ogb(info.name, r)
    raise AssertionError(info.family)  # pragma: no cover - registry and loaders agree


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep a dataset class's chatter (PyG's "Processing..." / "Done!", OGB's
    progress) off stdout and stderr; warnings raised meanwhile are shown afterwards."""
    sink = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        yield
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def _read_filtered(info: DatasetInfo, root: Path) -> Data:
    """Read a Platonov et al. ``*_filtered.npz`` (no PyG class; writes nothing)."""
    import numpy as np
    import torch
    from torch_geometric.data import Data

    raw_dir = root / info.subdir / "raw"
    path = raw_dir / info.raw_files[0]
    if not path.is_file():
        from torch_geometric.data import download_url

        download_url(f"{_FILTERED_URL}/{info.raw_files[0]}", str(raw_dir), log=False)
    with np.load(path) as z:
        return Data(x=torch.from_numpy(z["node_features"]).float(),
                    y=torch.from_numpy(z["node_labels"]).long(),
                    edge_index=torch.from_numpy(z["edges"]).long().t().contiguous(),
                    train_mask=torch.from_numpy(z["train_masks"]).t().contiguous(),
                    val_mask=torch.from_numpy(z["val_masks"]).t().contiguous(),
                    test_mask=torch.from_numpy(z["test_masks"]).t().contiguous())


def _open(info: DatasetInfo, root: Path, download: bool) -> tuple[Data, int, dict[str, Any]]:
    """Return (data, num_classes, extra) from the dataset's own loader, root resolved."""
    ds_dir = dataset_dir(root, info)
    missing = missing_files(ds_dir, info)
    before = existing_ancestor(root)  # a failed download removes the folders it made, root too
    if not missing:
        processed = ds_dir / "processed"
        read_only = not is_writable(ds_dir) or (processed.is_dir() and not is_writable(processed))
        if read_only and info.family != "filtered":  # the npz reader writes nothing
            root = writable_copy(root, info)
    else:
        base = existing_ancestor(ds_dir)
        if not download:
            raise not_found(info, ds_dir, missing, "files missing and download=False")
        if not is_writable(base):
            raise not_found(info, ds_dir, missing,
                            f"files missing and {base} is not writable")
        if info.family == "ogb" and ds_dir.is_dir():
            # OGB asks on stdin to re-download a folder without its RELEASE file:
            # allow it only for a folder with no files in it at all (left by a failed try).
            if any(p.is_file() for p in ds_dir.rglob("*")):
                raise not_found(info, ds_dir, missing, "the folder is incomplete")
            prune_empty_dirs(ds_dir, root)
    try:
        if info.family == "filtered":
            data = _read_filtered(info, root)
            return data, int(data.y.max()) + 1, {}
        # Files present: nothing to say. A download keeps PyG's and OGB's own lines
        # (which file, its progress), since it may take a while.
        with contextlib.nullcontext() if missing else _quiet():
            ds, extra = _open_pyg(info, root)
    except (Exception, SystemExit) as exc:  # OGB exits when a download is declined
        still = missing_files(dataset_dir(root, info), info)
        if not missing or not still:
            raise
        prune_empty_dirs(ds_dir, before)
        reason = f"download failed ({type(exc).__name__}: {exc})"
        raise not_found(info, ds_dir, still, " ".join(reason.split())) from exc
    return ds[0], int(ds.num_classes), extra


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, split: str | None = None,
                 *, seed: int = 0, split_index: int = 0, undirected: bool = True,
                 normalize_features: bool | None = None, download: bool = True) -> Data:
    """Load a node-classification dataset as one PyG ``Data`` with a single split.

    Args:
        name: A name in :data:`DATASETS`, case-insensitive (``"cora"``,
            ``"ogbn_arxiv"`` and ``"ogbn-arxiv"`` all work).
        root: Datasets folder; None means ``$GRAPHLS_DATA``, else
            ``~/.cache/graphls`` (see :func:`resolve_root`).
        split: ``"public"``, ``"official"``, ``"fixed"``, ``"random"``,
            ``"dense"`` or ``"bernnet"`` as the dataset allows
            (``DATASETS[name].splits``); None is the dataset's own (the first
            listed). ``"public"`` is accepted for ``"official"`` (OGB) and
            ``"fixed"``. ``"bernnet"`` is BernNet's and PosteL's 60/20/20
            protocol, which puts every class smaller than its training quota
            wholly into training, out of validation and test (Cora's classes
            1 and 6, CiteSeer's class 0; see :mod:`graphls.data.splits`).
        seed: Seed of the ``"random"``/``"dense"`` splits (a ``torch.Generator``;
            the global RNG is untouched).
        split_index: Which split, 0..9: a shipped one (``"fixed"``) or one of
            BernNet's ten seeds (``"bernnet"``); other kinds ignore it.
        undirected: Symmetrise ``edge_index`` with ``to_undirected`` (OGB
            arxiv, Actor and chameleon/squirrel ship directed edges; the
            filtered sets ship each edge once). False keeps the edges as shipped.
        normalize_features: Row-normalise ``x`` to sum 1 (PyG's
            ``NormalizeFeatures``). None: on for the Planetoid citation sets,
            as in Kipf & Welling and PyG's examples/gcn.py and gat.py (it
            moves Cora's GCN accuracy by about a point and its confidence by
            much more), and on every dataset with ``split="bernnet"``, whose
            protocol (BernNet's and PosteL's loaders) normalises them all (Texas
            GCN: 66.4 % without, 77.1 % with, the published 77.4 %); off
            elsewhere.
        download: Let PyG/OGB download missing raw files into ``root``. A
            download shows PyG's and OGB's own messages (the files, their
            progress); with the files present, their "Processing..." /
            "Done!" lines are kept off stdout and stderr.

    Returns:
        ``Data`` with ``x``, ``edge_index``, ``y`` (N,) int64, boolean (N,)
        ``train_mask``/``val_mask``/``test_mask``, ``num_classes`` (int),
        ``name`` (canonical), ``split`` (canonical kind), ``split_index``
        (``"fixed"``, ``"bernnet"``) and ``split_seed`` (``"random"``,
        ``"dense"``; ``"bernnet"``: its published seed), and
        ``y_raw`` for LINKX sets (``-1`` = unlabelled, in no mask, ``y`` 0).

    Raises:
        ValueError: Unknown dataset, split, or ``split_index`` out of range.
        DatasetNotFoundError: Raw files missing and not downloadable (one line
            naming the folder and the files).
    """
    from graphls._validation import check_positive_int

    info = dataset_info(name)
    kind = check_split(info, split)
    seed = check_positive_int("seed", seed, minimum=0)
    split_index = check_split_index(info, kind, split_index)

    from torch_geometric.utils import to_undirected

    data, num_classes, extra = _open(info, resolve_root(root), download)
    n = data.num_nodes
    y = data.y.view(-1).long()
    labelled = y >= 0
    if not bool(labelled.all()):
        data.y_raw = y.clone()
        y = y.clamp(min=0)
    data.y = y
    data.train_mask, data.val_mask, data.test_mask = select_split(
        data, info, kind, labelled, seed=seed, split_index=split_index, num_classes=num_classes,
        extra=extra)

    if undirected:
        data.edge_index = to_undirected(data.edge_index, num_nodes=n)
    if normalize_features is None:
        normalize_features = info.family == "planetoid" or kind == "bernnet"
    if normalize_features:
        from torch_geometric.transforms import NormalizeFeatures

        data = NormalizeFeatures()(data)
    data.normalize_features = bool(normalize_features)
    data.num_classes = num_classes
    data.name = info.name
    data.split = kind
    return data


def list_datasets(root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """One row per known dataset, with whether its files are present under ``root``.

    Returns:
        Dicts with ``name``, ``nodes``, ``edges`` (columns of the undirected
        ``edge_index``), ``features``, ``classes``,
        ``splits`` (default first), ``available`` (every expected file present,
        so loading needs no network), ``path`` (the folder holding ``raw/``)
        and ``loader`` (the PyG/OGB class).
    """
    base = resolve_root(root)
    rows = []
    for info in DATASETS.values():
        ds_dir = dataset_dir(base, info)
        rows.append({
            "name": info.name, "nodes": info.nodes, "edges": info.edges,
            "features": info.features, "classes": info.classes, "splits": list(info.splits),
            "available": not missing_files(ds_dir, info), "path": str(ds_dir),
            "loader": info.pyg_class,
        })
    return rows


def copy_datasets(source: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
                  ) -> dict[str, bool]:
    """Copy the files of every known dataset found complete under ``source`` into ``root``.

    For a folder of raw files such as ``../shared/datasets``: afterwards
    :func:`load_dataset` and :func:`list_datasets` find them under ``root``
    (default :func:`resolve_root`: ``$GRAPHLS_DATA``, else ``~/.cache/graphls``)
    without being told where, and PyG writes ``processed/`` beside them there.
    Only the files of ``DATASETS[name].files`` are copied; a file already under
    ``root`` is kept, so a second call copies nothing.

    Returns:
        ``{name: copied}`` for every dataset complete under ``source``, in
        :data:`DATASETS` order; ``copied`` is False where ``root`` had every file.

    Raises:
        ValueError: ``source`` is not a folder or holds no known dataset, or
            ``root`` cannot be written.
    """
    import shutil

    src_root = Path(source).expanduser()
    if not src_root.is_dir():
        raise ValueError(f"source must be a folder of datasets; got {str(source)!r}, "
                         "which is not a folder")
    dst_root = resolve_root(root)
    found = [info for info in DATASETS.values()
             if not missing_files(dataset_dir(src_root, info), info)]
    if not found:
        cora = DATASETS["Cora"]
        raise ValueError(f"source {str(source)!r} holds no known dataset's files; expected "
                         f"e.g. {src_root / cora.subdir / cora.files[0]}")
    if not is_writable(existing_ancestor(dst_root)):
        raise ValueError(f"cannot copy datasets into {dst_root}: "
                         f"{existing_ancestor(dst_root)} is not writable")
    copied: dict[str, bool] = {}
    for info in found:
        src_dir = dataset_dir(src_root, info)
        dst_dir = dst_root / src_dir.relative_to(src_root)
        todo = missing_files(dst_dir, info)
        for rel in todo:
            out = dst_dir / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            part = out.with_name(out.name + ".part")  # never a half-copied file under its name
            shutil.copyfile(src_dir / rel, part)
            part.chmod(0o644)
            os.replace(part, out)
        copied[info.name] = bool(todo)
    return copied
