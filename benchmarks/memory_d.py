"""Where the memory of speed.py's case (d) goes: resident memory phase by phase.

    python benchmarks/memory_d.py --variant graphls|pyg-csr [--scale 0.125] [--epochs 2]
                                  [--graph FILE] [--threads 1]

Builds (or loads, ``--graph``) the ogbn-products-shaped graph of ``speed.py --case d``
shrunk by ``--scale`` (nodes and directed edges both, so the degree is kept), then trains
the variant as ``speed.py``'s ``c_worker`` does and prints one JSON line: for each phase,
the resident set size at its end and its peak (the kernel's ``VmHWM``, reset at the start
of the phase through ``/proc/self/clear_refs``), in GiB. The phases: the graph build
(random edges, ``to_undirected``, features), PyG's ``ToSparseTensor``, every convolution
of every epoch (the first epoch's include ``gcn_norm`` and the cached CSR), the loss,
the backward pass and the optimizer step. Linux only.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import speed

GIB = 1024 ** 3


class Phases:
    """Resident memory at the end of each phase and the peak within it."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.reset()

    @staticmethod
    def status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"{key} not in /proc/self/status")

    @staticmethod
    def reset() -> None:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS

    def mark(self, name: str) -> None:
        self.rows.append({"phase": name, "rss_gib": round(self.status("VmRSS") / GIB, 3),
                          "peak_gib": round(self.status("VmHWM") / GIB, 3)})
        print(json.dumps(self.rows[-1]), file=sys.stderr, flush=True)
        self.reset()


def build(shape: dict, phases: Phases) -> dict[str, torch.Tensor]:
    """``speed.arxiv_like_graph`` step by step."""
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(shape["nodes"], (2, shape["edges"]), generator=g)
    phases.mark("build: random edges")
    x = torch.randn(shape["nodes"], shape["features"], generator=g)
    y = torch.randint(shape["classes"], (shape["nodes"],), generator=g)
    mask = torch.rand(shape["nodes"], generator=g) < speed.PRODUCTS_TRAIN
    phases.mark("build: features, labels, mask")
    edge_index = to_undirected(edge_index, num_nodes=shape["nodes"])
    phases.mark("build: to_undirected")
    return {"x": x, "edge_index": edge_index, "y": y, "train_mask": mask}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["graphls", "pyg-csr"], required=True)
    parser.add_argument("--scale", type=float, default=0.125)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--graph", default=None, help="a graph saved by speed.py (torch.save)")
    parser.add_argument("--input-dropout", action="store_true",
                        help="graphls: also drop the input features (OGB's model does not)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    shape = dict(speed.PRODUCTS_SHAPE)
    shape["nodes"] = round(shape["nodes"] * args.scale)
    shape["edges"] = round(shape["edges"] * args.scale)
    phases = Phases()
    phases.mark("start (imports)")
    if args.graph:
        graph = torch.load(args.graph)
        phases.mark("load graph")
    else:
        graph = build(shape, phases)
    x, y, mask = graph["x"], graph["y"], graph["train_mask"]
    torch.manual_seed(0)
    if args.variant == "graphls":
        from graphls.models import GCN

        model = GCN(x.size(1), speed.C_HIDDEN, speed.C_LAYERS, shape["classes"],
                    dropout=speed.C_DROPOUT, cached=True, input_dropout=args.input_dropout)
        adj = graph.pop("edge_index")
        loss_fn = F.cross_entropy
    else:
        from torch_geometric.data import Data
        from torch_geometric.transforms import ToSparseTensor

        model = speed.pyg_arxiv_gcn(x.size(1), speed.C_HIDDEN, shape["classes"],
                                    speed.C_LAYERS, speed.C_DROPOUT, batch_norm=False)
        data = ToSparseTensor(layout=torch.sparse_csr)(
            Data(edge_index=graph.pop("edge_index"), num_nodes=x.size(0)))
        adj = data.adj_t
        del data
        phases.mark("ToSparseTensor")
        loss_fn = F.nll_loss
    del graph
    epoch = [0]
    for i, conv in enumerate(model.convs):
        conv.register_forward_hook(
            lambda *_, i=i: phases.mark(f"epoch {epoch[0]}: conv {i} forward"))
    optimizer = torch.optim.Adam(model.parameters(), lr=speed.C_LR)
    phases.mark("model, optimizer")
    model.train()
    for e in range(args.epochs):
        epoch[0] = e
        optimizer.zero_grad()
        out = model(x, adj)[mask]
        loss = loss_fn(out, y[mask])
        phases.mark(f"epoch {e}: loss")
        loss.backward()
        phases.mark(f"epoch {e}: backward")
        optimizer.step()
        phases.mark(f"epoch {e}: step")
    result = {"variant": args.variant, "scale": args.scale, **shape, "phases": phases.rows,
              "peak_gib": max(r["peak_gib"] for r in phases.rows)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
