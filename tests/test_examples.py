"""The README's example and the scripts in examples/ run as written (with fewer epochs)."""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    return blocks[0]


def test_readme_example_runs_as_written(tmp_path, datasets_root):
    code = readme_example()
    assert "from graphls import" in code and "LabelSmoothingLoss" in code and "GCN" in code
    assert "range(200)" in code
    shutil.copytree(datasets_root / "Cora" / "raw", tmp_path / "data" / "Cora" / "raw")
    script = tmp_path / "example.py"
    script.write_text("import torch; torch.set_num_threads(1)\n"
                      + code.replace("range(200)", "range(30)"))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    m = re.search(r"test accuracy (\d\.\d+), ECE (\d\.\d+)", out.stdout)
    assert m, out.stdout
    assert float(m.group(1)) > 0.6  # 30 epochs of GCN on Cora: well above chance (0.14)
    assert 0 <= float(m.group(2)) <= 1


def test_quickstart_example(datasets_root):
    mod = runpy.run_path(str(REPO / "examples" / "quickstart.py"))
    test = mod["main"](["--root", str(datasets_root), "--epochs", "20", "--epsilon", "0.1"])
    assert 0.5 < test["accuracy"] <= 1 and 0 <= test["ece"] <= 1


def test_train_cora_example(datasets_root):
    mod = runpy.run_path(str(REPO / "examples" / "train_cora.py"))
    summaries = mod["main"](["--root", str(datasets_root), "--epochs", "5", "--seeds", "2"])
    assert len(summaries) == 2
    for summary in summaries.values():
        assert len(summary["test"]["accuracy"]["values"]) == 2


def test_tune_example_on_a_binary_set_with_the_roc_auc_objective(datasets_root, tmp_path,
                                                                  capsys):
    mod = runpy.run_path(str(REPO / "examples" / "tune_cora.py"))
    result = mod["main"](["--root", str(datasets_root), "--dataset", "Minesweeper", "--split",
                          "fixed", "--objective", "roc_auc", "--n-trials", "2", "--epochs",
                          "4", "--seeds", "2", "--storage", f"sqlite:///{tmp_path / 's.db'}",
                          "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "graphls-minesweeper-gcn-joint-roc_auc: 2 trials" in out
    assert result["best"]["config"]["select"] == "roc_auc"
    auc = result["best"]["test"]["roc_auc"]["mean"]
    assert f"ROC AUC {100 * auc:.2f} %" in out


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "examples").glob("*.py")))
def test_examples_have_help_and_stay_short(script, capsys):
    path = REPO / "examples" / script
    assert len(path.read_text().splitlines()) < 120
    mod = runpy.run_path(str(path))
    with pytest.raises(SystemExit) as exc:
        mod["main"](["--help"])
    assert exc.value.code == 0 and "usage" in capsys.readouterr().out
