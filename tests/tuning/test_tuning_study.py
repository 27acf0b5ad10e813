"""graphls.tuning.study: identity attributes on create and resume, loading, the best trial."""

from __future__ import annotations

import optuna
import pytest
from tuning_helpers import TEXAS, one_line_error, quick

from graphls.config import TrainConfig
from graphls.tuning import select_best_trial


def test_a_new_study_writes_its_dataset_attribute_last(graph):
    """Workers that open the study while its creator writes its settings see all or none."""

    class Recording(optuna.storages.InMemoryStorage):
        def __init__(self):
            super().__init__()
            self.keys: list[str] = []

        def set_study_user_attr(self, study_id, key, value):
            self.keys.append(key)
            super().set_study_user_attr(study_id, key, value)

    storage = Recording()
    quick(graph, n_trials=1, storage=storage)
    assert storage.keys[-1] == "dataset" and {"base_config", "objective"} <= set(storage.keys)


def test_a_study_stored_before_select_existed_resumes(graph, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    study = quick(graph, n_trials=1, storage=url, study_name="s")
    old = dict(study.user_attrs["base_config"])
    del old["select"]  # as a study created by an older graphls stored it
    study.set_user_attr("base_config", old)
    assert len(quick(graph, n_trials=1, storage=url, study_name="s").trials) == 2
    with pytest.raises(ValueError, match="was created with select 'accuracy'; got 'roc_auc'"):
        quick(graph, n_trials=1, storage=url, study_name="s",
              config=TrainConfig.for_model("gcn", select="roc_auc"))


def test_resuming_with_another_setup_is_refused(graph, tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    quick(graph, n_trials=1, storage=url, study_name="s")
    with pytest.raises(ValueError, match="was created with epochs 8; got 9; choose another"):
        quick(graph, n_trials=1, storage=url, study_name="s", epochs=9)
    with pytest.raises(ValueError, match=r"was created with lr 0\.01; got 0\.05; choose another"):
        quick(graph, n_trials=1, storage=url, study_name="s",
              config=TrainConfig.for_model("gcn", lr=0.05))
    assert len(quick(graph, n_trials=1, storage=url, study_name="s").trials) == 2


def test_existing_study_with_another_direction(capsys, tmp_path, datasets_root):
    url = f"sqlite:///{tmp_path / 'dir.db'}"
    optuna.create_study(storage=url, study_name="mine", direction="minimize")
    err = one_line_error(capsys, ["tune", *TEXAS, "--root", str(datasets_root), "--storage",
                                  url, "--study-name", "mine", "--objective", "accuracy"],
                         "exists with direction(s) minimize; objective 'accuracy' needs "
                         "maximize")
    assert "study 'mine' in sqlite:///" in err and "choose another --study-name" in err


def test_report_of_a_missing_study_or_file(capsys, tmp_path):
    one_line_error(capsys, ["report", "--storage", f"sqlite:///{tmp_path / 'none.db'}",
                            "--study-name", "x"], "none.db' does not exist")
    url = f"sqlite:///{tmp_path / 'one.db'}"
    optuna.create_study(storage=url, study_name="there")
    one_line_error(capsys, ["report", "--storage", url, "--study-name", "gone"],
                   "study 'gone' is not in sqlite:///")


def test_multi_objective_best_is_lowest_ece_near_the_best_accuracy():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, ece in [(0.80, 0.10), (0.798, 0.05), (0.79, 0.01), (0.70, 0.20)]:
        study.add_trial(optuna.trial.create_trial(values=[acc, ece],
                                                  params={"epsilon": 0.1},
                                                  distributions={"epsilon": optuna.distributions
                                                                 .FloatDistribution(0, 0.5)}))
    assert select_best_trial(study).number == 1
    single = optuna.create_study()
    with pytest.raises(ValueError, match="has no completed trial yet"):
        select_best_trial(single)
