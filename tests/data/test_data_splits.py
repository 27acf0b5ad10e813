"""graphls.data.splits: the split protocols."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data_checks import assert_disjoint_1d, assert_matches_registry, sizes
from hypothesis import given
from hypothesis import strategies as st

from graphls.data import DATASETS, load_dataset
from graphls.data.splits import BERNNET_SEEDS, bernnet_split


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
    with pytest.raises(ValueError, match=r"split must be one of 'public', 'random', 'dense', "
                                         r"'bernnet' for Cora; got 'fixed'"):
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


def test_split_index_on_an_unnumbered_split_is_refused():
    with pytest.raises(ValueError, match=r"split_index has no effect with split='public' on "
                                         r"Cora \(only 'fixed' and 'bernnet' splits are "
                                         r"numbered\); got split_index=3"):
        load_dataset("Cora", split="public", split_index=3)


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


# ---------------------------------------------------------------------------
# BernNet's splits (He et al. 2021; PosteL, Heo et al. 2026)
# ---------------------------------------------------------------------------

def _bernnet_reference(y: list[int], num_classes: int, seed: int) -> tuple[list[int], ...]:
    """BernNet's ``random_planetoid_splits``, written as its code does (lists, not masks)."""
    rs = np.random.RandomState(seed)
    percls_trn = int(round(0.6 * len(y) / num_classes))  # noqa: RUF046 - as BernNet writes it
    val_lb = int(round(0.2 * len(y)))  # noqa: RUF046
    train_idx: list[int] = []
    for c in range(num_classes):
        index = [i for i in range(len(y)) if y[i] == c]
        if len(index) < percls_trn:
            train_idx.extend(index)
        else:
            train_idx.extend(rs.choice(index, percls_trn, replace=False))
    rest_index = [i for i in range(len(y)) if i not in train_idx]
    val_idx = list(rs.choice(rest_index, val_lb, replace=False))
    test_idx = [i for i in rest_index if i not in val_idx]
    return sorted(int(i) for i in train_idx), sorted(int(i) for i in val_idx), test_idx


def test_bernnet_seeds_are_the_published_ones(reference_splits):
    for name in ("Cora", "CiteSeer"):
        z = np.load(reference_splits / f"bernnet-{name}.npz")
        assert tuple(z["seeds"].tolist()) == BERNNET_SEEDS


@pytest.mark.parametrize("name", ["Cora", "CiteSeer"])
def test_bernnet_splits_are_the_published_ones(datasets_root, reference_splits, name):
    z = np.load(reference_splits / f"bernnet-{name}.npz")
    for k in range(10):
        data = load_dataset(name, root=datasets_root, split="bernnet", split_index=k)
        assert torch.equal(data.y, torch.from_numpy(z["y"]))  # PyG's node order
        assert data.split == "bernnet"
        assert (data.split_index, data.split_seed) == (k, BERNNET_SEEDS[k])
        for s in ("train", "val", "test"):
            assert torch.equal(getattr(data, f"{s}_mask"), torch.from_numpy(z[f"{s}_mask"][k])), \
                (name, k, s)


@given(y=st.lists(st.integers(0, 3), min_size=1, max_size=60), seed=st.integers(0, 2**32 - 1))
def test_bernnet_split_equals_bernnet_code(y, seed):
    try:
        ref = _bernnet_reference(y, 4, seed)
    except ValueError:  # numpy: fewer nodes left than validation needs; ours says so
        with pytest.raises(ValueError, match=r"the bernnet split needs \d+ validation nodes"):
            bernnet_split(torch.tensor(y), 4, seed)
        return
    train, val, test = bernnet_split(torch.tensor(y), 4, seed)
    for mask, idx in zip((train, val, test), ref, strict=True):
        assert mask.dtype == torch.bool and mask.shape == (len(y),)
        assert mask.nonzero().view(-1).tolist() == idx


