"""The dataset registry: what is known about each dataset, and name lookup.

:data:`DATASETS` maps each canonical name (PyG's spelling) to a
:class:`DatasetInfo`: its loader family and PyG class, the folder and files it
reads, its sizes and the split kinds it offers. :func:`dataset_info` finds an
entry by a case-insensitive name or alias (``"cora"``, ``"ogbn_arxiv"``,
``"film"``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALIASES",
    "DATASETS",
    "SPLIT_ALIASES",
    "DatasetInfo",
    "dataset_info",
]


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
                       classes, ("public", "random", "dense", "bernnet"))


def _geom_gcn(name: str, family: str, pyg_class: str, subdir: str, prefix: str, nodes: int,
              edges: int, features: int) -> DatasetInfo:
    files = ("raw/out1_node_feature_label.txt", "raw/out1_graph_edges.txt",
             *(f"raw/{prefix}_split_0.6_0.2_{i}.npz" for i in range(10)))
    return DatasetInfo(name, family, pyg_class, subdir, files, nodes, edges, features, 5,
                       ("fixed", "bernnet"), 10)


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


_SHCHUR = ("random", "dense", "bernnet")

#: The known datasets, by canonical name. Sizes are those of ``load_dataset``'s
#: output with ``undirected=True`` (measured on the real files; PubMed and OGB:
#: the published sizes).
#: ``"bernnet"`` is offered where BernNet's protocol applies: not for OGB (its
#: official split is required), Minesweeper and Tolokers (the minority class
#: would fall wholly into training) or LINKX (unlabelled nodes); see
#: :mod:`graphls.data.splits`.
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
             "chameleon_filtered.npz", 890, 17708, 2325, 5, ("fixed", "bernnet"), 10),
        _npz("squirrel_filtered", "filtered", "npz", "squirrel_filtered",
             "squirrel_filtered.npz", 2223, 93996, 2089, 5, ("fixed", "bernnet"), 10),
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

#: Other accepted dataset names, to the canonical one.
ALIASES: dict[str, str] = {"film": "Actor"}
#: Accepted aliases of split names, per split kind the dataset ships.
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {"official": ("public",), "fixed": ("public",)}


def _key(name: str) -> str:
    return name.lower().replace("-", "_")


_LOOKUP = {_key(n): n for n in DATASETS} | {_key(a): n for a, n in ALIASES.items()}


def dataset_info(name: object) -> DatasetInfo:
    """The registry entry of ``name`` (case-insensitive; ``-`` and ``_`` alike; aliases).

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: Unknown name (the message lists the known ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__} {name!r}")
    canonical = _LOOKUP.get(_key(name))
    if canonical is None:
        raise ValueError(f"dataset {name!r} is unknown; known: {', '.join(DATASETS)}")
    return DATASETS[canonical]
