"""graphls.engine.sweep: seed sweeps, summaries, paired comparisons, progress."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from engine_data import (
    assert_same_result,
    small,
    synthetic,
    tiny,
)
from engine_reference import reference_fit
from hypothesis import given, settings
from torch_geometric.data import Data

from graphls.config import TrainConfig
from graphls.engine import (
    SEED_BATCH_ELEMENTS,
    default_seed_batch,
    evaluate,
    fit,
    summarize,
)


def test_evaluate_summary_is_mean_and_sample_std(cora):
    sweep = evaluate(cora, small(epochs=5), seeds=3)
    assert sweep.seeds == [0, 1, 2]
    s = sweep.summary()
    values = [r.metrics["test"]["accuracy"] for r in sweep.results]
    assert s["test"]["accuracy"]["values"] == values
    assert s["test"]["accuracy"]["mean"] == pytest.approx(np.mean(values))
    assert s["test"]["accuracy"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert summarize(sweep.results[:1])["test"]["ece"]["std"] == 0.0


def test_results_and_summaries_carry_per_class_recall_and_flag_zeros():
    from graphls.metrics import recall_per_class

    data = tiny()
    sweep = evaluate(data, TrainConfig(epochs=3, lr=1e-4), seeds=2)  # barely trained
    for r in sweep.results:
        for split in ("train", "val", "test"):
            mask = getattr(data, f"{split}_mask")
            expected = recall_per_class(r.logits[mask], data.y[mask], 3)
            np.testing.assert_array_equal(r.recall[split], expected)
    s = sweep.summary()
    assert len(s["test_recall"]) == 3
    zero = {c: sum(r.recall["test"][c] == 0 for r in sweep.results) for c in range(3)}
    assert s["test_zero_recall"] == {c: n for c, n in zero.items() if n}
    assert s["test_zero_recall"]  # three classes, one predicted: some recall is 0


def test_seed_progress_counts_the_epochs_of_each_batch(capsys):
    """Seeds train together, so the bar counts epochs of the batch, not finished seeds."""
    evaluate(tiny(), TrainConfig(epochs=7), seeds=3, batch_size=2, progress=True)
    err = capsys.readouterr().err
    assert "gcn 3 seeds in 2 batches" in err and "14/14" in err and "epoch" in err


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=12))
def test_paired_difference_is_the_t_interval_of_the_differences(pairs):
    from scipy import stats

    from graphls.engine import paired_difference

    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    r = paired_difference(a, b)
    d = np.subtract(a, b)
    assert r["mean"] == pytest.approx(d.mean(), abs=1e-12)
    if d.std(ddof=1) > 0:
        low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert (r["low"], r["high"]) == pytest.approx((low, high), abs=1e-9)
    flipped = paired_difference(a, b, higher_is_better=False)["verdict"]
    assert {r["verdict"], flipped} in ({"better", "worse"}, {"no detectable difference"})
    assert (r["verdict"] == "better") == (r["low"] > 0)


def test_compare_pairs_the_same_seeds_only():
    from graphls.engine import compare

    data = tiny()
    a = evaluate(data, TrainConfig(epochs=5), seeds=3)
    b = evaluate(data, TrainConfig(epochs=5, epsilon=0.3), seeds=3)
    out = compare(a, b)
    assert set(out) == {"accuracy", "accuracy_calibrated", "ece", "ece_calibrated"}
    diffs = [x.metrics["test"]["ece"] - y.metrics["test"]["ece"]
             for x, y in zip(a.results, b.results, strict=True)]
    assert out["ece"]["mean"] == pytest.approx(np.mean(diffs))
    with pytest.raises(ValueError, match=r"the sweeps must run the same seeds to be paired"):
        compare(a, evaluate(data, TrainConfig(epochs=5, seed=7), seeds=3))
    with pytest.raises(ValueError, match=r"a and b must be paired values of the same length"):
        from graphls.engine import paired_difference

        paired_difference([1.0], [1.0, 2.0])


def test_evaluate_trains_seeds_together_and_equals_fit_per_seed(float64):
    data = synthetic()
    config = TrainConfig(epochs=6, epsilon=0.1)
    seen = []
    ours = evaluate(data, config, 3, batch_size=2, on_result=seen.append)
    one_by_one = evaluate(data, config, 3, batch_size=1)
    assert ours.seeds == one_by_one.seeds == [0, 1, 2] == [r.config.seed for r in seen]
    for s, mine, theirs in zip((0, 1, 2), ours.results, one_by_one.results, strict=True):
        ref = reference_fit(data, config.replace(seed=s))
        assert_same_result(mine, ref, rtol=1e-9, atol=1e-12)
        assert_same_result(theirs, fit(data, config.replace(seed=s)), rtol=0, atol=0)
        assert_same_result(theirs, ref, rtol=1e-9, atol=1e-12)
    assert ours.summary()["test"]["accuracy"]["mean"] == pytest.approx(
        one_by_one.summary()["test"]["accuracy"]["mean"])
    with pytest.raises(ValueError, match="seeds must name at least one seed; got an empty list"):
        evaluate(data, config, [])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        evaluate(data, config, 2, batch_size=0)


def test_default_seed_batch_follows_graph_size():
    small = synthetic(dtype=torch.float32)
    assert default_seed_batch(small, TrainConfig(), 10) == 10
    big = Data(x=torch.zeros(1, 1), num_nodes=169_343)
    per_seed = 169_343 * 256
    assert default_seed_batch(big, TrainConfig(hidden=256), 10) == SEED_BATCH_ELEMENTS // per_seed
    assert default_seed_batch(Data(x=torch.zeros(1, 1), num_nodes=10**8), TrainConfig(), 10) == 1
    # GAT: the attention maps (edges x heads per member) count too
    gat_cfg = TrainConfig.for_model("gat")
    assert default_seed_batch(small, gat_cfg, 10) == 10
    dense = Data(x=torch.zeros(1, 1), num_nodes=11_758,
                 edge_index=torch.zeros(2, 1_038_000, dtype=torch.long))
    per_seed = gat_cfg.heads * (1_038_000 + 11_758 * (1 + gat_cfg.hidden))
    assert default_seed_batch(dense, gat_cfg, 10) == SEED_BATCH_ELEMENTS // per_seed
