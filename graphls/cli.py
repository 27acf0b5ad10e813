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
import warnings
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


class _Formatter(argparse.HelpFormatter):
    """Help that shows each option's default where it has one (not for None or flags)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default:" in text or default is None
                or default is argparse.SUPPRESS or isinstance(default, bool)
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

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


def _nonnegative_int(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer; got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 0; got {value}")
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
                   help="public|random|dense|fixed|official|bernnet (default: the dataset's "
                   "own)")
    g.add_argument("--split-index", type=int, default=0,
                   help="which split (0-9): a shipped fixed one, or one of BernNet's (bernnet)")
    g.add_argument("--noise", type=_float_in("--noise", 0.0, 1.0, high_open=True), default=0.0,
                   help="fraction of training labels to flip, in [0, 1)")
    g.add_argument("--noise-kind", choices=["symmetric", "pair"], default="symmetric",
                   help="how flipped labels are drawn")


def _add_model_args(p: argparse.ArgumentParser, *, knobs: bool) -> None:
    g = p.add_argument_group("model and training")
    g.add_argument("--model", choices=["gcn", "gat"], default="gcn", help="the GNN")
    g.add_argument("--recipe", choices=["pyg", "bernnet"], default="pyg",
                   help="the settings the options below default to: PyG's examples, or the "
                   "BernNet/PosteL recipe (64 hidden, lr 0.05, decay on all, no input "
                   "dropout for GCN, lowest validation loss kept, their stopping rule, "
                   "1000 epochs)")
    g.add_argument("--hidden", type=_positive_int("--hidden"), default=None,
                   help="hidden channels (default: the recipe's, pyg: 16 GCN / 8 GAT per head)")
    g.add_argument("--layers", type=_positive_int("--layers"), default=None,
                   help="message-passing layers (default: 2)")
    g.add_argument("--heads", type=_positive_int("--heads"), default=None,
                   help="GAT heads (default: 8)")
    g.add_argument("--dropout", type=_float_in("--dropout", 0.0, 1.0, high_open=True),
                   default=None, help="default: the recipe's, pyg: 0.5 GCN / 0.6 GAT")
    g.add_argument("--input-dropout", action=argparse.BooleanOptionalAction, default=None,
                   help="drop the input features too (default: yes; bernnet GCN: no)")
    g.add_argument("--lr", type=float, default=None,
                   help="default: the recipe's, pyg: 0.01 GCN / 0.005 GAT")
    g.add_argument("--weight-decay", type=float, default=None, help="default: 5e-4")
    g.add_argument("--weight-decay-scope", choices=["first", "all"], default=None,
                   help="decay the first layer only (PyG's GCN example) or all parameters "
                   "(its GAT example); default: the model's example")
    g.add_argument("--epochs", type=_positive_int("--epochs"), default=None,
                   help="maximum epochs (default: 200; bernnet: 1000)")
    g.add_argument("--patience", type=_positive_int("--patience"), default=None,
                   help="early stopping patience in epochs (default: none)")
    g.add_argument("--stop-window", type=_positive_int("--stop-window"), default=None,
                   help="BernNet's stopping rule: past epoch W, stop when the validation loss "
                   "exceeds the mean of the previous W epochs' (default: none; bernnet: 200)")
    g.add_argument("--select", choices=["accuracy", "roc_auc", "nll"], default=None,
                   help="validation metric that picks the kept epoch (default accuracy; "
                   "bernnet: nll; tune --objective roc_auc implies roc_auc)")
    g.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    if knobs:
        g.add_argument("--epsilon", type=_float_in("--epsilon", 0.0, 1.0), default=0.0,
                       help="label smoothing ε in [0, 1] (PyTorch convention)")
        g.add_argument("--structural", type=_structural, default=1.0,
                       help="structural smoothing λ in [0, 1], or one value per layer: 1,0.5")
        g.add_argument("--learn-structural", action="store_true",
                       help="learn λ per layer, starting from --structural")
        g.add_argument("--epsilon-schedule", choices=["constant", "linear", "cosine"],
                       default="constant", help="how ε moves over the epochs")
        g.add_argument("--epsilon-start", type=_float_in("--epsilon-start", 0.0, 1.0),
                       default=None, help="schedule start (ends at --epsilon); needs "
                       "--epsilon-schedule linear or cosine")
        g.add_argument("--prior-weight", type=_float_in("--prior-weight", 0.0, 1.0),
                       default=None, help="weight of the class/neighbour/posterior prior vs "
                       "uniform (default: 1; PosteL: --epsilon 0.8 --prior-weight 0.6)")
    g.add_argument("--prior", choices=["uniform", "class", "neighbors", "posterior"],
                   default="uniform", help="smoothing prior u (posterior: PosteL's)")
    g.add_argument("--pseudo-label-rounds", type=_nonnegative_int("--pseudo-label-rounds"),
                   default=0, help="with --prior posterior: retrain with pseudo-labels while "
                   "the validation loss improves, at most R times" + (
                       "" if knobs else " (a study searches 0..R)"))


def _add_tune_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("study")
    g.add_argument("--n-trials", type=_positive_int("--n-trials"), default=None,
                   help="trials this command adds (Optuna's meaning: 30 then 10 leaves 40; "
                   "default 100, or no cap with --total-trials)")
    g.add_argument("--total-trials", type=_positive_int("--total-trials"), default=None,
                   help="study-wide target of finished trials shared by every worker (exact)")
    g.add_argument("--timeout", type=_positive_float("--timeout"), default=None,
                   help="stop claiming trials after S seconds")
    g.add_argument("--space", choices=["joint", "full"], default="joint",
                   help="what is searched: joint = ε in [0, 0.5] (posterior prior: [0, 1]) and "
                   "λ in [0, 1]; full adds lr, weight decay, dropout and hidden; a "
                   "non-uniform prior adds its weight")
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
    g.add_argument("--seeds-per-trial", type=_positive_int("--seeds-per-trial"), default=1,
                   help="seeds each trial trains and averages (the report uses other, fresh "
                   "seeds)")
    g.add_argument("--trial-seeds", choices=["common", "per-trial"], default="common",
                   help="every trial trains the same seeds, or each trial its own")
    g.add_argument("--batch-size", type=_positive_int("--batch-size"), default=None,
                   help="trials claimed together and trained in one model pass, each pruned "
                   "on its own (default: chosen from the graph's size, 16 on Planetoid)")
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
    p.add_argument("--seeds", type=_positive_int("--seeds"), default=10,
                   help="seeds to train (together) and average")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--out", default=None, help="write result.json and reliability.png here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("tune", help="Optuna search over (ε, λ) on validation")
    _add_data_args(p)
    _add_model_args(p, knobs=False)
    _add_tune_args(p)
    p.add_argument("--out", default=None, help="report directory (default: ./<study-name>)")
    p.set_defaults(handler=_cmd_tune)

    p = sub.add_parser("report", help="retrain a study's best configuration and the baseline "
                       "over fresh seeds; write tables and plots")
    p.add_argument("--storage", default=None,
                   help="the study's storage URL (default: sqlite:///graphls.db)")
    p.add_argument("--study-name", required=True, help="the study to report on")
    p.add_argument("--out", default=None, help="report directory (default: ./<study-name>)")
    p.add_argument("--seeds", type=_positive_int("--seeds"), default=10,
                   help="fresh seeds to retrain the best configuration and the baseline on")
    p.add_argument("--root", default=None,
                   help="dataset root (default: $GRAPHLS_DATA, else ~/.cache/graphls)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_report)

    p = sub.add_parser("datasets", help="list known datasets and whether each is available")
    p.add_argument("--root", default=None,
                   help="dataset root (default: $GRAPHLS_DATA, else ~/.cache/graphls)")
    p.add_argument("--copy-from", default=None, metavar="DIR",
                   help="instead of the list: copy the raw files of every known dataset in "
                   "DIR (e.g. ../shared/datasets) into the root and say so in one line")
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


def format_recall(summary: dict[str, Any], split: str = "test") -> str:
    """Each class's recall (%, mean ± std over seeds), then a warning line for every class
    whose recall is 0 on some seed: a class the model never predicts, which accuracy hides."""
    recall = summary[f"{split}_recall"]
    cells = [f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}" if r["mean"] == r["mean"]
             else "nan" for r in recall]
    width = max(12, *(len(c) + 2 for c in cells))
    lines = [f"per-class {split} recall (%, mean ± std over {len(summary['seeds'])} seeds)",
             f"{'class':8s}" + "".join(f"{c:>{width}d}" for c in range(len(recall))),
             f"{'recall':8s}" + "".join(f"{c:>{width}s}" for c in cells)]
    for c, count in sorted(summary.get(f"{split}_zero_recall", {}).items()):
        lines.append(f"warning: class {c} has {split} recall 0 on {count} of "
                     f"{len(summary['seeds'])} seeds: the model never predicts it for its nodes")
    return "\n".join(lines)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A ``TrainConfig`` from ``graphls train``/``tune`` arguments: the recipe's settings for
    the model, then every option given (``tune`` has no ε/λ options: they are searched)."""
    from graphls.config import TrainConfig

    if getattr(args, "epsilon_start", None) is not None and args.epsilon_schedule == "constant":
        raise UsageError("--epsilon-start needs --epsilon-schedule linear or cosine; got "
                         "--epsilon-schedule constant, which would ignore it")
    knobs = {name: getattr(args, name) for name in
             ("epsilon", "structural", "learn_structural", "epsilon_schedule",
              "epsilon_start", "prior_weight") if hasattr(args, name)}
    if "pseudo_label_rounds" in vars(args) and hasattr(args, "epsilon"):  # train: a setting
        knobs["pseudo_label_rounds"] = args.pseudo_label_rounds
    return TrainConfig.for_model(
        args.model, recipe=args.recipe, hidden=args.hidden, layers=args.layers,
        heads=args.heads, dropout=args.dropout, input_dropout=args.input_dropout, lr=args.lr,
        weight_decay=args.weight_decay, weight_decay_scope=args.weight_decay_scope,
        epochs=args.epochs, patience=args.patience, stop_window=args.stop_window,
        select=args.select, prior=args.prior, label_noise=args.noise,
        noise_kind=args.noise_kind, seed=getattr(args, "seed", None), device=args.device,
        **knobs)


