"""The ``graphls`` CLI: fast help, one-line errors with exit status 2, train outputs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from graphls.cli import main, sigterm_as_interrupt

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}
REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphls.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def test_help_and_argument_errors_import_nothing_heavy():
    code = ("import sys\n"
            "from graphls.cli import main\n"
            "try:\n    main(['train', '--seeds', '0'])\nexcept SystemExit as e:\n"
            "    assert e.code == 2, e.code\n"
            "heavy = [m for m in ('torch', 'torch_geometric', 'optuna', 'matplotlib', 'ogb')"
            " if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_help_answers_quickly():
    start = time.perf_counter()
    out = run_cli("--help")
    assert out.returncode == 0
    assert "train" in out.stdout and "tune" in out.stdout
    assert time.perf_counter() - start < 5  # a Python start-up, not a torch import (~7 s)


def test_import_graphls_does_not_import_optuna():
    code = ("import sys, graphls\n"
            "graphls.GCN, graphls.LabelSmoothingLoss, graphls.expected_calibration_error\n"
            "import graphls.engine, graphls.config, graphls.data\n"
            "print('optuna' in sys.modules, 'matplotlib' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--seeds", "0"], "--seeds must be an integer >= 1; got 0"),
        (["--epochs", "0"], "--epochs must be an integer >= 1; got 0"),
        (["--noise", "1"], "--noise must be in [0, 1); got 1"),
        (["--noise", "-0.2"], "--noise must be in [0, 1); got -0.2"),
        (["--epsilon", "1.5"], "--epsilon must be in [0, 1]; got 1.5"),
        (["--structural", "2"], "--structural must be in [0, 1]; got 2"),
        (["--model", "sage"], "invalid choice: 'sage'"),
        (["--select", "auc"], "invalid choice: 'auc'"),
    ],
)
def test_argument_errors_are_one_line_and_exit_2(args, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err


def _one_line_error(capsys, argv, match):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1, err
    assert match in err and "Traceback" not in err
    return err


def test_unknown_dataset_lists_known_ones(capsys, datasets_root):
    err = _one_line_error(capsys, ["train", "--dataset", "cora2", "--root", str(datasets_root)],
                          "dataset 'cora2' is unknown; known: Cora, CiteSeer, PubMed")
    assert "ogbn-arxiv" in err


def test_missing_files_say_what_to_put_where(capsys, tmp_path):
    err = _one_line_error(capsys, ["train", "--dataset", "CiteSeer", "--root", str(tmp_path),
                                   "--epochs", "1", "--seeds", "1"], "ind.citeseer.x")
    assert str(tmp_path) in err


def test_bad_split_name(capsys, datasets_root):
    _one_line_error(capsys, ["train", "--dataset", "Cora", "--root", str(datasets_root),
                             "--split", "diagonal", "--epochs", "1", "--seeds", "1"],
                    "split must be one of")


def test_non_writable_out(capsys, tmp_path, datasets_root):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _one_line_error(capsys, ["train", "--root", str(datasets_root), "--epochs", "1",
                             "--seeds", "1", "--out", str(blocker / "sub")],
                    "--out must be a writable directory")


def test_train_writes_result_json_and_reliability_png(tmp_path, datasets_root, capsys):
    out = tmp_path / "run"
    status = main(["train", "--dataset", "Cora", "--root", str(datasets_root), "--epochs", "8",
                   "--seeds", "2", "--epsilon", "0.1", "--structural", "0.8", "--out", str(out),
                   "--select", "roc_auc", "--no-progress"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "temperature-scaled" in printed and "accuracy" in printed and "ROC AUC" in printed
    result = json.loads((out / "result.json").read_text())
    assert result["seeds"] == [0, 1]
    assert result["config"]["epsilon"] == 0.1 and result["config"]["structural"] == 0.8
    assert result["config"]["select"] == "roc_auc"
    for split in ("test", "val"):
        for metric in ("accuracy", "ece", "nll", "brier"):
            st = result[split][metric]
            assert len(st["values"]) == 2
            assert st["mean"] == pytest.approx(sum(st["values"]) / 2)
    assert 0 <= result["test"]["accuracy"]["mean"] <= 1  # a fraction, not a percentage
    png = (out / "reliability.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_datasets_command_lists_availability(capsys, datasets_root):
    assert main(["datasets", "--root", str(datasets_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    cora = next(line for line in lines if line.startswith("Cora "))
    pubmed = next(line for line in lines if line.startswith("PubMed "))
    assert cora.rstrip().endswith("yes") and pubmed.rstrip().endswith("no")
    assert "2,708" in cora


def test_sigterm_as_interrupt_raises_keyboard_interrupt_then_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this at once
    assert signal.getsignal(signal.SIGTERM) is before
    # off the main thread no handler can be set: the block runs with the handler as it was
    seen, errors = [], []

    def body():
        try:
            with sigterm_as_interrupt():
                seen.append(signal.getsignal(signal.SIGTERM))
        except Exception as exc:  # a ValueError from signal.signal would land here
            errors.append(exc)

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == [before] and errors == []


@pytest.mark.parametrize(("argv", "match"), [
    (["--device", "banana"], "--device must be a torch device such as cpu, cuda, cuda:1 or mps; "
                             "got 'banana'"),
    (["--epsilon-start", "0.3"], "--epsilon-start needs --epsilon-schedule linear or cosine"),
    (["--prior-weight", "0.5"], "prior_weight has no effect with prior='uniform'"),
    (["--pseudo-label-rounds", "2"], "pseudo_label_rounds needs prior='posterior'"),
    (["--split", "public", "--split-index", "3"], "split_index has no effect with "
                                                  "split='public'"),
])
def test_flags_that_would_do_nothing_or_cannot_run_fail_at_once(argv, match, capsys,
                                                               datasets_root):
    start = time.perf_counter()
    _one_line_error(capsys, ["train", "--root", str(datasets_root), "--epochs", "1",
                             "--seeds", "1", *argv], match)
    assert time.perf_counter() - start < 20  # before any training


def test_cuda_on_a_build_without_it_is_a_usage_error(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _one_line_error(capsys, ["train", "--device", "cuda"], "--device 'cuda' is not available")


def test_every_option_shows_its_default_in_help(capsys):
    from graphls.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name in ("train", "tune", "report"):
        text = " ".join(sub[name].format_help().split())
        for flag in ("--seeds", "--epochs", "--layers", "--weight-decay", "--seed", "--space",
                     "--seeds-per-trial", "--study-name", "--storage", "--root", "--out"):
            if f"{flag} " not in text:
                continue
            action = next(a for a in sub[name]._actions if flag in a.option_strings)
            assert action.help, (name, flag)
        assert "(default: " in text or "default: " in text
    train = " ".join(sub["train"].format_help().split())
    assert "--seeds SEEDS seeds to train (together) and average (default: 10)" in train
    assert "maximum epochs (default: 200; bernnet: 1000)" in train
    tune = " ".join(sub["tune"].format_help().split())
    assert "joint = ε in [0, 0.5]" in tune and "full adds lr" in tune


def test_recipe_bernnet_and_the_per_class_recall_table(datasets_root, capsys):
    from graphls.cli import build_parser, config_from_args

    args = build_parser().parse_args(["train", "--recipe", "bernnet", "--epochs", "40"])
    cfg = config_from_args(args)
    assert (cfg.hidden, cfg.lr, cfg.input_dropout, cfg.select, cfg.stop_window, cfg.epochs) == (
        64, 0.05, False, "nll", 200, 40)
    assert main(["train", "--dataset", "CiteSeer", "--root", str(datasets_root), "--split",
                 "dense", "--epochs", "3", "--seeds", "2", "--lr", "0.001",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "per-class test recall (%, mean ± std over 2 seeds;" in out
    assert "warning: class 0 has test recall 0 on" in out  # barely trained


def test_a_diverging_run_exits_1_with_one_line(datasets_root, capsys):
    status = main(["train", "--root", str(datasets_root), "--epochs", "5", "--seeds", "1",
                   "--lr", "1e30", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "TrainingDiverged" in err and "at epoch" in err and "lr=1e+30" in err


def _quiet_env(home) -> dict[str, str]:
    """The environment of a user's shell: no pytest marker (PyG stays silent under
    pytest), no warning filter, no $GRAPHLS_DATA, a fresh home and this checkout first."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_CURRENT_TEST", "PYTHONWARNINGS", "GRAPHLS_DATA")}
    return env | {"HOME": str(home), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def test_a_first_train_on_a_read_only_root_prints_one_line_about_the_copy(tmp_path,
                                                                         datasets_root):
    """The first load of a read-only root: one line about the writable copy on stderr (no
    ``file:line: UserWarning`` prefix or echoed source), no PyG "Processing..."/"Done!",
    no torch sparse-beta or invariant-check notes."""
    import shutil

    ro = tmp_path / "ro"
    shutil.copytree(datasets_root / "Cora", ro / "Cora")
    for p in [ro, *ro.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    home = tmp_path / "home"
    home.mkdir()
    try:
        out = subprocess.run([sys.executable, "-m", "graphls.cli", "train", "--dataset", "Cora",
                              "--root", str(ro), "--epochs", "2", "--seeds", "1",
                              "--no-progress"], capture_output=True, text=True, timeout=300,
                             env=_quiet_env(home), cwd=tmp_path)
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert out.returncode == 0, out.stderr
    assert "test (mean ± std over 1 seeds" in out.stdout
    for noise in ("Warning:", "beta", "implicitly disabled", "Processing...", "Done!",
                  "data = load_dataset"):
        assert noise not in out.stderr, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    copies = home / ".cache" / "graphls" / "copies"
    assert re.fullmatch(rf"graphls train: warning: {re.escape(str(ro / 'Cora'))} is read-only; "
                        rf"loading Cora from a writable copy at {re.escape(str(copies))}/\w+/Cora",
                        lines[0]), lines[0]


def test_datasets_copy_from_says_one_line_and_the_list_then_shows_them(tmp_path, datasets_root,
                                                                       capsys):
    root = tmp_path / "root"
    assert main(["datasets", "--copy-from", str(datasets_root), "--root", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert re.fullmatch(rf"(\d+) datasets from {re.escape(str(datasets_root))} are in "
                        rf"{re.escape(str(root))} \(\1 copied now\), pass --root "
                        rf"{re.escape(str(root))} to use them", out[0]), out[0]
    assert main(["datasets", "--root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("Cora ")).rstrip().endswith("yes")


@pytest.mark.parametrize("where, match", [
    ("nope", r"--copy-from must be a folder of datasets; got '.*nope', which is not a folder"),
    (".", r"--copy-from '.*' holds no known dataset's files; expected e.g. .*ind\.cora\.x"),
])
def test_datasets_copy_from_errors(where, match, tmp_path, capsys):
    err = _one_line_error(capsys, ["datasets", "--copy-from", str(tmp_path / where),
                                   "--root", str(tmp_path / "root")], "--copy-from")
    assert re.search(match, err), err


def test_the_quick_start_leaves_cora_where_the_next_command_looks(tmp_path, datasets_root):
    """scripts/cora_study.sh in a stand-in checkout (its .venv/bin/graphls runs this
    checkout's CLI, and only echoes ``tune``) beside ``../shared/datasets``, with a fresh
    HOME: it says in one line where the datasets went, and afterwards the README's
    next commands, ``graphls datasets`` and ``graphls train --dataset Cora``, find Cora
    with neither --root nor $GRAPHLS_DATA."""
    import shutil

    repo = tmp_path / "work" / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copyfile(REPO / "scripts" / "cora_study.sh", repo / "scripts" / "cora_study.sh")
    (tmp_path / "work" / "shared").mkdir()
    (tmp_path / "work" / "shared" / "datasets").symlink_to(datasets_root)
    shim = repo / ".venv" / "bin" / "graphls"
    shim.parent.mkdir(parents=True)
    shim.write_text("#!/usr/bin/env bash\n"
                    'if [ "$1" = tune ]; then echo "graphls $*"; exit 0; fi\n'
                    f'exec {sys.executable} -m graphls.cli "$@"\n')
    shim.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = _quiet_env(home)
    out = subprocess.run(["bash", str(repo / "scripts" / "cora_study.sh"), "--n-trials", "1"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    default = home / ".cache" / "graphls"
    lines = out.stdout.splitlines()
    assert re.fullmatch(rf"\d+ datasets from \.\./shared/datasets are in "
                        rf"{re.escape(str(default))} \(\d+ copied now\), where graphls looks "
                        r"by default", lines[0]), out.stdout
    assert lines[1].startswith("graphls tune --dataset Cora") and len(lines) == 2
    assert out.stderr == ""
    listed = subprocess.run([sys.executable, "-m", "graphls.cli", "datasets"],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    cora = next(line for line in listed.stdout.splitlines() if line.startswith("Cora "))
    assert cora.rstrip().endswith("yes"), listed.stdout
    trained = subprocess.run([sys.executable, "-m", "graphls.cli", "train", "--dataset", "Cora",
                              "--epochs", "2", "--seeds", "1", "--no-progress"],
                             capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith("Cora (public split), GCN")
    assert trained.stderr == ""  # a writable root: no copy, nothing to say


def test_split_index_all_trains_every_numbered_split(datasets_root, capsys):
    assert main(["train", "--dataset", "Texas", "--root", str(datasets_root), "--split-index",
                 "all", "--epochs", "2", "--seeds", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Texas (fixed splits 0-9, 1 seed(s) each)" in out
    _one_line_error(capsys, ["train", "--dataset", "Cora", "--root", str(datasets_root),
                             "--split-index", "all", "--epochs", "1", "--seeds", "1"],
                    "--split-index all needs numbered splits")
