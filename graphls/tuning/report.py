"""The after-study report: retrain the best configuration and the baseline, write the files.

:func:`write_report` reads a study (its settings are its user attributes, so the
storage alone is enough), retrains its best configuration and the ε = 0, λ = 1
baseline on fresh seeds ``REPORT_SEED_BASE + s``, and writes ``best.json``,
``trials.csv``, ``summary.md`` and the plots. The figures and the markdown are
drawn by :mod:`graphls.report` from plain numbers; this module turns the study
into those numbers.
"""

from __future__ import annotations

import json
import math
import os
import platform
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from graphls import __version__, report
from graphls._validation import check_positive_int
from graphls.config import METRIC_LABELS, TrainConfig
from graphls.engine import SeedSweep, compare, evaluate
from graphls.tuning.study import FINISHED, score_metric, select_best_trial

__all__ = ["REPORT_SEED_BASE", "param_importances", "write_report"]

#: Reports train seeds ``REPORT_SEED_BASE + s``: never the trials' (``TRIAL_SEED_BASE``).
REPORT_SEED_BASE = 100


def param_importances(study: optuna.Study) -> tuple[dict[str, float], str]:
    """The parameters' importances for the study's (first) value, and the evaluator's name.

    fANOVA (Optuna's ``FanovaImportanceEvaluator``, seed 0) where scikit-learn is
    installed, which its random forest needs; without scikit-learn, PED-ANOVA
    (Optuna's ``PedAnovaImportanceEvaluator``: which parameters it takes to reach the
    top 10 % of the trials, no further dependency). For ``multi`` the first value
    (validation accuracy or ROC AUC) is the target. Too few completed trials with
    varied parameters give ``{}``.
    """
    from optuna.importance import (
        FanovaImportanceEvaluator,
        PedAnovaImportanceEvaluator,
        get_param_importances,
    )

    multi = len(study.directions) > 1
    try:
        evaluator: Any = FanovaImportanceEvaluator(seed=0)
        name = "fANOVA"
        target = (lambda t: t.values[0]) if multi else None
    except ImportError:  # no scikit-learn
        evaluator = PedAnovaImportanceEvaluator()
        name = "PED-ANOVA"
        # PED-ANOVA takes a target as lower-is-better; the first value of multi is maximised
        target = (lambda t: -t.values[0]) if multi else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(get_param_importances(study, evaluator=evaluator, target=target)), name
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}, name


def _study_data(study: optuna.Study, root: str | os.PathLike | None) -> list[Any]:
    """The dataset on each split the study was tuned on, from its user attributes."""
    from graphls.data import load_dataset

    a = study.user_attrs
    indices = a.get("split_index", 0)
    return [load_dataset(a["dataset"], root=root, split=a.get("split"),
                         seed=a.get("data_seed", 0), split_index=k)
            for k in (indices if isinstance(indices, list) else [indices])]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return str(value)


