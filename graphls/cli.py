"""The ``graphls`` command line: ``graphls train|tune|report|datasets``.

The parser imports nothing heavy: torch, PyG, Optuna and matplotlib are
imported inside the command that needs them, so ``graphls --help`` and
argument errors answer at once.

Exit status: 0 on success, 2 for bad input (one line on stderr, no
traceback), 1 for a run that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphls._signals import sigterm_as_interrupt

if TYPE_CHECKING:
    from graphls.config import TrainConfig

__all__ = ["main", "sigterm_as_interrupt"]

PROG = "graphls"


class UsageError(ValueError):
    """Bad command-line input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        # "argument --seeds: --seeds must be ..." -> "--seeds must be ..."
        m = re.match(r"argument ([^:]+): (\1 .*)$", message, flags=re.S)
        if m:
            message = m.group(2)
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _positive_int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer; got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1; got {value}")
        return value

    return parse


def _positive_float(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number; got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a number > 0; got {text}")
        return value

    return parse


def _float_in(name: str, low: float, high: float, *, high_open: bool = False
              ) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number; got {text!r}") from None
        ok = low <= value < high if high_open else low <= value <= high
        if not ok:
            bracket = ")" if high_open else "]"
            raise argparse.ArgumentTypeError(
                f"{name} must be in [{low:g}, {high:g}{bracket}; got {text}"
            )
        return value

    return parse


def _structural(text: str) -> float | tuple[float, ...]:
    """``0.8`` (every layer) or ``1,0.5`` (one value per layer)."""
    parts = [p for p in text.split(",") if p.strip()]
    values = [_float_in("--structural", 0.0, 1.0)(p) for p in parts]
    if not values:
        raise argparse.ArgumentTypeError(f"--structural must be a number in [0, 1]; got {text!r}")
    return values[0] if len(values) == 1 else tuple(values)


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and prove a file can be written there.

    Raises:
        UsageError: the directory cannot be created or written.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / ".graphls-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"--out must be a writable directory; got {str(p)!r} ({reason})") from None
    return p


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------

def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="Cora", help="dataset name (see `graphls datasets`)")
    g.add_argument("--root", default=None,
                   help="dataset root (default: $GRAPHLS_DATA, else ~/.cache/graphls)")
    g.add_argument("--split", default=None,
                   help="public|random|dense|fixed|official (default: the dataset's own)")
    g.add_argument("--split-index", type=int, default=0,
                   help="which shipped fixed split (0-9) for datasets that ship several")
    g.add_argument("--noise", type=_float_in("--noise", 0.0, 1.0, high_open=True), default=0.0,
                   help="fraction of training labels to flip, in [0, 1)")
    g.add_argument("--noise-kind", choices=["symmetric", "pair"], default="symmetric")


def _add_model_args(p: argparse.ArgumentParser, *, knobs: bool) -> None:
    g = p.add_argument_group("model and training")
    g.add_argument("--model", choices=["gcn", "gat"], default="gcn")
    g.add_argument("--hidden", type=_positive_int("--hidden"), default=None,
                   help="hidden channels (default: PyG example's, 16 GCN / 8 GAT)")
    g.add_argument("--layers", type=_positive_int("--layers"), default=2)
    g.add_argument("--heads", type=_positive_int("--heads"), default=8, help="GAT heads")
    g.add_argument("--dropout", type=_float_in("--dropout", 0.0, 1.0, high_open=True),
                   default=None, help="default: 0.5 GCN / 0.6 GAT")
    g.add_argument("--lr", type=float, default=None, help="default: 0.01 GCN / 0.005 GAT")
    g.add_argument("--weight-decay", type=float, default=5e-4)
    g.add_argument("--weight-decay-scope", choices=["first", "all"], default=None,
                   help="decay the first layer only (PyG's GCN example) or all parameters "
                   "(its GAT example); default: the model's example")
    g.add_argument("--epochs", type=_positive_int("--epochs"), default=200)
    g.add_argument("--patience", type=_positive_int("--patience"), default=None,
                   help="early stopping patience in epochs (default: none)")
    g.add_argument("--select", choices=["accuracy", "roc_auc"], default=None,
                   help="validation metric that picks the kept epoch (default accuracy; "
                   "tune --objective roc_auc implies roc_auc)")
    g.add_argument("--device", default="cpu")
    if knobs:
        g.add_argument("--epsilon", type=_float_in("--epsilon", 0.0, 1.0), default=0.0,
                       help="label smoothing ε in [0, 1] (PyTorch convention)")
        g.add_argument("--structural", type=_structural, default=1.0,
                       help="structural smoothing λ in [0, 1], or one value per layer: 1,0.5")
        g.add_argument("--learn-structural", action="store_true",
                       help="learn λ per layer, starting from --structural")
        g.add_argument("--epsilon-schedule", choices=["constant", "linear", "cosine"],
                       default="constant")
        g.add_argument("--epsilon-start", type=_float_in("--epsilon-start", 0.0, 1.0),
                       default=None, help="schedule start (ends at --epsilon)")
        g.add_argument("--prior-weight", type=_float_in("--prior-weight", 0.0, 1.0),
                       default=1.0, help="weight of the class/neighbour prior vs uniform")
    g.add_argument("--prior", choices=["uniform", "class", "neighbors"], default="uniform",
                   help="smoothing prior u")


