"""Speed, side by side in one process: PyG's examples/gcn.py loop vs graphls.

    python benchmarks/speed.py [--root DIR] [--seeds 10] [--repeats 3] [--quick] [--out benchmarks]

Measures (b) of issue 6: a 10-seed evaluation of one configuration (Cora,
public split, GCN with PyG's example settings, 200 epochs, validation
accuracy checked every epoch, test accuracy at the best validation epoch),
once through a plain PyG loop and once through ``graphls.train.evaluate``,
alternating the two ``--repeats`` times and keeping the median. It writes
the table between ``<!-- speed:start -->`` and ``<!-- speed:end -->`` in
``benchmarks/RESULTS.md`` (other sections are kept) and one JSON line per
measurement to ``benchmarks/results/speed.jsonl``.

Still to come (issue 6): (a) trials per minute against a plain PyG + Optuna
script, and (c) the ogbn-arxiv-shaped synthetic graph.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
START, END = "<!-- speed:start -->", "<!-- speed:end -->"


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

    accs = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = Net()
        opt = torch.optim.Adam([dict(params=model.conv1.parameters(), weight_decay=5e-4),
                                dict(params=model.conv2.parameters(), weight_decay=0)], lr=0.01)
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


def graphls_seeds(data, seeds: list[int], epochs: int) -> list[float]:
    from graphls.train import TrainConfig, evaluate

    sweep = evaluate(data, TrainConfig.for_model("gcn", epochs=epochs), seeds)
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


def write_section(results_md: Path, section: str) -> None:
    text = results_md.read_text() if results_md.exists() else "# graphls benchmark results\n"
    block = f"{START}\n{section.rstrip()}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    results_md.write_text(text)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="datasets root (default: $GRAPHLS_DATA)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 20 epochs, 1 repeat")
    parser.add_argument("--out", default=str(HERE), help="folder for RESULTS.md and results/")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.repeats = 2, 20, 1
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)

    from graphls.data import load_dataset

    data = load_dataset("Cora", root=args.root, split="public")
    seeds = list(range(args.seeds))
    times: dict[str, list[float]] = {"PyG examples/gcn.py loop": [], "graphls evaluate": []}
    accs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, run in (("PyG examples/gcn.py loop", plain_pyg),
                          ("graphls evaluate", graphls_seeds)):
            start = time.perf_counter()
            accs[name] = run(data, seeds, args.epochs)
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["PyG examples/gcn.py loop"]
    command = "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "## Speed (issue 6, part b): 10-seed evaluation of one configuration",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {machine()}; git {git_sha()}  ",
        f"Cora public split, GCN (PyG example settings), {args.epochs} epochs, "
        f"{len(seeds)} seeds, median of {args.repeats} alternating repeats.",
        "",
        "| run | seconds for all seeds | speed-up | test accuracy (mean over seeds) |",
        "|---|---:|---:|---:|",
    ]
    for name, t in med.items():
        lines.append(f"| {name} | {t:.1f} | {base / t:.1f}x | "
                     f"{100 * statistics.mean(accs[name]):.2f} % |")
    lines += ["", "graphls's gain here is the sparse-feature path (CSR first-layer matmul, "
              "dropout on stored values only); vectorised multi-configuration training is "
              "still to come."]
    out = Path(args.out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    with (out / "results" / "speed.jsonl").open("a") as fh:
        for name in med:
            fh.write(json.dumps({"case": "b", "run": name, "seconds": times[name],
                                 "median_seconds": med[name], "seeds": len(seeds),
                                 "epochs": args.epochs, "test_accuracy": accs[name],
                                 "git": git_sha(), "machine": machine(),
                                 "torch": torch.__version__}) + "\n")
    write_section(out / "RESULTS.md", "\n".join(lines))
    print("\n".join(lines))
    return {"median_seconds": med, "accuracy": accs}


if __name__ == "__main__":
    main()
