"""graphls.data.registry: names, aliases, the dataset table."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphls.data import DATASETS, list_datasets, load_dataset


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
