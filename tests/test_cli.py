"""The ``graphls`` CLI: fast help, one-line errors with exit status 2, train outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from graphls.cli import main, sigterm_as_interrupt

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


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
