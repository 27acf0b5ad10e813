"""Datasets: ``load_dataset(name, root, split)``, label noise and the dataset registry.

Every dataset is read by its own PyG class (``Planetoid``, ``WebKB``, ``Actor``,
``WikipediaNetwork``, ``HeterophilousGraphDataset``, ``LINKXDataset``,
``Amazon``, ``Coauthor``) or by OGB's ``PygNodePropPredDataset``; the only
exception is the filtered chameleon/squirrel of Platonov et al., which have no
PyG class and are read straight from their ``.npz`` (nothing is written).
``load_dataset`` returns one PyG ``Data`` with 1-D boolean ``train_mask``,
``val_mask`` and ``test_mask``, 1-D int64 ``y`` and the attributes
``num_classes``, ``name`` and ``split`` (plus ``split_index`` for shipped
fixed splits and ``split_seed`` for seeded random ones).

Splits (``split=None`` picks the dataset's own, the first listed in
``DATASETS[name].splits``):

- ``"public"``: Planetoid's public split (Cora 140/500/1000).
- ``"official"``: OGB's split from ``get_idx_split()`` (``"public"`` is an alias).
- ``"fixed"``: the 10 splits shipped with the data (geom-gcn 60/20/20 for
  WebKB/Actor/chameleon/squirrel, Platonov et al.'s for the heterophilous and
  filtered sets); ``split_index`` in 0..9 picks one (``"public"`` is an alias).
- ``"random"``: per-class sparse splits, seeded by ``seed``. Planetoid: 20
  labelled nodes per class for training, then 500 validation and 1000 test
  nodes drawn from the rest (as PyG's ``Planetoid(split="random")``). Amazon
  and Coauthor: Shchur et al.'s 20 per class for training, 30 per class for
  validation, all other nodes for testing.
- ``"dense"``: a seeded random permutation of the labelled nodes cut 60/20/20
  (``n_train = round(0.6 n)``, ``n_val = round(0.2 n)``, the rest test). Not
  stratified by class.

LINKX's Facebook100 graphs (Amherst41, JohnsHopkins55) label some nodes
``-1`` (gender unknown). Those nodes are in no mask; their ``y`` is set to 0 so
that losses accept the tensor, and the original labels are kept in
``data.y_raw``.

Where the files live: ``root`` (the argument), else ``$GRAPHLS_DATA``, else
``~/.cache/graphls``, in the folder layout of the PyG class (``DATASETS[name]
.files`` lists every file expected under ``root/<subdir>``). Present files are
never downloaded again. Missing files are downloaded by PyG/OGB when the
folder is writable; if that fails, a single :class:`DatasetNotFoundError` says
which files to put where. A read-only root is never written to: its dataset
folder is copied once to ``~/.cache/graphls/copies/`` and loaded from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch_geometric.data import Data

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "add_label_noise",
    "list_datasets",
    "load_dataset",
    "ogb_evaluate",
    "resolve_root",
]


class DatasetNotFoundError(FileNotFoundError):
    """The raw files of a dataset are missing and could not be downloaded.

    The message is one line naming the folder and the files expected in it.
    """


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one dataset.

    Attributes:
        name: Canonical name (PyG's spelling), e.g. ``"CiteSeer"``.
        family: Loader family: ``planetoid``, ``ogb``, ``webkb``, ``actor``,
            ``wikipedia``, ``heterophilous``, ``filtered``, ``linkx``,
            ``amazon`` or ``coauthor``.
        pyg_class: The class that reads it (``"npz"`` for the filtered sets).
        subdir: Folder under the root that holds ``raw/`` (and ``processed/``).
        files: Files expected under ``root/subdir``, relative to it.
        nodes, edges, features, classes: Sizes; ``edges`` counts the columns
            of ``edge_index`` as ``load_dataset`` returns it (undirected).
        splits: Split kinds, the default first.
        num_fixed_splits: Number of shipped fixed splits (0 if none).
    """

    name: str
    family: str
    pyg_class: str
    subdir: str
    files: tuple[str, ...]
    nodes: int
    edges: int
    features: int
    classes: int
    splits: tuple[str, ...]
    num_fixed_splits: int = 0

    @property
    def raw_files(self) -> tuple[str, ...]:
        """Names of the files in ``raw/`` (what a user must provide)."""
        return tuple(f.split("/", 1)[1] for f in self.files if f.startswith("raw/"))


