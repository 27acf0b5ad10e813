"""Speed, side by side: PyG's example code vs graphls (issue 6).

    python benchmarks/speed.py [--case all|a|a2|b|c|g|d] [--root DIR] [--seeds 10] [--repeats 3]
                               [--a-plain-trials 15] [--a-trials 128] [--batch-size 16]
                               [--c-epochs 5] [--d-bisect 0] [--threads 1] [--quick]
                               [--out benchmarks]

(a) Optuna trials per minute on Cora (public split, GCN, 200 epochs a trial, the
space (ε, λ, lr, weight decay, dropout) of ``configs/searchspace/speed.toml``):
a plain PyG + Optuna script (PyG's ``examples/gcn.py`` model with λ as
``λ·conv(x) + (1 − λ)·(conv.lin(x) + conv.bias)``, the same function as graphls's
layer, ``F.cross_entropy(label_smoothing=ε)``, one trial at a time, in-memory
storage, TPE; without pruning and with Optuna's default ``MedianPruner`` fed each
epoch's validation accuracy) against ``graphls.tuning.run_study`` with its
defaults (SQLite storage, the median pruner on the running best) and
``--batch-size`` trials trained together; also the best validation accuracy
each search reaches, at an equal trial count and over all its trials. Its table
goes between ``<!-- speed-a:start -->`` and ``<!-- speed-a:end -->``.

(a′) ``--case a2``: the plain script of (a) searching ``graphls tune --space full``'s
space (hidden ∈ {8, 16, 32, 64} too), ``--a-plain-trials`` trials, against the
``graphls tune --model M --space full --n-trials N`` command with no other flag (its
default batch, pruner, threads and seeds per trial, report included, timed from start
to exit), ``N = --a-trials``, for GCN and GAT (``--a2-models``). Targets: 30x (GCN)
and 15x (GAT) the plain script's trials per minute. Its table goes between
``<!-- speed-a2-gcn:start -->`` (``-gat``) and its end marker; ``--case all`` leaves it out.

(b) A 10-seed evaluation of one configuration (Cora, public split, GCN with
PyG's example settings, 200 epochs, validation accuracy checked every epoch,
test accuracy at the best validation epoch), once through a plain PyG loop and
once through ``graphls.engine.evaluate``, alternating the two ``--repeats``
times and keeping the median. Its table goes between ``<!-- speed:start -->``
and ``<!-- speed:end -->`` in ``benchmarks/RESULTS.md``.

(c) One full-batch training epoch (forward, loss, backward, Adam step) on an
ogbn-arxiv-shaped synthetic graph (169,343 nodes, 1,166,243 random edges made
undirected, 128 dense features, 40 classes), 3-layer GCN with 256 hidden
channels, batch norm and dropout 0.5 (the shape of PyG's / OGB's ogbn-arxiv
GCN example): PyG's ``GCNConv`` stack fed a CSR ``adj_t`` and fed ``edge_index``,
and ``graphls.models.GCN(cached=True)`` fed ``edge_index``. Each variant runs in
its own fresh process (peak resident memory is that process's ``ru_maxrss``);
seconds per epoch are the median of ``--c-epochs`` epochs after one warm-up.
Its table goes between ``<!-- speed-c:start -->`` and ``<!-- speed-c:end -->``.

(d) As (c) at ogbn-products' size (2,449,029 nodes, 61,859,140 random edges made
undirected, 100 dense features, 47 classes) with OGB's products GCN (3 layers, 256
hidden, no batch norm, no dropout on the input features): PyG through CSR vs graphls.
The graph is built and saved by a process of its own, then each variant trains in its
own process (a variant killed for memory is reported as such); with ``--d-bisect K``
and PyG killed, PyG's size limit is bisected in K steps over the share of nodes and
edges (degree kept), and graphls is measured beside it at the largest size PyG fits.
``--case all`` leaves it out: it needs most of 24 GiB and tens of minutes; run
``--case d`` on its own (``benchmarks/memory_d.py`` shows where the memory goes, phase
by phase). Its table goes between ``<!-- speed-d:start -->`` and ``<!-- speed-d:end -->``.

(g) As (b) for GAT (PyG's ``examples/gat.py``: 8 heads of 8, dropout 0.6, lr
0.005, weight decay 5e-4): the PyG loop, ``graphls.engine.fit`` one seed at a
time, and ``evaluate`` (seeds trained together). Its table goes between
``<!-- speed-g:start -->`` and ``<!-- speed-g:end -->``.

Every section of ``RESULTS.md`` other than the one being written is kept; each
measurement is also one JSON line in ``benchmarks/results/speed.jsonl``.
``--quick`` shrinks everything (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
START, END = "<!-- speed:start -->", "<!-- speed:end -->"


def pyg_example_loop(data, seeds: list[int], epochs: int, make_model, make_optimizer
                     ) -> list[float]:
    """The training loop of PyG's examples: test accuracy at the best validation epoch."""
    accs = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = make_model()
        opt = make_optimizer(model)
        best_val = test_acc = 0.0
        for _ in range(epochs):
            model.train()
            opt.zero_grad()
            out = model(data.x, data.edge_index)
            F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
            opt.step()
            model.eval()
            with torch.no_grad():
                pred = model(data.x, data.edge_index).argmax(-1)
            val = float((pred[data.val_mask] == data.y[data.val_mask]).float().mean())
            if val > best_val:
                best_val = val
                test_acc = float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())
        accs.append(test_acc)
    return accs


def plain_pyg(data, seeds: list[int], epochs: int) -> list[float]:
    """PyG's examples/gcn.py, as written there (dense features, decay on conv1 only)."""
    from torch_geometric.nn import GCNConv

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = GCNConv(data.num_features, 16, cached=True)
            self.conv2 = GCNConv(16, int(data.num_classes), cached=True)

        def forward(self, x, edge_index):
            x = F.dropout(x, p=0.5, training=self.training)
            x = self.conv1(x, edge_index).relu()
            x = F.dropout(x, p=0.5, training=self.training)
            return self.conv2(x, edge_index)

    return pyg_example_loop(data, seeds, epochs, Net, lambda model: torch.optim.Adam(
        [dict(params=model.conv1.parameters(), weight_decay=5e-4),
         dict(params=model.conv2.parameters(), weight_decay=0)], lr=0.01))


