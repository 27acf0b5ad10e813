"""The split protocols: which nodes train, validate and test.

``load_dataset(name, split=...)`` takes one of these kinds (``split=None``
picks the dataset's own, the first listed in ``DATASETS[name].splits``):

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
- ``"bernnet"``: the ten 60/20/20 random splits of BernNet (He et al., NeurIPS
  2021) and PosteL (Heo et al., AAAI 2026), exactly as their public code
  builds them; ``split_index`` in 0..9 picks one (seed ``BERNNET_SEEDS[k]``).
  With ``rs = numpy.random.RandomState(seed)``, N nodes and C classes,
  ``per_class = int(round(0.6 N / C))`` and ``n_val = int(round(0.2 N))``:
  for c = 0..C-1 in order, training takes ``rs.choice(nodes of class c,
  per_class, replace=False)``, or *all* nodes of class c if it has fewer
  than ``per_class``; then ``rs.choice(the other nodes, n_val,
  replace=False)`` validate and the rest test. Stratified training, not
  stratified validation and test. Offered for the Planetoid, WebKB, Actor,
  chameleon/squirrel (geom-gcn and filtered), Amazon and Coauthor sets: none
  of their sources forbids another split, and the geom-gcn sets' shipped
  splits are one protocol among those used on them (BernNet and PosteL use
  this one on chameleon, squirrel, Actor, Texas and Cornell).

  **Its effect:** a class smaller than ``per_class`` goes wholly into
  training, so it never reaches validation or test: the smallest classes
  leave the test set, and test accuracy is not comparable with that on
  splits that keep them (plain GCN on CiteSeer: 81.3 % here, 76.1 % on
  ``"dense"`` splits, where it never predicts class 0). Measured on the real
  files, over all ten splits (the same classes in each, but for Wisconsin's
  class 3):

  ================== ========= ================================ =============
  dataset            per_class classes in no test split (nodes)  their share
  ================== ========= ================================ =============
  Cora               232       1 (217), 6 (180)                 14.7 %
  CiteSeer           333       0 (264)                          7.9 %
  Cornell, Texas     22        1 (1), 2 (18)                    10.4 %
  Wisconsin          30        0 (10), 4 (21)                   12.4 %
  Actor              912       0 (853)                          11.2 %
  squirrel_filtered  267       4 (233)                          10.5 %
  Photo              574       0 (369), 7 (331)                 9.2 %
  Computers          825       0, 3, 5, 6, 7, 9 (2,882 in all)  21.0 %
  CS                 733       0, 1, 3, 6, 9, 12 (2,508)        13.7 %
  Physics            4139      3 (2,753), 4 (3,519)             18.2 %
  ================== ========= ================================ =============

  Wisconsin's class 3 (32 nodes) keeps 2 nodes past its quota, and splits
  0, 3 and 4 put both in validation, so those test sets lack it too.
  chameleon, squirrel and chameleon_filtered keep every class in every
  split; so does PubMed by its published class sizes (4,103 / 7,875 /
  7,739 against a quota of 3,943; its raw files are not in
  ``../shared/datasets``, so this is not measured). Where a class is short,
  training holds under 60 % of the nodes and test over 20 % (Cora: 1,557 /
  542 / 609 nodes).

  Datasets without ``"bernnet"``: OGB's (the official split is part of the
  benchmark, which requires it, and ogbn-arxiv's is by time); Minesweeper and Tolokers (the
  minority class, 20 % and 22 % of the nodes, is below its quota of 30 %,
  so validation and test would hold one class and their ROC AUC would be
  undefined); the LINKX graphs (nodes labelled ``-1``: the protocol is
  defined on fully labelled graphs, and any way of applying it to the
  labelled part would be ours, not BernNet's).

Every split but ``"bernnet"`` is drawn from a private ``torch.Generator``;
``"bernnet"`` uses its own ``numpy.random.RandomState``. The global RNGs are
untouched. Masks never hold an unlabelled node (LINKX's ``-1``).
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import TYPE_CHECKING, Any

from graphls.data.registry import SPLIT_ALIASES

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch_geometric.data import Data

    from graphls.data.registry import DatasetInfo

__all__ = [
    "BERNNET_SEEDS",
    "bernnet_split",
    "check_split",
    "check_split_index",
    "dense_split",
    "index_mask",
    "per_class_split",
    "select_split",
]

Masks = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]

#: The seeds of BernNet's ten random splits (its ``SEEDS``); split k uses ``BERNNET_SEEDS[k]``.
BERNNET_SEEDS = (1941488137, 4198936517, 983997847, 4023022221, 4019585660, 2108550661,
                 1648766618, 629014539, 3212139042, 2424918363)


def check_split(info: DatasetInfo, split: object) -> str:
    """The canonical split kind that ``split`` names for ``info`` (None: the default)."""
    if split is None:
        return info.splits[0]
    if not isinstance(split, str):
        raise TypeError(f"split must be a str; got {type(split).__name__} {split!r}")
    s = split.lower()
    for kind in info.splits:
        if s == kind or s in SPLIT_ALIASES.get(kind, ()):
            return kind
    known = ", ".join(repr(k) for k in info.splits)
    raise ValueError(f"split must be one of {known} for {info.name}; got {split!r}")


def check_split_index(info: DatasetInfo, kind: str, split_index: object) -> int:
    """``split_index`` as an int >= 0, in range for the split kinds that count splits,
    and 0 for the kinds that do not (any other value would be silently ignored).

    ``"bernnet"`` names its range for a negative index too; ``"fixed"`` and the
    other kinds say ``>= 0``.
    """
    from graphls._validation import check_positive_int

    count = {"fixed": info.num_fixed_splits, "bernnet": len(BERNNET_SEEDS)}.get(kind, 0)

    def out_of_range() -> ValueError:
        return ValueError(f"split_index must be in [0, {count - 1}] for {info.name} "
                          f"({count} {kind} splits); got {split_index}")

    if (kind == "bernnet" and isinstance(split_index, Integral)
            and not isinstance(split_index, bool) and split_index < 0):
        raise out_of_range()
    split_index = check_positive_int("split_index", split_index, minimum=0)
    if count and split_index >= count:
        raise out_of_range()
    if not count and split_index != 0:  # it would pick nothing: say so rather than ignore it
        raise ValueError(f"split_index has no effect with split={kind!r} on {info.name} (only "
                         f"'fixed' and 'bernnet' splits are numbered); got split_index="
                         f"{split_index}; use split='fixed' or 'bernnet', or seed for "
                         "random splits")
    return split_index


def index_mask(idx: torch.Tensor, n: int) -> torch.Tensor:
    """A boolean (n,) mask, True at ``idx``."""
    import torch

    m = torch.zeros(n, dtype=torch.bool)
    m[idx] = True
    return m


def per_class_split(y: torch.Tensor, labelled: torch.Tensor, seed: int, train_per_class: int,
                    val_per_class: int | None, num_val: int, num_test: int | None) -> Masks:
    """Seeded sparse split: ``train_per_class`` per class, then val/test.

    With ``val_per_class`` set, validation also takes that many per class and
    every other labelled node is a test node (Shchur et al.); otherwise the
    remaining labelled nodes are shuffled and cut into ``num_val`` validation
    and ``num_test`` test nodes (PyG's ``Planetoid(split="random")``).
    """
    import torch

    g = torch.Generator().manual_seed(seed)
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


def dense_split(labelled: torch.Tensor, seed: int, train: float = 0.6, val: float = 0.2
                ) -> Masks:
    """Seeded random 60/20/20 split of the labelled nodes (not stratified)."""
    import torch

    idx = labelled.nonzero().view(-1)
    idx = idx[torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(seed))]
    n_train = math.floor(train * idx.numel() + 0.5)
    n_val = math.floor(val * idx.numel() + 0.5)
    n = labelled.numel()
    return (index_mask(idx[:n_train], n), index_mask(idx[n_train:n_train + n_val], n),
            index_mask(idx[n_train + n_val:], n))


def bernnet_split(y: torch.Tensor, num_classes: int, seed: int, train: float = 0.6,
                  val: float = 0.2) -> Masks:
    """BernNet's random split: ``round(train·N/C)`` per class, ``round(val·N)`` validation.

    Classes smaller than their quota go wholly into training (see the module
    docstring). Built as BernNet's ``random_planetoid_splits``, with a
    ``numpy.random.RandomState(seed)``; the global RNGs are untouched.
    """
    import numpy as np
    import torch

    labels = y.cpu().numpy()
    n = labels.size
    rs = np.random.RandomState(seed)
    per_class = round(train * n / num_classes)  # Python's round (half to even), an int
    n_val = round(val * n)
    train_mask = np.zeros(n, dtype=bool)
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)  # ascending, as BernNet's list comprehension
        train_mask[idx if idx.size < per_class else rs.choice(idx, per_class, replace=False)] = True
    rest = np.flatnonzero(~train_mask)
    if rest.size < n_val:
        raise ValueError(f"the bernnet split needs {n_val} validation nodes (round({val}·{n})) "
                         f"but its training quotas leave {rest.size} of {n} nodes; the graph "
                         "is too small or too imbalanced for this protocol")
    val_mask = np.zeros(n, dtype=bool)
    val_mask[rs.choice(rest, n_val, replace=False)] = True
    test_mask = ~train_mask & ~val_mask
    return (torch.from_numpy(train_mask), torch.from_numpy(val_mask),
            torch.from_numpy(test_mask))


def select_split(data: Data, info: DatasetInfo, kind: str, labelled: torch.Tensor, *,
                 seed: int, split_index: int, num_classes: int, extra: dict[str, Any]) -> Masks:
    """The (train, val, test) masks of split ``kind`` for a loaded ``data``.

    Records the split on ``data``: ``split_index`` for ``"fixed"``,
    ``split_seed`` for ``"random"``/``"dense"``, both for ``"bernnet"`` (its
    published seed). ``extra`` holds what the loader returned beside the data
    (OGB's ``idx_split``).
    """
    n = data.num_nodes
    y = data.y
    if kind == "public":
        masks = (data.train_mask, data.val_mask, data.test_mask)
    elif kind == "official":
        idx = extra["idx_split"]
        masks = tuple(index_mask(idx[part], n) for part in ("train", "valid", "test"))
    elif kind == "fixed":
        masks = tuple(getattr(data, f"{s}_mask")[:, split_index].clone()
                      for s in ("train", "val", "test"))
        data.split_index = split_index
    elif kind == "random":
        if info.family == "planetoid":
            masks = per_class_split(y, labelled, seed, 20, None, 500, 1000)
        else:
            masks = per_class_split(y, labelled, seed, 20, 30, 0, None)
        data.split_seed = seed
    elif kind == "bernnet":
        masks = bernnet_split(y, num_classes, BERNNET_SEEDS[split_index])
        data.split_index = split_index
        data.split_seed = BERNNET_SEEDS[split_index]
    else:
        masks = dense_split(labelled, seed)
        data.split_seed = seed
    # masks must never hold an unlabelled node (LINKX's -1; shipped masks already agree)
    train, val, test = (m.bool() & labelled for m in masks)
    return train, val, test
