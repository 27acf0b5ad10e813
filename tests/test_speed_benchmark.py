"""benchmarks/speed.py --quick runs (so it cannot rot) and keeps other RESULTS.md sections."""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def speed_main():
    return runpy.run_path(str(REPO / "benchmarks" / "speed.py"))["main"]


@pytest.mark.slow
def test_speed_quick_writes_its_section_and_records(tmp_path, datasets_root):
    (tmp_path / "RESULTS.md").write_text("# results\n\n<!-- results:start -->\nkept\n"
                                         "<!-- results:end -->\n")
    main = speed_main()
    out = main(["--case", "b", "--quick", "--root", str(datasets_root), "--out", str(tmp_path)])
    assert set(out) == {"b"}
    out = out["b"]
    assert set(out["median_seconds"]) == {"PyG examples/gcn.py loop", "graphls evaluate"}
    assert all(t > 0 for t in out["median_seconds"].values())
    text = (tmp_path / "RESULTS.md").read_text()
    assert "kept" in text and text.count("<!-- speed:start -->") == 1
    assert "python benchmarks/speed.py --case b --quick" in text
    lines = (tmp_path / "results" / "speed.jsonl").read_text().splitlines()
    assert [json.loads(line)["run"] for line in lines] == list(out["median_seconds"])
    # a second run replaces the section instead of appending another one
    main(["--case", "b", "--quick", "--root", str(datasets_root), "--out", str(tmp_path)])
    assert (tmp_path / "RESULTS.md").read_text().count("<!-- speed:start -->") == 1


@pytest.mark.slow
def test_speed_g_quick_compares_pyg_gat_fit_and_batched_evaluate(tmp_path, datasets_root):
    (tmp_path / "RESULTS.md").write_text("# results\n\n<!-- speed:start -->\nkept (b)\n"
                                         "<!-- speed:end -->\n")
    out = speed_main()(["--case", "g", "--quick", "--root", str(datasets_root),
                        "--out", str(tmp_path)])["g"]
    runs = ["PyG examples/gat.py loop", "graphls fit, one seed at a time", "graphls evaluate"]
    assert list(out["median_seconds"]) == runs
    # the batched seeds are the seeds fit trains one at a time: the same test accuracies
    assert out["accuracy"]["graphls evaluate"] == pytest.approx(
        out["accuracy"]["graphls fit, one seed at a time"], abs=1e-3)
    assert all(0.3 < a <= 1.0 for a in out["accuracy"]["PyG examples/gat.py loop"])
    text = (tmp_path / "RESULTS.md").read_text()
    assert "kept (b)" in text and text.count("<!-- speed-g:start -->") == 1
    assert "GAT (PyG example settings)" in text and all(run in text for run in runs)
    records = [json.loads(line) for line in
               (tmp_path / "results" / "speed.jsonl").read_text().splitlines()]
    assert [r["case"] for r in records] == ["g"] * 3


