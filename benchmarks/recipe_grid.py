"""Does the fixed recipe bound a block? PosteL's learning-rate × weight-decay grid, on BernNet's
splits, chosen on validation.

    python benchmarks/recipe_grid.py --datasets Texas,Cornell --model gcn \
        --out benchmarks/results/literature

The ``bernnet`` blocks of ``benchmarks/run.py`` train every row with one recipe (lr 0.05,
weight decay 5e-4) and tune only ε, λ and the prior. PosteL's appendix searches lr in
{0.001, 0.002, 0.01, 0.05} and weight decay in {0, 5e-4} per dataset (one-hot and every
smoothing alike), and its one-hot rows are BernNet's, tuned the same way. This script
trains the plain recipe (ε = 0, λ = 1) at every grid point on each of the ten splits (one
model seed per split, as PosteL's table), picks the point with the best mean validation
accuracy over the splits (no test label is read to choose), and prints its test accuracy
beside the fixed recipe's and the published one-hot number: the part of a gap that tuning
lr and weight decay closes. Writes ``recipe-grid-<dataset>-<model>.json``.

With ``--out``, every finished split is kept in ``recipe-grid-<...>.partial.json`` beside it,
and a rerun of the same command goes on from there (a full grid on Photo takes over an hour);
the partial file is removed once the result is written. A partial file from another grid,
model seed or torch is refused, not overwritten.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from graphls.config import TrainConfig
from graphls.data import load_dataset
from graphls.engine import fit_many, paired_difference

#: PosteL's appendix: the learning rates and weight decays it searches.
LRS = (0.001, 0.002, 0.01, 0.05)
DECAYS = (0.0, 5e-4)
#: The recipe the benchmark's bernnet blocks use (``TrainConfig.for_model(recipe="bernnet")``).
FIXED = (0.05, 5e-4)


def grid_configs(model: str, seed: int, lrs: tuple[float, ...] = LRS,
                 decays: tuple[float, ...] = DECAYS) -> list[TrainConfig]:
    base = TrainConfig.for_model(model, recipe="bernnet", seed=seed)
    return [base.replace(lr=lr, weight_decay=wd) for lr, wd in itertools.product(lrs, decays)]


class OtherGrid(ValueError):
    """A partial file written for another grid, model seed or torch."""


def read_partial(path: Path, key: dict) -> dict:
    """The finished splits a partial file holds for ``key``; empty when there is none.

    Raises :class:`OtherGrid` naming the file when it was written for another grid (so a
    rerun with other options never mixes or overwrites its splits).
    """
    if not path.exists():
        return {"splits": {}, "wall_time": 0.0}
    saved = json.loads(path.read_text())
    if saved.get("key") != key:
        raise OtherGrid(f"{path} holds the splits of another grid ({saved.get('key')}), not "
                         f"of {key}; move it away or rerun with its options")
    return saved


def write_partial(path: Path, key: dict, splits: dict, wall_time: float) -> None:
    """Write the finished splits atomically (a stop mid-write keeps the previous file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"key": key, "splits": splits, "wall_time": wall_time}) + "\n")
    tmp.replace(path)


