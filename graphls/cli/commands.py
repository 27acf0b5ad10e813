"""The bodies of ``graphls train|tune|report|datasets`` and the tables they print.

Each command takes the parsed arguments and returns the exit status. Torch,
PyG, Optuna and matplotlib are imported inside the command that needs them,
and the devices and the output directory are checked before any data is
loaded; bad input raises :class:`UsageError` (a ``ValueError``), which
:func:`graphls.cli.main` prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphls.config import TrainConfig

__all__ = [
    "UsageError",
    "check_device",
    "check_writable_dir",
    "cmd_datasets",
    "cmd_report",
    "cmd_train",
    "cmd_tune",
    "config_from_args",
    "format_recall",
    "format_table",
]


class UsageError(ValueError):
    """Bad command-line input: printed as one line, exit status 2."""


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


def format_table(summary: dict[str, Any], split: str = "test") -> str:
    """A fixed-width table of ``split`` metrics, raw and temperature-scaled (percent)."""
    rows = [("raw", summary[split]), ("temperature-scaled", summary[f"{split}_calibrated"])]
    head = (f"{'':20s}{'accuracy':>16s}{'ECE':>16s}{'NLL':>16s}{'Brier':>16s}"
            f"{'confidence':>16s}{'ROC AUC':>16s}")
    runs = _runs(summary)
    lines = [f"{split} (mean ± std over {runs}; accuracy/ECE/"
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


def _runs(summary: dict[str, Any]) -> str:
    """What a summary's mean ± std is over: seeds, or splits × seeds."""
    if "split_indices" in summary:
        splits = len(summary["split_indices"])
        return f"{splits} splits × {len(summary['seeds']) // splits} seed(s)"
    return f"{len(summary['seeds'])} seeds"


def format_recall(summary: dict[str, Any], split: str = "test") -> str:
    """Each class's recall (%, mean ± std over seeds), then a warning line for every class
    whose recall is 0 on some seed: a class the model never predicts, which accuracy hides."""
    recall = summary[f"{split}_recall"]
    cells = [f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}" if r["mean"] == r["mean"]
             else "nan" for r in recall]
    width = max(12, *(len(c) + 2 for c in cells))
    runs = _runs(summary)
    lines = [f"per-class {split} recall (%, mean ± std over {runs}; nan: no test node of "
             "that class)",
             f"{'class':8s}" + "".join(f"{c:>{width}d}" for c in range(len(recall))),
             f"{'recall':8s}" + "".join(f"{c:>{width}s}" for c in cells)]
    for c, count in sorted(summary.get(f"{split}_zero_recall", {}).items()):
        lines.append(f"warning: class {c} has {split} recall 0 on {count} of "
                     f"{len(summary['seeds'])} runs: the model never predicts it for its nodes")
    return "\n".join(lines)


def split_indices(args: argparse.Namespace) -> list[int]:
    """Every numbered split of ``--split`` on ``--dataset`` (``--split-index all``)."""
    from graphls.data.registry import dataset_info
    from graphls.data.splits import BERNNET_SEEDS

    info = dataset_info(args.dataset)
    kind = args.split or info.splits[0]
    if kind == "public" and "fixed" in info.splits:  # "public" names the shipped splits there
        kind = "fixed"
    count = {"bernnet": len(BERNNET_SEEDS), "fixed": info.num_fixed_splits}.get(kind, 0)
    if not count:
        raise UsageError(f"--split-index all needs numbered splits (--split bernnet, or fixed "
                         f"on a dataset that ships several); got --split {args.split} on "
                         f"{info.name}")
    return list(range(count))


def chosen_splits(args: argparse.Namespace) -> list[int]:
    """``--split-index`` as a list: one split, ``all`` of them, or the listed ones."""
    if args.split_index == "all":
        return split_indices(args)
    k = args.split_index
    return list(k) if isinstance(k, tuple) else [k]


def cmd_train(args: argparse.Namespace) -> int:
    """``graphls train``: train over seeds, print the table, write result.json/reliability.png."""
    out = check_writable_dir(args.out) if args.out else None
    config = config_from_args(args)
    check_device(args.device)
    import torch

    from graphls import report
    from graphls.data import load_dataset
    from graphls.engine import SeedSweep, evaluate

    indices = chosen_splits(args)
    results = []
    for k in indices:  # one split at a time: the masks differ, so splits cannot share a batch
        data = load_dataset(args.dataset, root=args.root, split=args.split, seed=args.seed,
                            split_index=k)
        results += evaluate(data, config, args.seeds, progress=not args.no_progress).results
    sweep = SeedSweep(config, results)
    summary = sweep.summary()
    summary["dataset"] = getattr(data, "name", args.dataset)
    summary["split"] = getattr(data, "split", args.split)
    what = f"{summary['dataset']} ({summary['split']} split"
    if len(indices) > 1:
        summary["split_indices"] = indices
        what += f"s {indices[0]}-{indices[-1]}, {args.seeds} seed(s) each"
    print(f"{what}), {config.model.upper()}, recipe {args.recipe}, "
          f"epsilon={config.epsilon:g}, structural={config.structural}, prior={config.prior}")
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


def cmd_tune(args: argparse.Namespace) -> int:
    """``graphls tune``: run or resume the study, print its best trial, then the report."""
    out = check_writable_dir(args.out) if args.out else None
    from collections import Counter

    from graphls.tuning import StudySettings, quiet_optuna, run_study, select_best_trial

    config = config_from_args(args)
    check_device(args.device)
    settings = StudySettings(
        dataset=args.dataset, root=args.root, split=args.split,
        split_index=tuple(chosen_splits(args)), model=args.model, space=args.space,
        space_file=args.space_file, prior=args.prior,
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


def cmd_report(args: argparse.Namespace) -> int:
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


def cmd_datasets(args: argparse.Namespace) -> int:
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
