"""OGB, offline: a tiny dataset in OGB's raw layout, read by OGB's own classes.

``PygNodePropPredDataset`` reads ``<root>/<dir>/raw/*.csv.gz`` and
``<root>/<dir>/split/<split>/{train,valid,test}.csv.gz``, and asks on stdin to
re-download when ``<root>/<dir>/RELEASE_v<version>.txt`` is missing; the
files below are written in that layout (gzip CSV, no header), so nothing is
downloaded.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graphls.data import DatasetNotFoundError, load_dataset, ogb_evaluate
from graphls.data.ogb import ogb_safe_globals

EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [2, 5]])  # once each
LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1])
TRAIN, VALID, TEST = [0, 1, 2, 3], [4, 5], [6, 7]


def _csv(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(array).to_csv(path, header=False, index=False, compression="gzip")


def write_tiny_ogb(folder: Path, split_name: str = "time", release: bool = True) -> np.ndarray:
    """Write a tiny ogbn-arxiv-like dataset (8 nodes, 3 classes) into ``folder``."""
    x = np.random.default_rng(0).random((len(LABELS), 4)).astype(np.float32)
    raw = folder / "raw"
    _csv(raw / "edge.csv.gz", EDGES)
    _csv(raw / "node-feat.csv.gz", x)
    _csv(raw / "node-label.csv.gz", LABELS.reshape(-1, 1))
    _csv(raw / "num-node-list.csv.gz", np.array([len(LABELS)]))
    _csv(raw / "num-edge-list.csv.gz", np.array([len(EDGES)]))
    _csv(raw / "node_year.csv.gz", 2000 + np.arange(len(LABELS)).reshape(-1, 1))
    for part, idx in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        _csv(folder / "split" / split_name / f"{part}.csv.gz", np.array(idx))
    if release:
        (folder / "RELEASE_v1.txt").write_text("tiny\n")
    return x


def _mask(idx: list[int], n: int = len(LABELS)) -> torch.Tensor:
    m = torch.zeros(n, dtype=torch.bool)
    m[idx] = True
    return m


@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
def test_ogb_reads_the_tiny_layout_with_meta_dict(tmp_path):
    from ogb.nodeproppred import PygNodePropPredDataset

    folder = tmp_path / "ogbn_tiny"
    x = write_tiny_ogb(folder, split_name="random")
    meta = {
        "dir_path": str(folder), "num tasks": 1, "num classes": 3, "eval metric": "acc",
        "task type": "multiclass classification", "download_name": "tiny", "version": 1,
        "url": "http://localhost/unused.zip", "add_inverse_edge": "False",
        "has_node_attr": "True", "has_edge_attr": "False", "split": "random",
        "additional node files": "node_year", "additional edge files": "None",
        "is hetero": "False", "binary": "False",
    }
    with ogb_safe_globals():  # torch >= 2.6 loads with weights_only=True
        ds = PygNodePropPredDataset("ogbn-tiny", meta_dict=meta)
    data = ds[0]
    assert ds.num_classes == 3
    assert data.y.shape == (8, 1)  # OGB's own layout: labels (N, 1)
    assert torch.equal(data.edge_index, torch.from_numpy(EDGES).t())  # as written, directed
    torch.testing.assert_close(data.x, torch.from_numpy(x))
    split = ds.get_idx_split()
    assert split["test"].tolist() == TEST and split["valid"].tolist() == VALID

    pred = torch.tensor([0, 1, 2, 0, 1, 1, 0, 2])  # wrong on nodes 5 and 7
    assert ogb_evaluate("ogbn-tiny", data.y, pred, meta_dict=meta) == pytest.approx(6 / 8)


def test_load_dataset_goes_through_ogb(tmp_path, capsys):
    x = write_tiny_ogb(tmp_path / "ogbn_arxiv")
    data = load_dataset("ogbn-arxiv", root=tmp_path)
    assert capsys.readouterr().out == ""  # OGB's chatter goes to stderr, stdout stays clean
    assert data.name == "ogbn-arxiv" and data.split == "official"
    assert data.num_classes == 40  # from OGB's master.csv, not from the labels
    assert data.y.dtype == torch.int64 and data.y.tolist() == LABELS.tolist()  # flattened
    torch.testing.assert_close(data.x, torch.from_numpy(x))
    # made undirected: every written edge in both directions, nothing else
    expected = {tuple(e) for e in EDGES.tolist()} | {tuple(e[::-1]) for e in EDGES.tolist()}
    assert {tuple(e) for e in data.edge_index.t().tolist()} == expected
    assert data.edge_index.size(1) == 2 * len(EDGES) and data.is_undirected()
    assert torch.equal(data.train_mask, _mask(TRAIN))
    assert torch.equal(data.val_mask, _mask(VALID))
    assert torch.equal(data.test_mask, _mask(TEST))
    public = load_dataset("ogbn_arxiv", root=tmp_path, split="public")  # alias of official
    assert torch.equal(public.test_mask, data.test_mask)

    logits = torch.zeros(8, 40)
    logits[torch.arange(8), torch.tensor([0, 1, 2, 0, 1, 0, 0, 0])] = 1.0
    # test nodes 6 and 7: predicted 0 and 0, true 0 and 1 -> 1/2
    assert ogb_evaluate("ogbn-arxiv", data.y, logits, data.test_mask) == pytest.approx(0.5)
    # all nodes: wrong on 5 (0 vs 2) and 7 (0 vs 1) -> 6/8
    assert ogb_evaluate("ogbn-arxiv", data.y.view(-1, 1), logits.argmax(1)) == pytest.approx(0.75)


def test_ogb_folder_without_release_file_is_an_error_not_a_prompt(tmp_path):
    write_tiny_ogb(tmp_path / "ogbn_arxiv", release=False)
    with pytest.raises(DatasetNotFoundError, match=r"dataset 'ogbn-arxiv' not found: the folder "
                                                   r"is incomplete; put RELEASE_v1\.txt under"):
        load_dataset("ogbn-arxiv", root=tmp_path)


def test_ogb_failed_download_leaves_no_folder(monkeypatch, tmp_path):
    import ogb.nodeproppred.dataset_pyg as dataset_pyg

    def offline(url):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(dataset_pyg, "decide_download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"download failed \(URLError: <urlopen error "
                                                   r"offline>\); put edge\.csv\.gz, "
                                                   r"node-feat\.csv\.gz, .*node_year\.csv\.gz in"):
        load_dataset("ogbn-arxiv", root=tmp_path)
    # a leftover ogbn_arxiv/ without RELEASE_v1.txt would make OGB prompt on stdin next time
    assert list(tmp_path.iterdir()) == []


def test_ogb_evaluate_mask_must_be_boolean():
    y = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"mask must be a 1-D boolean tensor of length 3; "
                                         r"got dtype torch.int64, shape \(3,\)"):
        ogb_evaluate("ogbn-arxiv", y, y, torch.tensor([1, 0, 1]))


def test_ogb_evaluate_lengths_must_match():
    with pytest.raises(ValueError, match=r"y_true and y_pred must have the same number of rows"):
        ogb_evaluate("ogbn-arxiv", torch.tensor([0, 1, 2]), torch.tensor([0, 1]))