def _planetoid(name: str, nodes: int, edges: int, features: int, classes: int) -> DatasetInfo:
    parts = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
    files = tuple(f"raw/ind.{name.lower()}.{p}" for p in parts)
    return DatasetInfo(name, "planetoid", "Planetoid", name, files, nodes, edges, features,
                       classes, ("public", "random", "dense"))


def _geom_gcn(name: str, family: str, pyg_class: str, subdir: str, prefix: str, nodes: int,
              edges: int, features: int) -> DatasetInfo:
    files = ("raw/out1_node_feature_label.txt", "raw/out1_graph_edges.txt",
             *(f"raw/{prefix}_split_0.6_0.2_{i}.npz" for i in range(10)))
    return DatasetInfo(name, family, pyg_class, subdir, files, nodes, edges, features, 5,
                       ("fixed",), 10)


def _ogb(name: str, split_dir: str, extra: tuple[str, ...], nodes: int, edges: int,
         features: int, classes: int) -> DatasetInfo:
    raw = ("edge", "node-feat", "node-label", "num-node-list", "num-edge-list", *extra)
    files = (*(f"raw/{r}.csv.gz" for r in raw),
             *(f"split/{split_dir}/{s}.csv.gz" for s in ("train", "valid", "test")),
             "RELEASE_v1.txt")
    return DatasetInfo(name, "ogb", "PygNodePropPredDataset", name.replace("-", "_"), files,
                       nodes, edges, features, classes, ("official",))


def _npz(name: str, family: str, pyg_class: str, subdir: str, raw: str, nodes: int, edges: int,
         features: int, classes: int, splits: tuple[str, ...], fixed: int = 0) -> DatasetInfo:
    return DatasetInfo(name, family, pyg_class, subdir, (f"raw/{raw}",), nodes, edges, features,
                       classes, splits, fixed)


_SHCHUR = ("random", "dense")

#: The known datasets, by canonical name. Sizes are those of ``load_dataset``'s
#: output with ``undirected=True`` (measured on the real files; PubMed and OGB:
#: the published sizes).
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _planetoid("Cora", 2708, 10556, 1433, 7),
        _planetoid("CiteSeer", 3327, 9104, 3703, 6),
        _planetoid("PubMed", 19717, 88648, 500, 3),
        _ogb("ogbn-arxiv", "time", ("node_year",), 169343, 2315598, 128, 40),
        _ogb("ogbn-products", "sales_ranking", (), 2449029, 123718280, 100, 47),
        _geom_gcn("Cornell", "webkb", "WebKB", "cornell", "cornell", 183, 557, 1703),
        _geom_gcn("Texas", "webkb", "WebKB", "texas", "texas", 183, 574, 1703),
        _geom_gcn("Wisconsin", "webkb", "WebKB", "wisconsin", "wisconsin", 251, 916, 1703),
        _geom_gcn("Actor", "actor", "Actor", "Actor", "film", 7600, 53411, 932),
        _geom_gcn("chameleon", "wikipedia", "WikipediaNetwork", "chameleon/geom_gcn",
                  "chameleon", 2277, 62792, 2325),
        _geom_gcn("squirrel", "wikipedia", "WikipediaNetwork", "squirrel/geom_gcn",
                  "squirrel", 5201, 396846, 2089),
        _npz("chameleon_filtered", "filtered", "npz", "chameleon_filtered",
             "chameleon_filtered.npz", 890, 17708, 2325, 5, ("fixed",), 10),
        _npz("squirrel_filtered", "filtered", "npz", "squirrel_filtered",
             "squirrel_filtered.npz", 2223, 93996, 2089, 5, ("fixed",), 10),
        _npz("Minesweeper", "heterophilous", "HeterophilousGraphDataset", "minesweeper",
             "minesweeper.npz", 10000, 78804, 7, 2, ("fixed",), 10),
        _npz("Tolokers", "heterophilous", "HeterophilousGraphDataset", "tolokers",
             "tolokers.npz", 11758, 1038000, 10, 2, ("fixed",), 10),
        _npz("Amherst41", "linkx", "LINKXDataset", "amherst41", "data.mat", 2235, 181908,
             1193, 2, ("dense",)),
        _npz("JohnsHopkins55", "linkx", "LINKXDataset", "johnshopkins55", "data.mat", 5180,
             373172, 2406, 2, ("dense",)),
        _npz("Photo", "amazon", "Amazon", "Photo", "amazon_electronics_photo.npz", 7650,
             238162, 745, 8, _SHCHUR),
        _npz("Computers", "amazon", "Amazon", "Computers", "amazon_electronics_computers.npz",
             13752, 491722, 767, 10, _SHCHUR),
        _npz("CS", "coauthor", "Coauthor", "CS", "ms_academic_cs.npz", 18333, 163788, 6805,
             15, _SHCHUR),
        _npz("Physics", "coauthor", "Coauthor", "Physics", "ms_academic_phy.npz", 34493,
             495924, 8415, 5, _SHCHUR),
    )
}

