"""benchmarks/run.py and its package graphls_bench: settings, plan, verdict rule, RESULTS.md
sections, and a real --quick run.

The ``--quick`` run (Cora public split, GCN, one seed, 3 trials, 10 epochs, all 7 rows plus
the 40 % label-noise block) trains for real on a copy of ``../shared/datasets`` into
``tmp_path``; it is run once per module and checked from several sides, its batched test
runs against ``graphls.engine.fit`` among them. Everything else works on hand-made records
and needs no training.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import sys
from pathlib import Path

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _load_bench():
    spec = importlib.util.spec_from_file_location("graphls_benchmarks_run",
                                                  REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


bench = _load_bench()  # run.py puts its package, graphls_bench, on sys.path

from graphls_bench.archive import export_study, restore_study  # noqa: E402
from graphls_bench.blocks import (  # noqa: E402
    MODELS,
    POSTERIOR_DEFAULTS,
    ROWS,
    TUNED,
    Block,
    row_objective,
    shard_units,
    units,
)
from graphls_bench.figures import published_points  # noqa: E402
from graphls_bench.plan import plan  # noqa: E402
from graphls_bench.records import (  # noqa: E402
    SCHEMA,
    append_partial,
    fit_key,
    read_records,
    write_records,
)
from graphls_bench.references import load_references  # noqa: E402
from graphls_bench.results_md import (  # noqa: E402
    RESULTS_END,
    RESULTS_START,
    published_note,
    render,
    write_results_md,
)
from graphls_bench.runner import Runner, run  # noqa: E402
from graphls_bench.settings import CONFIGS, load_config, parse_shard  # noqa: E402
from graphls_bench.stats import MIN_EFFECT, row_value, verdict, worst_recall  # noqa: E402
from graphls_bench.studies import busy_seconds, study_name  # noqa: E402

#: The numbers of issue 5's published references (percent), each must reach RESULTS.md.
PUBLISHED = ("81.5", "70.3", "83.0", "72.5", "87.14", "87.77", "88.56", "79.86", "81.06",
             "82.10", "88.03", "80.52", "2.3–4.9")
#: The rows of every block but the literature's protocol's (``[defaults] rows``).
DEFAULT_ROWS = tuple(load_config()["defaults"]["rows"])
#: Fields every result line carries (provenance included).
FIELDS = {"dataset", "split", "split_id", "model", "noise", "row", "label", "seed", "epsilon",
          "structural", "prior", "test", "val", "raw", "calibrated", "temperature", "trials",
          "epochs", "config", "study", "versions", "git_sha", "machine", "wall_time",
          "command", "timestamp", "fit_key"}


# ---------------------------------------------------------------------------
# the quick run
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quick(datasets_root, tmp_path_factory):
    """Run ``--quick`` once (in-process, via ``main``) into a temporary ``--out``."""
    out = tmp_path_factory.mktemp("bench")
    argv = ["--quick", "--root", str(datasets_root), "--out", str(out), "--no-progress"]
    assert bench.main(argv) == 0
    return out, argv


def test_quick_result_lines_carry_per_class_test_recall(quick):
    """Fresh result lines store each class's recall per split (the engine's, as fit gives)."""
    lines = _lines(quick[0])
    fresh = [r for r in lines if not r["reused"]]
    assert fresh and all(len(r["recall"]["test"]) == 7 for r in fresh)  # Cora: 7 classes
    assert all(0.0 <= v <= 1.0 for r in fresh for v in r["recall"]["test"])


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for p in sorted((out / "results").glob("*.jsonl"))
            for line in p.read_text().splitlines() if line.strip()]


def _trial_counts(out: Path) -> dict[str, int]:
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'results' / 'studies.db'}")
    return {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage)}


@pytest.mark.slow
def test_quick_writes_one_line_per_row_and_seed_with_provenance(quick):
    out, _ = quick
    lines = _lines(out)
    main = [r for r in lines if r["noise"] == 0]
    noisy = [r for r in lines if r["noise"] > 0]
    assert sorted(r["row"] for r in main) == sorted(load_config()["defaults"]["rows"])
    assert sorted(r["row"] for r in noisy) == ["joint", "ls", "plain"]
    assert {r["noise"] for r in noisy} == {0.4}
    assert {(r["dataset"], r["split"], r["model"], r["seed"]) for r in lines} == {
        ("Cora", "public", "gcn", 100)}
    for r in lines:
        assert set(r) >= FIELDS, FIELDS - set(r)
        assert set(r["test"]) >= {"accuracy", "ece", "nll", "brier"}
        assert set(r["versions"]) >= {"graphls", "torch", "torch_geometric", "optuna"}
        assert set(r["machine"]) >= {"platform", "nproc"}
        assert r["wall_time"] > 0 and r["epochs"] == 10 and r["quick"] is True
        assert r["config"]["label_noise"] == r["noise"]
        assert r["trials"] == (3 if r["row"] in TUNED else 0)


@pytest.mark.slow
def test_quick_rows_are_what_they_say(quick):
    out, _ = quick
    rows = {r["row"]: r for r in _lines(out) if r["noise"] == 0}
    # plain and ts are the same run: raw numbers vs temperature-scaled numbers
    assert rows["plain"]["fit_key"] == rows["ts"]["fit_key"]
    assert rows["plain"]["test"] == rows["plain"]["raw"]["test"]
    assert rows["ts"]["test"] == rows["plain"]["calibrated"]["test"]
    assert (rows["plain"]["epsilon"], rows["plain"]["structural"]) == (0.0, 1.0)
    assert rows["ls"]["structural"] == 1.0 and 0 <= rows["ls"]["epsilon"] <= 0.5
    assert rows["structural"]["epsilon"] == 0.0
    assert rows["joint_prior"]["prior"] == "neighbors"
    assert rows["joint_prior"]["prior_weight"] == rows["joint_prior"]["params"]["prior_weight"]
    assert rows["multi"]["study"]["objective"] == "multi"
    if rows["multi"]["fit_key"] == rows["joint"]["fit_key"]:  # the same trial chosen (here: yes)
        assert rows["multi"]["raw"] == rows["joint"]["raw"]  # one run serves both rows
    for name in (r for r in TUNED if r in DEFAULT_ROWS):
        study = rows[name]["study"]
        assert study["budget"] == 3 and study["complete"] + study["pruned"] == 3
        assert study["tuned_on"].startswith("validation")
        assert rows[name]["epsilon"] == rows[name]["params"].get("epsilon", 0.0)


@pytest.mark.slow
def test_quick_results_md_has_every_row_reference_command_and_figure(quick):
    out, argv = quick
    text = (out / "RESULTS.md").read_text()
    assert text.count(RESULTS_START) == 1 and text.count(RESULTS_END) == 1
    for label in (ROWS[r] for r in DEFAULT_ROWS):
        assert f"| {label} |" in text
    for value in PUBLISHED:
        assert value in text, value
    assert "python benchmarks/run.py " + " ".join(argv) in text
    assert "3 trials per tuned row" in text and "Quick mode" in text
    # the table's numbers are the result lines' numbers
    plain = next(r for r in _lines(out) if r["row"] == "plain" and r["noise"] == 0)
    acc = f"{100 * plain['test']['accuracy']:.2f} ± 0.00"
    assert f"| {ROWS['plain']} | 0 | 1 | — | {acc} |" in text
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["landscape-Cora-public-gcn.png", "reliability-Cora-public-gcn.png"]
    for name in figures:
        assert f"(figures/{name})" in text
        assert (out / "figures" / name).read_bytes()[:8] == PNG


def _flat(tree: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _assert_same_fit(a: dict, b: dict) -> None:
    """Two result lines of the same fit: equal up to float summation order (rel 1e-4)."""
    assert (a["fit_key"], a["config"], a["best_epoch"], a["epochs_run"]) == (
        b["fit_key"], b["config"], b["best_epoch"], b["epochs_run"])
    for part in ("raw", "calibrated", "test", "val"):
        assert _flat(a[part]) == pytest.approx(_flat(b[part]), rel=1e-4, abs=1e-6), part
    assert a["temperature"] == pytest.approx(b["temperature"], rel=1e-4)
    assert a["structural_values"] == pytest.approx(b["structural_values"], rel=1e-4)


@pytest.mark.slow
def test_quick_batched_test_runs_equal_separate_fits(quick, datasets_root):
    """Every row's runs (ε, λ, neighbour prior, label noise) trained together by fit_many
    give the numbers, selected epoch and probs file that ``graphls.engine.fit`` gives."""
    import torch

    from graphls.config import TrainConfig
    from graphls.data import load_dataset
    from graphls.engine import fit

    out, _ = quick
    data = load_dataset("Cora", root=datasets_root, split="public")
    lines = _lines(out)
    assert len(lines) == 10  # 7 rows + 3 noisy rows; plain/ts share one fit
    test = data.test_mask
    for r in lines:
        ref = fit(data, TrainConfig.from_dict(r["config"]))
        line = {"fit_key": r["fit_key"], "config": r["config"], "raw": ref.metrics,
                "calibrated": ref.calibrated, "temperature": ref.temperature,
                "best_epoch": ref.best_epoch, "epochs_run": ref.epochs_run,
                "structural_values": ref.structural,
                "test": ref.calibrated["test"] if r["row"] == "ts" else ref.metrics["test"],
                "val": ref.calibrated["val"] if r["row"] == "ts" else ref.metrics["val"]}
        _assert_same_fit(r, line)
        probs_file = out / "results" / "probs" / f"{r['fit_key']}.pt"
        if r["noise"] == 0 and r["row"] in ("plain", "joint"):  # the reliability figure's runs
            probs = torch.load(probs_file)
            logits = ref.logits[test].double()
            torch.testing.assert_close(probs["probs"], torch.softmax(logits, -1),
                                       rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(probs["probs_ts"],
                                       torch.softmax(logits / ref.temperature, -1),
                                       rtol=1e-4, atol=1e-5)
            assert torch.equal(probs["y"], data.y.view(-1)[test])


@pytest.mark.slow
def test_batched_run_equals_one_at_a_time_run(datasets_root, tmp_path, monkeypatch):
    """``--batch-size 16`` vs ``--batch-size 1``: same result lines (rel 1e-4), exact trial
    budgets; test runs are one fit_many call per split (seeds of a single split, or every
    row on each split of a multi-split kind)."""
    import graphls.engine

    calls: list[int] = []
    real = graphls.engine.fit_many

    def counting(data, configs, on_epoch=None, **kwargs):
        if "splits" not in kwargs:  # the tuner evaluates ("train", "val") only
            calls.append(len(configs))
        return real(data, configs, on_epoch, **kwargs)

    monkeypatch.setattr(graphls.engine, "fit_many", counting)
    argv = ["--datasets", "Cora,Texas", "--splits", "public,fixed", "--models", "gcn",
            "--rows", "plain,ts,joint", "--trials", "3", "--seeds", "2", "--epochs", "5",
            "--noise", "0", "--root", str(datasets_root), "--no-progress"]
    runs = {}
    for batch in (16, 1):
        out = tmp_path / f"b{batch}"
        calls.clear()
        assert bench.main([*argv, "--batch-size", str(batch), "--out", str(out)]) == 0
        runs[batch] = {(r["dataset"], r["row"], r["seed"]): r for r in _lines(out)}
        # the budget is exact however many trials a batch may claim
        assert set(_trial_counts(out).values()) == {3}
        # Cora public: 2 seeds × (plain, joint) in one call; Texas: (plain, joint) per
        # split (a joint row whose best is the baseline trial shares plain's fits)
        fits: dict[tuple, set] = {}
        for r in _lines(out):
            fits.setdefault((r["dataset"], r.get("split_id")), set()).add(r["fit_key"])
        if batch > 1:
            assert len(calls) == 3
            assert sorted(calls) == sorted(len(v) for v in fits.values())
        else:
            assert set(calls) == {1} and len(calls) == sum(len(v) for v in fits.values())
    batched, single = runs[16], runs[1]
    assert sorted(batched) == sorted(single) and len(batched) == 12
    for key, r in batched.items():
        # fewer trials than the sampler's and pruner's startup count (10): same trials drawn
        assert r["params"] == single[key]["params"]
        if r["row"] == "joint":  # run_study's batch_size, recorded with the study
            assert (r["study"]["batch_size"], single[key]["study"]["batch_size"]) == (16, 1)
        _assert_same_fit(r, single[key])


@pytest.mark.slow
def test_a_stopped_batched_block_keeps_its_finished_chunks(datasets_root, tmp_path,
                                                          monkeypatch):
    """Runs are kept (``.jsonl.partial``) chunk by chunk, and a rerun reuses them."""
    import graphls.engine

    real = graphls.engine.fit_many
    calls: list[int] = []

    def second_call_fails(data, configs, on_epoch=None, **kwargs):
        calls.append(len(configs))
        if len(calls) == 2:
            raise RuntimeError("stopped")
        return real(data, configs, on_epoch, **kwargs)

    monkeypatch.setattr(graphls.engine, "default_seed_batch", lambda data, config, count: 2)
    monkeypatch.setattr(graphls.engine, "fit_many", second_call_fails)
    argv = ["--datasets", "Cora", "--splits", "public", "--models", "gcn", "--rows", "plain",
            "--seeds", "4", "--epochs", "3", "--noise", "0", "--root", str(datasets_root),
            "--out", str(tmp_path), "--no-progress"]
    with pytest.raises(RuntimeError, match="stopped"):
        run(bench.parse_settings(argv))
    assert calls == [2, 2]  # 4 seeds in chunks of 2: the second chunk failed
    partial = tmp_path / "results" / "Cora-public-gcn.jsonl.partial"
    assert sorted(json.loads(line)["seed"] for line in partial.read_text().splitlines()) == [
        100, 101]
    monkeypatch.setattr(graphls.engine, "fit_many", real)
    summary = run(bench.parse_settings(argv))
    assert summary["fits"] == 2  # seeds 102 and 103 only
    assert sorted((r["seed"], r["reused"]) for r in _lines(tmp_path)) == [
        (100, True), (101, True), (102, False), (103, False)]


@pytest.mark.slow
def test_quick_rerun_resumes_studies_and_reuses_results(quick):
    out, argv = quick
    before = _trial_counts(out)
    assert len(before) == 7 and set(before.values()) == {3}  # 5 rows + 2 noisy rows
    files_before = {p.name: p.read_bytes() for p in (out / "results").glob("*.jsonl")}
    summary = run(bench.parse_settings(argv))
    assert _trial_counts(out) == before  # --trials is a study-wide target: nothing added
    assert summary["fits"] == 0  # every fit's result line is reused
    # ... and a block whose every line came back from the cache keeps its file byte for byte
    assert {p.name: p.read_bytes() for p in (out / "results").glob("*.jsonl")} == files_before
    assert not any(r["reused"] for r in _lines(out))
    # raising the budget tops the study up to the new target, and only that study
    run(bench.parse_settings([*argv, "--rows", "ls", "--noise", "0", "--trials", "4"]))
    after = _trial_counts(out)
    assert after["bench-cora-public-gcn-ls-e10"] == 4
    # the rows that did not run keep their lines (and their RESULTS.md rows)
    assert sorted(r["row"] for r in _lines(out) if r["noise"] == 0) == sorted(DEFAULT_ROWS)
    assert bench.main([*argv, "--report-only"]) == 0
    text = (out / "RESULTS.md").read_text()
    assert all(f"| {ROWS[r]} |" in text for r in DEFAULT_ROWS)
    assert {k: v for k, v in after.items() if k != "bench-cora-public-gcn-ls-e10"} == {
        k: v for k, v in before.items() if k != "bench-cora-public-gcn-ls-e10"}


def _trial_view(t) -> tuple:
    return (t.state, t.values, t.params, t.distributions, t.intermediate_values, t.user_attrs,
            t.system_attrs, t.datetime_start, t.datetime_complete)


@pytest.mark.slow
def test_quick_studies_are_archived_and_restored_on_a_fresh_checkout(quick, tmp_path):
    """The studies travel as ``results/studies/*.jsonl``: a checkout without ``studies.db``
    (another machine) gets every study back from them and trains nothing."""
    out, argv = quick
    archives = sorted((out / "results" / "studies").glob("*.jsonl"))
    counts = _trial_counts(out)
    assert {p.stem for p in archives} == set(counts)
    for p in archives:  # a head line, then every finished trial
        assert len(p.read_text().splitlines()) == 1 + counts[p.stem]
    fresh = tmp_path / "fresh"
    (fresh / "results").mkdir(parents=True)
    for p in (out / "results").glob("*.jsonl"):
        (fresh / "results" / p.name).write_bytes(p.read_bytes())
    shutil.copytree(out / "results" / "probs", fresh / "results" / "probs")  # figure cache
    (fresh / "results" / "studies").mkdir()
    for p in archives:
        (fresh / "results" / "studies" / p.name).write_bytes(p.read_bytes())
    at = argv.index("--out")
    summary = run(bench.parse_settings([*argv[:at + 1], str(fresh), *argv[at + 2:]]))
    assert summary["fits"] == 0
    assert _trial_counts(fresh) == counts  # restored, not retrained
    for name in counts:
        old = optuna.load_study(study_name=name, storage=f"sqlite:///{out}/results/studies.db")
        new = optuna.load_study(study_name=name,
                                storage=f"sqlite:///{fresh}/results/studies.db")
        assert [_trial_view(t) for t in new.trials] == [_trial_view(t) for t in old.trials]
        assert new.user_attrs == old.user_attrs
    for p in archives:  # and the archives come back byte for byte
        assert (fresh / "results" / "studies" / p.name).read_bytes() == p.read_bytes()
    assert {json.loads(line)["study"]["archive"] for p in (fresh / "results").glob("*.jsonl")
            for line in p.read_text().splitlines()
            if json.loads(line)["study"]} == {f"results/studies/{p.name}" for p in archives}


def test_a_study_archive_round_trips_every_trial_state(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    dists = {"epsilon": FloatDistribution(0.0, 0.5), "hidden": CategoricalDistribution([16, 32])}
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'a.db'}", study_name="s",
                                directions=["maximize", "minimize"])
    study.set_user_attr("dataset", "Cora")
    study.set_user_attr("search_space", {"epsilon": [0, 0.5]})
    for i, state in enumerate([TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]):
        study.add_trial(create_trial(
            state=state, values=[0.8 + i / 100, 0.1] if state == TrialState.COMPLETE else None,
            params={"epsilon": 0.1 * i, "hidden": 32}, distributions=dists,
            user_attrs={"val_ece": 0.05 * i, "worker": "host:1"},
            system_attrs={"failed_trial": 0} if i == 2 else {}))
    running = study.ask()  # a claim of a process that stopped: not archived
    running.suggest_float("epsilon", 0.0, 0.5)
    single = optuna.create_study(storage=f"sqlite:///{tmp_path / 'a.db'}", study_name="p")
    single.add_trial(create_trial(state=TrialState.PRUNED, value=0.7,
                                  params={"epsilon": 0.2},
                                  distributions={"epsilon": dists["epsilon"]},
                                  intermediate_values={0: 0.5, 5: 0.7}))
    for source in (study, single):
        path = tmp_path / f"{source.study_name}.jsonl"
        finished = [t for t in source.trials if t.state != TrialState.RUNNING]
        assert export_study(source, path) == len(finished)
        url = f"sqlite:///{tmp_path / 'b.db'}"
        assert restore_study(url, source.study_name, path) == len(finished)
        assert restore_study(url, source.study_name, path) == 0  # there already
        back = optuna.load_study(study_name=source.study_name, storage=url)
        assert back.directions == source.directions and back.user_attrs == source.user_attrs
        assert [_trial_view(t) for t in back.trials] == [_trial_view(t) for t in finished]
    assert restore_study(url, "absent", tmp_path / "absent.jsonl") == 0
    # a stale copy (fewer finished trials than the archive) is refused, not resumed
    stale = f"sqlite:///{tmp_path / 'c.db'}"
    optuna.create_study(storage=stale, study_name="s", directions=["maximize", "minimize"])
    with pytest.raises(ValueError, match=r"study 's' has 0 finished trials in sqlite:///.*c\.db "
                                         r"but 3 in its archive .*s\.jsonl; delete the stale "
                                         r"copy \(optuna delete-study --study-name s"):
        restore_study(stale, "s", tmp_path / "s.jsonl")
    with pytest.raises(ValueError, match=r"s\.jsonl: cannot restore 'other': it holds "
                                         r"study 's'"):
        restore_study(url, "other", tmp_path / "s.jsonl")


def test_archive_timestamps_are_utc_and_restore_to_optunas_local_times(tmp_path, monkeypatch):
    import time
    from datetime import datetime

    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    monkeypatch.setenv("TZ", "EST+05")  # five hours behind UTC, no daylight saving
    time.tzset()
    try:
        study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'a.db'}", study_name="s")
        trial = create_trial(state=TrialState.COMPLETE, value=0.8, params={"epsilon": 0.1},
                             distributions={"epsilon": FloatDistribution(0.0, 0.5)})
        trial.datetime_start = datetime(2026, 12, 5, 9, 30, 0)  # naive local, as Optuna's
        trial.datetime_complete = datetime(2026, 12, 5, 9, 45, 0)
        study.add_trial(trial)
        path = tmp_path / "s.jsonl"
        export_study(study, path)
        line = json.loads(path.read_text().splitlines()[1])
        assert line["datetime_start"] == "2026-12-05T14:30:00+00:00"
        assert line["datetime_complete"] == "2026-12-05T14:45:00+00:00"
        url = f"sqlite:///{tmp_path / 'b.db'}"
        assert restore_study(url, "s", path) == 1
        back = optuna.load_study(study_name="s", storage=url).trials[0]
        assert (back.datetime_start, back.datetime_complete) == (
            datetime(2026, 12, 5, 9, 30, 0), datetime(2026, 12, 5, 9, 45, 0))
        # an archive written before timestamps carried their offset: naive local, kept as is
        old = tmp_path / "old.jsonl"
        head, first = path.read_text().splitlines()
        first = json.loads(first)
        first["datetime_start"], first["datetime_complete"] = ("2026-12-05T09:30:00",
                                                               "2026-12-05T09:45:00")
        old.write_text(head.replace('"s"', '"old"', 1) + "\n" + json.dumps(first) + "\n")
        assert restore_study(url, "old", old) == 1
        back = optuna.load_study(study_name="old", storage=url).trials[0]
        assert back.datetime_start == datetime(2026, 12, 5, 9, 30, 0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_archive_is_snapshot_and_written_under_its_lock(tmp_path):
    """Two processes on one study export in turn; each snapshot is taken once the lock is
    held, so the later file holds every trial finished before it."""
    import threading

    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from graphls.tuning import file_lock

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'a.db'}", study_name="s")
    path = tmp_path / "studies" / "s.jsonl"

    def add(value):
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=value,
                                     params={"epsilon": value},
                                     distributions={"epsilon": FloatDistribution(0, 1)}))

    add(0.1)
    path.parent.mkdir()
    counts = []
    with file_lock(path.with_name("s.jsonl.lock")):  # another writer holds it
        waiter = threading.Thread(target=lambda: counts.append(export_study(study, path)))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and not path.exists()  # waits for the lock
        add(0.2)  # a trial finished while it waited
    waiter.join(10)
    assert counts == [2] and len(path.read_text().splitlines()) == 3


@pytest.mark.slow
def test_fixed_splits_are_tuned_on_split_0_and_reported_over_splits(datasets_root, tmp_path):
    argv = ["--datasets", "Texas", "--splits", "fixed", "--models", "gcn",
            "--rows", "plain,ts,joint", "--trials",
            "2", "--seeds", "2", "--epochs", "5", "--root", str(datasets_root), "--out",
            str(tmp_path), "--no-progress"]
    assert bench.main(argv) == 0
    lines = _lines(tmp_path)
    assert sorted((r["row"], r["split_id"], r["seed"]) for r in lines) == [
        (row, k, 100 + k) for row in ("joint", "plain", "ts") for k in (0, 1)]
    joint = [r for r in lines if r["row"] == "joint"]
    assert joint[0]["study"]["tuned_on"] == "validation nodes of split 0 (fixed)"
    assert joint[0]["config"] | {"seed": 0} == joint[1]["config"] | {"seed": 0}
    text = (tmp_path / "RESULTS.md").read_text()
    assert "2 splits (split indices 0–1), one training seed each" in text
    assert "tuned on split 0 only" in text
    assert (tmp_path / "figures" / "landscape-Texas-fixed-gcn.png").read_bytes()[:8] == PNG


def test_bernnet_blocks_follow_the_literatures_protocol_end_to_end(datasets_root, tmp_path):
    """A bernnet block: the BernNet recipe, PosteL's defaults in the posterior row, studies
    tuned on the validation nodes of splits 0-2, test runs over the splits, PosteL's
    published rows beside ours and the comparison with them in the closing note."""
    argv = ["--quick", "--datasets", "Texas", "--splits", "bernnet", "--models", "gcn",
            "--rows", "plain,posterior,joint_posterior,joint_posterior_grid", "--trials", "2",
            "--seeds", "2", "--root", str(datasets_root), "--out", str(tmp_path),
            "--no-progress"]
    assert bench.main(argv) == 0
    lines = _lines(tmp_path)
    assert sorted((r["row"], r["split_id"]) for r in lines) == [
        (row, k) for row in ("joint_posterior", "joint_posterior_grid", "plain", "posterior")
        for k in (0, 1)]
    by_row = {r["row"]: r for r in lines}
    from graphls.config import TrainConfig

    recipe = TrainConfig.for_model("gcn", recipe="bernnet")
    for key in ("hidden", "lr", "weight_decay_scope", "select", "stop_window"):
        assert by_row["plain"]["config"][key] == getattr(recipe, key), key
    assert {k: by_row["posterior"]["config"][k] for k in POSTERIOR_DEFAULTS} == \
        POSTERIOR_DEFAULTS
    study = by_row["joint_posterior"]["study"]
    assert study["tuned_on"].startswith("validation nodes of splits 0, 1, 2")
    stored = optuna.load_study(study_name=study["name"],
                               storage=f"sqlite:///{tmp_path / 'results' / 'studies.db'}")
    assert stored.user_attrs["split_index"] == [0, 1, 2]
    assert stored.user_attrs["prior"] == "posterior"
    # trial 0 is the baseline, trial 1 PosteL's defaults (λ = 1), then the search
    assert stored.trials[1].params == {"structural": 1.0, **{
        k: v for k, v in POSTERIOR_DEFAULTS.items() if k != "prior"}}
    text = (tmp_path / "RESULTS.md").read_text()
    assert "### Texas (BernNet 60/20/20 splits), GCN" in text
    assert "acc 77.38 (BernNet 60/20/20 splits; PosteL" in text  # one-hot, beside plain
    assert "acc 80.82 (BernNet 60/20/20 splits; PosteL" in text  # +PosteL, beside posterior
    assert "against PosteL's published accuracy" in text and "| Texas GCN |" in text
    # the grid row searches PosteL's lr and weight decay values, from the fixed recipe's
    grid = optuna.load_study(study_name=by_row["joint_posterior_grid"]["study"]["name"],
                             storage=f"sqlite:///{tmp_path / 'results' / 'studies.db'}")
    assert grid.trials[1].params["lr"] == 0.05 and grid.trials[1].params["weight_decay"] == 5e-4
    assert grid.trials[1].distributions["lr"].choices == (0.001, 0.002, 0.01, 0.05)
    assert by_row["joint_posterior_grid"]["config"]["lr"] in (0.001, 0.002, 0.01, 0.05)
    assert "run on 1 of them" in text and "lr, wd tuned too (%)" in text


def test_test_value_and_worst_recall_read_the_lines():
    ts = {"row": "ts", "test": {"ece": 0.05}, "calibrated": {"test": {"ece": 0.05}}}
    joint = {"row": "joint", "test": {"ece": 0.3}, "calibrated": {"test": {"ece": 0.04}}}
    assert row_value(ts, "ece_after_ts") == 0.05
    assert row_value(joint, "ece_after_ts") == 0.04
    assert row_value(joint, "ece") == 0.3
    assert row_value(joint, "roc_auc") is None
    assert worst_recall({"recall": {"test": [0.9, float("nan"), 0.4, 1.0]}}) == 0.4
    assert worst_recall({"test": {}}) is None


def test_shards_deal_the_test_runs_round_robin_and_cover_them_once():
    runs = [(k, 100 + k) for k in range(10)]
    assert parse_shard("2/3") == (2, 3)
    parts = [shard_units(runs, (k, 3)) for k in (1, 2, 3)]
    assert [[k for k, _ in p] for p in parts] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(u for p in parts for u in p) == runs
    assert shard_units(runs, None) == runs


@pytest.mark.slow
def test_sharded_test_runs_stay_partial_until_a_whole_run_writes_the_block(datasets_root,
                                                                           tmp_path, capsys):
    argv = ["--datasets", "Texas", "--splits", "fixed", "--models", "gcn",
            "--rows", "plain,ts,joint", "--trials",
            "2", "--seeds", "3", "--epochs", "5", "--root", str(datasets_root), "--out",
            str(tmp_path), "--no-progress"]
    partial = tmp_path / "results" / "Texas-fixed-gcn.jsonl.partial"
    for k, ids in ((1, {0, 2}), (2, {1})):
        before = set() if not partial.is_file() else {
            json.loads(line)["split_id"] for line in partial.read_text().splitlines()}
        assert bench.main([*argv, "--shard", f"{k}/2"]) == 0
        assert "rerun without --shard" in capsys.readouterr().out
        lines = [json.loads(line) for line in partial.read_text().splitlines()]
        assert {r["split_id"] for r in lines} - before == ids
        assert not (tmp_path / "results" / "Texas-fixed-gcn.jsonl").exists()
    assert sorted((r["row"], r["split_id"]) for r in lines) == [
        (row, k) for row in ("joint", "plain", "ts") for k in (0, 1, 2)]
    assert {r["seeds"] for r in lines} == {3}  # each line knows the block's full count
    summary = run(bench.parse_settings(argv))
    assert summary["fits"] == 0  # the whole run only gathers the shards' runs
    assert sorted((r["row"], r["split_id"]) for r in _lines(tmp_path)) == sorted(
        (r["row"], r["split_id"]) for r in lines)
    assert not partial.exists()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning",
                            "ignore::optuna.exceptions.ExperimentalWarning")
def test_a_study_another_process_holds_waits_until_the_blocks_other_studies_ran(
        datasets_root, tmp_path, monkeypatch):
    import graphls.tuning as tuning

    argv = ["--datasets", "Texas", "--splits", "fixed", "--models", "gcn",
            "--rows", "ls,structural", "--trials",
            "1", "--seeds", "1", "--epochs", "5", "--root", str(datasets_root), "--out",
            str(tmp_path), "--no-progress"]
    assert bench.main(argv) == 0
    settings = bench.parse_settings([*argv[:9], "2", *argv[10:]])  # --trials 2
    ls_name = next(n for n in optuna.get_all_study_names(settings.storage) if "-ls-" in n)
    # another process (alive: its heartbeat is fresh) holds the ls study's last trial
    storage = optuna.storages.RDBStorage(settings.storage, heartbeat_interval=60)
    held = optuna.load_study(study_name=ls_name, storage=storage).ask()
    storage.record_heartbeat(held._trial_id)
    calls, real = [], tuning.run_study

    def spy(study_settings, **kw):
        row = "ls" if study_settings.study_name == ls_name else "structural"
        if row == "ls" and kw.get("wait", True):  # the other process gives its trial up now
            storage.set_trial_state_values(held._trial_id, optuna.trial.TrialState.FAIL)
        study = real(study_settings, **kw)
        finished = [t for t in study.get_trials(deepcopy=False) if t.state in (
            optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
        calls.append((row, kw.get("wait", True), len(finished)))
        return study

    monkeypatch.setattr(tuning, "run_study", spy)
    run(settings)
    # ls is passed over (nothing free, no waiting) while structural trains its trial; only
    # then does the run come back to ls and wait for (here: retrain) the held trial
    assert calls == [("ls", False, 1), ("structural", False, 2), ("ls", True, 2),
                     ("structural", True, 2)]


def test_sigterm_stops_a_run_in_one_line_and_a_rerun_resumes(datasets_root, tmp_path, capsys,
                                                             sigterm_next_batch):
    argv = ["--datasets", "Texas", "--splits", "fixed", "--models", "gcn",
            "--rows", "plain,ls", "--trials", "2",
            "--seeds", "2", "--epochs", "5", "--root", str(datasets_root), "--out",
            str(tmp_path), "--no-progress"]
    assert bench.main(argv) == 130  # SIGTERM during the first batch of trials
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted; rerun the same command" in err
    assert "Traceback" not in err
    storage = bench.parse_settings(argv).storage
    (name,) = optuna.get_all_study_names(storage)
    claimed = optuna.load_study(study_name=name, storage=storage).trials
    assert claimed and {t.state for t in claimed} == {optuna.trial.TrialState.FAIL}
    assert bench.main(argv) == 0  # the same command resumes: the failed claims are redone
    study = optuna.load_study(study_name=name, storage=storage)
    assert sum(t.state != optuna.trial.TrialState.FAIL for t in study.trials) == 2
    assert sorted((r["row"], r["split_id"]) for r in _lines(tmp_path)) == [
        ("ls", 0), ("ls", 1), ("plain", 0), ("plain", 1)]


def test_an_interrupted_study_leaves_its_stored_trials_in_its_archive(tmp_path, monkeypatch):
    # A stop between a trial's tell and its Archiver callback (or a failing callback) left
    # finished trials only in the ignored studies.db; tune() now exports on the way out.
    import graphls_bench.studies as studies

    settings = bench.parse_settings(["--datasets", "Texas", "--splits", "fixed", "--models",
                                     "gcn", "--rows", "ls", "--trials", "3", "--out",
                                     str(tmp_path), "--no-progress"])
    (tmp_path / "results").mkdir()
    block = Block("Texas", "fixed", "gcn", 0.0, ("ls",))
    name = study_name(settings, block, "ls", 5)

    def stopped(*args, **kw):  # two trials told, no callback ran, then the interrupt
        study = optuna.create_study(study_name=name, storage=settings.storage)
        for value in (0.5, 0.7):
            trial = study.ask({"label_smoothing": optuna.distributions.FloatDistribution(0, 1)})
            study.tell(trial, value)
        raise KeyboardInterrupt

    monkeypatch.setattr(studies, "run_row_study", stopped)
    monkeypatch.setattr(studies, "trial_batch", lambda *a, **k: 1)
    base = type("Base", (), {"epochs": 5})()
    with pytest.raises(KeyboardInterrupt):
        studies.tune(settings, block, "ls", base, data=None)
    archive = tmp_path / "results" / "studies" / f"{name}.jsonl"
    head, *lines = [json.loads(line) for line in archive.read_text().splitlines()]
    assert head["study"] == name and [t["values"] for t in lines] == [[0.5], [0.7]]

    def never_created(*args, **kw):
        raise KeyboardInterrupt

    other = study_name(settings, block, "ls", 6)
    monkeypatch.setattr(studies, "run_row_study", never_created)
    with pytest.raises(KeyboardInterrupt):
        studies.tune(settings, block, "ls", type("Base", (), {"epochs": 6})(), data=None)
    assert not (tmp_path / "results" / "studies" / f"{other}.jsonl").exists()


@pytest.mark.slow
def test_a_roc_auc_block_tunes_and_selects_on_validation_auc_end_to_end(datasets_root,
                                                                         tmp_path):
    argv = ["--datasets", "Minesweeper", "--models", "gcn", "--rows", "plain,joint",
            "--trials", "2", "--seeds", "1", "--epochs", "5", "--root", str(datasets_root),
            "--out", str(tmp_path), "--no-progress"]
    assert bench.main(argv) == 0
    lines = {r["row"]: r for r in _lines(tmp_path)}
    assert {r["config"]["select"] for r in lines.values()} == {"roc_auc"}
    st = lines["joint"]["study"]
    assert st["objective"] == "roc_auc" and st["name"].endswith("-e5-auc")
    import optuna

    study = optuna.load_study(study_name=st["name"],
                              storage=f"sqlite:///{tmp_path / 'results' / 'studies.db'}")
    assert st["best_values"] == [study.best_trial.user_attrs["val_roc_auc"]]
    text = (tmp_path / "RESULTS.md").read_text()
    assert "Tuned and selected on **validation ROC AUC**" in text
    figures = json.loads((tmp_path / "figures" / "figures.json").read_text())
    assert figures["landscape-Minesweeper-fixed-gcn.png"].startswith(
        "(ε, λ) validation ROC AUC landscape, Minesweeper")


# ---------------------------------------------------------------------------
# settings and plan
# ---------------------------------------------------------------------------

def test_quick_settings_are_small_and_write_to_a_temp_folder():
    s = bench.parse_settings(["--quick"])
    assert s.datasets == {"Cora": ["public"]} and s.models == ["gcn"]
    assert (s.trials, s.seeds, s.epochs, s.batch_size) == (3, 1, 10, 2)
    assert s.out is None  # made by run(); never the committed benchmarks/ folder
    assert s.rows == list(DEFAULT_ROWS)
    assert s.threads == 1 and bench.parse_settings(["--quick", "--threads", "0"]).threads is None


def test_full_settings_cover_every_shared_dataset_and_both_models():
    s = bench.parse_settings([])
    assert s.out == REPO / "benchmarks"
    assert (s.trials, s.seeds, s.epochs, s.batch_size) == (30, 10, 200, 10)
    assert s.models == ["gcn", "gat"] and s.noise == [0.0, 0.2, 0.4]
    assert s.datasets["Cora"] == ["public", "dense", "bernnet"]
    assert s.datasets["CiteSeer"] == ["public", "dense", "bernnet"]
    # the literature's protocol: PosteL's nine datasets available here, with its own rows
    assert [n for n, splits in s.datasets.items() if "bernnet" in splits] == [
        "Cora", "CiteSeer", "PubMed", "Cornell", "Texas", "Actor", "chameleon", "squirrel",
        "Photo", "Computers"]
    assert s.rows_of("bernnet") == ["plain", "ts", "ls", "posterior", "joint",
                                    "joint_posterior", "joint_posterior_grid"]
    assert s.rows_of("dense") == s.rows
    shared = REPO.parent / "shared" / "datasets"
    if shared.is_dir():
        from graphls.data import list_datasets

        for row in list_datasets(shared):
            if row["available"]:
                assert row["name"] in s.datasets, row["name"]
    assert {"PubMed", "ogbn-arxiv"} <= set(s.datasets)
    assert s.noise_datasets == ["Cora", "CiteSeer"] and s.noise_rows == ["plain", "ls", "joint"]


def test_flags_override_and_rows_keep_table_order():
    s = bench.parse_settings(["--datasets", "citeseer,texas", "--models", "gat", "--rows",
                              "multi,plain", "--trials", "7", "--noise", "0.2,0",
                              "--splits", "public,fixed", "--batch-size", "1"])
    assert s.datasets == {"CiteSeer": ["public"], "Texas": ["fixed"]}
    assert s.rows == ["plain", "multi"] and s.trials == 7 and s.noise == [0.0, 0.2]
    assert s.batch_size == 1 and bench.parse_settings(["--quick", "--batch-size", "8"]
                                                      ).batch_size == 8
    assert s.noise_rows == ["plain"]


@pytest.mark.parametrize(("argv", "match"), [
    (["--datasets", "cora2"], r"dataset 'cora2' is unknown; known: Cora, CiteSeer"),
    (["--models", "gin"], r"models must be one of 'gcn', 'gat'; got 'gin'"),
    (["--rows", "plain,best"], r"rows must be one of 'plain', .*; got 'best'"),
    (["--trials", "0"], r"trials must be an integer >= 1; got 0"),
    (["--seeds", "0"], r"seeds must be an integer >= 1; got 0"),
    (["--epochs", "-5"], r"epochs must be an integer >= 1; got -5"),
    (["--seeds-per-trial", "0"], r"seeds_per_trial must be an integer >= 1; got 0"),
    (["--batch-size", "0"], r"batch_size must be an integer >= 1; got 0"),
    (["--noise", "0,1.0"], r"noise must be in \[0, 1\); got 1.0"),
    (["--noise", "0,lots"], r"noise must be comma-separated fractions like 0,0.2,0.4; "
                            r"got '0,lots'"),
    (["--splits", "geom"], r"splits must be one of 'public', .*; got 'geom'"),
    (["--datasets", "Texas", "--splits", "public"],
     r"splits public match none of the datasets Texas"),
    (["--sampler", "bayes"], r"sampler must be one of 'tpe', .*; got 'bayes'"),
    (["--pruner", "early"], r"pruner must be one of 'median', .*; got 'early'"),
    (["--threads", "-1"], r"threads must be an integer >= 0; got -1"),
    (["--shard", "3/2"], r"shard must be K/N with 1 <= K <= N, e.g. 1/2; got '3/2'"),
    (["--shard", "0/2"], r"shard must be K/N with 1 <= K <= N, e.g. 1/2; got '0/2'"),
    (["--shard", "half"], r"shard must be K/N with 1 <= K <= N, e.g. 1/2; got 'half'"),
])
def test_bad_input_is_one_clear_message(argv, match):
    with pytest.raises(ValueError, match=match):
        bench.parse_settings(argv)


def test_main_turns_bad_input_into_exit_status_2(capsys):
    assert bench.main(["--models", "gin"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["benchmarks/run.py: error: models must be one of 'gcn', 'gat'; got 'gin'"]


def test_units_seeds_on_one_split_or_one_seed_per_split():
    public = Block("Cora", "public", "gcn", 0.0, ("plain",))
    dense = Block("Cora", "dense", "gcn", 0.0, ("plain",))
    fixed = Block("Texas", "fixed", "gcn", 0.0, ("plain",))
    assert units(public, 3) == [(None, 100), (None, 101), (None, 102)]
    assert units(dense, 12) == [(k, 100 + k) for k in range(12)]
    assert units(fixed, 12) == [(k, 100 + k) for k in range(10)]  # 10 shipped splits


def test_plan_skips_missing_datasets_with_a_note(tmp_path):
    s = bench.parse_settings(["--datasets", "Cora,PubMed", "--root", str(tmp_path)])
    blocks, skipped = plan(s)
    assert blocks == []
    assert len(skipped) == 2
    assert skipped[1].startswith(f"PubMed: skipped, its files are missing under "
                                 f"{tmp_path / 'PubMed'} (put ind.pubmed.x")


def test_plan_noise_blocks_reuse_the_noise_free_main_block(datasets_root):
    s = bench.parse_settings(["--datasets", "Cora", "--models", "gcn", "--noise", "0,0.2",
                              "--root", str(datasets_root)])
    blocks, skipped = plan(s)
    assert skipped == []
    names = [b.name for b in blocks]
    assert names == ["Cora-public-gcn", "Cora-dense-gcn", "Cora-bernnet-gcn",
                     "Cora-public-gcn-noise20"]
    assert blocks[-1].rows == ("plain", "ls", "joint") and blocks[-1].noise == 0.2
    for argv in (["--noise", "0"], ["--splits", "dense"]):  # no noisy rate, or no public split
        s = bench.parse_settings(["--datasets", "Cora", "--root", str(datasets_root), *argv])
        assert all(b.noise == 0 for b in plan(s)[0])
        assert {b.split for b in plan(s)[0]} == ({"dense"} if "--splits" in argv else
                                                      {"public", "dense", "bernnet"})


def test_space_files_fix_one_knob_and_share_the_other_range():
    from graphls.tuning import search_space

    spaces = {row: search_space("joint", spec.prior,
                                CONFIGS / "searchspace" / spec.space_file)
              for row, spec in TUNED.items()}
    builtin = search_space("joint")
    assert (spaces["ls"]["structural"].low, spaces["ls"]["structural"].high) == (1.0, 1.0)
    assert spaces["ls"]["epsilon"] == builtin["epsilon"]
    assert (spaces["structural"]["epsilon"].low, spaces["structural"]["epsilon"].high) == (0, 0)
    assert spaces["structural"]["structural"] == builtin["structural"]
    assert spaces["joint"] == builtin == spaces["multi"]
    assert set(spaces["joint_prior"]) == {"epsilon", "structural", "prior_weight"}


def test_references_name_their_split_and_hold_the_issue_numbers():
    refs = load_references()
    values = [r["value"] for r in refs]
    assert all(values.count(v) >= PUBLISHED.count(v) for v in PUBLISHED)
    # every entry has its keys and a known metric, row and model: load_references checks
    # that (test_a_bad_reference_is_refused_by_name)
    kipf = {(r["dataset"], r["model"], r["split"]): r["value"] for r in refs
            if r["source"].startswith("Kipf")}
    assert kipf == {("Cora", "gcn", "public"): "81.5", ("CiteSeer", "gcn", "public"): "70.3"}
    # Platonov et al.'s sets are scored as they score them, on the splits our blocks use
    platonov = {(r["dataset"], r["model"]): (r["metric"], r["split"]) for r in refs
                if r["source"].startswith("Platonov")}
    configured = load_config()
    for (ds, _model), (metric, split) in platonov.items():
        assert metric == configured.get("metric", {}).get(ds, "accuracy")
        assert split in configured["datasets"][ds]
    assert len(platonov) == 8


@pytest.mark.parametrize(("field", "value", "named"), [
    ("metric", "f1", "'f1'"), ("row", "joint+", "'joint+'"), ("model", "sage", "'sage'"),
    ("value", "", "value missing")])
def test_a_bad_reference_is_refused_by_name(tmp_path, field, value, named):
    good = {"dataset": "Cora", "model": "gcn", "row": "plain", "split": "public",
            "metric": "accuracy", "value": "81.5", "source": "Kipf & Welling"}
    path = tmp_path / "reference.toml"

    def write(ref: dict) -> None:
        path.write_text("[[reference]]\n" + "".join(f'{k} = "{v}"\n' for k, v in ref.items()))

    write(good)
    assert load_references(path) == [good]
    write({**good, field: value})
    with pytest.raises(ValueError, match=f"reference.toml, reference 1: .*{re.escape(named)}"):
        load_references(path)


def test_a_roc_auc_reference_sits_in_its_blocks_published_column(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    lines = [{**_record(row, 100 + k, 0.8, 0.1), "dataset": "Tolokers", "split": "fixed",
              "split_id": k, "model": model} for k in range(2) for model in MODELS
             for row in ("plain", "joint")]
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    text = render(bench.parse_settings(["--out", str(tmp_path)]))
    blocks = [b.split("\n## ")[0] for b in text.split("### ")]
    gat = next(b for b in blocks if b.startswith("Tolokers (") and "), GAT" in b.split("\n")[0])
    gcn = next(b for b in blocks if b.startswith("Tolokers (") and "), GCN" in b.split("\n")[0])
    plain = next(line for line in gat.splitlines() if line.startswith(f"| {ROWS['plain']}"))
    assert plain.endswith("| ROC AUC 83.70 (10 fixed splits shipped with the data; "
                          "Platonov et al., ICLR 2023 (residual GAT with layer norm)) |")
    assert "83.64" in gcn and "83.64" not in gat
    assert ("| Tolokers | GAT (plain (ε=0, λ=1) = PyG) | 10 fixed splits shipped with the data "
            "| ROC AUC | 83.70 |") in text


def test_tuning_seconds_count_a_batch_once():
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    t0 = datetime(2026, 1, 1)

    def trial(start: float, end: float | None) -> SimpleNamespace:
        return SimpleNamespace(datetime_start=t0 + timedelta(seconds=start),
                               datetime_complete=None if end is None
                               else t0 + timedelta(seconds=end))

    batch = [trial(0, 10), trial(0.1, 10), trial(0.2, 10)]  # claimed together, told together
    one_by_one = [trial(10, 12), trial(12, 15), trial(20, 21)]
    assert busy_seconds(batch) == pytest.approx(10.0)
    assert busy_seconds(one_by_one) == pytest.approx(6.0)  # the sum of the durations
    assert busy_seconds([*one_by_one, *batch, trial(30, None)]) == pytest.approx(16.0)
    assert busy_seconds([]) == 0.0


def test_fit_key_depends_on_config_and_split_not_device():
    from graphls.config import TrainConfig

    b = Block("Cora", "dense", "gcn", 0.0, ("plain",))
    c = TrainConfig.for_model("gcn")
    key = fit_key(b, 0, c)
    assert key == fit_key(b, 0, c.replace(device="cuda"))
    assert key != fit_key(b, 1, c)
    assert key != fit_key(b, 0, c.replace(epsilon=0.1))
    assert key != fit_key(b, 0, c.replace(seed=1))
    assert key != fit_key(b, 0, c.replace(select="roc_auc"))


def test_fit_keys_recorded_before_select_existed_still_match():
    """The default ``select`` is left out of the key, so the committed results stay cached."""
    from graphls.config import TrainConfig

    line = json.loads((REPO / "benchmarks" / "results" / "Cora-dense-gcn.jsonl")
                      .read_text().splitlines()[0])
    assert "select" not in line["config"]  # written before the field existed
    b = Block(line["dataset"], line["split"], line["model"], line["noise"], ("plain",))
    config = TrainConfig.from_dict(line["config"])
    assert fit_key(b, line["split_id"], config) == line["fit_key"]


# ---------------------------------------------------------------------------
# verdicts and RESULTS.md
# ---------------------------------------------------------------------------

def test_verdict_is_the_difference_against_two_standard_errors():
    a, b = [0.80, 0.82, 0.84], [0.70, 0.71, 0.72]
    se = math.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 3)
    assert np.mean(a) - np.mean(b) > 2 * se
    v, d = verdict(a, b, higher=True)
    assert v == "win" and d == pytest.approx(np.mean(a) - np.mean(b))
    assert verdict(b, a, higher=True)[0] == "loss"
    assert verdict(a, b, higher=False)[0] == "loss"  # e.g. ECE: higher is worse
    assert verdict([0.80, 0.90], [0.81, 0.86], higher=True)[0] == "tie"
    assert verdict([0.5], [0.4], higher=True)[0] == "win"  # one seed: no error bars


def test_verdict_needs_a_minimum_effect_when_the_seeds_agree():
    # std 0 on both sides: a 0.02-point difference is beyond any multiple of se = 0
    a, b = [0.8502] * 3, [0.8500] * 3
    assert verdict(a, b, higher=True) == ("tie", pytest.approx(0.0002))
    assert verdict(a, b, higher=True, min_effect=0.0)[0] == "win"  # the old rule
    assert verdict(b, a, higher=False)[0] == "tie"
    # exactly the minimum effect (0.1 points) counts, in float too
    assert MIN_EFFECT == 0.001
    assert verdict([0.851] * 2, [0.850] * 2, higher=True)[0] == "win"
    assert verdict([0.850] * 2, [0.851] * 2, higher=True)[0] == "loss"
    assert verdict([0.850] * 2, [0.851] * 2, higher=False)[0] == "win"  # e.g. ECE
    # above the minimum effect but within two standard errors: still a tie
    assert verdict([0.80, 0.90], [0.81, 0.86], higher=True)[0] == "tie"
    # a larger minimum effect turns a clear statistical win into a tie
    a, b = [0.80, 0.82, 0.84], [0.70, 0.71, 0.72]
    assert verdict(a, b, higher=True, min_effect=0.2)[0] == "tie"
    for bad in (-0.001, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"min_effect must be a finite number >= 0, got"):
            verdict(a, b, higher=True, min_effect=bad)


_SCORES = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6)


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(_SCORES, _SCORES, st.booleans(), st.sampled_from([0.0, 0.001, 0.05]))
def test_verdict_is_antisymmetric(a, b, higher, min_effect):
    v, d = verdict(a, b, higher, min_effect)
    w, e = verdict(b, a, higher, min_effect)
    assert {"win": "loss", "loss": "win", "tie": "tie"}[v] == w
    assert d == pytest.approx(-e, abs=1e-12)
    if v != "tie":  # a verdict is never given on a difference below the minimum
        assert abs(d) >= min_effect - 1e-12 and abs(d) > 0


def _record(row: str, seed: int, acc: float, ece: float, noise: float = 0.0) -> dict:
    metrics = {"accuracy": acc, "ece": ece, "nll": 0.5, "brier": 0.2, "confidence": acc}
    study = None
    if row in TUNED:
        study = {"budget": 5, "complete": 4, "pruned": 1, "sampler": "tpe", "pruner": "median"}
    return {"schema": SCHEMA, "dataset": "Cora", "split": "public", "split_id": None,
            "model": "gcn", "noise": noise, "row": row, "label": ROWS[row], "seed": seed,
            "epsilon": 0.1 if row in TUNED else 0.0, "structural": 1.0,
            "prior": "uniform", "prior_weight": None, "test": metrics, "val": metrics,
            "raw": {"test": metrics}, "calibrated": {"test": {**metrics, "ece": ece / 2}},
            "epochs": 200, "study": study, "command": "python benchmarks/run.py",
            "versions": {}, "machine": {}, "git_sha": "abc"}


def test_render_computes_mean_and_sample_std_from_the_lines(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    lines = [_record(row, s, acc, ece) for s, (acc, ece) in zip(
        (100, 101, 102), ((0.80, 0.30), (0.82, 0.20), (0.87, 0.25)), strict=True)
        for row in ("plain", "ts", "joint")]
    lines += [_record(row, s, 0.5, 0.1, noise=0.4) for s in (100, 101, 102)
              for row in ("plain", "joint")]
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    s = bench.parse_settings(["--out", str(tmp_path)])
    text = render(s, ["PubMed: skipped, its files are missing"])
    acc = np.array([0.80, 0.82, 0.87])
    cell = f"{100 * acc.mean():.2f} ± {100 * acc.std(ddof=1):.2f}"
    assert f"| {ROWS['plain']} | 0 | 1 | — | {cell} |" in text
    assert "| 5 (1 pruned) |" in text
    assert "acc 81.5 (public split; Kipf & Welling, ICLR 2017)" in text
    assert "| 0 % noise | 40 % noise |" in text
    assert "50.00 ± 0.00 / 10.00 ± 0.00" in text
    # joint equals plain on every seed: a tie on accuracy, reported in the closing note
    assert "test accuracy**: wins on 0, ties on 1, loses on 0." in text
    assert (f"| {ROWS['joint']} vs {ROWS['plain']}, test accuracy | 0 | 1 | 0 |"
            in text)
    assert "- PubMed: skipped, its files are missing" in text
    assert "3 training seeds (100–102, unseen by the search)" in text


def test_render_orders_blocks_as_configured_whichever_datasets_ran(tmp_path):
    """RESULTS.md is the same whichever subset the command that rebuilt it ran."""
    results = tmp_path / "results"
    results.mkdir()
    lines = [{**_record(row, 100, 0.8, 0.2), "dataset": ds, "split": split}
             for ds, split in (("Cora", "public"), ("Photo", "dense"), ("Texas", "fixed"))
             for row in ("plain", "joint")]
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    configured = list(load_config()["datasets"])

    def order(argv: list[str]) -> list[str]:
        text = render(bench.parse_settings(["--out", str(tmp_path), *argv]))
        return [line.split()[1] for line in text.splitlines() if line.startswith("### ")
                and "noise" not in line]

    expected = sorted(["Cora", "Photo", "Texas"], key=configured.index)
    assert order([]) == expected
    assert order(["--datasets", "Photo"]) == expected
    assert order(["--datasets", "Texas,Cora"]) == expected


def test_render_adds_a_roc_auc_column_when_lines_have_it(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    lines = [_record(row, s, 0.8, 0.1) for s in (100, 101) for row in ("plain", "joint")]
    for r, auc in zip(lines, (0.70, 0.60, 0.90, 0.80), strict=True):
        r["test"] = {**r["test"], "roc_auc": auc}
    lines[-1]["test"] = {k: v for k, v in lines[-1]["test"].items() if k != "roc_auc"}
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    text = render(bench.parse_settings(["--out", str(tmp_path)]))
    assert ("| ECE after TS (%) | ROC AUC (%) | worst-class recall (%) | trials | published |"
            in text)
    header = next(line for line in text.splitlines() if "| ROC AUC (%) |" in line)
    table = text.splitlines()
    plain = next(line for line in table if line.startswith(f"| {ROWS['plain']} |"))
    joint = next(line for line in table if line.startswith(f"| {ROWS['joint']} |"))
    assert plain.count("|") == joint.count("|") == header.count("|")
    assert "| 80.00 ± 14.14 |" in plain  # mean and sample std of 0.70 and 0.90
    assert "| — |" in joint  # one of its lines predates the metric
    assert "test ROC AUC" not in text  # so no verdict on it either
    lines[-1]["test"]["roc_auc"] = 0.82  # joint 0.60, 0.82 against plain 0.70, 0.90
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    text = render(bench.parse_settings(["--out", str(tmp_path)]))
    assert (f"| {ROWS['joint']} vs {ROWS['plain']}, test ROC AUC | 0 | 1 | 0 |"
            in text)
    # lines without the metric keep the table as it was
    for r in lines:
        r["test"].pop("roc_auc", None)
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert "| ROC AUC (%) |" not in render(bench.parse_settings(["--out", str(tmp_path)]))


def test_render_lists_every_expected_block_that_lacks_rows(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    lines = [_record(row, 100, 0.8, 0.2) for row in ("plain", "ts")]
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    s = bench.parse_settings(["--out", str(tmp_path)])
    rows = ("plain", "ts", "joint")
    expected = [Block("Cora", "public", "gcn", 0.0, rows),  # joint missing
                Block("Cora", "public", "gcn", 0.4, ("plain",)),  # nothing at 40 %
                Block("Cora", "public", "gat", 0.0, rows)]  # no line at all
    text = render(s, [], expected)
    section = text.split("## Not run here", 1)[1].split("## Environment", 1)[0]
    notes = [line for line in section.splitlines() if line.startswith("- ")]
    assert notes == [
        "- Cora (public split), GCN: rows joint not run yet (`python benchmarks/run.py "
        "--models gcn --datasets Cora --splits public --rows joint`)",
        "- Cora (public split), GCN, 40 % label noise: not run yet (`python benchmarks/run.py "
        "--models gcn --datasets Cora --splits public`)",
        "- Cora (public split), GAT: not run yet (`python benchmarks/run.py --models gat "
        "--datasets Cora --splits public`)"]
    # with every expected row present there is nothing to list
    done = Block("Cora", "public", "gcn", 0.0, ("plain", "ts"))
    assert "## Not run here" not in render(s, [], [done])


def test_blocks_of_a_roc_auc_dataset_tune_and_select_on_validation_auc(tmp_path):
    s = bench.parse_settings(["--datasets", "Minesweeper,Cora", "--models", "gcn",
                              "--noise", "0", "--root", str(tmp_path)])
    assert s.metric == {"Minesweeper": "roc_auc", "Tolokers": "roc_auc"}  # benchmark.toml
    mine = Block("Minesweeper", "fixed", "gcn", 0.0, DEFAULT_ROWS, "roc_auc")
    cora = Block("Cora", "public", "gcn", 0.0, DEFAULT_ROWS)
    runner = Runner(bench.parse_settings(["--out", str(tmp_path)]))
    assert runner.base_config(mine).select == "roc_auc"
    assert runner.base_config(cora).select == "accuracy"
    # accuracy-tuned rows maximise the block's metric; multi keeps (accuracy, ECE)
    assert {r: row_objective(spec, mine) for r, spec in TUNED.items()} == {
        "ls": "roc_auc", "structural": "roc_auc", "joint": "roc_auc", "joint_prior": "roc_auc",
        "joint_posterior": "roc_auc", "joint_posterior_grid": "roc_auc", "multi": "multi"}
    assert row_objective(TUNED["joint"], cora) == "accuracy"
    # its studies are not the accuracy-tuned studies of the same block
    assert study_name(runner.s, mine, "joint") == "bench-minesweeper-fixed-gcn-joint-e200-auc"
    assert study_name(runner.s, cora, "joint") == "bench-cora-public-gcn-joint-e200"
    with pytest.raises(ValueError, match=r"metric of Cora must be one of 'accuracy', "
                       r"'roc_auc', 'nll'; got 'f1'"):
        bench.parse_settings([], {**load_config(), "metric": {"Cora": "f1"}})


def test_render_flags_blocks_selected_on_another_metric(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    lines = [_record(row, 100, 0.8, 0.2) for row in ("plain", "ts", "joint")]
    for r in lines:
        r["config"] = {"select": "roc_auc"} if r["row"] == "plain" else {}  # joint: older line
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    s = bench.parse_settings(["--out", str(tmp_path)])
    block = Block("Cora", "public", "gcn", 0.0, ("plain", "ts", "joint"), "roc_auc")
    text = render(s, [], [block])
    assert "Tuned and selected on **validation ROC AUC**" in text
    section = text.split("## Not run here", 1)[1].split("## Environment", 1)[0]
    assert [line for line in section.splitlines() if line.startswith("- ")] == [
        "- Cora (public split), GCN: rows ts, joint were tuned and selected on validation "
        "accuracy; the benchmark uses ROC AUC for Cora now (`python benchmarks/run.py "
        "--models gcn --datasets Cora --splits public --rows ts,joint`)"]
    for r in lines:
        r["config"] = {}  # every row older than the block's metric
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert ("- Cora (public split), GCN: run tuned and selected on validation accuracy; the "
            "benchmark uses ROC AUC for Cora now (`python benchmarks/run.py --models gcn "
            "--datasets Cora --splits public`)") in render(s, [], [block])
    for r in lines:
        r["config"] = {"select": "roc_auc"}
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert "## Not run here" not in render(s, [], [block])
    # an accuracy block with older lines (no select recorded) is up to date
    for r in lines:
        r["config"] = {}
    (results / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    text = render(s, [], [Block("Cora", "public", "gcn", 0.0, ("plain", "joint"))])
    assert "## Not run here" not in text and "validation ROC AUC" not in text


def test_results_md_keeps_the_speed_section_and_replaces_its_own(tmp_path):
    path = tmp_path / "RESULTS.md"
    speed = "<!-- speed:start -->\nspeed table 1.23 s\n<!-- speed:end -->\n"
    path.write_text("# graphls benchmark results\n\n" + speed)
    first = f"{RESULTS_START}\nold numbers\n{RESULTS_END}\n"
    write_results_md(path, first)
    text = path.read_text()
    assert text.index("old numbers") < text.index("speed table") and speed in text
    write_results_md(path, f"{RESULTS_START}\nnew numbers\n{RESULTS_END}\n")
    text = path.read_text()
    assert "old numbers" not in text and "new numbers" in text and speed in text
    assert text.count(RESULTS_START) == 1
    fresh = tmp_path / "new.md"
    write_results_md(fresh, first)
    assert fresh.read_text().startswith("# graphls benchmark results") and "old numbers" in \
        fresh.read_text()


def test_partial_lines_feed_the_cache_and_the_block_file_replaces_them(tmp_path):
    block = Block("Cora", "public", "gcn", 0.0, ("plain", "joint"))
    old = [_record("plain", 100, 0.8, 0.3), _record("ts", 100, 0.8, 0.1)]
    (tmp_path / "Cora-public-gcn.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in old))
    partial = tmp_path / "Cora-public-gcn.jsonl.partial"
    partial.write_text(json.dumps(_record("joint", 100, 0.9, 0.2)) + "\n")
    assert len(read_records(tmp_path)) == 2
    assert len(read_records(tmp_path, partial=True)) == 3
    new = [_record("plain", 100, 0.7, 0.3), _record("joint", 100, 0.9, 0.2)]
    write_records(tmp_path, block, new)
    assert not partial.exists()
    rows = [(r["row"], r["test"]["accuracy"]) for r in read_records(tmp_path).values()]
    # plain and joint replaced; ts (not run this time) kept; table order
    assert rows == [("plain", 0.7), ("ts", 0.8), ("joint", 0.9)]


def test_test_runs_reuse_what_another_process_wrote_after_the_cache_was_read(tmp_path,
                                                                            monkeypatch):
    """A study worker that goes on to the test runs read the cache when it started, hours
    before: the runs a shard process finished since are reused, not trained again."""
    from types import SimpleNamespace

    from graphls_bench.records import ResultCache
    from graphls_bench.testruns import TestRuns

    import graphls.engine
    from graphls.config import TrainConfig

    block = Block("Cora", "public", "gcn", 0.0, ("plain",))
    config = TrainConfig.for_model("gcn", seed=100)
    settings = SimpleNamespace(batch_size=1, command="run.py", quick=False)
    cached = TestRuns(settings, ResultCache(tmp_path), {})
    off = TestRuns(settings, ResultCache(tmp_path, enabled=False), {})
    line = {**_record("plain", 100, 0.8, 0.3), "fit_key": fit_key(block, None, config),
            "temperature": 1.5, "best_epoch": 7, "epochs_run": 9, "structural_values": [1.0],
            "wall_time": 2.0}
    append_partial(tmp_path, block, line)  # the shard's run, after both caches were read

    def trained(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(graphls.engine, "fit_many", trained)
    [o] = cached.fit_split(block, None, lambda: pytest.fail("data loaded"), [(config, False)])
    assert o.reused and o.temperature == 1.5 and o.best_epoch == 7 and cached.fits == 0
    # --no-cache still trains every run
    with pytest.raises(AssertionError, match="trained again"):
        off.fit_split(block, None, lambda: None, [(config, False)])


def test_block_file_keeps_the_partial_lines_of_rows_another_process_runs(tmp_path):
    """Two processes on disjoint rows of one block: the first to finish writes the block's
    file, and must leave the other's ``.partial`` lines (its cache if it stops)."""
    partial = tmp_path / "Cora-public-gcn.jsonl.partial"
    for r in (_record("joint", 100, 0.9, 0.2), _record("multi", 100, 0.85, 0.1)):
        append_partial(tmp_path, Block("Cora", "public", "gcn", 0.0, ()), r)
    write_records(tmp_path, Block("Cora", "public", "gcn", 0.0, ("joint",)),
                        [_record("joint", 100, 0.9, 0.2)])
    assert [json.loads(line)["row"] for line in partial.read_text().splitlines()] == ["multi"]
    write_records(tmp_path, Block("Cora", "public", "gcn", 0.0, ("multi",)),
                        [_record("multi", 100, 0.85, 0.1)])
    assert not partial.exists()
    assert [r["row"] for r in read_records(tmp_path).values()] == ["joint", "multi"]


def test_concurrent_block_writers_on_disjoint_rows_keep_each_others_lines(tmp_path,
                                                                           monkeypatch):
    """The read-merge-write of a block's file holds the block's lock: a writer that reads
    the file while another is between its read and its write would drop that one's rows."""
    import threading
    import time

    (tmp_path / "Cora-public-gcn.jsonl").write_text(
        json.dumps(_record("ls", 100, 0.8, 0.3)) + "\n")
    import graphls_bench.records

    unflagged, first = graphls_bench.records._unflagged, threading.Event()

    def slow(records):  # the first writer pauses after reading the file, before writing it
        if not first.is_set():
            first.set()
            time.sleep(0.5)
        return unflagged(records)

    monkeypatch.setattr(graphls_bench.records, "_unflagged", slow)

    def write(row):
        write_records(tmp_path, Block("Cora", "public", "gcn", 0.0, (row,)),
                            [_record(row, 100, 0.9, 0.2)])

    a = threading.Thread(target=write, args=("plain",))
    a.start()
    assert first.wait(10)
    b = threading.Thread(target=write, args=("multi",))
    b.start()
    a.join()
    b.join()
    assert [r["row"] for r in read_records(tmp_path).values()] == ["plain", "ls", "multi"]


def test_read_records_skips_other_writers_lines(tmp_path):
    """speed.py writes results/speed.jsonl beside run.py's lines: run.py must not read it."""
    (tmp_path / "Cora-public-gcn.jsonl").write_text(
        json.dumps(_record("plain", 100, 0.8, 0.3)) + "\n")
    (tmp_path / "speed.jsonl").write_text(json.dumps({"case": "b", "run": "graphls"}) + "\n")
    records = read_records(tmp_path, partial=True)
    assert [r["row"] for r in records.values()] == ["plain"]


def test_published_note_counts_each_row_against_the_published_number_on_its_own():
    """The grid row is counted by its own mean, never by the better of the two rows (that
    would pick a row by its test accuracy)."""
    def lines(acc, lr=0.05, lam=1.0):
        return [{"test": {"accuracy": a}, "structural": lam,
                 "config": {"lr": lr, "weight_decay": 0.0}} for a in acc]

    refs = [{"row": "posterior", "metric": "accuracy", "dataset": d, "split": "bernnet",
             "model": "gcn", "value": "80.00"} for d in ("A", "B", "C")]
    blocks = [(("A", "bernnet", "gcn", 0.0),  # fixed recipe above, grid below
               {"joint_posterior": lines([0.81, 0.83]),
                "joint_posterior_grid": lines([0.78, 0.78], lr=0.001)}),
              (("B", "bernnet", "gcn", 0.0),  # fixed below, grid above
               {"joint_posterior": lines([0.79, 0.79]),
                "joint_posterior_grid": lines([0.80, 0.82], lr=0.002)}),
              (("C", "bernnet", "gcn", 0.0), {"joint_posterior": lines([0.70, 0.70])}),
              (("D", "bernnet", "gcn", 0.0), {"joint_posterior": lines([0.9])})]  # no ref
    text = "\n".join(published_note(blocks, refs))
    assert "at or above it on 1 of 3 blocks with the fixed recipe" in text
    assert "run on 2 of them), it is at or above it on 1 of those 2" in text
    assert "| A GCN | 80.00 | 82.00 | +2.00 | 1 | 78.00 | -2.00 | 1, 0.001, 0 |" in text
    assert "| C GCN | 80.00 | 70.00 | -10.00 | 1 | — | — | — |" in text
    assert "D GCN" not in text


def test_the_published_figure_draws_every_row_and_both_published_numbers(tmp_path,
                                                                         monkeypatch):
    """Each block's rows are drawn at their mean ± std over the splits (numpy, float64), with
    PosteL's one-hot and +PosteL numbers of that block; a block without PosteL's number or
    without joint + posterior is left out; the note shows the PNG."""
    rng = np.random.default_rng(0)
    acc = {row: rng.uniform(0.3, 0.9, size=10) for row in ("plain", "posterior",
                                                            "joint_posterior")}
    rows = {row: [{"test": {"accuracy": float(a)}, "structural": 0.5,
                   "config": {"lr": 0.05, "weight_decay": 5e-4}} for a in values]
            for row, values in acc.items()}
    refs = [{"row": row, "metric": "accuracy", "dataset": "A", "split": "bernnet",
             "model": "gcn", "value": value} for row, value in
            (("plain", "70.50"), ("ls", "71.00"), ("posterior", "72.25"))]
    refs.append({"row": "plain", "metric": "accuracy", "dataset": "B", "split": "bernnet",
                 "model": "gcn", "value": "10.00"})  # B has no +PosteL number
    blocks = [(("A", "bernnet", "gcn", 0.0), rows), (("B", "bernnet", "gcn", 0.0), rows),
              (("C", "bernnet", "gcn", 0.0), {"plain": rows["plain"]})]
    refs.append({**refs[2], "dataset": "C"})  # C has it, but no joint + posterior row
    points = published_points(blocks, refs)
    assert [name for name, _, _ in points] == ["A GCN"]
    _, ours, published = points[0]
    for row, values in acc.items():
        np.testing.assert_allclose(ours[row], (100 * values.mean(), 100 * values.std(ddof=1)),
                                   rtol=1e-12)
    assert published == {"plain": 70.5, "posterior": 72.25}

    import graphls_bench.results_md as results_md

    drawn = []  # what the note hands the figure: the same points, one-hot numbers included
    monkeypatch.setattr(results_md, "draw_published", lambda path, pts: drawn.append(pts) or "")
    published_note(blocks, refs, tmp_path / "unused.png")
    assert drawn == [points]
    monkeypatch.undo()

    figure = tmp_path / "figures" / "published-bernnet.png"
    text = "\n".join(published_note(blocks, refs, figure))
    assert figure.read_bytes().startswith(PNG)
    assert "1 block: plain, posterior and joint + posterior" in text
    assert text.endswith("](figures/published-bernnet.png)")


def _load_recipe_grid():
    spec = importlib.util.spec_from_file_location("graphls_benchmarks_recipe_grid",
                                                  REPO / "benchmarks" / "recipe_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_grid_goes_on_from_its_finished_splits_and_refuses_another_grids(
        tmp_path, monkeypatch, capsys):
    """An interrupted grid keeps its finished splits; the rerun trains only the others and
    writes the same result as one run straight through; a partial file from another model
    seed is refused (exit 2), not overwritten. Training is faked: what is tested is which
    splits train and what is kept."""
    grid = _load_recipe_grid()
    trained: list[int] = []
    stop_at: list[int] = []

    class Fit:
        def __init__(self, k, c):
            score = (k * 7 + round(c.lr * 1000) + round(c.weight_decay * 1e4)) % 13 / 13
            self.metrics = {"val": {"accuracy": score}, "test": {"accuracy": 1 - score / 2}}

    def fake_fit_many(data, configs, group):
        if data in stop_at:
            raise KeyboardInterrupt
        trained.append(data)
        return [Fit(data, c) for c in configs]

    monkeypatch.setattr(grid, "load_dataset", lambda name, root, split, split_index: split_index)
    monkeypatch.setattr(grid, "fit_many", fake_fit_many)
    args = ["--datasets", "Photo", "--lrs", "0.01,0.05", "--decays", "0,5e-4"]

    straight = tmp_path / "straight"
    assert grid.main([*args, "--out", str(straight)]) == 0
    assert trained == list(range(10))

    out = tmp_path / "resumed"
    name = "recipe-grid-Photo-gcn-lr0.01_0.05-wd0.0_0.0005"
    trained.clear()
    stop_at.append(4)
    with pytest.raises(KeyboardInterrupt):
        grid.main([*args, "--out", str(out)])
    assert trained == [0, 1, 2, 3]
    kept = json.loads((out / f"{name}.partial.json").read_text())
    assert sorted(kept["splits"]) == ["0", "1", "2", "3"]

    partial_before = (out / f"{name}.partial.json").read_text()
    with pytest.raises(SystemExit) as exc:  # another model seed: refused, file kept as it was
        grid.main([*args, "--out", str(out), "--seed", "1"])
    assert exc.value.code == 2
    assert "holds the splits of another grid" in capsys.readouterr().err
    assert (out / f"{name}.partial.json").read_text() == partial_before

    trained.clear()
    stop_at.clear()
    assert grid.main([*args, "--out", str(out)]) == 0
    assert trained == list(range(4, 10))
    assert not (out / f"{name}.partial.json").exists()
    a, b = (json.loads((d / f"{name}.json").read_text()) for d in (straight, out))
    a.pop("wall_time"), b.pop("wall_time")
    assert a == b