def test_bernnet_masks_are_disjoint_and_cover_as_the_protocol_says(datasets_root):
    n, k = 2708, 7
    per_class, n_val = round(0.6 * n / k), round(0.2 * n)
    for i in range(10):
        data = load_dataset("Cora", root=datasets_root, split="bernnet", split_index=i)
        assert_disjoint_1d(data)
        assert bool((data.train_mask | data.val_mask | data.test_mask).all())  # every node
        counts = torch.bincount(data.y, minlength=k)
        train_counts = torch.bincount(data.y[data.train_mask], minlength=k)
        assert train_counts.tolist() == [min(int(c), per_class) for c in counts]
        assert int(data.val_mask.sum()) == n_val
        assert int(data.test_mask.sum()) == n - int(train_counts.sum()) - n_val
        # classes below the quota (Cora's 1 and 6) are all training: never validated or tested
        small = counts < per_class
        assert small.nonzero().view(-1).tolist() == [1, 6]
        for m in (data.val_mask, data.test_mask):
            assert not bool(small[data.y[m]].any())


def test_bernnet_removes_citeseer_class_0_from_test(datasets_root):
    for i in range(10):
        data = load_dataset("CiteSeer", root=datasets_root, split="bernnet", split_index=i)
        tested = torch.unique(data.y[data.test_mask]).tolist()
        assert tested == [1, 2, 3, 4, 5]
        assert int((data.train_mask & (data.y == 0)).sum()) == 264  # all of class 0


def test_bernnet_is_deterministic_and_differs_across_indices(datasets_root):
    np_state = np.random.get_state()
    torch_state = torch.random.get_rng_state()
    splits = [load_dataset("Cora", root=datasets_root, split="bernnet", split_index=i)
              for i in range(10)]
    assert torch.equal(torch.random.get_rng_state(), torch_state)  # global RNGs untouched
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_state,
                                                    strict=True))
    again = load_dataset("Cora", root=datasets_root, split="BERNNET", split_index=4, seed=123)
    for s in ("train", "val", "test"):  # the same split, whatever `seed` says
        assert torch.equal(getattr(again, f"{s}_mask"), getattr(splits[4], f"{s}_mask"))
    for i in range(10):
        for j in range(i + 1, 10):
            for s in ("train", "val", "test"):
                assert not torch.equal(getattr(splits[i], f"{s}_mask"),
                                       getattr(splits[j], f"{s}_mask")), (i, j, s)


@pytest.mark.parametrize("index", [10, -1, 99])
def test_bernnet_split_index_out_of_range(index):
    with pytest.raises(ValueError, match=rf"split_index must be in \[0, 9\] for Cora "
                                         rf"\(10 bernnet splits\); got {index}"):
        load_dataset("Cora", split="bernnet", split_index=index)


def test_bernnet_split_index_must_be_an_integer():
    with pytest.raises(TypeError, match=r"split_index must be an integer; got float 1.0"):
        load_dataset("Cora", split="bernnet", split_index=1.0)


def test_bernnet_is_offered_where_the_protocol_applies():
    offered = {name for name, info in DATASETS.items() if "bernnet" in info.splits}
    assert offered == {"Cora", "CiteSeer", "PubMed", "Cornell", "Texas", "Wisconsin", "Actor",
                       "chameleon", "squirrel", "chameleon_filtered", "squirrel_filtered",
                       "Photo", "Computers", "CS", "Physics"}
    for name, info in DATASETS.items():
        assert info.splits[0] != "bernnet", name  # never a dataset's default
    with pytest.raises(ValueError, match=r"split must be one of 'fixed' for Minesweeper; "
                                         r"got 'bernnet'"):
        load_dataset("Minesweeper", split="bernnet")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Computers", "Photo", "chameleon", "Actor", "squirrel",
                                  "Texas", "Cornell"])
def test_bernnet_on_postel_datasets(datasets_root, name):
    data = load_dataset(name, root=datasets_root, split="bernnet", split_index=9)
    n, k = data.num_nodes, data.num_classes
    assert_disjoint_1d(data)
    assert bool((data.train_mask | data.val_mask | data.test_mask).all())
    counts = torch.bincount(data.y, minlength=k)
    per_class = round(0.6 * n / k)
    assert torch.bincount(data.y[data.train_mask], minlength=k).tolist() == [
        min(int(c), per_class) for c in counts]
    assert int(data.val_mask.sum()) == round(0.2 * n)
