"""What is benchmarked: the rows of a block, the block (dataset × split × model × noise)
and its test runs ((split id, training seed) pairs, dealt to shards)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The rows of every block, in table order, with their labels.
ROWS: dict[str, str] = {
    "plain": "plain (ε=0, λ=1) = PyG",
    "ts": "plain + temperature scaling",
    "ls": "label smoothing only (ε tuned, λ=1)",
    "structural": "structural only (ε=0, λ tuned)",
    "joint": "joint (ε, λ tuned)",
    "joint_prior": "joint + neighbour-label prior",
    "multi": "joint, multi-objective (val acc ↑, val ECE ↓)",
}
MODELS = ("gcn", "gat")
#: The split kinds (``graphls.data.load_dataset(split=...)``), in table order.
SPLIT_KINDS = ("public", "official", "dense", "fixed", "random")
#: Split kinds reported over several splits (one training seed each) rather than seeds.
MULTI_SPLIT = ("dense", "fixed")


@dataclass(frozen=True)
class RowSpec:
    """How a tuned row searches: its space file, objective and smoothing prior."""

    space_file: str
    objective: str = "accuracy"
    prior: str = "uniform"


TUNED: dict[str, RowSpec] = {
    "ls": RowSpec("ls.toml"),
    "structural": RowSpec("structural.toml"),
    "joint": RowSpec("joint.toml"),
    "joint_prior": RowSpec("joint.toml", prior="neighbors"),
    "multi": RowSpec("joint.toml", objective="multi"),
}


@dataclass(frozen=True)
class Block:
    """One dataset × split × model × label-noise rate, and the rows it runs."""

    dataset: str
    split: str
    model: str
    noise: float
    rows: tuple[str, ...]
    #: validation metric: tuning objective and epoch selection (``TrainConfig.select``)
    metric: str = "accuracy"

    @property
    def name(self) -> str:
        tag = f"{self.dataset}-{self.split}-{self.model}"
        return tag + (f"-noise{round(100 * self.noise)}" if self.noise else "")

    @property
    def title(self) -> str:
        return f"{self.dataset} ({split_name(self.split)}), {self.model.upper()}"


def row_objective(spec: RowSpec, block: Block) -> str:
    """The row's tuning objective in ``block``: accuracy becomes the block's metric."""
    return block.metric if spec.objective == "accuracy" else spec.objective


def tuning_split(block: Block) -> int | None:
    """The split the block's studies tune on: split 0 of a multi-split kind, else the one."""
    return 0 if block.split in MULTI_SPLIT else None


def split_name(split: str) -> str:
    return {"public": "public split", "official": "OGB official split",
            "dense": "60/20/20 random splits", "fixed": "10 fixed splits shipped with the data",
            "random": "random per-class splits"}.get(split, split)


def units(block: Block, seeds: int) -> list[tuple[int | None, int]]:
    """``(split id, training seed)`` of every test run: seeds on one split, or one per split."""
    from graphls.data import DATASETS
    from graphls.tuning import REPORT_SEED_BASE

    if block.split in MULTI_SPLIT:
        n = seeds
        if block.split == "fixed":
            n = min(seeds, DATASETS[block.dataset].num_fixed_splits)
        return [(k, REPORT_SEED_BASE + k) for k in range(n)]
    return [(None, REPORT_SEED_BASE + s) for s in range(seeds)]


def shard_units(runs: Sequence[tuple[int | None, int]], shard: tuple[int, int] | None
                ) -> list[tuple[int | None, int]]:
    """The test runs of shard ``(k, n)``: every n-th of ``runs`` from the k-th on."""
    if shard is None:
        return list(runs)
    k, n = shard
    return list(runs[k - 1::n])


def load_split(block: Block, split_id: int | None, root: str | None) -> Any:
    """The block's dataset on split ``split_id`` (dense: split seed; fixed: split index)."""
    from graphls.data import load_dataset

    kwargs: dict[str, Any] = {}
    if block.split == "dense":
        kwargs["seed"] = split_id or 0
    elif block.split == "fixed":
        kwargs["split_index"] = split_id or 0
    return load_dataset(block.dataset, root=root, split=block.split, **kwargs)