_ALIASES = {"film": "Actor"}
#: Accepted aliases of split names, per split kind the dataset ships.
_SPLIT_ALIASES = {"official": ("public",), "fixed": ("public",)}
_FILTERED_URL = "https://github.com/yandex-research/heterophilous-graphs/raw/main/data"
_WARNED: set[str] = set()


def _key(name: str) -> str:
    return name.lower().replace("-", "_")


_LOOKUP = {_key(n): n for n in DATASETS} | {_key(a): n for a, n in _ALIASES.items()}


def _info(name: object) -> DatasetInfo:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__} {name!r}")
    canonical = _LOOKUP.get(_key(name))
    if canonical is None:
        raise ValueError(f"dataset {name!r} is unknown; known: {', '.join(DATASETS)}")
    return DATASETS[canonical]


# ---------------------------------------------------------------------------
# where the files are
# ---------------------------------------------------------------------------

def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The datasets folder: ``root``, else ``$GRAPHLS_DATA``, else ``~/.cache/graphls``.

    Nothing is created; ``~`` is expanded.
    """
    if root is None or str(root) == "":
        env = os.environ.get("GRAPHLS_DATA")
        root = env if env else Path.home() / ".cache" / "graphls"
    return Path(root).expanduser()


def _is_writable(path: Path) -> bool:
    """Whether ``path`` (an existing folder) may be written to.

    ``os.access`` alone says yes to root on a ``chmod a-w`` folder; a folder
    with no write bit at all is taken as marked read-only, for root too.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(mode & 0o222)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _dataset_dir(root: Path, info: DatasetInfo) -> Path:
    if info.family == "ogb":  # OGB prefers a previously downloaded <dir>_pyg folder
        pyg = root / f"{info.subdir}_pyg"
        if pyg.is_dir():
            return pyg
    return root / info.subdir


def _missing(ds_dir: Path, info: DatasetInfo) -> list[str]:
    return [f for f in info.files if not (ds_dir / f).is_file()]


def _copies_dir() -> Path:
    home = Path.home() / ".cache" / "graphls" / "copies"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if _is_writable(home):
            return home
    except OSError:
        pass
    uid = os.getuid() if hasattr(os, "getuid") else 0
    tmp = Path(tempfile.gettempdir()) / f"graphls-copies-{uid}"
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def _writable_copy(root: Path, info: DatasetInfo) -> Path:
    """Copy ``root/<subdir>`` to a writable cache (once) and return the copy's root."""
    src = _dataset_dir(root, info)
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


def _prune_empty_dirs(top: Path, stop: Path) -> None:
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


