"""OGB: opening a node-property dataset with OGB's own class, and OGB's evaluator.

``ogb`` is imported inside the functions, so ``import graphls.data`` works
without it installed.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["ogb_evaluate", "ogb_safe_globals", "open_ogb"]


def ogb_safe_globals() -> Any:
    """Allow OGB's ``torch.load`` of a PyG ``Data`` under torch >= 2.6 (``weights_only``)."""
    import torch

    safe = getattr(torch.serialization, "safe_globals", None)
    if safe is None:  # pragma: no cover - torch < 2.5 loads with weights_only=False
        return contextlib.nullcontext()
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    return safe([DataEdgeAttr, DataTensorAttr, GlobalStorage])


def open_ogb(name: str, root: str) -> tuple[Any, dict[str, Any]]:
    """OGB's ``PygNodePropPredDataset(name, root)`` and ``{"idx_split": get_idx_split()}``.

    OGB's progress chatter goes to stderr, so stdout stays clean.
    """
    from ogb.nodeproppred import PygNodePropPredDataset

    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr), ogb_safe_globals():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        ds = PygNodePropPredDataset(name, root=root)
        split = ds.get_idx_split()
    return ds, {"idx_split": split}


def ogb_evaluate(name: str, y_true: torch.Tensor, y_pred: torch.Tensor,
                 mask: torch.Tensor | None = None, *,
                 meta_dict: dict[str, Any] | None = None) -> float:
    """OGB's official metric (accuracy for ogbn-arxiv/products) via ``ogb``'s ``Evaluator``.

    .. math::
        \\mathrm{acc} = \\frac{1}{|M|} \\sum_{i \\in M} [\\hat y_i = y_i]

    Args:
        name: An OGB node-property dataset (``"ogbn-arxiv"``, ...).
        y_true: Labels, (N,) or OGB's (N, 1).
        y_pred: Predicted classes (N,)/(N, 1), or scores (N, K) (argmax taken).
        mask: Optional boolean (N,) mask of the nodes to score (e.g. ``test_mask``).
        meta_dict: OGB metadata (``"num tasks"``, ``"eval metric"``) for a
            dataset not in OGB's ``master.csv``, as ``PygNodePropPredDataset``
            accepts; the Evaluator then skips its name lookup.

    Returns:
        The metric as a float.
    """
    import torch
    from ogb.nodeproppred import Evaluator

    from graphls._validation import check_same_length, check_tensor

    check_tensor("y_true", y_true)
    check_tensor("y_pred", y_pred)
    if y_pred.dim() == 2 and y_pred.size(1) > 1:
        y_pred = y_pred.argmax(dim=-1)
    y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    check_same_length("y_true", y_true, "y_pred", y_pred)
    if mask is not None:
        check_tensor("mask", mask)
        if mask.dtype != torch.bool or mask.dim() != 1 or mask.numel() != y_true.size(0):
            raise ValueError(f"mask must be a 1-D boolean tensor of length {y_true.size(0)}; "
                             f"got dtype {mask.dtype}, shape {tuple(mask.shape)}")
        y_true, y_pred = y_true[mask], y_pred[mask]
    if meta_dict is None:
        evaluator = Evaluator(name)
    else:
        evaluator = Evaluator.__new__(Evaluator)
        evaluator.name = name
        evaluator.num_tasks = int(meta_dict["num tasks"])
        evaluator.eval_metric = meta_dict["eval metric"]
    result = evaluator.eval({"y_true": y_true.long().cpu(), "y_pred": y_pred.long().cpu()})
    return float(result[evaluator.eval_metric])
