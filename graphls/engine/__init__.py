"""The one training engine: B configurations trained together; a single run is a batch of one.

- :mod:`~graphls.engine.graph`: the graph as the engine reads it (features,
  normalised adjacency, masks, the cones of the rows a GAT pass reads),
  prepared once per ``data``;
- :mod:`~graphls.engine.pattern`: the edges GAT attends over and the
  interleaved layout of many attention maps on them;
- :mod:`~graphls.engine.stacked` and :mod:`~graphls.engine.attention`: the
  stacked GCN/GAT layers, one pass for every member;
- :mod:`~graphls.engine.members`: members made from the public models, their
  generators, loss targets and priors;
- :mod:`~graphls.engine.optim`: Adam over stacked parameters;
- :mod:`~graphls.engine.loop`: the epoch loop, selection, stopping and final
  evaluation (:func:`fit_many`, :func:`fit`);
- :mod:`~graphls.engine.sweep`: seed sweeps (:func:`evaluate`) and summaries.

>>> import torch
>>> from torch_geometric.data import Data
>>> from graphls.config import TrainConfig
>>> g = torch.Generator().manual_seed(0)
>>> data = Data(x=torch.randn(6, 3, generator=g), y=torch.tensor([0, 0, 1, 1, 0, 1]),
...             edge_index=torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]]),
...             train_mask=torch.tensor([1, 1, 1, 1, 0, 0], dtype=torch.bool),
...             val_mask=torch.tensor([0, 0, 0, 0, 1, 1], dtype=torch.bool),
...             test_mask=torch.tensor([0, 0, 0, 0, 1, 1], dtype=torch.bool))
>>> result = fit(data, TrainConfig(epochs=5))
>>> result.epochs_run, result.model()(data.x, data.edge_index).shape
(5, torch.Size([6, 2]))
"""

from graphls.engine.loop import (
    BATCH_FIELDS,
    StopMember,
    TrainingDiverged,
    batch_key,
    fit,
    fit_many,
)
from graphls.engine.members import make_prior
from graphls.engine.optim import BatchedAdam
from graphls.engine.sweep import (
    SEED_BATCH_ELEMENTS,
    SeedSweep,
    compare,
    default_seed_batch,
    evaluate,
    paired_difference,
    summarize,
)

__all__ = [
    "BATCH_FIELDS",
    "SEED_BATCH_ELEMENTS",
    "BatchedAdam",
    "SeedSweep",
    "StopMember",
    "TrainingDiverged",
    "batch_key",
    "compare",
    "default_seed_batch",
    "evaluate",
    "fit",
    "fit_many",
    "make_prior",
    "paired_difference",
    "summarize",
]
