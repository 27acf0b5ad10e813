"""The core works without the optional extras (``tune``, ``ogb``, ``plot``, ``postgres``,
``dashboard``) and without the test-only scikit-learn.

The test environment has every extra installed, so a fresh interpreter stands in for
"a virtualenv with only the required dependencies": each optional package is made
missing before anything is imported, and in it the public API, both models, the
loss, the metrics, temperature scaling and one run of the training engine must
work, with none of the missing packages loaded.

"Missing" is ``sys.modules[name] = None``, Python's documented way to make an import
fail: ``import pandas`` raises ``ModuleNotFoundError`` and
``importlib.util.find_spec("pandas")`` returns ``None``, both as when the package is
not installed. (A ``sys.meta_path`` finder that raises cannot do the second: torch
probes ``find_spec("pandas")`` while PyG imports it, and a raise there is an error
that a real missing package never gives.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from test_house_rules import CORE

REPO = Path(__file__).resolve().parents[1]

BLOCKED = (
    "optuna",
    "ogb",
    "matplotlib",
    "pandas",
    "sklearn",
    "sqlalchemy",
    "cmaes",
    "optuna_dashboard",
    "psycopg2",
)

# modules that a bare ``import graphls`` must not load (the exports are lazy)
HEAVY = ("torch", "torch_geometric", "numpy", *BLOCKED)

# the core as the house rules define it (less _validation, which every core module imports)
CORE_MODULES = tuple(m for m in CORE if m != "graphls._validation")

SCRIPT = textwrap.dedent('''
    import importlib
    import importlib.util
    import json
    import os
    import sys

    BLOCKED = {blocked!r}
    preloaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    for name in BLOCKED:
        sys.modules[name] = None  # import raises ModuleNotFoundError; find_spec gives None

    import graphls

    eager = sorted(m for m in {heavy!r} if sys.modules.get(m) is not None)
    for name in graphls.__all__:
        getattr(graphls, name)
    for module in {core!r}:
        importlib.import_module(module)

    import torch
    from torch_geometric.data import Data

    torch.set_num_threads(1)
    torch.manual_seed(0)
    n, f, k = 12, 5, 3
    x = torch.randn(n, f)
    ring = torch.arange(n)
    edge_index = torch.stack([torch.cat([ring, (ring + 1) % n]),
                              torch.cat([(ring + 1) % n, ring])])
    y = ring % k

    criterion = graphls.LabelSmoothingLoss(epsilon=0.1)
    for model in (graphls.GCN(f, 8, 2, k, structural=0.5),
                  graphls.GAT(f, 4, 2, k, heads=2, structural=0.5)):
        logits = model(x, edge_index)
        assert logits.shape == (n, k), logits.shape
        loss = criterion(logits, y)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())

    logits = logits.detach()
    probs = logits.softmax(-1)
    metrics = {{
        "accuracy": graphls.accuracy_score(probs, y),
        "nll": graphls.negative_log_likelihood(probs, y),
        "brier": graphls.brier_score(probs, y),
        "ece": graphls.expected_calibration_error(probs, y),
        "mce": graphls.maximum_calibration_error(probs, y),
        "roc_auc": graphls.roc_auc_score(probs, y),
    }}
    scaler = graphls.TemperatureScaling().fit(logits, y)
    assert scaler(logits).shape == (n, k)

    # One run of the training engine (graphls.engine.fit, graphls.config.TrainConfig).
    # A module counts only inside the package under test (an editable install of
    # another checkout could otherwise supply one this checkout lacks).
    package_dir = os.path.dirname(graphls.__file__) + os.sep

    def first(*candidates):
        for module, name in candidates:
            spec = importlib.util.find_spec(module)
            if spec is not None and (spec.origin or "").startswith(package_dir):
                return getattr(importlib.import_module(module), name), module
        raise AssertionError(f"none of {{candidates}} exists")

    fit, engine = first(("graphls.engine", "fit"))
    TrainConfig, config = first(("graphls.config", "TrainConfig"))
    masks = {{name: torch.zeros(n, dtype=torch.bool) for name in ("train", "val", "test")}}
    masks["train"][:6] = True
    masks["val"][6:9] = True
    masks["test"][9:] = True
    data = Data(x=x, edge_index=edge_index, y=y, num_classes=k,
                **{{f"{{s}}_mask": m for s, m in masks.items()}})
    result = fit(data, TrainConfig(hidden=4, epochs=3, epsilon=0.1, structural=0.5, seed=0))
    assert result.epochs_run == 3, result.epochs_run

    print(json.dumps({{
        "file": graphls.__file__,
        "preloaded": preloaded,
        "eager": eager,
        "engine": engine,
        "config": config,
        "metrics": metrics,
        "loaded": sorted(m for m, v in sys.modules.items()
                         if m.partition(".")[0] in BLOCKED and v is not None),
    }}))
''').format(blocked=BLOCKED, heavy=HEAVY, core=CORE_MODULES)


def run_without_extras() -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_and_training_work_without_the_extras():
    got = run_without_extras()
    assert Path(got["file"]).resolve() == REPO / "graphls" / "__init__.py"
    assert got["preloaded"] == []  # the blocker saw every import
    # ``import graphls`` alone loads neither torch nor any extra (PEP 562 exports)
    assert got["eager"] == []
    assert (got["engine"], got["config"]) == ("graphls.engine", "graphls.config")
    assert all(v >= 0 for v in got["metrics"].values()), got["metrics"]
    assert got["loaded"] == []