def check_device(text: str) -> str:
    """``text`` as a torch device this machine has, before any data is loaded.

    Raises:
        UsageError: not a device name, or a device this build or machine lacks.
    """
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device must be a torch device such as cpu, cuda, cuda:1 or mps; "
                         f"got {text!r}") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}.get(device.type, False)
    if not available:
        why = ("this torch build has no CUDA" if device.type == "cuda" and not torch.version.cuda
               else f"no {device.type} device on this machine")
        raise UsageError(f"--device {text!r} is not available here ({why}; torch "
                         f"{torch.__version__}); use --device cpu")
    if (device.type == "cuda" and device.index is not None
            and device.index >= torch.cuda.device_count()):
        raise UsageError(f"--device {text!r}: this machine has {torch.cuda.device_count()} CUDA "
                         "device(s)")
    return text


def _cmd_train(args: argparse.Namespace) -> int:
    """``graphls train``: train over seeds, print the table, write result.json/reliability.png."""
    out = check_writable_dir(args.out) if args.out else None
    config = config_from_args(args)
    check_device(args.device)
    import torch

    from graphls import report
    from graphls.data import load_dataset
    from graphls.engine import evaluate

    data = load_dataset(args.dataset, root=args.root, split=args.split, seed=args.seed,
                        split_index=args.split_index)
    sweep = evaluate(data, config, args.seeds, progress=not args.no_progress)
    summary = sweep.summary()
    summary["dataset"] = getattr(data, "name", args.dataset)
    summary["split"] = getattr(data, "split", args.split)
    print(f"{summary['dataset']} ({summary['split']} split), {config.model.upper()}, "
          f"recipe {args.recipe}, epsilon={config.epsilon:g}, structural={config.structural}, "
          f"prior={config.prior}")
    print(format_table(summary, "test"))
    print(format_recall(summary))
    fallbacks = summary["temperature_fallbacks"]
    if fallbacks:
        print(f"temperature scaling fell back to T = 1 on {fallbacks} of {len(sweep.results)} "
              "seeds (the fit reached its bound or did not lower the validation NLL)")
    if out is not None:
        (out / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
        y = data.y.view(-1)
        test = data.test_mask
        probs = [torch.softmax(r.logits[test], -1) for r in sweep.results]
        report.plot_reliability({"graphls": (torch.cat(probs), y[test].repeat(len(probs)))},
                                out / "reliability.png", title=f"{summary['dataset']} "
                                f"{config.model.upper()} (test, all seeds)")
        print(f"wrote {out / 'result.json'} and {out / 'reliability.png'}")
    return 0


def _print_comparison(result: dict[str, Any]) -> None:
    """A study report's best-vs-baseline table (``write_report``'s result) on stdout."""
    from graphls import report
    from graphls.config import TrainConfig

    best = TrainConfig.from_dict(result["best"]["config"] | {"seed": 0})
    rows = {report.best_label(best.epsilon, best.structural): result["best"],
            report.BASELINE_LABEL: result["baseline"]}
    if "comparison" in result:
        print("\n".join(report.comparison_lines(result["comparison"])))
    print(report.format_comparison(rows))
    for line in report.recall_lines(rows):
        if line.startswith("\\n**Warning:**"):
            print(line.replace("\\n**Warning:**", "warning:"))


def _cmd_tune(args: argparse.Namespace) -> int:
    """``graphls tune``: run or resume the study, print its best trial, then the report."""
    out = check_writable_dir(args.out) if args.out else None
    from collections import Counter

    from graphls.tuning import StudySettings, quiet_optuna, run_study, select_best_trial

    config = config_from_args(args)
    check_device(args.device)
    settings = StudySettings(
        dataset=args.dataset, root=args.root, split=args.split, split_index=args.split_index,
        model=args.model, space=args.space, space_file=args.space_file, prior=args.prior,
        pseudo_label_rounds=args.pseudo_label_rounds, objective=args.objective,
        epochs=config.epochs, config=config, seeds_per_trial=args.seeds_per_trial,
        trial_seeds=args.trial_seeds, sampler=args.sampler, pruner=args.pruner,
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
    check_device(args.device)
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
    from graphls.data import copy_datasets, list_datasets, resolve_root

    if args.copy_from is not None:
        try:
            copied = copy_datasets(args.copy_from, args.root)
        except ValueError as exc:  # the argument is --copy-from here
            text = str(exc)
            raise UsageError(f"--copy-from{text[len('source'):]}" if text.startswith("source ")
                             else text) from None
        root = resolve_root(args.root)
        where = ("where graphls looks by default" if args.root is None
                 else f"pass --root {root} to use them")
        print(f"{len(copied)} datasets from {args.copy_from} are in {root} "
              f"({sum(copied.values())} copied now), {where}")
        return 0
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


def _warning_printer(prog: str) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints one line, ``PROG COMMAND: warning: message``,
    without Python's ``file:line: Category`` prefix and echoed source line."""
    stream = sys.stderr

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        print(f"{prog}: warning: {' '.join(str(message).split())}", file=file or stream)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``graphls`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    prog = f"{PROG} {args.command}"
    try:
        with sigterm_as_interrupt(), warnings.catch_warnings():
            warnings.showwarning = _warning_printer(prog)
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
