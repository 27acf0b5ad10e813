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

Every split is drawn from a private ``torch.Generator``; the global RNG is
untouched. Masks never hold an unlabelled node (LINKX's ``-1``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from graphls.data.registry import SPLIT_ALIASES

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch_geometric.data import Data

    from graphls.data.registry import DatasetInfo

__all__ = [
    "check_split",
    "check_split_index",
    "dense_split",
    "index_mask",
    "per_class_split",
    "select_split",
]

Masks = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]


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
    """``split_index`` as an int >= 0, and in range for the split kinds that count splits."""
    from graphls._validation import check_positive_int

    split_index = check_positive_int("split_index", split_index, minimum=0)
    if kind == "fixed" and split_index >= info.num_fixed_splits:
        raise ValueError(f"split_index must be in [0, {info.num_fixed_splits - 1}] for "
                         f"{info.name} ({info.num_fixed_splits} fixed splits); got {split_index}")
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


def select_split(data: Data, info: DatasetInfo, kind: str, labelled: torch.Tensor, *,
                 seed: int, split_index: int, extra: dict[str, Any]) -> Masks:
    """The (train, val, test) masks of split ``kind`` for a loaded ``data``.

    Records the split on ``data``: ``split_index`` for ``"fixed"``,
    ``split_seed`` for ``"random"``/``"dense"``. ``extra`` holds what the
    loader returned beside the data (OGB's ``idx_split``).
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
    else:
        masks = dense_split(labelled, seed)
        data.split_seed = seed
    # masks must never hold an unlabelled node (LINKX's -1; shipped masks already agree)
    train, val, test = (m.bool() & labelled for m in masks)
    return train, val, test
