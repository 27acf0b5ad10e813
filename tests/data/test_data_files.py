"""graphls.data.files: the root, read-only roots, missing files."""

from __future__ import annotations

import shutil
import time
import urllib.error

import pytest
from data_checks import chmod_tree, sizes

from graphls.data import (
    DATASETS,
    DatasetNotFoundError,
    copy_datasets,
    list_datasets,
    load_dataset,
    resolve_root,
)


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


def test_read_only_root_loads_from_a_copy(monkeypatch, tmp_path, datasets_root):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ro = tmp_path / "ro"
    shutil.copytree(datasets_root / "Cora" / "raw", ro / "Cora" / "raw")
    chmod_tree(ro, 0o555, 0o444)  # no write bit: read-only, for root too
    try:
        with pytest.warns(UserWarning, match=r"is read-only; loading Cora from a writable copy"):
            data = load_dataset("Cora", root=ro)
        assert data.num_nodes == 2708 and sizes(data) == (140, 500, 1000)
        assert sorted(p.name for p in (ro / "Cora").iterdir()) == ["raw"]  # nothing written
        copies = list((tmp_path / "home" / ".cache" / "graphls" / "copies").glob("*/Cora"))
        assert len(copies) == 1 and (copies[0] / "processed").is_dir()
    finally:
        chmod_tree(ro, 0o755, 0o644)


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
    missing_root = tmp_path / "missing" / "dir"
    with pytest.raises(DatasetNotFoundError, match=r"download failed"):
        load_dataset("PubMed", root=missing_root)
    assert list(tmp_path.iterdir()) == []  # --root /missing/dir is not left behind


def test_missing_files_in_read_only_root(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(DatasetNotFoundError, match=r"files missing and .*ro is not writable"):
            load_dataset("Cora", root=ro)
    finally:
        ro.chmod(0o755)


def test_copy_datasets_puts_them_where_loading_looks_by_default(monkeypatch, tmp_path,
                                                               datasets_root):
    """After ``copy_datasets(src)`` the default root (``~/.cache/graphls``) has every
    dataset ``src`` has, and a second call copies nothing; files already there are kept."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GRAPHLS_DATA", raising=False)
    src = tmp_path / "src"
    for name in ("Cora", "Texas"):
        info = DATASETS[name]
        for rel in info.files:
            (src / info.subdir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(datasets_root / info.subdir / rel, src / info.subdir / rel)
    (src / "CiteSeer" / "raw").mkdir(parents=True)  # incomplete: not copied
    default = tmp_path / "home" / ".cache" / "graphls"
    kept = default / "Texas" / "raw" / DATASETS["Texas"].raw_files[0]
    kept.parent.mkdir(parents=True)
    kept.write_text("a file already there is not replaced")
    chmod_tree(src, 0o555, 0o444)
    try:
        assert copy_datasets(src) == {"Cora": True, "Texas": True}
        assert copy_datasets(src) == {"Cora": False, "Texas": False}
    finally:
        chmod_tree(src, 0o755, 0o644)
    assert kept.read_text() == "a file already there is not replaced"
    assert not list(default.rglob("*.part"))
    available = {r["name"] for r in list_datasets() if r["available"]}
    assert available == {"Cora", "Texas"}
    assert load_dataset("Cora").num_nodes == 2708  # no root given


def test_copy_datasets_from_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match=r"source must be a folder of datasets; got '.*nope', "
                                         r"which is not a folder"):
        copy_datasets(tmp_path / "nope", tmp_path / "root")


def test_copy_datasets_from_a_folder_without_datasets(tmp_path):
    with pytest.raises(ValueError, match=r"source '.*' holds no known dataset's files; "
                                         r"expected e.g. .*Cora/raw/ind\.cora\.x"):
        copy_datasets(tmp_path, tmp_path / "root")
    assert not (tmp_path / "root").exists()


def test_copy_datasets_into_a_read_only_root(tmp_path, datasets_root):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ValueError, match=r"cannot copy datasets into .*ro/data: .*ro is "
                                             r"not writable"):
            copy_datasets(datasets_root, ro / "data")
    finally:
        ro.chmod(0o755)
