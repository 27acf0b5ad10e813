"""graphls.tuning.report: best vs baseline on fresh seeds, the files, the Pareto front."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from tuning_helpers import PNG, quick

from graphls.cli import main
from graphls.config import TrainConfig
from graphls.tuning import (
    REPORT_SEED_BASE,
    StudySettings,
    param_importances,
    run_study,
    select_best_trial,
    write_report,
)


def test_report_writes_tables_and_plots(tmp_path, capsys, datasets_root):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    study = run_study(StudySettings(dataset="Texas", epochs=4, root=datasets_root, storage=url,
                                    pruner="none"), n_trials=3, progress=False)
    out = tmp_path / "report"
    assert main(["report", "--storage", url, "--study-name", study.study_name, "--out",
                 str(out), "--seeds", "2", "--root", str(datasets_root), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "baseline (ε=0, λ=1)" in printed and "ECE (%), temperature-scaled" in printed
    assert "ROC AUC (%)" in printed
    best = json.loads((out / "best.json").read_text())
    # the report's summaries carry a ROC AUC per seed (its value is checked in test_train)
    aucs = best["best"]["test"]["roc_auc"]["values"]
    assert len(aucs) == 2 and all(0.0 <= v <= 1.0 for v in aucs)
    assert best["best_trial"] == study.best_trial.number
    assert best["params"] == study.best_params
    assert best["report_seeds"] == [REPORT_SEED_BASE, REPORT_SEED_BASE + 1]
    assert best["best"]["config"]["epsilon"] == study.best_params["epsilon"]
    assert best["baseline"]["config"]["epsilon"] == 0 and best["baseline"]["config"][
        "structural"] == 1
    assert len(best["best"]["test"]["accuracy"]["values"]) == 2
    csv = (out / "trials.csv").read_text().splitlines()
    assert len(csv) == 4 and "params_epsilon" in csv[0] and "params_structural" in csv[0]
    summary = (out / "summary.md").read_text()
    assert f"Best trial #{study.best_trial.number}" in summary and "| accuracy (%) |" in summary
    for name in ("landscape", "importances", "history", "reliability"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == PNG and len(png) > 5000, name
    assert not (out / "pareto.png").exists()


def test_multi_objective_report_draws_the_pareto_front(graph, tmp_path):
    study = quick(graph, n_trials=3, objective="multi", epochs=4)
    result = write_report(study, tmp_path, seeds=2, data=graph, progress=False)
    assert (tmp_path / "pareto.png").read_bytes()[:8] == PNG
    assert result["best_trial"] == select_best_trial(study).number
    assert "Pareto" in result["selection_rule"]
    assert result["selection_rule"].endswith("best validation accuracy")
    assert "![Pareto front (validation accuracy vs ECE)](pareto.png)" in (
        tmp_path / "summary.md").read_text()
    auc = quick(graph, n_trials=3, objective="multi", epochs=4,
                config=TrainConfig.for_model("gcn", select="roc_auc"))
    result = write_report(auc, tmp_path / "auc", seeds=2, data=graph, progress=False)
    assert result["selection_rule"].endswith("best validation roc_auc")
    summary = (tmp_path / "auc" / "summary.md").read_text()
    assert "![Pareto front (validation ROC AUC vs ECE)](pareto.png)" in summary
    assert "![validation ROC AUC over (ε, λ)](landscape.png)" in summary


def test_importances_are_fanova_with_scikit_learn():
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: t.suggest_float("structural", 0, 1)
                   + 0.01 * t.suggest_float("epsilon", 0, 0.5), n_trials=30)
    importances, evaluator = param_importances(study)
    assert evaluator == "fANOVA"
    assert set(importances) == {"epsilon", "structural"}
    assert importances["structural"] > 0.9 > importances["epsilon"]


NO_SKLEARN = '''
import json, sys
import torch_geometric  # torch._dynamo looks modules up when it is imported: before the block

class NoScikitLearn:  # an install without scikit-learn (it is a test-only dependency)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "sklearn":
            raise ModuleNotFoundError(f"No module named {name!r}")

assert "sklearn" not in sys.modules
sys.meta_path.insert(0, NoScikitLearn())
import optuna, torch
optuna.logging.set_verbosity(optuna.logging.WARNING)
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[1])
from tuning_helpers import quick, synthetic
from graphls.tuning import param_importances, write_report

def f(t):
    return t.suggest_float("structural", 0, 1) + 0.01 * t.suggest_float("epsilon", 0, 0.5)

single = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
single.optimize(f, n_trials=30)
multi = optuna.create_study(directions=["maximize", "minimize"],
                            sampler=optuna.samplers.RandomSampler(0))
multi.optimize(lambda t: (f(t), t.params["epsilon"]), n_trials=30)
graph = synthetic()
study = quick(graph, n_trials=3, epochs=4)
write_report(study, sys.argv[2], seeds=1, data=graph, progress=False)
print(json.dumps([param_importances(single), param_importances(multi),
                  "sklearn" in sys.modules]))
'''


def test_importances_and_the_report_work_without_scikit_learn(tmp_path):
    """Without scikit-learn (fANOVA's random forest), PED-ANOVA ranks the parameters."""
    out = subprocess.run([sys.executable, "-c", NO_SKLEARN, str(Path(__file__).parent),
                          str(tmp_path)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    (single, evaluator), (multi, multi_evaluator), imported = json.loads(
        out.stdout.splitlines()[-1])
    assert evaluator == multi_evaluator == "PED-ANOVA" and not imported
    for importances in (single, multi):  # multi: the first value (maximised) is the target
        assert set(importances) == {"epsilon", "structural"}
        assert importances["structural"] > 0.9 > importances["epsilon"]
    png = (tmp_path / "importances.png").read_bytes()
    assert png[:8] == PNG and len(png) > 5000


def test_report_opens_with_the_paired_verdict_and_shows_per_class_recall(graph, tmp_path,
                                                                       capsys):
    import numpy as np

    study = quick(graph, n_trials=3, epochs=6)
    result = write_report(study, tmp_path, seeds=3, data=graph, progress=False)
    cmp = result["comparison"]
    assert set(cmp) == {"accuracy", "accuracy_calibrated", "ece", "ece_calibrated"}
    best = result["best"]["test"]["accuracy"]["values"]
    base = result["baseline"]["test"]["accuracy"]["values"]
    assert cmp["accuracy"]["mean"] == pytest.approx(np.mean(np.subtract(best, base)))
    summary = (tmp_path / "summary.md").read_text().splitlines()
    assert summary[2].startswith("Verdict: the tuned configuration is ")
    assert summary[3].startswith("- test accuracy: ") and "95 % interval" in summary[3]
    text = "\n".join(summary)
    assert "Per-class test recall" in text and "| class |" in text


def test_a_baseline_best_is_trained_once(graph, tmp_path, monkeypatch):
    """When trial 0 (the baseline) wins, the report does not train it twice."""
    import graphls.tuning.report as report_module

    study = quick(graph, n_trials=1, epochs=4)  # only the baseline ran
    assert study.best_trial.params == {"epsilon": 0.0, "structural": 1.0}
    calls = []
    real = report_module.evaluate

    def counting(data, config, seeds, **kw):
        calls.append(1 if not isinstance(config, list) else len(config))
        return real(data, config, seeds, **kw)

    monkeypatch.setattr(report_module, "evaluate", counting)
    result = write_report(study, tmp_path, seeds=2, data=graph, progress=False)
    assert calls == [1]
    assert result["best"]["test"] == result["baseline"]["test"]
    assert result["comparison"]["accuracy"]["verdict"] == "no detectable difference"