def write_report(study: optuna.Study, out: str | os.PathLike, *, seeds: int = 10,
                 root: str | os.PathLike | None = None, data: Any = None,
                 device: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Retrain the best configuration and the ε = 0, λ = 1 baseline; write files to ``out``.

    The best trial is :func:`select_best_trial`'s; the baseline is the study's
    fixed settings (PyG's example settings unless the study was given others) with
    ``epsilon = 0``, ``structural = 1`` and the uniform prior, i.e. plain PyG.
    Both train together on seeds ``REPORT_SEED_BASE + s`` (``s < seeds``), never
    used in the search, and are evaluated on the test split (mean ± std, ECE with
    15 bins). ``comparison`` holds the paired test differences, best minus
    baseline seed by seed, with their 95 % intervals and verdicts
    (:func:`graphls.engine.compare`): accuracy and ECE, raw and after
    temperature scaling; ``summary.md`` opens with them. A study tuned on several
    splits is reported on each of them (``data``: one ``Data`` per split; default
    the study's own splits), seed by seed, pooled and paired by (split, seed).

    Writes ``best.json``, ``trials.csv`` (``study.trials_dataframe()``),
    ``summary.md``, ``landscape.png`` (validation accuracy over (ε, λ)),
    ``importances.png``, ``history.png``, ``reliability.png`` (test, best vs
    baseline, all seeds pooled) and, for ``multi``, ``pareto.png``.

    Returns:
        The content of ``best.json``.
    """
    import torch

    check_positive_int("seeds", seeds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    attrs = study.user_attrs
    if "base_config" not in attrs:
        raise ValueError(f"study {study.study_name!r} was not made by graphls tune "
                         "(no base_config user attribute)")
    best = select_best_trial(study)
    base = TrainConfig.from_dict(attrs["base_config"])
    if device is not None:
        base = base.replace(device=device)
    if data is None:
        data = _study_data(study, root)
    datas = list(data) if isinstance(data, (list, tuple)) else [data]
    seed_list = [REPORT_SEED_BASE + s for s in range(seeds)]
    best_config = base.replace(**best.params, seed=seed_list[0])
    baseline_config = base.replace(epsilon=0.0, structural=1.0, prior="uniform",
                                   prior_weight=1.0, pseudo_label_rounds=0, seed=seed_list[0])
    # one pass: every (configuration, seed) is a member of the same batches; when the best
    # trial is the baseline itself (trial 0 won), it is trained once
    best_runs: list[Any] = []
    base_runs: list[Any] = []
    for split_data in datas:  # one split at a time: their masks differ
        if best_config == baseline_config:
            sweep = evaluate(split_data, baseline_config, seed_list, progress=progress)
            best_runs += sweep.results
            base_runs += sweep.results
        else:
            b, p = evaluate(split_data, [best_config, baseline_config], seed_list,
                            progress=progress)
            best_runs += b.results
            base_runs += p.results
    best_sweep = SeedSweep(best_config, best_runs)
    base_sweep = SeedSweep(baseline_config, base_runs)
    best_summary, base_summary = best_sweep.summary(), base_sweep.summary()
    comparison = compare(best_sweep, base_sweep)

    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    label_best = report.best_label(best_config.epsilon, best_config.structural)
    result: dict[str, Any] = {
        "study_name": study.study_name,
        "dataset": attrs.get("dataset"), "split": attrs.get("split"),
        "model": attrs.get("model"), "space": attrs.get("space"),
        "objective": attrs.get("objective"),
        "score_metric": score_metric(study),
        "directions": [d.name.lower() for d in study.directions],
        "trials": dict(sorted(counts.items())),
        "best_trial": best.number, "params": best.params, "values": best.values,
        "validation": {k: v for k, v in best.user_attrs.items() if k.startswith("val_")},
        "selection_rule": ("lowest validation ECE among Pareto trials within 0.5 points of the "
                           f"best validation {score_metric(study)}")
        if len(study.directions) > 1 else f"best validation {attrs.get('objective')}",
        "report_seeds": seed_list,
        "report_splits": len(datas),
        "best": best_summary, "baseline": base_summary,
        "comparison": comparison,
        "environment": {"python": platform.python_version(), "optuna": optuna.__version__,
                        "torch": torch.__version__, "graphls": __version__,
                        "machine": platform.machine(), "node": platform.node()},
    }
    (out / "best.json").write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
    study.trials_dataframe().to_csv(out / "trials.csv", index=False)

    rows = {label_best: best_summary, report.BASELINE_LABEL: base_summary}
    title = (f"{attrs.get('dataset')} {str(attrs.get('model')).upper()} "
             f"({attrs.get('split') or 'default'} split)")
    _plots(study, out, best, title)
    curves = {}
    for label, sweep in ((label_best, best_sweep), (report.BASELINE_LABEL, base_sweep)):
        probs, labels = [], []
        for i, r in enumerate(sweep.results):  # runs are split by split, seeds within each
            split_data = datas[i // seeds]
            test = split_data.test_mask
            probs.append(torch.softmax(r.logits[test], -1))
            labels.append(split_data.y.view(-1)[test])
        curves[label] = (torch.cat(probs), torch.cat(labels))
    pooled = f"{seeds} seeds" + (f" × {len(datas)} splits" if len(datas) > 1 else "")
    report.plot_reliability(curves, out / "reliability.png",
                            title=f"{title}: test, {pooled} pooled")
    (out / "summary.md").write_text(report.study_markdown(result, rows))
    return result


def _plots(study: optuna.Study, out: Path, best: FrozenTrial, title: str) -> None:
    """``landscape.png``, ``importances.png``, ``history.png`` and (``multi``) ``pareto.png``."""
    trials = study.get_trials(deepcopy=False, states=FINISHED)
    multi = len(study.directions) > 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # landscape: validation accuracy (ROC AUC for a roc_auc study) over (ε, λ); pruned
    # trials at the value they were stopped with
    objective = study.user_attrs.get("objective", "objective")
    metric = "roc_auc" if score_metric(study) == "roc_auc" else "accuracy"
    what = f"validation {METRIC_LABELS[metric]}"
    points = []
    for t in trials:
        if "epsilon" not in t.params or "structural" not in t.params:
            continue
        value = t.user_attrs.get(f"val_{metric}")
        if (value is None and t.state == TrialState.PRUNED and t.intermediate_values
                and objective == metric):
            value = t.intermediate_values[max(t.intermediate_values)]
        points.append((t.params["epsilon"], t.params["structural"], value,
                       t.state == TrialState.COMPLETE))
    report.plot_landscape(
        [p[0] for p in points], [p[1] for p in points], [p[2] for p in points],
        out / "landscape.png", complete=[p[3] for p in points],
        best=(best.params.get("epsilon"), best.params.get("structural")), label=what,
        title=f"{title}: {what} over (ε, λ)")
    target = METRIC_LABELS.get(score_metric(study), score_metric(study))
    importances, evaluator = param_importances(study)
    report.plot_importances(importances, out / "importances.png",
                            title=f"{title}: importance for validation {target} ({evaluator})")
    report.plot_history(
        [t.number for t in trials],
        [t.values[0] if t.values else math.nan for t in trials],
        out / "history.png", pruned=[t.state == TrialState.PRUNED for t in trials],
        maximize=study.directions[0] == optuna.study.StudyDirection.MAXIMIZE,
        label=f"validation {target}",
        title=f"{title}: optimisation history")
    if multi:
        front = {t.number for t in study.best_trials}
        report.plot_pareto(
            [t.values[0] for t in complete], [t.values[1] for t in complete],
            out / "pareto.png", front=[t.number in front for t in complete],
            chosen=next(i for i, t in enumerate(complete) if t.number == best.number),
            label=f"validation {target}", title=f"{title}: validation {target} vs ECE")