def plain_pyg_gat(data, seeds: list[int], epochs: int) -> list[float]:
    """PyG's examples/gat.py, as written there (8 heads of 8, dropout 0.6, lr 0.005)."""
    from torch_geometric.nn import GATConv

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = GATConv(data.num_features, 8, heads=8, dropout=0.6)
            self.conv2 = GATConv(64, int(data.num_classes), heads=1, concat=False, dropout=0.6)

        def forward(self, x, edge_index):
            x = F.dropout(x, p=0.6, training=self.training)
            x = F.elu(self.conv1(x, edge_index))
            x = F.dropout(x, p=0.6, training=self.training)
            return self.conv2(x, edge_index)

    return pyg_example_loop(data, seeds, epochs, Net, lambda model: torch.optim.Adam(
        model.parameters(), lr=0.005, weight_decay=5e-4))


def graphls_seeds(data, seeds: list[int], epochs: int, model: str = "gcn",
                  batch_size: int | None = None) -> list[float]:
    from graphls.config import TrainConfig
    from graphls.engine import evaluate

    sweep = evaluate(data, TrainConfig.for_model(model, epochs=epochs), seeds,
                     batch_size=batch_size)
    return [r.metrics["test"]["accuracy"] for r in sweep.results]


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch thread(s)")


def write_section(results_md: Path, section: str, start: str = START, end: str = END) -> None:
    """Put ``section`` between the ``start`` and ``end`` markers (appended if absent)."""
    text = results_md.read_text() if results_md.exists() else "# graphls benchmark results\n"
    block = f"{start}\n{section.rstrip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    results_md.write_text(text)


#: (b) and (g): the runs of a 10-seed evaluation, and where its table goes.
SEED_CASES = {
    "b": {"model": "GCN", "markers": (START, END), "part": "b", "runs": {
        "PyG examples/gcn.py loop": plain_pyg,
        "graphls evaluate": graphls_seeds}},
    "g": {"model": "GAT", "markers": ("<!-- speed-g:start -->", "<!-- speed-g:end -->"),
          "part": "b, GAT", "runs": {
              "PyG examples/gat.py loop": plain_pyg_gat,
              "graphls fit, one seed at a time": lambda d, s, e: graphls_seeds(
                  d, s, e, "gat", batch_size=1),
              "graphls evaluate": lambda d, s, e: graphls_seeds(d, s, e, "gat")}},
}


def run_seeds(args: argparse.Namespace, command: str, case: str) -> dict:
    """(b) / (g): a 10-seed Cora evaluation, PyG's example loop vs ``graphls.engine.evaluate``."""
    from graphls.data import load_dataset

    spec = SEED_CASES[case]
    data = load_dataset("Cora", root=args.root, split="public")
    seeds = list(range(args.seeds))
    runs = spec["runs"]
    times: dict[str, list[float]] = {name: [] for name in runs}
    accs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            accs[name] = run(data, seeds, args.epochs)
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med[next(iter(runs))]
    lines = [
        f"## Speed (issue 6, part {spec['part']}): 10-seed evaluation of one configuration",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine()}; git {git_sha()}  ",
        f"Cora public split, {spec['model']} (PyG example settings), {args.epochs} epochs, "
        f"{len(seeds)} seeds, median of {args.repeats} alternating repeats.",
        "",
        "| run | seconds for all seeds | speed-up | test accuracy (mean over seeds) |",
        "|---|---:|---:|---:|",
    ]
    for name, t in med.items():
        lines.append(f"| {name} | {t:.1f} | {base / t:.1f}x | "
                     f"{100 * statistics.mean(accs[name]):.2f} % |")
    if case == "b":
        lines += ["", "graphls trains the seeds together (`graphls.engine.fit_many`: stacked "
                  "weights, one sparse product over the concatenated hidden channels), with "
                  "sparse bag-of-words features (CSR first-layer product, dropout on the stored "
                  "values); each seed's result equals `graphls.engine.fit` for that seed."]
    else:
        lines += ["", "graphls trains the seeds together (`graphls.engine.fit_many`: the "
                  "members' attention maps side by side, aggregated by one block-diagonal "
                  "sparse product); each seed's result equals `graphls.engine.fit` for that "
                  "seed. `fit` one seed at a time is PyG's `GATConv` with the structural "
                  "interpolation hook and CSR features."]
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    with (out / "results" / "speed.jsonl").open("a") as fh:
        for name in med:
            fh.write(json.dumps({"case": case, "run": name, "seconds": times[name],
                                 "median_seconds": med[name], "seeds": len(seeds),
                                 "epochs": args.epochs, "test_accuracy": accs[name],
                                 "git": git_sha(), "machine": machine(),
                                 "torch": torch.__version__}) + "\n")
    write_section(out / "RESULTS.md", "\n".join(lines), *spec["markers"])
    print("\n".join(lines))
    return {"median_seconds": med, "accuracy": accs}


def run_b(args: argparse.Namespace, command: str) -> dict:
    """(b): the 10-seed Cora GCN evaluation."""
    return run_seeds(args, command, "b")


def run_g(args: argparse.Namespace, command: str) -> dict:
    """(g): the 10-seed Cora GAT evaluation."""
    return run_seeds(args, command, "g")


# --- (a): trials per minute, plain PyG + Optuna vs graphls tune --------------------------

A_START, A_END = "<!-- speed-a:start -->", "<!-- speed-a:end -->"
#: The (ε, λ, lr, weight decay, dropout) space both sides search (graphls's builtin ranges).
SPACE_FILE = HERE / "configs" / "searchspace" / "speed.toml"


