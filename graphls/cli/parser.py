"""The ``graphls`` argument parser: subcommands, options and their value checks.

Building it imports nothing heavy (the commands import torch, PyG, Optuna and
matplotlib inside their bodies), so ``graphls --help`` and argument errors
answer at once. A bad value is one line on stderr and exit status 2; every
option's help shows its default.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from graphls.cli.commands import cmd_datasets, cmd_report, cmd_train, cmd_tune

__all__ = ["PROG", "build_parser"]

PROG = "graphls"


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


def _split_index(text: str) -> int | str | tuple[int, ...]:
    """An integer, ``all`` (every numbered split) or a list like ``0,1,2``."""
    if text == "all":
        return text
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--split-index must be an integer >= 0, 'all' or "
                                         f"distinct ones like 0,1,2; got {text!r}")
    return values[0] if len(values) == 1 else values


def _structural(text: str) -> float | tuple[float, ...]:
    """``0.8`` (every layer) or ``1,0.5`` (one value per layer)."""
    parts = [p for p in text.split(",") if p.strip()]
    values = [_float_in("--structural", 0.0, 1.0)(p) for p in parts]
    if not values:
        raise argparse.ArgumentTypeError(f"--structural must be a number in [0, 1]; got {text!r}")
    return values[0] if len(values) == 1 else tuple(values)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="Cora", help="dataset name (see `graphls datasets`)")
    g.add_argument("--root", default=None,
                   help="dataset root (default: $GRAPHLS_DATA, else ~/.cache/graphls)")
    g.add_argument("--split", default=None,
                   help="public|random|dense|fixed|official|bernnet (default: the dataset's "
                   "own)")
    g.add_argument("--split-index", type=_split_index, default=0,
                   help="which split (0-9): a shipped fixed one, or one of BernNet's (bernnet); "
                   "'all' (or a list like 0,1,2): train reports mean ± std over those splits, "
                   "tune scores every trial by its mean over them")
    g.add_argument("--noise", type=_float_in("--noise", 0.0, 1.0, high_open=True), default=0.0,
                   help="fraction of training labels to flip, in [0, 1)")
    g.add_argument("--noise-kind", choices=["symmetric", "pair"], default="symmetric",
                   help="how flipped labels are drawn")


def _add_model_args(p: argparse.ArgumentParser, *, knobs: bool) -> None:
    g = p.add_argument_group("model and training")
    g.add_argument("--model", choices=["gcn", "gat"], default="gcn", help="the GNN")
    g.add_argument("--recipe", choices=["pyg", "bernnet"], default="pyg",
                   help="the settings the options below default to: PyG's examples, or the "
                   "BernNet/PosteL recipe (64 hidden, GAT 8 heads of 8, lr 0.05, decay on "
                   "all, no input dropout for GCN, lowest validation loss kept, their "
                   "stopping rule, "
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
    g.add_argument("--seeds-per-trial", type=_positive_int("--seeds-per-trial"), default=3,
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
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("tune", help="Optuna search over (ε, λ) on validation")
    _add_data_args(p)
    _add_model_args(p, knobs=False)
    _add_tune_args(p)
    p.add_argument("--out", default=None, help="report directory (default: ./<study-name>)")
    p.set_defaults(handler=cmd_tune)

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
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("datasets", help="list known datasets and whether each is available")
    p.add_argument("--root", default=None,
                   help="dataset root (default: $GRAPHLS_DATA, else ~/.cache/graphls)")
    p.add_argument("--copy-from", default=None, metavar="DIR",
                   help="instead of the list: copy the raw files of every known dataset in "
                   "DIR (e.g. ../shared/datasets) into the root and say so in one line")
    p.set_defaults(handler=cmd_datasets)
    return parser
