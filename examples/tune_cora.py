"""Tune (ε, λ) for GCN on Cora with the graphls Python API, then report best vs baseline.

    python examples/tune_cora.py --root ~/.cache/graphls --n-trials 30 --out runs/tune-cora

The study lives in ``--storage`` (default ``sqlite:///graphls.db``): running the
script again adds ``--n-trials`` more trials to the same study. Open it with
``optuna-dashboard sqlite:///graphls.db``. ``--dataset Minesweeper --split fixed
--objective roc_auc`` tunes an imbalanced binary set on validation ROC AUC.
"""

from __future__ import annotations

import argparse

import optuna

from graphls.tuning import OBJECTIVES, StudySettings, run_study, select_best_trial, write_report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="default: $GRAPHLS_DATA or ~/.cache/graphls")
    parser.add_argument("--dataset", default="Cora")
    parser.add_argument("--split", default="public")
    parser.add_argument("--model", choices=["gcn", "gat"], default="gcn")
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--objective", choices=OBJECTIVES, default="accuracy")
    parser.add_argument("--storage", default=None, help="default: sqlite:///graphls.db")
    parser.add_argument("--seeds", type=int, default=10, help="fresh seeds for the report")
    parser.add_argument("--out", default="runs/tune-cora")
    args = parser.parse_args(argv)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = StudySettings(dataset=args.dataset, root=args.root, split=args.split,
                             model=args.model, objective=args.objective, epochs=args.epochs,
                             storage=args.storage)
    study = run_study(settings, n_trials=args.n_trials)
    best = select_best_trial(study)
    print(f"{study.study_name}: {len(study.trials)} trials; best #{best.number} "
          f"{best.params} -> validation {best.values}")

    # Retrain best and the ε=0, λ=1 baseline on fresh seeds; test numbers only now.
    result = write_report(study, args.out, seeds=args.seeds, root=args.root)
    for label in ("best", "baseline"):
        test = result[label]["test"]
        print(f"{label:9s} test accuracy {100 * test['accuracy']['mean']:.2f} ± "
              f"{100 * test['accuracy']['std']:.2f} %, ECE {100 * test['ece']['mean']:.2f} %, "
              f"NLL {test['nll']['mean']:.4f}, ROC AUC {100 * test['roc_auc']['mean']:.2f} %")
    print(f"wrote {args.out}/summary.md and plots")
    return result


if __name__ == "__main__":
    main()