def _add_tune_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("study")
    g.add_argument("--n-trials", type=_positive_int("--n-trials"), default=None,
                   help="trials this command adds (Optuna's meaning: 30 then 10 leaves 40; "
                   "default 100, or no cap with --total-trials)")
    g.add_argument("--total-trials", type=_positive_int("--total-trials"), default=None,
                   help="study-wide target of finished trials shared by every worker (exact)")
    g.add_argument("--timeout", type=_positive_float("--timeout"), default=None,
                   help="stop claiming trials after S seconds")
    g.add_argument("--space", choices=["joint", "full"], default="joint")
    g.add_argument("--space-file", default=None, help="TOML file overriding search ranges")
    g.add_argument("--objective", choices=["accuracy", "nll", "roc_auc", "multi"],
                   default="accuracy", help="validation score of a trial (roc_auc: for "
                   "imbalanced binary sets; it also selects epochs by ROC AUC)")
    g.add_argument("--storage", default=None,
                   help="SQLAlchemy URL (sqlite:///..., postgresql://...), or journal:PATH / "
                   "a *.log file (default: sqlite:///graphls.db in the working directory)")
    g.add_argument("--study-name", default=None,
                   help="default: graphls-<dataset>-<model>-<space>-<objective>")
    g.add_argument("--sampler", default="tpe", help="tpe|gp|cmaes|random|grid")
    g.add_argument("--pruner", default="median", help="median|hyperband|none")
    g.add_argument("--seeds-per-trial", type=_positive_int("--seeds-per-trial"), default=1)
    g.add_argument("--batch-size", type=_positive_int("--batch-size"), default=1,
                   help="trials claimed together and trained in one model pass (GCN); "
                   "each is pruned on its own")
    g.add_argument("--n-jobs", type=_positive_int("--n-jobs"), default=1,
                   help="worker processes on this machine sharing the study (each with "
                   "cpu_count / N torch threads); needs a file or database --storage")
    g.add_argument("--seed", type=int, default=0, help="sampler seed")
    g.add_argument("--report-seeds", type=_positive_int("--report-seeds"), default=10,
                   help="fresh seeds for the final best-vs-baseline report")
    g.add_argument("--no-report", action="store_true", help="skip the report after the study")
    g.add_argument("--heartbeat-interval", type=_positive_int("--heartbeat-interval"),
                   default=60, help="seconds between a running trial's heartbeats (RDB storage)")
    g.add_argument("--grace-period", type=_positive_int("--grace-period"), default=None,
                   help="seconds without heartbeat before a trial is failed and retried "
                   "(default: 2 x --heartbeat-interval)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The full ``graphls`` parser (cheap: imports nothing heavy)."""
    from graphls import __version__

    parser = _Parser(prog=PROG, description="Label smoothing (ε) and structural smoothing (λ) "
                     "for GCN/GAT node classification, tuned with Optuna.")
    parser.add_argument("--version", action="version", version=f"graphls {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train with a given (ε, λ) over seeds and report "
                       "accuracy and calibration")
    _add_data_args(p)
    _add_model_args(p, knobs=True)
    p.add_argument("--seeds", type=_positive_int("--seeds"), default=10)
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--out", default=None, help="write result.json and reliability.png here")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("tune", help="Optuna search over (ε, λ) on validation")
    _add_data_args(p)
    _add_model_args(p, knobs=False)
    _add_tune_args(p)
    p.add_argument("--out", default=None, help="report directory (default: ./<study-name>)")
    p.set_defaults(handler=_cmd_tune)

    p = sub.add_parser("report", help="retrain a study's best configuration and the baseline "
                       "over fresh seeds; write tables and plots")
    p.add_argument("--storage", default=None, help="default: sqlite:///graphls.db")
    p.add_argument("--study-name", required=True)
    p.add_argument("--out", default=None)
    p.add_argument("--seeds", type=_positive_int("--seeds"), default=10)
    p.add_argument("--root", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_cmd_report)

    p = sub.add_parser("datasets", help="list known datasets and whether each is available")
    p.add_argument("--root", default=None)
    p.set_defaults(handler=_cmd_datasets)
    return parser


# ---------------------------------------------------------------------------
# commands (heavy imports inside)
# ---------------------------------------------------------------------------

def format_table(summary: dict[str, Any], split: str = "test") -> str:
    """A fixed-width table of ``split`` metrics, raw and temperature-scaled (percent)."""
    rows = [("raw", summary[split]), ("temperature-scaled", summary[f"{split}_calibrated"])]
    head = (f"{'':20s}{'accuracy':>16s}{'ECE':>16s}{'NLL':>16s}{'Brier':>16s}"
            f"{'confidence':>16s}{'ROC AUC':>16s}")
    lines = [f"{split} (mean ± std over {len(summary['seeds'])} seeds; accuracy/ECE/"
             "confidence/ROC AUC in %, ECE 15 equal-width bins)", head]
    for label, m in rows:
        cells = []
        for name, scale in (("accuracy", 100), ("ece", 100), ("nll", 1), ("brier", 1),
                            ("confidence", 100), ("roc_auc", 100)):
            st = m[name]
            digits = 2 if scale == 100 else 4
            cells.append(f"{st['mean'] * scale:.{digits}f} ± {st['std'] * scale:.{digits}f}")
        lines.append(f"{label:20s}" + "".join(f"{c:>16s}" for c in cells))
    return "\n".join(lines)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A ``TrainConfig`` from ``graphls train`` arguments (model defaults from PyG's examples)."""
    from graphls.config import TrainConfig

    return TrainConfig.for_model(
        args.model, hidden=args.hidden, layers=args.layers, heads=args.heads,
        dropout=args.dropout, lr=args.lr, weight_decay=args.weight_decay,
        weight_decay_scope=getattr(args, "weight_decay_scope", None), epochs=args.epochs,
        patience=args.patience, select=getattr(args, "select", None),
        epsilon=args.epsilon, structural=args.structural,
        learn_structural=args.learn_structural, prior=args.prior,
        prior_weight=args.prior_weight, epsilon_schedule=args.epsilon_schedule,
        epsilon_start=args.epsilon_start, label_noise=args.noise, noise_kind=args.noise_kind,
        seed=args.seed, device=args.device,
    )


def _cmd_train(args: argparse.Namespace) -> int:
    """``graphls train``: train over seeds, print the table, write result.json/reliability.png."""
    out = check_writable_dir(args.out) if args.out else None
    import torch

    from graphls.data import load_dataset
    from graphls.engine import evaluate

    config = config_from_args(args)
    data = load_dataset(args.dataset, root=args.root, split=args.split, seed=args.seed,
                        split_index=args.split_index)
    sweep = evaluate(data, config, args.seeds, progress=not args.no_progress)
    summary = sweep.summary()
    summary["dataset"] = getattr(data, "name", args.dataset)
    summary["split"] = getattr(data, "split", args.split)
    print(f"{summary['dataset']} ({summary['split']} split), {config.model.upper()}, "
          f"epsilon={config.epsilon:g}, structural={config.structural}, prior={config.prior}")
    print(format_table(summary, "test"))
    if out is not None:
        (out / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
        from graphls.report import plot_reliability

        y = data.y.view(-1)
        test = data.test_mask
        probs = [torch.softmax(r.logits[test], -1) for r in sweep.results]
        plot_reliability({"graphls": (torch.cat(probs), y[test].repeat(len(probs)))},
                         out / "reliability.png",
                         title=f"{summary['dataset']} {config.model.upper()} (test, all seeds)")
        print(f"wrote {out / 'result.json'} and {out / 'reliability.png'}")
    return 0


def _print_comparison(result: dict[str, Any]) -> None:
    """A study report's best-vs-baseline table (``write_report``'s result) on stdout."""
    from graphls import report
    from graphls.config import TrainConfig

    best = TrainConfig.from_dict(result["best"]["config"] | {"seed": 0})
    print(report.format_comparison({report.best_label(best.epsilon, best.structural):
                                    result["best"], report.BASELINE_LABEL: result["baseline"]}))


def _cmd_tune(args: argparse.Namespace) -> int:
    """``graphls tune``: run or resume the study, print its best trial, then the report."""
    out = check_writable_dir(args.out) if args.out else None
    from collections import Counter

    from graphls.config import TrainConfig
    from graphls.tuning import StudySettings, quiet_optuna, run_study, select_best_trial

    config = TrainConfig.for_model(
        args.model, hidden=args.hidden, layers=args.layers, heads=args.heads,
        dropout=args.dropout, lr=args.lr, weight_decay=args.weight_decay,
        weight_decay_scope=args.weight_decay_scope, epochs=args.epochs,
        patience=args.patience, label_noise=args.noise, noise_kind=args.noise_kind,
        select=args.select, device=args.device)
    settings = StudySettings(
        dataset=args.dataset, root=args.root, split=args.split, split_index=args.split_index,
        model=args.model, space=args.space, space_file=args.space_file, prior=args.prior,
        objective=args.objective, epochs=args.epochs, config=config,
        seeds_per_trial=args.seeds_per_trial, sampler=args.sampler, pruner=args.pruner,
        seed=args.seed, batch_size=args.batch_size, storage=args.storage,
        study_name=args.study_name, heartbeat_interval=args.heartbeat_interval,
        grace_period=args.grace_period)
    n_trials = args.n_trials
    if n_trials is None and args.total_trials is None:
        n_trials = 100
    quiet_optuna()
    study = run_study(settings, n_trials=n_trials, timeout=args.timeout, n_jobs=args.n_jobs,
                      total_trials=args.total_trials, progress=not args.no_progress)
    counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    print(f"study {study.study_name}: {sum(counts.values())} trials ("
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")")
    try:
        best = select_best_trial(study)
    except ValueError:
        print("no completed trial yet")
        return 0
    values = ", ".join(f"{v:.4f}" for v in best.values)
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in best.params.items())
    print(f"best trial #{best.number}: validation {study.user_attrs['objective']} = {values}; "
          f"{params}")
    if args.no_report:
        return 0
    return _write_report(study, args, out, seeds=args.report_seeds)


def _cmd_report(args: argparse.Namespace) -> int:
    """``graphls report``: rebuild the report of a stored study from the storage alone."""
    out = check_writable_dir(args.out) if args.out else None
    from graphls.tuning import load_study, quiet_optuna

    quiet_optuna()
    study = load_study(args.storage, args.study_name)
    return _write_report(study, args, out, seeds=args.seeds)


def _write_report(study: Any, args: argparse.Namespace, out: Path | None, *, seeds: int
                  ) -> int:
    """Write a study's report to ``out`` (default ``./<study name>``) and print its table."""
    from graphls.tuning import write_report

    out = out or check_writable_dir(Path(study.study_name))
    result = write_report(study, out, seeds=seeds, root=args.root, device=args.device,
                          progress=not args.no_progress)
    _print_comparison(result)
    print(f"wrote {out}/best.json, trials.csv, summary.md and plots")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from graphls.data import list_datasets

    rows = list_datasets(args.root)
    head = ["dataset", "nodes", "edges", "features", "classes", "splits", "local"]
    table = [[str(r["name"]), f"{r['nodes']:,}", f"{r['edges']:,}", str(r["features"]),
              str(r["classes"]), ",".join(r["splits"]), "yes" if r["available"] else "no"]
             for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)))
    return 0


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``graphls`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    prog = f"{PROG} {args.command}"
    try:
        with sigterm_as_interrupt():
            return int(args.handler(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a run that failed: still one line, exit 1
        if os.environ.get("GRAPHLS_DEBUG"):
            raise
        print(f"{prog}: failed: {type(exc).__name__}: {_one_line(exc)} "
              "(set GRAPHLS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