def plain_objective(data: Any, epochs: int, prune: bool, model: str = "gcn",
                    hidden: tuple[int, ...] | None = None):
    """The plain PyG + Optuna objective: what a PyG user writes for this search (see (a) above).

    ``model``: PyG's ``examples/gcn.py`` or ``examples/gat.py`` network (weight decay on
    the first layer / on everything, as there); ``hidden``: also search the hidden
    channels (per head for GAT) over these choices, else PyG's 16 (GCN) or 8 (GAT).
    """
    import optuna
    from torch_geometric.nn import GATConv, GCNConv

    class Net(torch.nn.Module):
        def __init__(self, structural: float, dropout: float, width: int) -> None:
            super().__init__()
            if model == "gcn":
                self.conv1 = GCNConv(data.num_features, width, cached=True)
                self.conv2 = GCNConv(width, int(data.num_classes), cached=True)
            else:
                self.conv1 = GATConv(data.num_features, width, heads=8, dropout=dropout)
                self.conv2 = GATConv(8 * width, int(data.num_classes), heads=1, concat=False,
                                     dropout=dropout)
            self.structural, self.dropout = structural, dropout

        def mix(self, conv: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
            lam = self.structural
            return lam * conv(x, data.edge_index) + (1 - lam) * (conv.lin(x) + conv.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = self.mix(self.conv1, x)
            x = x.relu() if model == "gcn" else F.elu(x)
            x = F.dropout(x, p=self.dropout, training=self.training)
            return self.mix(self.conv2, x)

    def objective(trial: optuna.Trial) -> float:
        epsilon = trial.suggest_float("epsilon", 0.0, 0.5)
        structural = trial.suggest_float("structural", 0.0, 1.0)
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.8)
        width = (trial.suggest_categorical("hidden", list(hidden)) if hidden
                 else 16 if model == "gcn" else 8)
        torch.manual_seed(trial.number)
        net = Net(structural, dropout, width)
        if model == "gcn":
            opt = torch.optim.Adam([dict(params=net.conv1.parameters(), weight_decay=weight_decay),
                                    dict(params=net.conv2.parameters(), weight_decay=0)], lr=lr)
        else:
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        best_val = 0.0
        for epoch in range(epochs):
            net.train()
            opt.zero_grad()
            out = net(data.x)
            F.cross_entropy(out[data.train_mask], data.y[data.train_mask],
                            label_smoothing=epsilon).backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                pred = net(data.x).argmax(-1)
            val = float((pred[data.val_mask] == data.y[data.val_mask]).float().mean())
            best_val = max(best_val, val)
            if prune:
                trial.report(val, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return best_val

    return objective


def _summary(study: Any, seconds: float, compare_at: int) -> dict[str, Any]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    first = [t.value for t in complete if t.number < compare_at]
    return {
        "trials": len(trials), "complete": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "seconds": seconds, "trials_per_minute": 60.0 * len(trials) / seconds,
        "best_val_accuracy": max(t.value for t in complete) if complete else None,
        f"best_val_accuracy_first_{compare_at}": max(first) if first else None,
    }


def plain_study(data: Any, n_trials: int, epochs: int, prune: bool, seed: int,
                compare_at: int, model: str = "gcn", hidden: tuple[int, ...] | None = None
                ) -> dict[str, Any]:
    """The plain script: ``n_trials`` trials, one at a time, in memory."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.MedianPruner() if prune else optuna.pruners.NopPruner()
    study = optuna.create_study(direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    start, cpu = time.perf_counter(), time.process_time()
    study.optimize(plain_objective(data, epochs, prune, model, hidden), n_trials=n_trials)
    out = _summary(study, time.perf_counter() - start, compare_at)
    out["cpu_seconds"] = time.process_time() - cpu
    return out


def graphls_study(data: Any, n_trials: int, epochs: int, batch_size: int, pruner: str,
                  seed: int, folder: Path, compare_at: int, n_jobs: int = 1) -> dict[str, Any]:
    """``graphls tune`` over the same space: a fresh SQLite study in ``folder``."""
    import optuna

    from graphls.tuning import StudySettings, run_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"speed-{time.time_ns()}.db"
    start = time.perf_counter()
    settings = StudySettings(dataset="Cora", data=data, space="joint", space_file=SPACE_FILE,
                             epochs=epochs, batch_size=batch_size, pruner=pruner, seed=seed,
                             storage=f"sqlite:///{db}")
    study = run_study(settings, n_trials=n_trials, n_jobs=n_jobs, progress=False)
    seconds = time.perf_counter() - start
    out = _summary(study, seconds, compare_at)
    for path in folder.glob(db.name + "*"):
        path.unlink()
    return out


def run_a(args: argparse.Namespace, command: str) -> dict:
    """(a): the plain script (with and without pruning) and ``graphls tune``, alternating."""
    from graphls.data import load_dataset

    data = load_dataset("Cora", root=args.root, split="public")
    n_plain, n_ours, batch = args.a_plain_trials, args.a_trials, args.batch_size
    folder = Path(tempfile.mkdtemp(prefix="graphls-speed-a-"))
    cores = os.cpu_count() or 1
    one = args.threads  # the thread count of the single-process rows
    # name -> (torch threads of this process, the run); every row runs in this process, the
    # --n-jobs row also in (n - 1) spawned workers with cores // n threads each
    runs: dict[str, tuple[int, Any]] = {
        f"plain PyG + Optuna, no pruning ({one} thread{'s' * (one > 1)})": (one, lambda seed:
            plain_study(data, n_plain, args.epochs, False, seed, n_plain)),
        "plain PyG + Optuna, MedianPruner (default settings)": (one, lambda seed: plain_study(
            data, n_plain, args.epochs, True, seed, n_plain)),
        f"plain PyG + Optuna, no pruning ({cores} threads)": (cores, lambda seed: plain_study(
            data, n_plain, args.epochs, False, seed, n_plain)),
        f"graphls tune --batch-size {batch} --pruner none": (one, lambda seed: graphls_study(
            data, n_ours, args.epochs, batch, "none", seed, folder, n_plain)),
        f"graphls tune --batch-size {batch} (median pruner)": (one, lambda seed: graphls_study(
            data, n_ours, args.epochs, batch, "median", seed, folder, n_plain)),
        f"graphls tune --batch-size {batch} --n-jobs {cores} (median pruner)": (
            1, lambda seed: graphls_study(data, n_ours, args.epochs, batch, "median", seed,
                                          folder, n_plain, n_jobs=cores)),
    }
    if cores == 1:
        runs = {k: v for k, v in runs.items() if "cores" not in k and "--n-jobs" not in k}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for repeat in range(args.repeats):  # sampler seed = repeat, the same for every run
        for name, (threads, run) in runs.items():
            torch.set_num_threads(threads)
            results[name].append(run(repeat))
            r = results[name][-1]
            print(f"(a) repeat {repeat}: {name}: {r['trials']} trials in {r['seconds']:.1f} s "
                  f"({r['trials_per_minute']:.1f}/min), best val {r['best_val_accuracy']:.4f}",
                  file=sys.stderr)
    torch.set_num_threads(args.threads)
    folder.rmdir()

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    first = f"best_val_accuracy_first_{n_plain}"
    names = list(runs)
    base = med(names[0], "trials_per_minute")
    base_all = med(names[2], "trials_per_minute") if cores > 1 else base
    lines = [
        "## Speed (issue 6, part a): Optuna trials per minute",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine()}; git {git_sha()}  ",
        f"Cora public split, GCN (PyG example shape: 2 layers, 16 hidden), {args.epochs} "
        "epochs a trial, the same space for both: ε ∈ [0, 0.5], λ ∈ [0, 1], lr ∈ [1e-3, 1e-1] "
        "(log), weight decay ∈ [1e-6, 1e-2] (log), dropout ∈ [0, 0.8] "
        "(`configs/searchspace/speed.toml`). Objective: validation accuracy at the best epoch. "
        f"TPE seeded by the repeat; medians of {args.repeats} alternating repeats.",
        "",
        "- plain: PyG's `examples/gcn.py` model with λ as `λ·conv(x) + (1 − λ)·(conv.lin(x) + "
        "conv.bias)`, `F.cross_entropy(label_smoothing=ε)`, one trial at a time through "
        "`study.optimize`, in-memory storage; the pruned variant reports each epoch's "
        "validation accuracy to Optuna's default `MedianPruner`.",
        "- graphls: `graphls.tuning.run_study` with its defaults (SQLite file storage, "
        "multivariate TPE with the constant liar, the median pruner on the running best "
        "after 10 trials and 30 % of the epochs) and `batch_size` trials trained together; "
        f"`--n-jobs {cores}`: {cores} worker processes (1 torch thread each) share the study.",
        f"- Threads: the single-process rows run with {one} torch thread"
        f"{'s' * (one > 1)}, except the plain row marked {cores} threads (torch's default "
        "here, every core).",
        "",
        f"| run | trials | pruned | trials / min | × plain ({one} thread) | × plain ({cores} "
        f"threads) | best val acc, first {n_plain} trials | best val acc, all trials |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in runs:
        tpm = med(name, "trials_per_minute")
        lines.append(
            f"| {name} | {results[name][0]['trials']} | {med(name, 'pruned'):.0f} | {tpm:.1f} | "
            f"{tpm / base:.1f}x | {tpm / base_all:.1f}x | {100 * med(name, first):.2f} % | "
            f"{100 * med(name, 'best_val_accuracy'):.2f} % |")
    lines += ["", "Best validation accuracies are medians over the repeats; \"first N trials\" "
              "compares the searches at an equal trial count."]
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    with (out / "results" / "speed.jsonl").open("a") as fh:
        for name, rs in results.items():
            fh.write(json.dumps({"case": "a", "run": name, "repeats": rs,
                                 "median_trials_per_minute": med(name, "trials_per_minute"),
                                 "epochs": args.epochs, "batch_size": batch,
                                 "threads": runs[name][0], "git": git_sha(),
                                 "machine": machine(), "torch": torch.__version__}) + "\n")
    write_section(out / "RESULTS.md", "\n".join(lines), A_START, A_END)
    print("\n".join(lines))
    return {"trials_per_minute": {n: med(n, "trials_per_minute") for n in runs},
            "results": results}


# --- (a'): the plain script vs the `graphls tune` command with its defaults -------------

def cli_study(model: str, n_trials: int, root: str | None, folder: Path, compare_at: int
              ) -> dict[str, Any]:
    """``graphls tune --model MODEL --space full --n-trials N``, nothing else (its default
    batch, pruner, threads, seeds per trial, storage and report), in a fresh process in
    ``folder``; timed from start to exit, report included."""
    import optuna

    folder.mkdir(parents=True, exist_ok=True)
    cmd = ["graphls", "tune", "--dataset", "Cora", "--model", model, "--space", "full",
           "--n-trials", str(n_trials)] + (["--root", root] if root else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "graphls.cli", *cmd[1:]], cwd=folder, env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit status {proc.returncode}:\n"
                           f"{proc.stderr[-4000:]}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{folder / 'graphls.db'}"
    (name,) = optuna.study.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    out = _summary(study, seconds, compare_at)
    out["cpu_seconds"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out["command"] = " ".join(cmd)
    out["report"] = proc.stdout.strip().splitlines()[-12:]
    return out


def a2_lines(args: argparse.Namespace, command: str, model: str, r: dict, hidden: tuple,
             target: float) -> list[str]:
    """(a′)'s section for one model."""
    n = args.a_plain_trials
    lines = [
        f"## Speed (issue 25, part a′, {model.upper()}): the plain script vs `graphls tune` "
        "with its defaults",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine()}; git {git_sha()}  ",
        f"Cora public split, {args.epochs} epochs a trial. The same space for both, "
        "`graphls tune --space full`'s: ε ∈ [0, 0.5], λ ∈ [0, 1], lr ∈ [1e-3, 1e-1] (log), "
        "weight decay ∈ [1e-6, 1e-2] (log), dropout ∈ [0, 0.8], hidden ∈ {"
        + ", ".join(map(str, hidden)) + "}" + (" per head (8 heads)" if model == "gat" else "")
        + ".",
        "",
        f"- plain: PyG's `examples/{model}.py` network with λ as `λ·conv(x) + (1 − λ)·"
        "(conv.lin(x) + conv.bias)`, `F.cross_entropy(label_smoothing=ε)`, one seed a trial, "
        "one trial at a time through `study.optimize`, TPE (seed 0), in-memory storage, no "
        "pruning; timed around `study.optimize` only (imports and data loading not "
        "counted); objective: the best epoch's validation accuracy.",
        "- graphls: the command shown, nothing else: its defaults (batched trials, the median "
        "pruner, torch's default threads, 3 seeds a trial with the objective their mean "
        "validation accuracy, SQLite storage) and the report after the study (the best "
        "trial and the baseline retrained on 10 seeds); timed from process start to exit "
        "(imports, data loading and report included).",
        f"- CPU cores the benchmark could use: {len(os.sched_getaffinity(0))} of "
        f"{os.cpu_count()} (its affinity, which the graphls process inherits); the plain "
        f"script ran with {args.threads} torch thread(s); one run at a time. Other work "
        "shared the core, so the ratios use CPU seconds (user + system of the process, "
        "children for the command); wall seconds are given too.",
        "",
        "| run | trials | pruned | wall s | CPU s | trials / CPU min | × plain (CPU) "
        f"| × plain (wall) | target | best val acc, first {n} trials | best val acc, all |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = r["plain"]
    base_cpu = base["trials"] / base["cpu_seconds"]
    base_wall = base["trials_per_minute"]
    first = f"best_val_accuracy_first_{n}"
    for name, run in (("plain PyG + Optuna", base), (f"`{r['graphls']['command']}`",
                                                     r["graphls"])):
        cpu = run["trials"] / run["cpu_seconds"]
        mark = "" if run is base else (
            f"≥ {target:.0f}x: {'met' if cpu / base_cpu >= target else 'not met'}")
        lines.append(
            f"| {name} | {run['trials']} | {run['pruned']} | {run['seconds']:.0f} "
            f"| {run['cpu_seconds']:.0f} | {60 * cpu:.1f} | {cpu / base_cpu:.1f}x "
            f"| {run['trials_per_minute'] / base_wall:.1f}x | {mark} "
            f"| {100 * run[first]:.2f} % | {100 * run['best_val_accuracy']:.2f} % |")
    lines += ["", "The plain script's value is one seed's best epoch; graphls's is the mean "
              "over its 3 seeds of each seed's selected epoch, a lower-variance and so lower "
              "maximum over the same number of trials."]
    print("\n".join(lines))
    return lines


def run_a2(args: argparse.Namespace, command: str) -> dict:
    """(a'): the plain PyG + Optuna script vs ``graphls tune`` with no speed flag, GCN and GAT."""
    from graphls.data import load_dataset
    from graphls.tuning.space import search_space

    data = load_dataset("Cora", root=args.root, split="public")
    hidden = search_space("full")["hidden"].choices  # the plain script searches it too
    folder = Path(tempfile.mkdtemp(prefix="graphls-speed-a2-"))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    targets = {"gcn": 30.0, "gat": 15.0}
    for model in args.a2_models:
        n_plain, n_ours = args.a_plain_trials, args.a_trials
        plain = plain_study(data, n_plain, args.epochs, False, 0, n_plain, model, hidden)
        print(f"(a') {model}: plain: {plain['trials']} trials in {plain['seconds']:.1f} s",
              file=sys.stderr)
        ours = cli_study(model, n_ours, args.root, folder / model, n_plain)
        print(f"(a') {model}: graphls tune: {ours['trials']} trials in {ours['seconds']:.1f} s",
              file=sys.stderr)
        results[model] = {"plain": plain, "graphls": ours}
    shutil.rmtree(folder)
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    for model, r in results.items():
        write_section(out / "RESULTS.md", "\n".join(a2_lines(
            args, command, model, r, hidden, targets[model])),
            f"<!-- speed-a2-{model}:start -->", f"<!-- speed-a2-{model}:end -->")
    with (out / "results" / "speed.jsonl").open("a") as fh:
        for model, r in results.items():
            for name, run in r.items():
                fh.write(json.dumps({"case": "a2", "model": model, "run": name, **run,
                                     "epochs": args.epochs, "threads": args.threads,
                                     "git": git_sha(), "machine": machine(),
                                     "torch": torch.__version__}) + "\n")
    return results


# --- (c): one training epoch on an ogbn-arxiv-shaped graph -------------------------------

C_START, C_END = "<!-- speed-c:start -->", "<!-- speed-c:end -->"
#: ogbn-arxiv's shape: nodes, directed edges (before to_undirected), features, classes.
ARXIV_SHAPE = {"nodes": 169_343, "edges": 1_166_243, "features": 128, "classes": 40}
QUICK_NODES = 5_000
C_HIDDEN, C_LAYERS, C_DROPOUT, C_LR = 256, 3, 0.5, 0.01
#: The variants of (c), each measured in its own process; the first is the baseline.
C_VARIANTS = {
    "pyg-csr": "PyG GCNConv stack, CSR adj_t (ToSparseTensor)",
    "pyg-edge-index": "PyG GCNConv stack, edge_index",
    "graphls": "graphls GCN(cached=True), edge_index",
}
GIB = 1024 ** 3


def arxiv_like_graph(nodes: int, edges: int, features: int, classes: int,
                     seed: int = 0, train: float = 90_941 / 169_343) -> dict[str, torch.Tensor]:
    """Random ``edges`` directed edges made undirected, N(0, 1) features, uniform labels.

    The train mask holds a ``train`` share of the nodes at random (default ogbn-arxiv's
    90,941 of 169,343; ogbn-products: 196,615 of 2,449,029).
    """
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(nodes, (2, edges), generator=g)
    return {
        "x": torch.randn(nodes, features, generator=g),
        "edge_index": to_undirected(edge_index, num_nodes=nodes),
        "y": torch.randint(classes, (nodes,), generator=g),
        "train_mask": torch.rand(nodes, generator=g) < train,
    }


def pyg_arxiv_gcn(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int,
                  dropout: float, batch_norm: bool = True) -> torch.nn.Module:
    """The GCN of PyG's / OGB's ogbn-arxiv example (``examples/nodeproppred/arxiv/gnn.py``);
    without batch norm, the full-batch GCN of OGB's ogbn-products example."""
    from torch_geometric.nn import GCNConv

    class GCN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = torch.nn.ModuleList([GCNConv(in_channels, hidden_channels, cached=True)])
            self.bns = torch.nn.ModuleList([torch.nn.BatchNorm1d(hidden_channels)])
            for _ in range(num_layers - 2):
                self.convs.append(GCNConv(hidden_channels, hidden_channels, cached=True))
                self.bns.append(torch.nn.BatchNorm1d(hidden_channels))
            self.convs.append(GCNConv(hidden_channels, out_channels, cached=True))
            self.dropout = dropout

        def forward(self, x, adj_t):
            for i, conv in enumerate(self.convs[:-1]):
                x = conv(x, adj_t)
                if batch_norm:
                    x = self.bns[i](x)
                x = F.relu(x)
                x = F.dropout(x, p=self.dropout, training=self.training)
            x = self.convs[-1](x, adj_t)
            return x.log_softmax(dim=-1)

    return GCN()


def current_rss() -> int:
    """Resident memory of this process now, in bytes (Linux ``/proc``; else the peak)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss()


def peak_rss() -> int:
    """``ru_maxrss`` of this process in bytes (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def c_worker(spec: dict) -> dict:
    """One variant of (c) in this (fresh) process: load the graph, train, time, measure memory."""
    torch.set_num_threads(spec["threads"])
    warnings.filterwarnings("ignore", category=UserWarning)
    variant = spec["variant"]
    graph = torch.load(spec["graph"])
    x, y, mask = graph["x"], graph["y"], graph["train_mask"]
    loaded = current_rss()
    torch.manual_seed(0)
    if variant == "graphls":
        from graphls.models import GCN

        model = GCN(x.size(1), C_HIDDEN, C_LAYERS, spec["classes"],
                    batch_norm=spec.get("batch_norm", True), dropout=C_DROPOUT, cached=True,
                    input_dropout=spec.get("input_dropout", True))
        adj, log_probs = graph["edge_index"], False
    else:
        model = pyg_arxiv_gcn(x.size(1), C_HIDDEN, spec["classes"], C_LAYERS, C_DROPOUT,
                              batch_norm=spec.get("batch_norm", True))
        adj, log_probs = graph["edge_index"], True
        if variant == "pyg-csr":  # as the example: T.ToSparseTensor(), edge_index dropped
            from torch_geometric.data import Data
            from torch_geometric.transforms import ToSparseTensor

            data = ToSparseTensor(layout=torch.sparse_csr)(
                Data(edge_index=graph.pop("edge_index"), num_nodes=x.size(0)))
            adj = data.adj_t
            del data
    optimizer = torch.optim.Adam(model.parameters(), lr=C_LR)
    before_training, peak_before_training = current_rss(), peak_rss()
    seconds = []
    model.train()
    for _ in range(spec["warmup"] + spec["epochs"]):
        start = time.perf_counter()
        optimizer.zero_grad()
        out = model(x, adj)[mask]
        loss = F.nll_loss(out, y[mask]) if log_probs else F.cross_entropy(out, y[mask])
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    measured = seconds[spec["warmup"]:]
    return {
        "variant": variant, "seconds": measured, "warmup_seconds": seconds[:spec["warmup"]],
        "median_seconds": statistics.median(measured), "loss": float(loss),
        "rss_loaded_bytes": loaded, "rss_before_training_bytes": before_training,
        "peak_before_training_bytes": peak_before_training, "peak_bytes": peak_rss(),
    }


def run_c_variant(spec: dict) -> dict:
    """:func:`c_worker` in a fresh Python process running this script (``--c-worker``)."""
    return run_child("--c-worker", spec)


def run_c(args: argparse.Namespace, command: str) -> dict:
    """(c): seconds per training epoch and peak memory, each variant in its own process."""
    shape = dict(ARXIV_SHAPE)
    if args.quick:
        shape["edges"] = round(shape["edges"] * QUICK_NODES / shape["nodes"])
        shape["nodes"] = QUICK_NODES
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        graph = arxiv_like_graph(**shape)
        undirected_edges = graph["edge_index"].size(1)
        torch.save(graph, Path(tmp) / "graph.pt")
        del graph
        for variant in C_VARIANTS:
            results[variant] = run_c_variant({
                "variant": variant, "graph": str(Path(tmp) / "graph.pt"),
                "classes": shape["classes"], "threads": args.threads,
                "warmup": 1, "epochs": args.c_epochs})
    base = results["pyg-csr"]
    ours = results["graphls"]
    time_ratio = ours["median_seconds"] / base["median_seconds"]
    memory_ratio = ours["peak_bytes"] / base["peak_bytes"]
    lines = [
        "## Speed (issue 6, part c): one training epoch on an ogbn-arxiv-shaped graph",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine()}; git {git_sha()}  ",
        f"Synthetic graph: {shape['nodes']:,} nodes, {shape['edges']:,} random directed edges "
        f"made undirected ({undirected_edges:,} directed entries), {shape['features']} dense "
        f"N(0, 1) features, {shape['classes']} random classes, 53.7 % of the nodes in the "
        "train mask. Model: 3-layer GCN, 256 hidden, batch norm, dropout 0.5, Adam "
        "(lr 0.01), the shape of PyG's / OGB's ogbn-arxiv GCN example; graphls's GCN also "
        "drops the input features (dropout before every layer), the example does not.",
        f"Seconds per epoch (forward, loss, backward, Adam step): median of {args.c_epochs} "
        "epochs after one warm-up epoch (normalisation and caches are built there). Each "
        "variant runs in its own fresh process; memory is resident set size: after loading "
        "the graph and building the model (\"before training\") and the process's peak "
        "(`ru_maxrss`).",
        "",
        "| run | s / epoch | time vs PyG CSR | peak RSS (GiB) | peak vs PyG CSR "
        "| RSS before training (GiB) | training peak above it (GiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, r in results.items():
        lines.append(
            f"| {C_VARIANTS[variant]} | {r['median_seconds']:.2f} "
            f"| {r['median_seconds'] / base['median_seconds']:.2f}x "
            f"| {r['peak_bytes'] / GIB:.2f} | {r['peak_bytes'] / base['peak_bytes']:.2f}x "
            f"| {r['rss_before_training_bytes'] / GIB:.2f} "
            f"| {(r['peak_bytes'] - r['rss_before_training_bytes']) / GIB:.2f} |")
    met = time_ratio <= 0.7 and memory_ratio <= 1.0
    lines += ["", f"Targets (graphls vs PyG through CSR): time <= 0.70x, peak memory <= 1.00x; "
              f"measured {time_ratio:.2f}x and {memory_ratio:.2f}x: "
              f"{'met' if met else 'not met'}."]
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    with (out / "results" / "speed.jsonl").open("a") as fh:
        for variant, r in results.items():
            fh.write(json.dumps({"case": "c", "run": C_VARIANTS[variant], **r, **shape,
                                 "undirected_edges": undirected_edges, "hidden": C_HIDDEN,
                                 "layers": C_LAYERS, "dropout": C_DROPOUT,
                                 "threads": args.threads, "git": git_sha(),
                                 "machine": machine(), "torch": torch.__version__}) + "\n")
    write_section(out / "RESULTS.md", "\n".join(lines), C_START, C_END)
    print("\n".join(lines))
    return {"median_seconds": {C_VARIANTS[v]: r["median_seconds"] for v, r in results.items()},
            "peak_gib": {C_VARIANTS[v]: r["peak_bytes"] / GIB for v, r in results.items()},
            "time_ratio": time_ratio, "memory_ratio": memory_ratio, "results": results}


PRODUCTS_SHAPE = {"nodes": 2_449_029, "edges": 61_859_140, "features": 100, "classes": 47}
PRODUCTS_TRAIN = 196_615 / 2_449_029
D_START, D_END = "<!-- speed-d:start -->", "<!-- speed-d:end -->"
D_VARIANTS = {"pyg-csr": C_VARIANTS["pyg-csr"],
              "graphls": "graphls GCN(cached=True, input_dropout=False), edge_index"}


def d_shape(scale: float, quick: bool = False) -> dict:
    """ogbn-products' shape with ``scale`` times its nodes and directed edges (same degree)."""
    shape = dict(PRODUCTS_SHAPE)
    if quick:
        scale = scale * QUICK_NODES / shape["nodes"]
    shape["nodes"] = max(2, round(shape["nodes"] * scale))
    shape["edges"] = max(1, round(shape["edges"] * scale))
    return shape


def d_build_worker(spec: dict) -> dict:
    """Build (d)'s graph in this (fresh) process and save it: the build's peak (random
    edges, ``to_undirected``'s sort) is not charged to the training processes, nor held by
    the parent while they run."""
    torch.set_num_threads(spec["threads"])
    start = time.perf_counter()
    graph = arxiv_like_graph(**spec["shape"], train=PRODUCTS_TRAIN)
    entries = graph["edge_index"].size(1)
    torch.save(graph, spec["path"])
    return {"entries": entries, "seconds": time.perf_counter() - start, "peak_bytes": peak_rss()}


def run_child(flag: str, spec: dict) -> dict:
    """This script with ``flag`` (``--c-worker``, ``--d-build``) in a fresh process: its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), flag,
                               str(spec_file)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{spec.get('variant', flag)!r} failed with exit status "
                           f"{proc.returncode}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def d_point(args: argparse.Namespace, scale: float, variants: list[str], tmp: str) -> dict:
    """(d) at one size: the graph built in its own process, then each variant in its own."""
    shape = d_shape(scale, args.quick)
    path = str(Path(tmp) / "graph.pt")
    built = run_child("--d-build", {"shape": shape, "path": path, "threads": args.threads})
    point: dict[str, Any] = {"scale": scale, "shape": shape, "build": built, "results": {},
                             "failed": {}}
    for variant in variants:
        try:
            point["results"][variant] = run_child("--c-worker", {
                "variant": variant, "graph": path, "classes": shape["classes"],
                "threads": args.threads, "warmup": 1, "epochs": args.c_epochs,
                "batch_norm": False, "input_dropout": False})
        except RuntimeError as exc:  # e.g. killed by the kernel for memory (status -9)
            point["failed"][variant] = " ".join(str(exc).split())[:300]
        r = point["results"].get(variant)
        print(f"(d) scale {scale:g}: {variant}: " + (
            f"{r['median_seconds']:.1f} s/epoch, peak {r['peak_bytes'] / GIB:.2f} GiB" if r
            else point["failed"][variant]), file=sys.stderr)
    Path(path).unlink(missing_ok=True)
    return point


def d_rows(point: dict) -> list[str]:
    base = point["results"].get("pyg-csr")
    rows = []
    for variant in D_VARIANTS:
        r = point["results"].get(variant)
        size = f"{point['shape']['nodes']:,} / {point['build']['entries']:,}"
        if r is None:
            why = point["failed"].get(variant)
            if why is not None:
                rows.append(f"| {point['scale']:g} ({size}) | {D_VARIANTS[variant]} | "
                            f"did not finish: {why.split(':')[0]} | | | | |")
            continue
        rel_t = f"{r['median_seconds'] / base['median_seconds']:.2f}x" if base else "-"
        rel_m = f"{r['peak_bytes'] / base['peak_bytes']:.2f}x" if base else "-"
        rows.append(f"| {point['scale']:g} ({size}) | {D_VARIANTS[variant]} "
                    f"| {r['median_seconds']:.1f} | {rel_t} | {r['peak_bytes'] / GIB:.2f} "
                    f"| {rel_m} | {r['rss_before_training_bytes'] / GIB:.2f} |")
    return rows


def run_d(args: argparse.Namespace, command: str) -> dict:
    """(d): (c) at ogbn-products' size, without batch norm (OGB's products GCN), PyG through
    CSR vs graphls, each in its own process; a variant killed for memory is reported so,
    and, with ``--d-bisect K``, PyG's size limit is bisected in K steps (the scale of nodes
    and edges, degree kept) and graphls measured beside it at the largest size PyG fits."""
    points = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        full = d_point(args, 1.0, list(D_VARIANTS), tmp)
        points.append(full)
        fits, fails = 0.0, 1.0
        if "pyg-csr" in full["failed"] and args.d_bisect > 0:
            best = None
            for _ in range(args.d_bisect):
                scale = round((fits + fails) / 2, 4)
                point = d_point(args, scale, ["pyg-csr"], tmp)
                points.append(point)
                if "pyg-csr" in point["results"]:
                    fits, best = scale, point
                else:
                    fails = scale
            if best is not None:  # graphls beside PyG at the largest size PyG fits
                best["results"]["graphls"] = d_point(args, fits, ["graphls"], tmp)[
                    "results"].get("graphls")
                if best["results"]["graphls"] is None:
                    del best["results"]["graphls"]
    shape = full["shape"]
    lines = [
        "## Speed (issue 25, part d): one training epoch on an ogbn-products-shaped graph",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine()}; git {git_sha()}  ",
        f"Synthetic graph: {shape['nodes']:,} nodes, {shape['edges']:,} random directed edges "
        f"made undirected ({full['build']['entries']:,} directed entries), "
        f"{shape['features']} dense N(0, 1) features, {shape['classes']} random classes, "
        f"{100 * PRODUCTS_TRAIN:.1f} % of the nodes in the train mask, built and saved by a "
        f"process of its own ({full['build']['seconds']:.0f} s, peak "
        f"{full['build']['peak_bytes'] / GIB:.1f} GiB) before the training processes start. "
        "Model: OGB's ogbn-products full-batch GCN: 3 layers, 256 hidden, dropout 0.5 "
        "between layers (not on the input features, for both), no batch norm, Adam "
        f"(lr 0.01). Seconds per epoch: median of {args.c_epochs} epochs after one warm-up; "
        "each variant in its own fresh process, which loads the saved graph; memory is that "
        "process's peak resident set size (`ru_maxrss`). Scale: the share of ogbn-products' "
        "nodes and directed edges (the degree is kept).",
        "",
        "| scale (nodes / directed entries) | run | s / epoch | time vs PyG CSR "
        "| peak RSS (GiB) | peak vs PyG CSR | RSS before training (GiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for point in points:
        lines += d_rows(point)
    failed = [why for p in points for why in p["failed"].values()]
    if any("status -9" in why for why in failed):
        lines += ["", "Exit status -9: the kernel killed the process for memory (the machine's "
                  "RAM, less what else runs, is the limit)."]
    if len(points) > 1:
        lines += ["", f"PyG through CSR, bisected over the scale in {args.d_bisect} steps: "
                  f"fits at {fits:g}, killed at {fails:g} of ogbn-products' size."]
    base, ours = full["results"].get("pyg-csr"), full["results"].get("graphls")
    if ours and base:
        t, m = ours["median_seconds"] / base["median_seconds"], ours["peak_bytes"] / base[
            "peak_bytes"]
        lines += ["", f"Targets (graphls vs PyG through CSR): time <= 0.70x, peak memory "
                  f"<= 1.00x; measured {t:.2f}x and {m:.2f}x: "
                  f"{'met' if t <= 0.7 and m <= 1.0 else 'not met'}."]
    elif ours:
        lines += ["", "Targets: graphls fits at ogbn-products' size and PyG through CSR does "
                  "not: met."]
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    with (out / "results" / "speed.jsonl").open("a") as fh:
        for point in points:
            for variant, r in point["results"].items():
                fh.write(json.dumps({"case": "d", "run": D_VARIANTS[variant], **r,
                                     **point["shape"], "scale": point["scale"],
                                     "undirected_edges": point["build"]["entries"],
                                     "threads": args.threads, "git": git_sha(),
                                     "machine": machine(), "torch": torch.__version__}) + "\n")
            for variant, why in point["failed"].items():
                fh.write(json.dumps({"case": "d", "run": D_VARIANTS[variant], "failed": why,
                                     **point["shape"], "scale": point["scale"],
                                     "threads": args.threads, "git": git_sha(),
                                     "machine": machine(), "torch": torch.__version__}) + "\n")
    write_section(out / "RESULTS.md", "\n".join(lines), D_START, D_END)
    print("\n".join(lines))
    return {"points": points, "results": full["results"], "failed": full["failed"],
            "pyg_fits": fits if len(points) > 1 else None}


# --- command line -------------------------------------------------------------------------

CASES = {"a": run_a, "a2": run_a2, "b": run_b, "c": run_c, "g": run_g, "d": run_d}


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen cases; return ``{case: its numbers}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["all", *CASES], default="all",
                        help="which measurement: (a) trials per minute, (b) 10-seed Cora GCN "
                             "evaluation, (g) the same for GAT, (c) one epoch on an "
                             "ogbn-arxiv-shaped graph, or all of them (default)")
    parser.add_argument("--root", default=None, help="datasets root (default: $GRAPHLS_DATA)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=200,
                        help="(a): epochs per trial; (b): epochs per seed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--a-plain-trials", type=int, default=15,
                        help="(a): trials of the plain script (and the equal-count comparison)")
    parser.add_argument("--a-trials", type=int, default=128, help="(a): trials of graphls tune")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="(a): graphls tune --batch-size")
    parser.add_argument("--a2-models", nargs="+", choices=["gcn", "gat"],
                        default=["gcn", "gat"], help="(a'): the models compared")
    parser.add_argument("--c-epochs", type=int, default=5,
                        help="(c): measured epochs per variant, after one warm-up")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tmp", default=None,
                        help="(d): folder for the saved graph (several GB; default: the "
                             "system's temporary folder)")
    parser.add_argument("--quick", action="store_true",
                        help="(b), (g): 2 seeds, 20 epochs, 1 repeat; (c): 5,000 nodes, 2 epochs")
    parser.add_argument("--out", default=str(HERE), help="folder for RESULTS.md and results/")
    parser.add_argument("--d-bisect", type=int, default=0,
                        help="(d): when PyG does not fit, bisect its size limit in this many "
                             "steps (each builds a graph and runs PyG once)")
    parser.add_argument("--c-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--d-build", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.c_worker is not None:  # a child process of run_c: one variant, JSON on stdout
        result = c_worker(json.loads(Path(args.c_worker).read_text()))
        print(json.dumps(result))
        return result
    if args.d_build is not None:  # a child process of run_d: build and save the graph
        result = d_build_worker(json.loads(Path(args.d_build).read_text()))
        print(json.dumps(result))
        return result
    if args.quick:
        args.seeds, args.epochs, args.repeats = 2, 20, 1
        args.a_plain_trials, args.a_trials, args.batch_size = 2, 6, 3
        args.c_epochs = min(args.c_epochs, 2)
    if args.c_epochs < 1:
        parser.error(f"--c-epochs must be >= 1; got {args.c_epochs}")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    command = "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    cases = [c for c in CASES if c not in ("d", "a2")] if args.case == "all" else [args.case]
    return {case: CASES[case](args, command) for case in cases}


if __name__ == "__main__":
    main()