@pytest.mark.slow
def test_speed_c_quick_writes_its_section_and_records(tmp_path):
    """(c) at 5,000 nodes: three variants, each in its own process, one section, JSON lines."""
    (tmp_path / "RESULTS.md").write_text("# results\n\n<!-- speed:start -->\nkept (b)\n"
                                         "<!-- speed:end -->\n")
    main = speed_main()
    out = main(["--case", "c", "--quick", "--out", str(tmp_path)])["c"]
    runs = list(out["median_seconds"])
    assert runs == ["PyG GCNConv stack, CSR adj_t (ToSparseTensor)",
                    "PyG GCNConv stack, edge_index", "graphls GCN(cached=True), edge_index"]
    for r in out["results"].values():
        assert len(r["seconds"]) == 2 and all(t > 0 for t in r["seconds"])
        assert 0 < r["rss_loaded_bytes"] <= r["peak_bytes"]
        assert r["rss_before_training_bytes"] <= r["peak_bytes"]
    # the same graph, model shape and initial loss scale: log(40) = 3.69 at random init
    assert all(2.5 < r["loss"] < 6.0 for r in out["results"].values())
    text = (tmp_path / "RESULTS.md").read_text()
    assert "kept (b)" in text and text.count("<!-- speed-c:start -->") == 1
    assert "python benchmarks/speed.py --case c --quick" in text
    assert "5,000 nodes" in text and all(run in text for run in runs)
    records = [json.loads(line) for line in
               (tmp_path / "results" / "speed.jsonl").read_text().splitlines()]
    assert [(r["case"], r["run"]) for r in records] == [("c", run) for run in runs]
    assert all(r["nodes"] == 5_000 and r["threads"] == 1 for r in records)
    main(["--case", "c", "--quick", "--c-epochs", "1", "--out", str(tmp_path)])
    assert (tmp_path / "RESULTS.md").read_text().count("<!-- speed-c:start -->") == 1


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the --n-jobs row needs 2 cores")
def test_speed_a_quick_compares_plain_optuna_and_graphls_tune(tmp_path, datasets_root):
    """(a) at 20 epochs: six runs, one section, JSON lines with each repeat's numbers."""
    main = speed_main()
    out = main(["--case", "a", "--quick", "--root", str(datasets_root), "--out", str(tmp_path)])
    runs = list(out["a"]["trials_per_minute"])
    cores = os.cpu_count()
    assert runs == ["plain PyG + Optuna, no pruning (1 thread)",
                    "plain PyG + Optuna, MedianPruner (default settings)",
                    f"plain PyG + Optuna, no pruning ({cores} threads)",
                    "graphls tune --batch-size 3 --pruner none",
                    "graphls tune --batch-size 3 (median pruner)",
                    f"graphls tune --batch-size 3 --n-jobs {cores} (median pruner)"]
    for name, (r,) in out["a"]["results"].items():
        assert r["trials"] == (2 if name.startswith("plain") else 6)
        assert r["complete"] + r["pruned"] == r["trials"] and r["seconds"] > 0
        assert 0 < r["best_val_accuracy"] <= 1
        assert r["best_val_accuracy_first_2"] <= r["best_val_accuracy"]
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.count("<!-- speed-a:start -->") == 1 and all(run in text for run in runs)
    records = [json.loads(line) for line in
               (tmp_path / "results" / "speed.jsonl").read_text().splitlines()]
    assert [(r["case"], r["run"]) for r in records] == [("a", run) for run in runs]
    assert not list(tmp_path.glob("*.db"))  # the studies live in a temporary folder


def test_speed_d_quick_builds_apart_and_compares_the_same_model(tmp_path):
    """(d) at 5,000 nodes: the graph built by its own process, both variants trained."""
    out = speed_main()(["--case", "d", "--quick", "--c-epochs", "1", "--d-bisect", "2",
                        "--out", str(tmp_path)])["d"]
    assert not out["failed"] and out["pyg_fits"] is None  # PyG fits: nothing to bisect
    assert list(out["results"]) == ["pyg-csr", "graphls"]
    build = out["points"][0]["build"]
    assert build["entries"] > 0 and build["peak_bytes"] > 0
    for r in out["results"].values():
        assert len(r["seconds"]) == 1 and r["rss_before_training_bytes"] <= r["peak_bytes"]
    # the same random graph and model shape: log(47) = 3.85 at random init
    assert all(2.5 < r["loss"] < 6.0 for r in out["results"].values())
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.count("<!-- speed-d:start -->") == 1 and "5,000 nodes" in text
    assert "input_dropout=False" in text


@pytest.mark.slow
def test_speed_a2_quick_runs_the_plain_script_and_the_bare_tune_command(tmp_path,
                                                                        datasets_root):
    """(a′) for GCN: the plain script searches the CLI's full space, hidden included; the
    command carries no flag beyond the dataset, model, space and trial count."""
    out = speed_main()(["--case", "a2", "--quick", "--a2-models", "gcn",
                        "--root", str(datasets_root), "--out", str(tmp_path)])["a2"]
    plain, ours = out["gcn"]["plain"], out["gcn"]["graphls"]
    assert plain["trials"] == 2 and ours["trials"] == 6
    assert ours["command"] == ("graphls tune --dataset Cora --model gcn --space full "
                               f"--n-trials 6 --root {datasets_root}")
    assert all(0 < r["best_val_accuracy"] <= 1 for r in (plain, ours))
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.count("<!-- speed-a2-gcn:start -->") == 1 and "hidden ∈ {8, 16, 32, 64}" in text
    assert plain["cpu_seconds"] > 0 and ours["cpu_seconds"] > 0
    assert not list(tmp_path.glob("*.db"))
