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
    "posterior": "posterior (PosteL's defaults: α 0.8, β 0.4, pseudo-label rounds)",
    "structural": "structural only (ε=0, λ tuned)",
    "joint": "joint (ε, λ tuned)",
    "joint_prior": "joint + neighbour-label prior",
    "joint_posterior": "joint + posterior (ε, λ, prior weight, rounds tuned)",
    "joint_posterior_grid": "joint + posterior, lr and weight decay tuned too (PosteL's grid)",
    "multi": "joint, multi-objective (val acc ↑, val ECE ↓)",
}
MODELS = ("gcn", "gat")
#: The split kinds (``graphls.data.load_dataset(split=...)``), in table order.
SPLIT_KINDS = ("public", "official", "dense", "fixed", "random", "bernnet")
#: Split kinds reported over several splits (one training seed each) rather than seeds.
MULTI_SPLIT = ("dense", "fixed", "bernnet")
#: Split kinds whose blocks train with a named recipe (``TrainConfig.for_model(recipe=)``)
#: rather than PyG's example settings: the literature's protocol keeps its own recipe.
RECIPE = {"bernnet": "bernnet"}
#: Split kinds tuned on the validation nodes of several splits (each trial's score is its
#: mean over them) rather than on split 0 alone; the test runs cover all ten splits.
TUNING_SPLITS = {"bernnet": (0, 1, 2)}
#: Most pseudo-label rounds of the posterior rows (PosteL goes on while the validation
#: loss improves; its average is 1.13 rounds).
POSTERIOR_ROUNDS = 5
#: PosteL's defaults (α = 0.8 posterior, β = 0.4 uniform noise on it), as graphls's
#: ``epsilon`` (the prior's share) and ``prior_weight`` (the posterior's share of the prior).
POSTERIOR_DEFAULTS = {"epsilon": 0.8, "prior": "posterior", "prior_weight": 0.6,
                      "pseudo_label_rounds": POSTERIOR_ROUNDS}


@dataclass(frozen=True)
class RowSpec:
    """How a tuned row searches: its space file, objective, smoothing prior, the most
    pseudo-label rounds it searches (posterior prior only; 0: none) and the parameters its
    study tries first, after the baseline (``StudySettings.enqueue``)."""

    space_file: str
    objective: str = "accuracy"
    prior: str = "uniform"
    rounds: int = 0
    start: tuple[tuple[tuple[str, Any], ...], ...] = ()


#: PosteL's defaults as a study's first searched point (λ = 1: no structural smoothing).
_POSTEL_START = (*((k, v) for k, v in POSTERIOR_DEFAULTS.items() if k != "prior"),
                 ("structural", 1.0))

TUNED: dict[str, RowSpec] = {
    "ls": RowSpec("ls.toml"),
    "structural": RowSpec("structural.toml"),
    "joint": RowSpec("joint.toml"),
    "joint_prior": RowSpec("joint.toml", prior="neighbors"),
    # starts from PosteL's defaults (λ = 1): its pick is at least as good on validation
    "joint_posterior": RowSpec("joint_posterior.toml", prior="posterior",
                               rounds=POSTERIOR_ROUNDS, start=(_POSTEL_START,)),
    # PosteL tunes lr and weight decay for its +PosteL rows; this row does too, from the
    # same start at the fixed recipe's lr 0.05 and weight decay 5e-4
    "joint_posterior_grid": RowSpec("joint_posterior_grid.toml", prior="posterior",
                                    rounds=POSTERIOR_ROUNDS, start=(
                                        (*_POSTEL_START, ("lr", 0.05),
                                         ("weight_decay", 0.0005)),)),
    "multi": RowSpec("joint.toml", objective="multi"),
}
#: Rows trained with fixed settings (not tuned) on top of the block's base configuration.
FIXED: dict[str, dict[str, Any]] = {"posterior": POSTERIOR_DEFAULTS}


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

    @property
    def recipe(self) -> str:
        """The training recipe of the block's rows (``TrainConfig.for_model(recipe=)``)."""
        return RECIPE.get(self.split, "pyg")


def row_objective(spec: RowSpec, block: Block) -> str:
    """The row's tuning objective in ``block``: accuracy becomes the block's metric."""
    return block.metric if spec.objective == "accuracy" else spec.objective


def tuning_split(block: Block) -> int | tuple[int, ...] | None:
    """The split(s) the block's studies tune on: several for the kinds of
    :data:`TUNING_SPLITS`, split 0 of another multi-split kind, else the one."""
    if block.split in TUNING_SPLITS:
        return TUNING_SPLITS[block.split]
    return 0 if block.split in MULTI_SPLIT else None


def tuned_on(block: Block) -> str:
    """How a block's studies were tuned, in words (the result lines keep it)."""
    split = tuning_split(block)
    if isinstance(split, tuple):
        return (f"validation nodes of splits {', '.join(map(str, split))} ({block.split}; "
                "each trial scored by its mean over them)")
    if split is not None:
        return f"validation nodes of split 0 ({block.split})"
    return f"validation nodes ({block.split})"


def split_name(split: str) -> str:
    return {"public": "public split", "official": "OGB official split",
            "dense": "60/20/20 random splits", "fixed": "10 fixed splits shipped with the data",
            "random": "random per-class splits",
            "bernnet": "BernNet 60/20/20 splits"}.get(split, split)


def units(block: Block, seeds: int) -> list[tuple[int | None, int]]:
    """``(split id, training seed)`` of every test run: seeds on one split, or one per split."""
    from graphls.data import DATASETS
    from graphls.tuning import REPORT_SEED_BASE

    if block.split in MULTI_SPLIT:
        n = seeds
        if block.split == "fixed":
            n = min(seeds, DATASETS[block.dataset].num_fixed_splits)
        elif block.split == "bernnet":
            from graphls.data.splits import BERNNET_SEEDS

            n = min(seeds, len(BERNNET_SEEDS))
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
    elif block.split in ("fixed", "bernnet"):
        kwargs["split_index"] = split_id or 0
    return load_dataset(block.dataset, root=root, split=block.split, **kwargs)
