"""How many seeds per trial a study needs: repeat a study and see whether its "best" holds.

    python benchmarks/seeds_per_trial.py --root /tmp/ds --datasets Cora,CiteSeer \\
        --seeds-per-trial 1,3,5 --repeats 3 --trials 30 --out benchmarks/results/seeds

For each dataset, seeds per trial k and trial-seed mode (``common``: every trial
trains seeds 0..k-1; ``per-trial``: trial n trains its own k seeds), runs
``--repeats`` 30-trial studies of the quick start's search (GCN, PyG's example
settings, (ε, λ) jointly, TPE, median pruner), differing only in the sampler seed,
each in memory. Each study's best configuration and the baseline (ε = 0, λ = 1)
are then retrained on the same ten fresh seeds (the report's, 100-109) and
compared on test accuracy, paired seed by seed. The table shows how the chosen
(ε, λ) and its test accuracy move across the repeats, and how often the best
beats or loses to the baseline; the trial time says what each k costs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import optuna
from tqdm.auto import tqdm

from graphls.data import load_dataset
from graphls.engine import compare, evaluate
from graphls.tuning import REPORT_SEED_BASE, StudySettings, run_study, select_best_trial


def one_study(data, dataset: str, k: int, mode: str, repeat: int, trials: int) -> dict:
    settings = StudySettings(dataset=dataset, data=data, seeds_per_trial=k, trial_seeds=mode,
                             seed=repeat, storage=optuna.storages.InMemoryStorage(),
                             study_name=f"{dataset}-{k}-{mode}-{repeat}")
    start = time.perf_counter()
    study = run_study(settings, n_trials=trials, progress=False)
    search = time.perf_counter() - start
    best = select_best_trial(study)
    base = settings.train_config()
    seeds = [REPORT_SEED_BASE + s for s in range(10)]
    best_sweep, base_sweep = evaluate(
        data, [base.replace(**best.params), base.replace(epsilon=0.0, structural=1.0)], seeds)
    cmp = compare(best_sweep, base_sweep)["accuracy"]
    return {"dataset": dataset, "seeds_per_trial": k, "trial_seeds": mode, "repeat": repeat,
            "best_trial": best.number, "params": best.params, "val_accuracy": best.value,
            "test_accuracy": best_sweep.summary()["test"]["accuracy"]["mean"],
            "baseline_test_accuracy": base_sweep.summary()["test"]["accuracy"]["mean"],
            "paired_difference": cmp, "search_seconds": search}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="Cora,CiteSeer")
    p.add_argument("--root", default=None)
    p.add_argument("--seeds-per-trial", default="1,3,5")
    p.add_argument("--modes", default="common,per-trial")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ks = [int(v) for v in args.seeds_per_trial.split(",")]
    modes = args.modes.split(",")
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    rows = []
    for dataset in args.datasets.split(","):
        data = load_dataset(dataset, root=args.root)
        jobs = [(k, m, r) for k in ks for m in modes for r in range(args.repeats)]
        for k, mode, r in tqdm(jobs, desc=dataset, unit="study"):
            row = one_study(data, dataset, k, mode, r, args.trials)
            rows.append(row)
            if out is not None:
                with (out / "studies.jsonl").open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print("| dataset | seeds/trial | trial seeds | ε chosen | λ chosen | best test acc. (%) | "
          "best − baseline (points) | better / tie / worse | search s |")
    print("|---|---:|---|---|---|---:|---:|---|---:|")
    for dataset in args.datasets.split(","):
        for k in ks:
            for mode in modes:
                group = [r for r in rows if (r["dataset"], r["seeds_per_trial"],
                                             r["trial_seeds"]) == (dataset, k, mode)]
                if not group:
                    continue
                eps = ", ".join(f"{r['params']['epsilon']:.2f}" for r in group)
                lam = ", ".join(f"{r['params']['structural']:.2f}" for r in group)
                acc = [100 * r["test_accuracy"] for r in group]
                diff = [100 * r["paired_difference"]["mean"] for r in group]
                verdicts = [r["paired_difference"]["verdict"] for r in group]
                tally = (f"{verdicts.count('better')} / "
                         f"{verdicts.count('no detectable difference')} / "
                         f"{verdicts.count('worse')}")
                print(f"| {dataset} | {k} | {mode} | {eps} | {lam} | "
                      f"{np.mean(acc):.2f} ± {np.std(acc):.2f} | {np.mean(diff):+.2f} | "
                      f"{tally} | {np.mean([r['search_seconds'] for r in group]):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
