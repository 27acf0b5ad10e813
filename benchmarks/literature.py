"""The literature's protocol: BernNet's ten 60/20/20 splits, the BernNet/PosteL GCN recipe.

    python benchmarks/literature.py --root /tmp/ds --datasets Cora,CiteSeer \
        --out benchmarks/results/literature

For each dataset and each of the ten ``bernnet`` splits, trains (one model seed per
split, as PosteL's table) the plain recipe (``TrainConfig.for_model(model,
recipe="bernnet")``: ε = 0, λ = 1) and posterior label smoothing with PosteL's
defaults (α = 0.8 → ``epsilon=0.8``, β = 0.4 → ``prior_weight=0.6``, pseudo-label
rounds while the validation loss improves, at most ``--rounds``). Prints test
accuracy as mean ± std over the splits beside PosteL's published numbers (Table 1,
same splits), and the paired difference posterior − plain with its 95 % interval;
writes one JSON file per dataset.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from graphls.config import TrainConfig
from graphls.data import load_dataset
from graphls.engine import fit_many, paired_difference

ROWS = ("plain", "posterior")


def configs(model: str, rounds: int, seed: int) -> dict[str, TrainConfig]:
    base = TrainConfig.for_model(model, recipe="bernnet", seed=seed)
    from graphls_bench.blocks import POSTERIOR_DEFAULTS

    return {"plain": base,
            "posterior": base.replace(**{**POSTERIOR_DEFAULTS, "pseudo_label_rounds": rounds})}


def published(dataset: str, model: str) -> dict[str, float]:
    """PosteL's Table 1 (AAAI 2026) on BernNet's splits, from configs/reference.toml:
    its one-hot and +PosteL test accuracy (%) for ``dataset`` and ``model``."""
    from graphls_bench.references import load_references

    labels = {"plain": "one-hot", "posterior": "PosteL"}
    return {labels[r["row"]]: float(r["value"]) for r in load_references()
            if (r["dataset"], r["model"], r["split"], r["metric"]) ==
            (dataset, model, "bernnet", "accuracy") and r["row"] in labels}


def run(dataset: str, model: str, root: str | None, rounds: int, seed: int) -> dict:
    rows: dict[str, list[dict]] = {r: [] for r in ROWS}
    start = time.perf_counter()
    for k in tqdm(range(10), desc=f"{dataset} {model}", unit="split"):
        data = load_dataset(dataset, root=root, split="bernnet", split_index=k)
        cfgs = configs(model, rounds, seed)
        results = fit_many(data, [cfgs[r] for r in ROWS], group=True)
        for row, r in zip(ROWS, results, strict=True):
            assert r is not None and not isinstance(r, Exception)
            rows[row].append({"split": k, "accuracy": r.metrics["test"]["accuracy"],
                              "ece": r.metrics["test"]["ece"],
                              "ece_ts": r.calibrated["test"]["ece"],
                              "best_epoch": r.best_epoch, "epochs_run": r.epochs_run,
                              "pseudo_label_round": r.pseudo_label_round})
    acc = {row: [100 * x["accuracy"] for x in rows[row]] for row in ROWS}
    return {
        "dataset": dataset, "model": model, "split": "bernnet", "seed": seed,
        "rounds": rounds, "configs": {r: c.to_dict() for r, c in configs(model, rounds,
                                                                          seed).items()},
        "runs": rows,
        "accuracy": {row: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))}
                     for row, v in acc.items()},
        "posterior_minus_plain": paired_difference(acc["posterior"], acc["plain"]),
        "published": published(dataset, model),
        "wall_time": time.perf_counter() - start,
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--model", default="gcn", choices=["gcn", "gat"])
    p.add_argument("--root", default=None)
    p.add_argument("--rounds", type=int, default=5, help="most pseudo-label rounds")
    p.add_argument("--seed", type=int, default=0, help="the model seed on every split")
    p.add_argument("--out", default=None, help="write <dataset>-<model>.json here")
    args = p.parse_args(argv)
    for dataset in args.datasets.split(","):
        result = run(dataset, args.model, args.root, args.rounds, args.seed)
        pub = result["published"] or {}
        d = result["posterior_minus_plain"]
        print(f"{dataset} {args.model.upper()} (bernnet splits, 10 splits, "
              f"{result['wall_time']:.0f} s)")
        for row, label in (("plain", "one-hot"), ("posterior", "PosteL")):
            a = result["accuracy"][row]
            ref = f"  (PosteL's table: {pub[label]:.2f})" if label in pub else ""
            print(f"  {row:10s} {a['mean']:.2f} ± {a['std']:.2f}{ref}")
        print(f"  posterior - plain: {d['mean']:+.2f} points, 95 % interval "
              f"[{d['low']:+.2f}, {d['high']:+.2f}]: {d['verdict']}")
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{dataset}-{args.model}.json").write_text(json.dumps(result, indent=2)
                                                               + "\n")
    return 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # graphls_bench
    raise SystemExit(main())
