"""graphls.data.loading: each dataset through its own class, features, listing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_checks import assert_disjoint_1d, assert_matches_registry

from graphls.data import DATASETS, list_datasets, load_dataset


def test_list_datasets_marks_availability(datasets_root):
    rows = {r["name"]: r for r in list_datasets(datasets_root)}
    assert list(rows) == list(DATASETS)
    assert rows["Cora"]["available"] is True
    assert rows["PubMed"]["available"] is False
    assert rows["ogbn-arxiv"]["available"] is False
    assert rows["Cora"]["splits"] == ["public", "random", "dense", "bernnet"]
    assert rows["Cora"]["path"] == str(datasets_root / "Cora")
    assert {"name", "nodes", "edges", "features", "classes", "splits", "available"} <= set(
        rows["Cora"])


def test_filtered_edges_made_undirected(datasets_root):
    z = np.load(datasets_root / "chameleon_filtered" / "raw" / "chameleon_filtered.npz")
    directed = load_dataset("chameleon_filtered", root=datasets_root, undirected=False)
    undirected = load_dataset("chameleon_filtered", root=datasets_root)
    assert torch.equal(directed.edge_index, torch.from_numpy(z["edges"]).t())
    assert undirected.edge_index.size(1) == 2 * z["edges"].shape[0]  # each edge once, no loops
    assert undirected.is_undirected() and not directed.is_undirected()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Texas", "Wisconsin", "squirrel", "squirrel_filtered",
                                  "Tolokers", "JohnsHopkins55", "Computers", "CS", "Physics"])
def test_every_other_dataset_matches_registry(datasets_root, name):
    data = load_dataset(name, root=datasets_root)
    assert_matches_registry(data)
    assert_disjoint_1d(data)
    assert data.train_mask.any() and data.val_mask.any() and data.test_mask.any()


def test_planetoid_features_are_row_normalised_like_pyg_examples(datasets_root):
    import torch
    from torch_geometric.datasets import Planetoid
    from torch_geometric.transforms import NormalizeFeatures

    data = load_dataset("Cora", root=datasets_root)
    ref = NormalizeFeatures()(Planetoid(str(datasets_root), "Cora")[0])
    torch.testing.assert_close(data.x, ref.x)
    rows = data.x.sum(-1)
    torch.testing.assert_close(rows[rows > 0], torch.ones(int((rows > 0).sum())))
    raw = load_dataset("Cora", root=datasets_root, normalize_features=False)
    assert float(raw.x.max()) == 1.0 and raw.normalize_features is False
    assert data.normalize_features is True


def test_the_bernnet_protocol_normalises_every_datasets_features(datasets_root):
    """BernNet's and PosteL's loaders apply NormalizeFeatures to every dataset: so does
    split="bernnet" (Texas's features are otherwise raw 0/1 counts)."""
    import torch
    from torch_geometric.transforms import NormalizeFeatures

    raw = load_dataset("Texas", root=datasets_root, split="fixed")
    assert raw.normalize_features is False and float(raw.x.max()) == 1.0
    data = load_dataset("Texas", root=datasets_root, split="bernnet", split_index=3)
    assert data.normalize_features is True
    torch.testing.assert_close(data.x, NormalizeFeatures()(raw.clone()).x)
    kept = load_dataset("Texas", root=datasets_root, split="bernnet", normalize_features=False)
    torch.testing.assert_close(kept.x, raw.x)


def test_a_dataset_class_with_its_files_present_says_nothing_but_its_warnings(
        datasets_root, monkeypatch, capfd):
    """PyG's "Processing..." / "Done!" (written by the class, here a stand-in, since PyG
    itself is silent under pytest) stay off stdout and stderr; a warning it raises is
    still shown."""
    import sys
    import warnings

    import graphls.data.loading as loading

    real = loading._open_pyg

    def chatty(info, root):
        print("Processing...", file=sys.stderr)
        print("Downloading nothing")
        warnings.warn("the pre_transform differs", UserWarning, stacklevel=1)
        out = real(info, root)
        print("Done!", file=sys.stderr)
        return out

    monkeypatch.setattr(loading, "_open_pyg", chatty)
    with pytest.warns(UserWarning, match="the pre_transform differs"):
        data = load_dataset("Cora", root=datasets_root)
    assert data.num_nodes == 2708
    assert capfd.readouterr() == ("", "")
