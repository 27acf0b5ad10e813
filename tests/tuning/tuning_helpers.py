"""Helpers of the graphls.tuning tests: the synthetic graph, quick studies, CLI errors.

Most studies run on a tiny synthetic graph (90 nodes) for a few epochs; the
CLI tests use Texas (183 nodes) from ``datasets_root``.
"""

from __future__ import annotations

import optuna
import torch
from optuna.trial import TrialState
from torch_geometric.data import Data

from graphls.cli import main
from graphls.tuning import StudySettings, run_study

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
PNG = b"\x89PNG\r\n\x1a\n"
TEXAS = ["--dataset", "Texas", "--epochs", "4", "--no-progress"]
#: ``run_study``'s own keywords; every other keyword of :func:`quick` is a setting.
OPTIMIZE = ("n_trials", "timeout", "n_jobs", "callbacks", "total_trials", "wait", "progress",
            "poll")


def synthetic(seed: int = 0) -> Data:
    """90 nodes, 3 classes: noisy class features and a homophilous random graph."""
    g = torch.Generator().manual_seed(seed)
    n, k = 90, 3
    y = torch.arange(n) % k
    x = 0.6 * torch.nn.functional.one_hot(y, k).float().repeat(1, 4)
    x = x + torch.randn(n, 4 * k, generator=g)
    same = y[:, None] == y[None, :]
    p = torch.where(same, torch.tensor(0.12), torch.tensor(0.01))
    adj = torch.rand(n, n, generator=g) < p
    adj = torch.triu(adj, diagonal=1)
    adj = adj | adj.t()
    edge_index = adj.nonzero().t().contiguous()
    order = torch.randperm(n, generator=g)
    train, val = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
    train[order[:15]] = True
    val[order[15:45]] = True
    test = ~(train | val)
    return Data(x=x, edge_index=edge_index, y=y, train_mask=train, val_mask=val,
                test_mask=test, num_classes=k, name="synthetic")


def study_table(study) -> list[tuple]:
    skip = {"worker", "fit_seconds"}
    return [(t.number, t.state, t.params, t.values,
             {k: v for k, v in t.user_attrs.items() if k not in skip})
            for t in study.get_trials(deepcopy=False)]


def quick(graph, **kw):
    """A seeded, unpruned in-memory study on the synthetic graph (settings and
    ``run_study`` keywords alike), one trial at a time and one seed per trial unless
    ``batch_size`` / ``seeds_per_trial`` are given."""
    kw.setdefault("storage", optuna.storages.InMemoryStorage())
    kw.setdefault("batch_size", 1)
    kw.setdefault("seeds_per_trial", 1)
    kw.setdefault("pruner", "none")
    kw.setdefault("epochs", 8)
    kw.setdefault("progress", False)
    optimize = {k: kw.pop(k) for k in OPTIMIZE if k in kw}
    return run_study(StudySettings(dataset="synthetic", data=graph, **kw), **optimize)


def one_line_error(capsys, argv, match) -> str:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err
    return err
