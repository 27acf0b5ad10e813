"""Small graphs and helpers shared by the engine tests."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data

from graphls.config import TrainConfig

SPLITS = ("train", "val", "test")


def synthetic(n: int = 60, f: int = 40, k: int = 3, density: float = 0.06, seed: int = 0,
              dtype: torch.dtype = torch.float64) -> Data:
    """A small bag-of-words graph whose labels follow the features (and the edges)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = (torch.rand(n, f, generator=g) < density).to(dtype)
    x[torch.arange(n), y * (f // k) + torch.randint(0, f // k, (n,), generator=g)] = 1.0
    src = torch.randint(0, n, (3 * n,), generator=g)
    dst = torch.where(torch.rand(3 * n, generator=g) < 0.7,
                      (src + k * torch.randint(1, 4, (3 * n,), generator=g)) % n,
                      torch.randint(0, n, (3 * n,), generator=g))
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    for m, idx in zip(masks, perm.chunk(3), strict=True):
        m[idx] = True
    return Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2])


def assert_same_result(ours, ref, *, rtol: float, atol: float) -> None:
    assert ours is not None
    assert ours.config == ref.config
    assert ours.best_epoch == ref.best_epoch
    assert ours.epochs_run == ref.epochs_run
    assert len(ours.history) == len(ref.history)
    for a, b in zip(ours.history, ref.history, strict=True):
        assert a.keys() == b.keys()
        assert a["epoch"] == b["epoch"] and a["val_accuracy"] == b["val_accuracy"]
        for key in ("loss", "epsilon", "val_nll", "val_roc_auc"):
            if key in b:
                assert math.isclose(a[key], b[key], rel_tol=rtol, abs_tol=atol), (key, a, b)
    # Temperature scaling is an L-BFGS search that stops at |grad| < 1e-7: logits equal to
    # 1e-16 can still move T and the calibrated metrics in their 5th digit when the
    # validation NLL is flat in T (nearly separable, or nearly constant logits).
    for attr, tol in (("metrics", rtol), ("calibrated", max(rtol, 1e-4))):
        mine, theirs = getattr(ours, attr), getattr(ref, attr)
        assert mine.keys() == theirs.keys()
        for split in theirs:
            for name, value in theirs[split].items():
                assert math.isclose(mine[split][name], value, rel_tol=tol, abs_tol=atol), \
                    (attr, split, name)
    assert math.isclose(ours.temperature, ref.temperature, rel_tol=max(100 * rtol, 1e-4),
                        abs_tol=atol)
    assert ours.structural == pytest.approx(ref.structural, rel=rtol, abs=atol)
    torch.testing.assert_close(ours.logits, ref.logits, rtol=rtol, atol=atol)


# Members that differ in ε, λ (also per layer), lr, weight decay and its scope, dropout,
# seed, prior, label noise, ε schedule, epochs, patience (so members leave the batch
# while others go on) and the epoch selection metric.
MEMBERS = [
    {},
    {"seed": 1, "epsilon": 0.2, "structural": 0.5, "lr": 0.03, "weight_decay": 1e-3,
     "dropout": 0.2, "select": "roc_auc"},
    {"seed": 2, "epsilon": 0.1, "prior": "class", "structural": (0.3, 1.0),
     "weight_decay_scope": "all", "dropout": 0.0},
    {"seed": 3, "epsilon": 0.3, "prior": "neighbors", "prior_weight": 0.5, "label_noise": 0.2,
     "structural": 0.0, "patience": 3},
    {"seed": 0, "epsilon": 0.4, "epsilon_schedule": "cosine", "epsilon_start": 0.0,
     "epochs": 7, "weight_decay": 0.0, "lr": 0.005, "dropout": 0.7},
    # the BernNet recipe's pieces: no input dropout, the epoch of lowest validation loss,
    # their stopping rule; and PosteL's posterior prior
    {"seed": 5, "input_dropout": False, "select": "nll", "stop_window": 3, "lr": 0.05,
     "epsilon": 0.8, "prior": "posterior", "prior_weight": 0.6},
]


# GAT sums attention scores and messages in another order than PyG's GATConv (a batched
# product and a sparse product instead of mul-sum and scatter), so float64 results agree to
# ~1e-8 after a few epochs rather than 1e-9.
GAT_RTOL = 1e-7


def gat(**kwargs):
    return TrainConfig.for_model("gat", **{"hidden": 4, "heads": 2, "epochs": 8, **kwargs})


EPOCHS = 15


def small(**kw) -> TrainConfig:
    return TrainConfig.for_model(kw.pop("model", "gcn"), epochs=kw.pop("epochs", EPOCHS), **kw)


def binary_labels(data, cls=3):
    """``data`` with the labels ``y == cls`` (an imbalanced one-vs-rest task, K = 2)."""
    out = data.clone()
    out.y = (data.y == cls).long()
    out.num_classes = 2
    return out


def scramble(data, mask, seed=0):
    d = data.clone()
    g = torch.Generator().manual_seed(seed)
    y = d.y.clone()
    y[mask] = torch.randint(0, int(d.num_classes), (int(mask.sum()),), generator=g)
    d.y = y
    return d


def tiny(seed: int = 0, n: int = 40):
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 5, generator=g) + one_hot_features(y, 5)
    edge_index = torch.randint(0, n, (2, 4 * n), generator=g)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], 1)
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    for m, idx in zip(masks, (perm[:20], perm[20:30], perm[30:]), strict=True):
        m[idx] = True
    return Data(x=x, y=y, edge_index=edge_index, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2])


def one_hot_features(y, width):
    return torch.nn.functional.one_hot(y, width).to(torch.get_default_dtype()) * 2
