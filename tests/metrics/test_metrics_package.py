"""graphls.metrics as a package: the public names it re-exports, and its docstring examples."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import graphls.metrics

PUBLIC_API = ["STRATEGIES", "ReliabilityBins", "accuracy_score", "brier_score",
              "classification_report", "expected_calibration_error",
              "maximum_calibration_error", "mean_confidence", "mean_logit_margin",
              "negative_log_likelihood", "recall_per_class", "reliability_bins",
              "roc_auc_score"]
SUBMODULES = [f"graphls.metrics.{m.name}" for m in pkgutil.iter_modules(graphls.metrics.__path__)]


def test_public_api_is_re_exported():
    assert graphls.metrics.__all__ == PUBLIC_API
    for name in PUBLIC_API:
        obj = getattr(graphls.metrics, name)
        module = getattr(obj, "__module__", None) or "graphls.metrics.inputs"  # a tuple
        assert module in SUBMODULES, (name, module)


def test_docstring_examples_run():
    attempted = 0
    for name in ["graphls.metrics", *SUBMODULES]:
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted > 0
