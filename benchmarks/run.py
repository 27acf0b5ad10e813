#!/usr/bin/env python
"""Benchmarks of graphls: GCN/GAT with tuned label smoothing ε and structural smoothing λ.

One command reruns everything and regenerates ``RESULTS.md`` (no number in it is
typed by hand)::

    python benchmarks/run.py                 # the full benchmark (README.md, "Cost")
    python benchmarks/run.py --quick         # smoke test: Cora, GCN, 1 seed, 3 trials, 10 epochs
    python benchmarks/run.py --report-only   # rebuild RESULTS.md from results/*.jsonl

For each dataset × split × model (a *block*) it runs the rows

1. ``plain``: ε = 0, λ = 1, uniform prior: PyG's GCN/GAT with PyG's example settings;
2. ``ts``: the same runs after temperature scaling fitted on validation (``calibrated``);
3. ``ls``: ε tuned, λ = 1;
4. ``structural``: ε = 0, λ tuned;
5. ``joint``: (ε, λ) tuned;
6. ``joint_prior``: (ε, λ, prior weight w) tuned, prior = each node's histogram of its
   labelled training neighbours (``TrainConfig(prior="neighbors")``);
7. ``multi``: (ε, λ) tuned for (validation accuracy ↑, validation ECE ↓); the pick is
   the lowest-ECE Pareto point within 0.5 points of the best validation accuracy
   (``graphls.tuning.select_best_trial``).

Every tuned row is one ``graphls.tuning.run_study`` with the same trial budget, scored on
validation nodes only; rows 3 and 4 fix a knob with a degenerate range in their search
space file (``configs/searchspace/``). The chosen configuration is then trained on fresh
seeds (``REPORT_SEED_BASE + s``) and reported on the test nodes as mean ± std (ddof 1) of
accuracy, ECE (15 equal-width bins), NLL and Brier. Splits with several versions (dense
60/20/20 split seeds, shipped fixed splits) are tuned on split 0 and reported over splits
0..seeds-1 with one training seed each.

**Batching.** Runs are trained together with ``graphls.engine.fit_many`` (each result
equals ``graphls.engine.fit``'s for the same seed, within float tolerance): every tuned row's
study claims ``--batch-size`` trials at a time (``run_study(batch_size=...)``; each trial
is still pruned on its own, and the study-wide budget stays exact), and the test runs of
one split (every row × seed on a single split; every row on each split of dense/fixed) are
one ``fit_many`` call, cut only by ``graphls.engine.default_seed_batch``'s memory cap.
``--batch-size 1`` trains everything one run at a time with ``fit``, as before batching.

**Resuming.** Studies live in ``<out>/results/studies.db`` and, as text that is committed,
in ``<out>/results/studies/<study>.jsonl`` (rewritten after every finished trial; a study
missing from the database is restored from it first). ``--trials N`` is a study-wide
target (``run_study(total_trials=N)``): a rerun tops each study up to N finished trials and
never adds more, so rerunning the same command trains no new trial. Processes sharing a
block's studies (``--shard``) first train what is free in each study (``wait=False``),
then wait for each to finish. A result line whose
fit (dataset, split, configuration, seed) is already in ``<out>/results/*.jsonl`` is
reused (``--no-cache`` refits).

This file is the command line (its flags, and ``main``); the benchmark itself is the
package ``graphls_bench`` beside it (``benchmarks/graphls_bench/__init__.py`` lists its
modules).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for path in (HERE.parent, HERE):  # graphls from a checkout without `pip install -e .`,
    if str(path) not in sys.path:  # and the graphls_bench package beside this file
        sys.path.insert(0, str(path))

from graphls_bench.blocks import ROWS  # noqa: E402
from graphls_bench.runner import run  # noqa: E402
from graphls_bench.settings import Settings, resolve  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Run the graphls benchmarks and regenerate RESULTS.md "
                    "(defaults from benchmarks/configs/benchmark.toml).")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: Cora public split, GCN, 1 seed, 3 trials, 10 epochs, "
                        "written to a temporary folder unless --out is given")
    p.add_argument("--datasets", help="comma-separated dataset names (default: all configured)")
    p.add_argument("--splits", help="only these split kinds (public, dense, fixed, official)")
    p.add_argument("--models", help="comma-separated: gcn,gat")
    p.add_argument("--rows", help="comma-separated rows: " + ",".join(ROWS))
    p.add_argument("--trials", type=int, help="trial budget of every tuned row (study-wide)")
    p.add_argument("--seeds", type=int,
                   help="test seeds (single split) or splits (dense/fixed), one seed each")
    p.add_argument("--epochs", type=int, help="epoch budget of every training run")
    p.add_argument("--noise", help="label-noise rates for Cora/CiteSeer, e.g. 0,0.2,0.4")
    p.add_argument("--sampler", help="Optuna sampler (tpe, gp, random, ...)")
    p.add_argument("--pruner", help="median, hyperband or none")
    p.add_argument("--seeds-per-trial", type=int, help="training seeds averaged per trial")
    p.add_argument("--batch-size", type=int,
                   help="trials each study claims and trains together (default from "
                        "benchmark.toml); test runs of a split train together; 1: every run "
                        "on its own with graphls.engine.fit")
    p.add_argument("--root", help="datasets folder (default $GRAPHLS_DATA, else "
                                  "../shared/datasets, else ~/.cache/graphls)")
    p.add_argument("--out", help="output folder (default: benchmarks/; --quick: a temp folder)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default 1, see benchmark.toml; 0: torch's default)")
    p.add_argument("--shard", metavar="K/N",
                   help="run only shard K of N of every block's test runs (its splits or "
                        "seeds dealt round-robin), kept as .partial lines; a run without "
                        "--shard then writes the block files from them")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    p.add_argument("--no-cache", action="store_true",
                   help="refit every run even if results/*.jsonl holds its result")
    p.add_argument("--report-only", action="store_true",
                   help="only rebuild RESULTS.md from <out>/results/*.jsonl")
    p.add_argument("--plan", action="store_true",
                   help="print the blocks, studies and training runs, then exit")
    return p


def parse_settings(argv: Sequence[str] | None = None,
                   config: Mapping[str, Any] | None = None) -> Settings:
    """Resolve the command line against ``configs/benchmark.toml`` (or ``config``).

    Raises:
        ValueError: an unknown dataset, model, row or split, or a bad number.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return resolve(config, argv=argv, **vars(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2: bad input, 1: a run failed)."""
    try:
        settings = parse_settings(argv)
    except (ValueError, TypeError) as exc:
        print(f"benchmarks/run.py: error: {exc}", file=sys.stderr)
        return 2
    from graphls.cli import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            summary = run(settings)
    except (ValueError, TypeError) as exc:
        print(f"benchmarks/run.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmarks/run.py: interrupted; rerun the same command to resume (finished "
              "trials are in results/studies/, finished test runs in results/*.jsonl.partial)",
              file=sys.stderr)
        return 130
    if settings.plan_only:
        return 0
    print(f"wrote {summary['results_md']} and {len(summary['jsonl'])} result files under "
          f"{settings.out / 'results'}; {summary['fits']} fits "
          f"({summary['fit_seconds']:.1f} s training), {summary['wall_seconds']:.1f} s in all")
    for note in summary["skipped"]:
        print(f"note: {note}")
    if settings.shard is not None:
        print(f"note: shard {settings.shard[0]}/{settings.shard[1]}: its test runs are kept in "
              "results/*.jsonl.partial; rerun without --shard once every shard is done to "
              "write the block files (it reuses them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