def run(dataset: str, model: str, root: str | None, seed: int, published: float | None,
        lrs: tuple[float, ...] = LRS, decays: tuple[float, ...] = DECAYS,
        partial: Path | None = None) -> dict:
    """The grid on the ten splits; with ``partial``, finished splits are kept and reused there."""
    configs = grid_configs(model, seed, lrs, decays)
    key = {"dataset": dataset, "model": model, "seed": seed, "torch": torch.__version__,
           "grid": [[c.lr, c.weight_decay] for c in configs]}
    saved = read_partial(partial, key) if partial is not None else {"splits": {}, "wall_time": 0.0}
    done: dict[str, dict] = saved["splits"]
    val = np.zeros((len(configs), 10))
    test = np.zeros((len(configs), 10))
    start = time.perf_counter() - saved["wall_time"]
    for k in tqdm(range(10), desc=f"{dataset} {model}", unit="split"):
        if str(k) not in done:
            data = load_dataset(dataset, root=root, split="bernnet", split_index=k)
            results = fit_many(data, configs, group=True)
            done[str(k)] = {"val": [100 * r.metrics["val"]["accuracy"] for r in results],
                            "test": [100 * r.metrics["test"]["accuracy"] for r in results]}
            if partial is not None:
                write_partial(partial, key, done, time.perf_counter() - start)
        val[:, k], test[:, k] = done[str(k)]["val"], done[str(k)]["test"]
    best = int(np.argmax(val.mean(axis=1)))
    fixed = next(i for i, c in enumerate(configs) if (c.lr, c.weight_decay) == FIXED)
    return {
        "dataset": dataset, "model": model, "split": "bernnet", "seed": seed,
        "grid": [{"lr": c.lr, "weight_decay": c.weight_decay,
                  "val": float(val[i].mean()), "test": float(test[i].mean()),
                  "test_std": float(test[i].std(ddof=1))} for i, c in enumerate(configs)],
        "chosen": {"lr": configs[best].lr, "weight_decay": configs[best].weight_decay},
        "chosen_test": float(test[best].mean()), "chosen_test_std": float(test[best].std(ddof=1)),
        "fixed_test": float(test[fixed].mean()), "fixed_test_std": float(test[fixed].std(ddof=1)),
        "chosen_minus_fixed": paired_difference(test[best].tolist(), test[fixed].tolist()),
        "published_one_hot": published,
        "wall_time": time.perf_counter() - start, "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    from graphls_bench.references import load_references

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="Texas,Cornell")
    p.add_argument("--model", default="gcn", choices=["gcn", "gat"])
    p.add_argument("--root", default=None)
    p.add_argument("--seed", type=int, default=0, help="the model seed on every split")
    p.add_argument("--out", default=None, help="write recipe-grid-<dataset>-<model>.json here")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: fastest on a few shared cores)")
    p.add_argument("--lrs", default=",".join(map(str, LRS)),
                   help="a part of PosteL's learning rates (default: all four)")
    p.add_argument("--decays", default=",".join(map(str, DECAYS)),
                   help="a part of PosteL's weight decays (default: both)")
    args = p.parse_args(argv)
    try:
        lrs = tuple(float(v) for v in args.lrs.split(","))
        decays = tuple(float(v) for v in args.decays.split(","))
    except ValueError:
        p.error(f"--lrs and --decays take comma-separated numbers; got {args.lrs!r} and "
                f"{args.decays!r}")
    if FIXED[0] not in lrs or FIXED[1] not in decays:
        p.error(f"the grid must hold the fixed recipe (lr {FIXED[0]}, weight decay "
                f"{FIXED[1]}) to compare against it; got lrs {lrs} and decays {decays}")
    suffix = "" if (lrs, decays) == (LRS, DECAYS) else \
        f"-lr{'_'.join(map(str, lrs))}-wd{'_'.join(map(str, decays))}"
    torch.set_num_threads(args.threads)
    refs = {(r["dataset"], r["model"]): float(r["value"]) for r in load_references()
            if r["split"] == "bernnet" and r["row"] == "plain"}
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets.split(","):
        name = f"recipe-grid-{dataset}-{args.model}{suffix}"
        partial = out / f"{name}.partial.json" if out is not None else None
        try:
            res = run(dataset, args.model, args.root, args.seed,
                      refs.get((dataset, args.model)), lrs, decays, partial)
        except OtherGrid as exc:
            p.error(str(exc))
        d = res["chosen_minus_fixed"]
        pub = res["published_one_hot"]
        print(f"{dataset} {args.model.upper()} ({res['wall_time']:.0f} s): fixed recipe "
              f"{res['fixed_test']:.2f} ± {res['fixed_test_std']:.2f}; chosen on validation "
              f"lr {res['chosen']['lr']:g}, wd {res['chosen']['weight_decay']:g}: "
              f"{res['chosen_test']:.2f} ± {res['chosen_test_std']:.2f} ({d['mean']:+.2f}, "
              f"[{d['low']:+.2f}, {d['high']:+.2f}], {d['verdict']})"
              + (f"; published one-hot {pub:.2f}" if pub is not None else ""))
        if out is not None:
            (out / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
            partial.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # graphls_bench
    raise SystemExit(main())
