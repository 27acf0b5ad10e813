"""graphls.data: loading real datasets offline, splits, root handling, label noise."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from graphls.data import (
    DATASETS,
    DatasetNotFoundError,
    add_label_noise,
    list_datasets,
    load_dataset,
    resolve_root,
)


def _sizes(data) -> tuple[int, int, int]:
    return int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())


def _assert_disjoint_1d(data) -> None:
    masks = (data.train_mask, data.val_mask, data.test_mask)
    for m in masks:
        assert m.dtype == torch.bool
        assert m.shape == (data.num_nodes,)
    total = sum(m.long() for m in masks)
    assert int(total.max()) <= 1


def _assert_matches_registry(data) -> None:
    info = DATASETS[data.name]
    assert (data.num_nodes, data.edge_index.size(1), data.x.size(1), data.num_classes) == (
        info.nodes, info.edges, info.features, info.classes)
    assert data.y.dtype == torch.int64
    assert data.y.dim() == 1
    assert data.is_undirected()


# ---------------------------------------------------------------------------
# names, the import, the registry
# ---------------------------------------------------------------------------

def test_import_is_light():
    code = ("import sys, graphls.data; "
            "print(','.join(m for m in ('torch', 'torch_geometric', 'ogb', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match=r"dataset 'cora2' is unknown; known: Cora, CiteSeer, "
                                         r"PubMed, ogbn-arxiv, ogbn-products, Cornell"):
        load_dataset("cora2")


def test_name_must_be_str():
    with pytest.raises(TypeError, match=r"name must be a str; got int 3"):
        load_dataset(3)


@pytest.mark.parametrize("alias", ["cora", "CORA", "Cora"])
def test_name_is_case_insensitive(datasets_root, alias):
    assert load_dataset(alias, root=datasets_root).name == "Cora"


def test_registry_raw_files_match_the_real_folders(datasets_root):
    checked = 0
    for row in list_datasets(datasets_root):
        raw = Path(row["path"]) / "raw"
        if not raw.is_dir():
            continue
        assert {p.name for p in raw.iterdir()} == set(DATASETS[row["name"]].raw_files), row
        checked += 1
    assert checked == len(DATASETS) - 3  # all but PubMed, ogbn-arxiv, ogbn-products


def test_list_datasets_marks_availability(datasets_root):
    rows = {r["name"]: r for r in list_datasets(datasets_root)}
    assert list(rows) == list(DATASETS)
    assert rows["Cora"]["available"] is True
    assert rows["PubMed"]["available"] is False
    assert rows["ogbn-arxiv"]["available"] is False
    assert rows["Cora"]["splits"] == ["public", "random", "dense"]
    assert rows["Cora"]["path"] == str(datasets_root / "Cora")
    assert {"name", "nodes", "edges", "features", "classes", "splits", "available"} <= set(
        rows["Cora"])


# ---------------------------------------------------------------------------
# Planetoid splits
# ---------------------------------------------------------------------------

def test_cora_public_split(datasets_root):
    data = load_dataset("Cora", root=datasets_root)
    _assert_matches_registry(data)
    assert data.split == "public"
    assert _sizes(data) == (140, 500, 1000)
    _assert_disjoint_1d(data)
    # Planetoid's public split: the first 140 nodes train, the next 500 validate
    torch.testing.assert_close(data.train_mask.nonzero().view(-1), torch.arange(140))
    torch.testing.assert_close(data.val_mask.nonzero().view(-1), torch.arange(140, 640))


def test_citeseer_public_split(datasets_root):
    data = load_dataset("citeseer", root=datasets_root)
    _assert_matches_registry(data)
    assert _sizes(data) == (120, 500, 1000)


def test_cora_random_split(datasets_root):
    rng = torch.random.get_rng_state()
    data = load_dataset("Cora", root=datasets_root, split="random", seed=1)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global RNG is untouched
    assert data.split == "random" and data.split_seed == 1
    assert torch.bincount(data.y[data.train_mask], minlength=7).tolist() == [20] * 7
    assert _sizes(data) == (140, 500, 1000)
    _assert_disjoint_1d(data)
    again = load_dataset("Cora", root=datasets_root, split="random", seed=1)
    other = load_dataset("Cora", root=datasets_root, split="random", seed=2)
    for s in ("train", "val", "test"):
        assert torch.equal(getattr(data, f"{s}_mask"), getattr(again, f"{s}_mask"))
    assert not torch.equal(data.train_mask, other.train_mask)


def test_cora_dense_split(datasets_root):
    data = load_dataset("Cora", root=datasets_root, split="dense", seed=0)
    assert data.split == "dense"
    n = data.num_nodes
    train, val, test = _sizes(data)
    assert abs(train - 0.6 * n) <= 1 and abs(val - 0.2 * n) <= 1
    assert train + val + test == n  # covers every node
    _assert_disjoint_1d(data)
    again = load_dataset("Cora", root=datasets_root, split="DENSE", seed=0)
    other = load_dataset("Cora", root=datasets_root, split="dense", seed=5)
    assert torch.equal(data.test_mask, again.test_mask)
    assert not torch.equal(data.test_mask, other.test_mask)


def test_split_not_offered_by_dataset(datasets_root):
    with pytest.raises(ValueError, match=r"split must be one of 'public', 'random', 'dense' "
                                         r"for Cora; got 'fixed'"):
        load_dataset("Cora", root=datasets_root, split="fixed")


def test_split_must_be_str():
    with pytest.raises(TypeError, match=r"split must be a str; got int 1"):
        load_dataset("Cora", split=1)


def test_seed_must_be_nonnegative():
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0; got -1"):
        load_dataset("Cora", split="random", seed=-1)


# ---------------------------------------------------------------------------
# shipped fixed splits
# ---------------------------------------------------------------------------

def _shipped_masks(root: Path, name: str, i: int) -> tuple[np.ndarray, ...]:
    info = DATASETS[name]
    raw = root / info.subdir / "raw"
    npz = [f for f in info.raw_files if f.endswith(".npz")]
    if len(npz) == 10:  # geom-gcn: one file per split
        z = np.load(raw / npz[i])
        return z["train_mask"], z["val_mask"], z["test_mask"]
    z = np.load(raw / npz[0])  # Platonov et al.: (10, N) arrays in one file
    return z["train_masks"][i], z["val_masks"][i], z["test_masks"][i]


@pytest.mark.parametrize("name", ["Cornell", "Actor", "chameleon", "Minesweeper",
                                  "chameleon_filtered"])
def test_fixed_splits_are_the_shipped_ones(datasets_root, name):
    a = load_dataset(name, root=datasets_root, split_index=0)
    b = load_dataset(name, root=datasets_root, split="fixed", split_index=3)
    _assert_matches_registry(a)
    assert a.split == "fixed" and (a.split_index, b.split_index) == (0, 3)
    _assert_disjoint_1d(a)
    _assert_disjoint_1d(b)
    assert not torch.equal(a.train_mask, b.train_mask)
    for data, i in ((a, 0), (b, 3)):
        for s, ref in zip(("train", "val", "test"), _shipped_masks(datasets_root, name, i),
                          strict=True):
            assert torch.equal(getattr(data, f"{s}_mask"), torch.from_numpy(ref.astype(bool)))


def test_public_is_an_alias_of_fixed(datasets_root):
    a = load_dataset("Cornell", root=datasets_root, split="public", split_index=2)
    b = load_dataset("Cornell", root=datasets_root, split="fixed", split_index=2)
    assert a.split == "fixed"
    assert torch.equal(a.test_mask, b.test_mask)


def test_filtered_edges_made_undirected(datasets_root):
    z = np.load(datasets_root / "chameleon_filtered" / "raw" / "chameleon_filtered.npz")
    directed = load_dataset("chameleon_filtered", root=datasets_root, undirected=False)
    undirected = load_dataset("chameleon_filtered", root=datasets_root)
    assert torch.equal(directed.edge_index, torch.from_numpy(z["edges"]).t())
    assert undirected.edge_index.size(1) == 2 * z["edges"].shape[0]  # each edge once, no loops
    assert undirected.is_undirected() and not directed.is_undirected()


def test_split_index_out_of_range(datasets_root):
    with pytest.raises(ValueError, match=r"split_index must be in \[0, 9\] for Cornell "
                                         r"\(10 fixed splits\); got 10"):
        load_dataset("Cornell", root=datasets_root, split_index=10)


def test_split_index_must_be_nonnegative():
    with pytest.raises(ValueError, match=r"split_index must be an integer >= 0; got -1"):
        load_dataset("Cornell", split_index=-1)


# ---------------------------------------------------------------------------
# LINKX (unlabelled nodes) and Shchur et al.'s datasets
# ---------------------------------------------------------------------------

def test_linkx_unlabelled_nodes_in_no_mask(datasets_root):
    from scipy.io import loadmat

    data = load_dataset("Amherst41", root=datasets_root, seed=0)
    _assert_matches_registry(data)
    gender = torch.from_numpy(loadmat(datasets_root / "amherst41" / "raw" / "data.mat")
                              ["local_info"][:, 1].astype("int64"))
    labelled = gender > 0
    assert torch.equal(data.y_raw, gender - 1)
    assert int((~labelled).sum()) > 0
    for m in (data.train_mask, data.val_mask, data.test_mask):
        assert not bool((m & ~labelled).any())
    assert int(data.y.min()) >= 0
    assert torch.equal(data.y[labelled], data.y_raw[labelled])
    n = int(labelled.sum())
    train, val, test = _sizes(data)
    assert abs(train - 0.6 * n) <= 1 and abs(val - 0.2 * n) <= 1 and train + val + test == n
    _assert_disjoint_1d(data)


def test_photo_random_is_shchur_20_30_rest(datasets_root):
    data = load_dataset("Photo", root=datasets_root, seed=3)
    _assert_matches_registry(data)
    assert data.split == "random"
    k = data.num_classes
    assert torch.bincount(data.y[data.train_mask], minlength=k).tolist() == [20] * k
    assert torch.bincount(data.y[data.val_mask], minlength=k).tolist() == [30] * k
    assert _sizes(data) == (20 * k, 30 * k, data.num_nodes - 50 * k)
    _assert_disjoint_1d(data)
    dense = load_dataset("Photo", root=datasets_root, split="dense", seed=3)
    assert sum(_sizes(dense)) == dense.num_nodes


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Texas", "Wisconsin", "squirrel", "squirrel_filtered",
                                  "Tolokers", "JohnsHopkins55", "Computers", "CS", "Physics"])
def test_every_other_dataset_matches_registry(datasets_root, name):
    data = load_dataset(name, root=datasets_root)
    _assert_matches_registry(data)
    _assert_disjoint_1d(data)
    assert data.train_mask.any() and data.val_mask.any() and data.test_mask.any()


# ---------------------------------------------------------------------------
# root resolution, read-only roots, missing files
# ---------------------------------------------------------------------------

def test_resolve_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GRAPHLS_DATA", raising=False)
    assert resolve_root() == tmp_path / "home" / ".cache" / "graphls"
    monkeypatch.setenv("GRAPHLS_DATA", str(tmp_path / "env"))
    assert resolve_root() == tmp_path / "env"
    assert resolve_root(tmp_path / "arg") == tmp_path / "arg"


def test_graphls_data_env_is_used(monkeypatch, datasets_root):
    monkeypatch.setenv("GRAPHLS_DATA", str(datasets_root))
    assert load_dataset("Cora").num_nodes == 2708


def _chmod_tree(top: Path, dirs: int, files: int) -> None:
    for p in [top, *top.rglob("*")]:
        p.chmod(dirs if p.is_dir() else files)


def test_read_only_root_loads_from_a_copy(monkeypatch, tmp_path, datasets_root):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ro = tmp_path / "ro"
    shutil.copytree(datasets_root / "Cora" / "raw", ro / "Cora" / "raw")
    _chmod_tree(ro, 0o555, 0o444)  # no write bit: read-only, for root too
    try:
        with pytest.warns(UserWarning, match=r"is read-only; loading Cora from a writable copy"):
            data = load_dataset("Cora", root=ro)
        assert data.num_nodes == 2708 and _sizes(data) == (140, 500, 1000)
        assert sorted(p.name for p in (ro / "Cora").iterdir()) == ["raw"]  # nothing written
        copies = list((tmp_path / "home" / ".cache" / "graphls" / "copies").glob("*/Cora"))
        assert len(copies) == 1 and (copies[0] / "processed").is_dir()
    finally:
        _chmod_tree(ro, 0o755, 0o644)


def test_missing_files_one_line_error(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("PubMed", root=tmp_path, download=False)
    msg = str(info.value)
    assert "\n" not in msg
    assert isinstance(info.value, FileNotFoundError)
    assert "put ind.pubmed.x, ind.pubmed.tx, ind.pubmed.allx" in msg
    assert f"ind.pubmed.test.index in {tmp_path / 'PubMed' / 'raw'}" in msg
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_failed_download_one_line_error(monkeypatch, tmp_path):
    from torch_geometric.datasets import Planetoid

    def offline(self):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(Planetoid, "download", offline)
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError, match=r"dataset 'PubMed' not found: download "
                                                   r"failed \(URLError: <urlopen error offline>\);"
                                                   r" put ind\.pubmed\.x, .*PubMed"):
        load_dataset("PubMed", root=tmp_path)
    assert time.perf_counter() - start < 5
    assert list(tmp_path.iterdir()) == []  # the empty folders PyG made are removed


def test_missing_files_in_read_only_root(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(DatasetNotFoundError, match=r"files missing and .*ro is not writable"):
            load_dataset("Cora", root=ro)
    finally:
        ro.chmod(0o755)


# ---------------------------------------------------------------------------
# label noise
# ---------------------------------------------------------------------------

def _labels(n: int = 200, k: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[::2] = True
    return y, mask


@pytest.mark.parametrize("kind", ["symmetric", "pair"])
def test_label_noise_flips_exactly_inside_mask(kind):
    y, mask = _labels()
    before = y.clone()
    noisy = add_label_noise(y, mask, 0.3, kind=kind, seed=0, num_classes=5)
    assert torch.equal(y, before)  # not in place
    changed = noisy != y
    assert int(changed.sum()) == 30  # round(0.3 * 100)
    assert not bool((changed & ~mask).any())
    assert int(noisy.min()) >= 0 and int(noisy.max()) < 5
    if kind == "pair":
        torch.testing.assert_close(noisy[changed], (y[changed] + 1) % 5)


def test_symmetric_noise_reaches_every_other_class():
    y = torch.zeros(400, dtype=torch.long)
    mask = torch.ones(400, dtype=torch.bool)
    noisy = add_label_noise(y, mask, 0.9, seed=1, num_classes=4)
    assert int((noisy == 0).sum()) == 40
    counts = torch.bincount(noisy[noisy != 0], minlength=4)[1:]
    assert bool((counts > 90).all())  # about 120 each of classes 1, 2, 3


def test_label_noise_is_seeded():
    y, mask = _labels()
    rng = torch.random.get_rng_state()
    a = add_label_noise(y, mask, 0.2, seed=7)
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert torch.equal(a, add_label_noise(y, mask, 0.2, seed=7))
    assert not torch.equal(a, add_label_noise(y, mask, 0.2, seed=8))
    assert torch.equal(add_label_noise(y, mask, 0.0, seed=7), y)


@given(n=st.integers(1, 60), k=st.integers(2, 6), rate=st.floats(0, 0.99),
       kind=st.sampled_from(["symmetric", "pair"]), seed=st.integers(0, 2**31))
def test_label_noise_properties(n, k, rate, kind, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    mask = torch.rand(n, generator=g) < 0.5
    noisy = add_label_noise(y, mask, rate, kind=kind, seed=seed, num_classes=k)
    changed = noisy != y
    assert int(changed.sum()) == int(np.floor(rate * int(mask.sum()) + 0.5))
    assert not bool((changed & ~mask).any())


@pytest.mark.parametrize("rate", [1.0, -0.1])
def test_label_noise_rate_range(rate):
    y, mask = _labels()
    with pytest.raises(ValueError, match=rf"rate must be in \[0, 1\); got {rate}"):
        add_label_noise(y, mask, rate)


def test_label_noise_kind():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"kind must be one of 'symmetric', 'pair'; got 'flip'"):
        add_label_noise(y, mask, 0.1, kind="flip")


def test_label_noise_mask_dtype():
    y, mask = _labels()
    with pytest.raises(TypeError, match=r"mask must be a boolean tensor; got dtype torch.int64"):
        add_label_noise(y, mask.long(), 0.1)


def test_label_noise_mask_shape():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"mask must be 1-D \(one split\); got shape \(100, 2\)"):
        add_label_noise(y, mask.view(100, 2), 0.1)


def test_label_noise_mask_length():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"y and mask must have the same number of rows"):
        add_label_noise(y, mask[:10], 0.1)


def test_label_noise_needs_two_classes():
    y = torch.zeros(10, dtype=torch.long)
    with pytest.raises(ValueError, match=r"num_classes must be >= 2 to flip labels; got 1"):
        add_label_noise(y, torch.ones(10, dtype=torch.bool), 0.5)


def test_label_noise_labels_in_range():
    y, mask = _labels()
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 3\); got 4"):
        add_label_noise(y, mask, 0.1, num_classes=3)


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
