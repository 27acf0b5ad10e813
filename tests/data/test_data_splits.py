"""graphls.data.splits: the split protocols."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data_checks import assert_disjoint_1d, assert_matches_registry, sizes

from graphls.data import DATASETS, load_dataset


def test_cora_public_split(datasets_root):
    data = load_dataset("Cora", root=datasets_root)
    assert_matches_registry(data)
    assert data.split == "public"
    assert sizes(data) == (140, 500, 1000)
    assert_disjoint_1d(data)
    # Planetoid's public split: the first 140 nodes train, the next 500 validate
    torch.testing.assert_close(data.train_mask.nonzero().view(-1), torch.arange(140))
    torch.testing.assert_close(data.val_mask.nonzero().view(-1), torch.arange(140, 640))


def test_citeseer_public_split(datasets_root):
    data = load_dataset("citeseer", root=datasets_root)
    assert_matches_registry(data)
    assert sizes(data) == (120, 500, 1000)


def test_cora_random_split(datasets_root):
    rng = torch.random.get_rng_state()
    data = load_dataset("Cora", root=datasets_root, split="random", seed=1)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the global RNG is untouched
    assert data.split == "random" and data.split_seed == 1
    assert torch.bincount(data.y[data.train_mask], minlength=7).tolist() == [20] * 7
    assert sizes(data) == (140, 500, 1000)
    assert_disjoint_1d(data)
    again = load_dataset("Cora", root=datasets_root, split="random", seed=1)
    other = load_dataset("Cora", root=datasets_root, split="random", seed=2)
    for s in ("train", "val", "test"):
        assert torch.equal(getattr(data, f"{s}_mask"), getattr(again, f"{s}_mask"))
    assert not torch.equal(data.train_mask, other.train_mask)


def test_cora_dense_split(datasets_root):
    data = load_dataset("Cora", root=datasets_root, split="dense", seed=0)
    assert data.split == "dense"
    n = data.num_nodes
    train, val, test = sizes(data)
    assert abs(train - 0.6 * n) <= 1 and abs(val - 0.2 * n) <= 1
    assert train + val + test == n  # covers every node
    assert_disjoint_1d(data)
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
    assert_matches_registry(a)
    assert a.split == "fixed" and (a.split_index, b.split_index) == (0, 3)
    assert_disjoint_1d(a)
    assert_disjoint_1d(b)
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


def test_split_index_out_of_range(datasets_root):
    with pytest.raises(ValueError, match=r"split_index must be in \[0, 9\] for Cornell "
                                         r"\(10 fixed splits\); got 10"):
        load_dataset("Cornell", root=datasets_root, split_index=10)


def test_split_index_must_be_nonnegative():
    with pytest.raises(ValueError, match=r"split_index must be an integer >= 0; got -1"):
        load_dataset("Cornell", split_index=-1)


def test_linkx_unlabelled_nodes_in_no_mask(datasets_root):
    from scipy.io import loadmat

    data = load_dataset("Amherst41", root=datasets_root, seed=0)
    assert_matches_registry(data)
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
    train, val, test = sizes(data)
    assert abs(train - 0.6 * n) <= 1 and abs(val - 0.2 * n) <= 1 and train + val + test == n
    assert_disjoint_1d(data)


def test_photo_random_is_shchur_20_30_rest(datasets_root):
    data = load_dataset("Photo", root=datasets_root, seed=3)
    assert_matches_registry(data)
    assert data.split == "random"
    k = data.num_classes
    assert torch.bincount(data.y[data.train_mask], minlength=k).tolist() == [20] * k
    assert torch.bincount(data.y[data.val_mask], minlength=k).tolist() == [30] * k
    assert sizes(data) == (20 * k, 30 * k, data.num_nodes - 50 * k)
    assert_disjoint_1d(data)
    dense = load_dataset("Photo", root=datasets_root, split="dense", seed=3)
    assert sum(sizes(dense)) == dense.num_nodes
