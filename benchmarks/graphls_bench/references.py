"""Published reference numbers (``configs/reference.toml``), shown beside our rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graphls_bench.blocks import MODELS, ROWS, split_name
from graphls_bench.checks import check_choice
from graphls_bench.settings import CONFIGS, read_toml

#: The metrics a published reference may give (percent), with their short labels.
REF_METRICS = {"accuracy": "acc", "ece": "ECE", "roc_auc": "ROC AUC"}
_REF_KEYS = ("dataset", "model", "row", "split", "metric", "value", "source")


def load_references(path: Path | None = None) -> list[dict[str, Any]]:
    """The published numbers of ``configs/reference.toml``, each with its split named."""
    path = path or CONFIGS / "reference.toml"
    refs = list(read_toml(path).get("reference", []))
    for i, r in enumerate(refs, 1):
        where = f"{path.name}, reference {i}"
        missing = [k for k in _REF_KEYS if not r.get(k)]
        if missing:
            raise ValueError(f"{where}: {', '.join(missing)} missing; every reference needs "
                             f"{', '.join(_REF_KEYS)}")
        check_choice(f"{where}: metric", r["metric"], REF_METRICS)
        check_choice(f"{where}: row", r["row"], (*ROWS, "other"))
        check_choice(f"{where}: model", r["model"], MODELS)
    return refs


def references_for(refs: Sequence[Mapping[str, Any]], dataset: str, split: str, model: str
                   ) -> list[Mapping[str, Any]]:
    """The references a block shows: those on its split, and those on a paper's own splits
    (a split kind the benchmark does not run) of its dataset and model."""
    plain_splits = ("public", "official", "dense", "fixed", "bernnet")
    return [r for r in refs if r["dataset"] == dataset and r["model"] == model
            and (r["split"] == split or r["split"] not in plain_splits)]


def ref_text(r: Mapping[str, Any]) -> str:
    return f"{REF_METRICS[r['metric']]} {r['value']} ({split_name(r['split'])}; {r['source']})"
