"""Checks shared by the graphls.data tests."""

from __future__ import annotations

from pathlib import Path

import torch

from graphls.data import DATASETS


def sizes(data) -> tuple[int, int, int]:
    return int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())


def assert_disjoint_1d(data) -> None:
    masks = (data.train_mask, data.val_mask, data.test_mask)
    for m in masks:
        assert m.dtype == torch.bool
        assert m.shape == (data.num_nodes,)
    total = sum(m.long() for m in masks)
    assert int(total.max()) <= 1


def assert_matches_registry(data) -> None:
    info = DATASETS[data.name]
    assert (data.num_nodes, data.edge_index.size(1), data.x.size(1), data.num_classes) == (
        info.nodes, info.edges, info.features, info.classes)
    assert data.y.dtype == torch.int64
    assert data.y.dim() == 1
    assert data.is_undirected()


def chmod_tree(top: Path, dirs: int, files: int) -> None:
    for p in [top, *top.rglob("*")]:
        p.chmod(dirs if p.is_dir() else files)