def _not_found(info: DatasetInfo, ds_dir: Path, missing: list[str],
               reason: str) -> DatasetNotFoundError:
    raw = [m.split("/", 1)[1] for m in missing if m.startswith("raw/")]
    other = [m for m in missing if not m.startswith("raw/")]
    where = f"put {', '.join(raw)} in {ds_dir / 'raw'}" if raw else ""
    if other:
        where += ("; " if where else "put ") + f"{', '.join(other)} under {ds_dir}"
    msg = (f"dataset {info.name!r} not found: {reason}; {where} "
           f"(root is the argument, else $GRAPHLS_DATA, else ~/.cache/graphls)")
    return DatasetNotFoundError(" ".join(msg.split()))


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------

def _ogb_safe_globals() -> Any:
    """Allow OGB's ``torch.load`` of a PyG ``Data`` under torch >= 2.6 (``weights_only``)."""
    import torch

    safe = getattr(torch.serialization, "safe_globals", None)
    if safe is None:  # pragma: no cover - torch < 2.5 loads with weights_only=False
        return contextlib.nullcontext()
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    return safe([DataEdgeAttr, DataTensorAttr, GlobalStorage])


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
        from ogb.nodeproppred import PygNodePropPredDataset

        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr), \
                _ogb_safe_globals():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            ds = PygNodePropPredDataset(info.name, root=r)
            split = ds.get_idx_split()
        return ds, {"idx_split": split}
    raise AssertionError(info.family)  # pragma: no cover - registry and loaders agree


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
    ds_dir = _dataset_dir(root, info)
    missing = _missing(ds_dir, info)
    if not missing:
        processed = ds_dir / "processed"
        read_only = not _is_writable(ds_dir) or (processed.is_dir() and not _is_writable(processed))
        if read_only and info.family != "filtered":  # the npz reader writes nothing
            root = _writable_copy(root, info)
    else:
        base = _existing_ancestor(ds_dir)
        if not download:
            raise _not_found(info, ds_dir, missing, "files missing and download=False")
        if not _is_writable(base):
            raise _not_found(info, ds_dir, missing,
                             f"files missing and {base} is not writable")
        if info.family == "ogb" and ds_dir.is_dir():
            # OGB asks on stdin to re-download a folder without its RELEASE file:
            # allow it only for a folder with no files in it at all (left by a failed try).
            if any(p.is_file() for p in ds_dir.rglob("*")):
                raise _not_found(info, ds_dir, missing, "the folder is incomplete")
            _prune_empty_dirs(ds_dir, root)
    try:
        if info.family == "filtered":
            data = _read_filtered(info, root)
            return data, int(data.y.max()) + 1, {}
        ds, extra = _open_pyg(info, root)
    except (Exception, SystemExit) as exc:  # OGB exits when a download is declined
        still = _missing(_dataset_dir(root, info), info)
        if not missing or not still:
            raise
        _prune_empty_dirs(ds_dir, root)
        reason = f"download failed ({type(exc).__name__}: {exc})"
        raise _not_found(info, ds_dir, still, " ".join(reason.split())) from exc
    return ds[0], int(ds.num_classes), extra


def _check_split(info: DatasetInfo, split: object) -> str:
    if split is None:
        return info.splits[0]
    if not isinstance(split, str):
        raise TypeError(f"split must be a str; got {type(split).__name__} {split!r}")
    s = split.lower()
    for kind in info.splits:
        if s == kind or s in _SPLIT_ALIASES.get(kind, ()):
            return kind
    known = ", ".join(repr(k) for k in info.splits)
    raise ValueError(f"split must be one of {known} for {info.name}; got {split!r}")


def _generator(seed: int) -> torch.Generator:
    import torch

    return torch.Generator().manual_seed(seed)


