"""graphls: label smoothing and structural smoothing for GCN/GAT node classification.

The public names below are re-exported lazily (PEP 562), so that
``import graphls`` and the ``graphls`` CLI's ``--help`` stay instant; the
first access to, say, ``graphls.GCN`` imports torch and torch_geometric.
The core (losses, layers, models, metrics, calibration) imports only torch
and torch_geometric; Optuna, OGB and matplotlib are imported by the modules
that use them (``graphls.tuning``, ``graphls.data``, ``graphls.report``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "BinaryLabelSmoothingLoss": "graphls.losses",
    "EpsilonSchedule": "graphls.losses",
    "GAT": "graphls.models",
    "GCN": "graphls.models",
    "LabelSmoothingLoss": "graphls.losses",
    "StructuralGATConv": "graphls.nn",
    "StructuralGCNConv": "graphls.nn",
    "TemperatureScaling": "graphls.calibration",
    "accuracy_score": "graphls.metrics",
    "brier_score": "graphls.metrics",
    "expected_calibration_error": "graphls.metrics",
    "label_smoothing_cross_entropy": "graphls.functional",
    "maximum_calibration_error": "graphls.metrics",
    "negative_log_likelihood": "graphls.metrics",
    "neighbor_label_prior": "graphls.priors",
    "roc_auc_score": "graphls.metrics",
    "smooth_targets": "graphls.functional",
    "soft_cross_entropy": "graphls.functional",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from graphls.calibration import TemperatureScaling
    from graphls.functional import (
        label_smoothing_cross_entropy,
        smooth_targets,
        soft_cross_entropy,
    )
    from graphls.losses import BinaryLabelSmoothingLoss, EpsilonSchedule, LabelSmoothingLoss
    from graphls.metrics import (
        accuracy_score,
        brier_score,
        expected_calibration_error,
        maximum_calibration_error,
        negative_log_likelihood,
        roc_auc_score,
    )
    from graphls.models import GAT, GCN
    from graphls.nn import StructuralGATConv, StructuralGCNConv
    from graphls.priors import neighbor_label_prior


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphls' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
