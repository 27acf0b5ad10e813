"""benchmarks/speed.py --quick runs (so it cannot rot) and keeps other RESULTS.md sections."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_speed_quick_writes_its_section_and_records(tmp_path, datasets_root):
    (tmp_path / "RESULTS.md").write_text("# results\n\n<!-- results:start -->\nkept\n"
                                         "<!-- results:end -->\n")
    main = runpy.run_path(str(REPO / "benchmarks" / "speed.py"))["main"]
    out = main(["--quick", "--root", str(datasets_root), "--out", str(tmp_path)])
    assert set(out["median_seconds"]) == {"PyG examples/gcn.py loop", "graphls evaluate"}
    assert all(t > 0 for t in out["median_seconds"].values())
    text = (tmp_path / "RESULTS.md").read_text()
    assert "kept" in text and text.count("<!-- speed:start -->") == 1
    assert "python benchmarks/speed.py --quick" in text
    lines = (tmp_path / "results" / "speed.jsonl").read_text().splitlines()
    assert [json.loads(line)["run"] for line in lines] == list(out["median_seconds"])
    # a second run replaces the section instead of appending another one
    main(["--quick", "--root", str(datasets_root), "--out", str(tmp_path)])
    assert (tmp_path / "RESULTS.md").read_text().count("<!-- speed:start -->") == 1