def _per_class_split(y: torch.Tensor, labelled: torch.Tensor, seed: int, train_per_class: int,
                     val_per_class: int | None, num_val: int, num_test: int | None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded sparse split: ``train_per_class`` per class, then val/test.

    With ``val_per_class`` set, validation also takes that many per class and
    every other labelled node is a test node (Shchur et al.); otherwise the
    remaining labelled nodes are shuffled and cut into ``num_val`` validation
    and ``num_test`` test nodes (PyG's ``Planetoid(split="random")``).
    """
    import torch

    g = _generator(seed)
    n = y.numel()
    train = torch.zeros(n, dtype=torch.bool)
    val = torch.zeros(n, dtype=torch.bool)
    test = torch.zeros(n, dtype=torch.bool)
    classes = torch.unique(y[labelled]).tolist()
    for c in classes:
        idx = ((y == c) & labelled).nonzero().view(-1)
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        train[idx[:train_per_class]] = True
        if val_per_class is not None:
            val[idx[train_per_class:train_per_class + val_per_class]] = True
    if val_per_class is not None:
        test = labelled & ~train & ~val
        return train, val, test
    rest = (labelled & ~train).nonzero().view(-1)
    rest = rest[torch.randperm(rest.numel(), generator=g)]
    val[rest[:num_val]] = True
    test[rest[num_val:num_val + (num_test if num_test is not None else rest.numel())]] = True
    return train, val, test


def _dense_split(labelled: torch.Tensor, seed: int, train: float = 0.6, val: float = 0.2
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded random 60/20/20 split of the labelled nodes (not stratified)."""
    import torch

    idx = labelled.nonzero().view(-1)
    idx = idx[torch.randperm(idx.numel(), generator=_generator(seed))]
    n_train = math.floor(train * idx.numel() + 0.5)
    n_val = math.floor(val * idx.numel() + 0.5)
    masks = []
    for part in (idx[:n_train], idx[n_train:n_train + n_val], idx[n_train + n_val:]):
        m = torch.zeros_like(labelled)
        m[part] = True
        masks.append(m)
    return masks[0], masks[1], masks[2]


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, split: str | None = None,
                 *, seed: int = 0, split_index: int = 0, undirected: bool = True,
                 normalize_features: bool | None = None, download: bool = True) -> Data:
    """Load a node-classification dataset as one PyG ``Data`` with a single split.

    Args:
        name: A name in :data:`DATASETS`, case-insensitive (``"cora"``,
            ``"ogbn_arxiv"`` and ``"ogbn-arxiv"`` all work).
        root: Datasets folder; None means ``$GRAPHLS_DATA``, else
            ``~/.cache/graphls`` (see :func:`resolve_root`).
        split: ``"public"``, ``"official"``, ``"fixed"``, ``"random"`` or
            ``"dense"`` as the dataset allows (``DATASETS[name].splits``);
            None is the dataset's own (the first listed). ``"public"`` is
            accepted for ``"official"`` (OGB) and ``"fixed"``.
        seed: Seed of the ``"random"``/``"dense"`` splits (a ``torch.Generator``;
            the global RNG is untouched).
        split_index: Which shipped fixed split, 0..9 (``"fixed"`` only).
        undirected: Symmetrise ``edge_index`` with ``to_undirected`` (OGB
            arxiv, Actor and chameleon/squirrel ship directed edges; the
            filtered sets ship each edge once). False keeps the edges as shipped.
        normalize_features: Row-normalise ``x`` to sum 1 (PyG's
            ``NormalizeFeatures``). None: on for the Planetoid citation sets,
            as in Kipf & Welling and PyG's examples/gcn.py and gat.py (it
            moves Cora's GCN accuracy by about a point and its confidence by
            much more), off elsewhere.
        download: Let PyG/OGB download missing raw files into ``root``.

    Returns:
        ``Data`` with ``x``, ``edge_index``, ``y`` (N,) int64, boolean (N,)
        ``train_mask``/``val_mask``/``test_mask``, ``num_classes`` (int),
        ``name`` (canonical), ``split`` (canonical kind), ``split_index``
        (``"fixed"``) or ``split_seed`` (``"random"``/``"dense"``), and
        ``y_raw`` for LINKX sets (``-1`` = unlabelled, in no mask, ``y`` 0).

    Raises:
        ValueError: Unknown dataset, split, or ``split_index`` out of range.
        DatasetNotFoundError: Raw files missing and not downloadable (one line
            naming the folder and the files).
    """
    from graphls._validation import check_positive_int

    info = _info(name)
    kind = _check_split(info, split)
    seed = check_positive_int("seed", seed, minimum=0)
    split_index = check_positive_int("split_index", split_index, minimum=0)
    if kind == "fixed" and split_index >= info.num_fixed_splits:
        raise ValueError(f"split_index must be in [0, {info.num_fixed_splits - 1}] for "
                         f"{info.name} ({info.num_fixed_splits} fixed splits); got {split_index}")

    import torch
    from torch_geometric.utils import to_undirected

    data, num_classes, extra = _open(info, resolve_root(root), download)
    n = data.num_nodes
    y = data.y.view(-1).long()
    labelled = y >= 0
    if not bool(labelled.all()):
        data.y_raw = y.clone()
        y = y.clamp(min=0)
    data.y = y

    if kind == "public":
        masks = (data.train_mask, data.val_mask, data.test_mask)
    elif kind == "official":
        idx = extra["idx_split"]
        masks = []
        for part in ("train", "valid", "test"):
            m = torch.zeros(n, dtype=torch.bool)
            m[idx[part]] = True
            masks.append(m)
    elif kind == "fixed":
        masks = tuple(getattr(data, f"{s}_mask")[:, split_index].clone()
                      for s in ("train", "val", "test"))
        data.split_index = split_index
    elif kind == "random":
        if info.family == "planetoid":
            masks = _per_class_split(y, labelled, seed, 20, None, 500, 1000)
        else:
            masks = _per_class_split(y, labelled, seed, 20, 30, 0, None)
        data.split_seed = seed
    else:
        masks = _dense_split(labelled, seed)
        data.split_seed = seed
    # masks must never hold an unlabelled node (LINKX's -1; shipped masks already agree)
    data.train_mask, data.val_mask, data.test_mask = (m.bool() & labelled for m in masks)

    if undirected:
        data.edge_index = to_undirected(data.edge_index, num_nodes=n)
    if normalize_features is None:
        normalize_features = info.family == "planetoid"
    if normalize_features:
        from torch_geometric.transforms import NormalizeFeatures

        data = NormalizeFeatures()(data)
    data.normalize_features = bool(normalize_features)
    data.num_classes = num_classes
    data.name = info.name
    data.split = kind
    return data


# ---------------------------------------------------------------------------
# registry listing and OGB evaluation
# ---------------------------------------------------------------------------

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
        ds_dir = _dataset_dir(base, info)
        rows.append({
            "name": info.name, "nodes": info.nodes, "edges": info.edges,
            "features": info.features, "classes": info.classes, "splits": list(info.splits),
            "available": not _missing(ds_dir, info), "path": str(ds_dir),
            "loader": info.pyg_class,
        })
    return rows


def ogb_evaluate(name: str, y_true: torch.Tensor, y_pred: torch.Tensor,
                 mask: torch.Tensor | None = None, *,
                 meta_dict: dict[str, Any] | None = None) -> float:
    """OGB's official metric (accuracy for ogbn-arxiv/products) via ``ogb``'s ``Evaluator``.

    .. math::
        \\mathrm{acc} = \\frac{1}{|M|} \\sum_{i \\in M} [\\hat y_i = y_i]

    Args:
        name: An OGB node-property dataset (``"ogbn-arxiv"``, ...).
        y_true: Labels, (N,) or OGB's (N, 1).
        y_pred: Predicted classes (N,)/(N, 1), or scores (N, K) (argmax taken).
        mask: Optional boolean (N,) mask of the nodes to score (e.g. ``test_mask``).
        meta_dict: OGB metadata (``"num tasks"``, ``"eval metric"``) for a
            dataset not in OGB's ``master.csv``, as ``PygNodePropPredDataset``
            accepts; the Evaluator then skips its name lookup.

    Returns:
        The metric as a float.
    """
    import torch
    from ogb.nodeproppred import Evaluator

    from graphls._validation import check_same_length, check_tensor

    check_tensor("y_true", y_true)
    check_tensor("y_pred", y_pred)
    if y_pred.dim() == 2 and y_pred.size(1) > 1:
        y_pred = y_pred.argmax(dim=-1)
    y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    check_same_length("y_true", y_true, "y_pred", y_pred)
    if mask is not None:
        check_tensor("mask", mask)
        if mask.dtype != torch.bool or mask.dim() != 1 or mask.numel() != y_true.size(0):
            raise ValueError(f"mask must be a 1-D boolean tensor of length {y_true.size(0)}; "
                             f"got dtype {mask.dtype}, shape {tuple(mask.shape)}")
        y_true, y_pred = y_true[mask], y_pred[mask]
    if meta_dict is None:
        evaluator = Evaluator(name)
    else:
        evaluator = Evaluator.__new__(Evaluator)
        evaluator.name = name
        evaluator.num_tasks = int(meta_dict["num tasks"])
        evaluator.eval_metric = meta_dict["eval metric"]
    result = evaluator.eval({"y_true": y_true.long().cpu(), "y_pred": y_pred.long().cpu()})
    return float(result[evaluator.eval_metric])


# ---------------------------------------------------------------------------
# label noise
# ---------------------------------------------------------------------------

def add_label_noise(y: torch.Tensor, mask: torch.Tensor, rate: float, kind: str = "symmetric",
                    seed: int = 0, num_classes: int | None = None) -> torch.Tensor:
    """Flip a fraction of the labels inside ``mask``; return a new label tensor.

    Exactly ``m = floor(rate·|mask| + 1/2)`` nodes of ``mask`` (drawn uniformly,
    seeded) get a wrong label; nodes outside ``mask`` never change.

    - ``symmetric``: ``y'_i`` uniform over the K - 1 other classes,
      ``y'_i = (y_i + r) mod K`` with ``r ~ U{1, ..., K-1}``.
    - ``pair``: ``y'_i = (y_i + 1) mod K`` (each class into the next).

    Args:
        y: Labels (N,) int64 in [0, K).
        mask: Boolean (N,), the nodes that may be flipped (the training set).
        rate: Fraction flipped, in [0, 1).
        kind: ``"symmetric"`` or ``"pair"``.
        seed: Seed of a private ``torch.Generator`` (the global RNG is untouched).
        num_classes: K; default ``y.max() + 1``.

    Returns:
        A new (N,) tensor (``y`` itself is not modified).
    """
    import torch

    from graphls._validation import (
        check_choice,
        check_fraction,
        check_labels,
        check_positive_int,
        check_same_length,
        check_tensor,
    )

    rate = check_fraction("rate", rate, high_open=True)
    kind = check_choice("kind", kind, ("symmetric", "pair"))
    seed = check_positive_int("seed", seed, minimum=0)
    check_tensor("mask", mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor; got dtype {mask.dtype}")
    if num_classes is not None:
        num_classes = check_positive_int("num_classes", num_classes)
    y = check_labels("y", y, num_classes)
    if mask.dim() != 1:
        raise ValueError(f"mask must be 1-D (one split); got shape {tuple(mask.shape)}")
    check_same_length("y", y, "mask", mask)
    k = num_classes if num_classes is not None else (int(y.max()) + 1 if y.numel() else 0)
    out = y.clone()
    idx = mask.nonzero().view(-1).cpu()
    m = math.floor(rate * idx.numel() + 0.5)
    if m == 0:
        return out
    if k < 2:
        raise ValueError(f"num_classes must be >= 2 to flip labels; got {k}")
    g = _generator(seed)
    flip = idx[torch.randperm(idx.numel(), generator=g)[:m]].to(y.device)
    if kind == "pair":
        shift = torch.ones(m, dtype=y.dtype)
    else:
        shift = torch.randint(1, k, (m,), generator=g, dtype=y.dtype)
    out[flip] = (y[flip] + shift.to(y.device)) % k
    return out
