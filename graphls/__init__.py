"""graphls: label smoothing and structural smoothing for GCN/GAT node classification.

The core (losses, layers, models, metrics, calibration) imports only torch
and torch_geometric; Optuna, OGB and matplotlib are imported by the modules
that use them (``graphls.tuning``, ``graphls.data``, ``graphls.report``).
"""

from graphls.calibration import TemperatureScaling
from graphls.functional import (
    label_smoothing_cross_entropy,
    neighbor_label_prior,
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
)
from graphls.models import GAT, GCN
from graphls.nn import StructuralGATConv, StructuralGCNConv

__version__ = "0.1.0"

__all__ = [
    "GAT",
    "GCN",
    "BinaryLabelSmoothingLoss",
    "EpsilonSchedule",
    "LabelSmoothingLoss",
    "StructuralGATConv",
    "StructuralGCNConv",
    "TemperatureScaling",
    "__version__",
    "accuracy_score",
    "brier_score",
    "expected_calibration_error",
    "label_smoothing_cross_entropy",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "neighbor_label_prior",
    "smooth_targets",
    "soft_cross_entropy",
]
