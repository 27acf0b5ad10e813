"""Study archives: the Optuna studies as text that travels with the results.

``results/studies/<study>.jsonl`` holds a head line (name, directions, user attributes),
then every finished trial. It is rewritten after every finished trial (:class:`Archiver`)
and restores a study that the working database (``results/studies.db``) lacks.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from graphls.tuning import file_lock
from graphls_bench.records import file_records, replace_lines

#: Trial states an archive keeps: the finished ones (a running trial's claim dies with its
#: process; the resumed study claims its slot again).
ARCHIVED = ("COMPLETE", "PRUNED", "FAIL")


def _archived_states() -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return tuple(TrialState[name] for name in ARCHIVED)


def archive_path(results: Path, study_name: str) -> Path:
    return results / "studies" / f"{study_name}.jsonl"


def export_study(study: Any, path: Path) -> int:
    """Write ``study``'s finished trials to ``path``; return how many.

    JSON lines: a head line (name, directions, user attributes), then one line per
    COMPLETE, PRUNED or FAIL trial in number order, with its values, parameters and their
    distributions, learning curve (intermediate values), attributes and timestamps: all
    that the sampler, the pruner, ``select_best_trial`` and the tuning-time sums read. The
    file is replaced whole through a temporary file, so a stop midway leaves the old one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Under the archive's lock, snapshot and file go together: of two processes on one
    # study, the later writer holds the later snapshot, so no finished trial drops out.
    with file_lock(path.with_name(path.name + ".lock")):
        return _export(study, path)


def _export(study: Any, path: Path) -> int:
    from optuna.distributions import distribution_to_json

    def when(t: datetime | None) -> str | None:
        # Optuna keeps naive local times; the archive says which instant, in UTC
        return None if t is None else t.astimezone(timezone.utc).isoformat()

    head = {"study": study.study_name,
            "directions": [d.name.lower() for d in study.directions],
            "user_attrs": study.user_attrs}
    trials = [{"number": t.number, "state": t.state.name, "values": t.values,
               "params": t.params,
               "distributions": {k: json.loads(distribution_to_json(d))
                                 for k, d in t.distributions.items()},
               "intermediate_values": {str(k): v for k, v in t.intermediate_values.items()},
               "user_attrs": t.user_attrs, "system_attrs": t.system_attrs,
               "datetime_start": when(t.datetime_start),
               "datetime_complete": when(t.datetime_complete)}
              for t in study.get_trials(deepcopy=False) if t.state.name in ARCHIVED]
    replace_lines(path, [head, *trials])
    return len(trials)


def restore_study(storage: str, study_name: str, path: Path) -> int:
    """Recreate ``study_name`` in ``storage`` from its archive ``path`` if the storage lacks
    it (a fresh checkout, another machine); return the trials restored (0: nothing to do).

    Trials keep their order, values, curves, attributes and timestamps (numbers close up
    over trials that were running when the archive was written). Runs under a lock beside
    the archive, so two processes starting on one block restore it once.

    Raises:
        ValueError: the archive is not one of ``study_name`` or cannot be read, or the
            storage holds the study with fewer finished trials than the archive (a stale
            copy: resuming it would overwrite the archive with less).
    """
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.trial import FrozenTrial, TrialState

    from graphls.tuning import open_storage

    if not path.is_file():
        return 0
    with file_lock(path.with_name(path.name + ".lock")):
        handle = open_storage(storage, heartbeat_interval=None)
        if study_name in optuna.get_all_study_names(storage=handle.storage):
            have = len(optuna.load_study(study_name=study_name, storage=handle.storage)
                       .get_trials(deepcopy=False, states=_archived_states()))
            kept = sum(1 for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()) - 1
            if kept > have:  # the next export would drop trials that ran elsewhere
                raise ValueError(
                    f"study {study_name!r} has {have} finished trials in {storage} but "
                    f"{kept} in its archive {path}; delete the stale copy (optuna "
                    f"delete-study --study-name {study_name} --storage {storage}) to restore "
                    "it from the archive")
            return 0
        try:
            head, *lines = file_records(path)
            if head.get("study") != study_name:
                raise ValueError(f"it holds study {head.get('study')!r}")
            trials = [FrozenTrial(
                number=i, state=TrialState[t["state"]], value=None, values=t["values"],
                datetime_start=_parse_time(t["datetime_start"]),
                datetime_complete=_parse_time(t["datetime_complete"]), params=t["params"],
                distributions={k: json_to_distribution(json.dumps(d))
                               for k, d in t["distributions"].items()},
                user_attrs=t["user_attrs"], system_attrs=t["system_attrs"],
                intermediate_values={int(k): v for k, v in t["intermediate_values"].items()},
                trial_id=i) for i, t in enumerate(lines)]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"study archive {path}: cannot restore {study_name!r}: "
                             f"{exc}") from None
        study = optuna.create_study(storage=handle.storage, study_name=study_name,
                                    directions=head["directions"])
        # "dataset" last, as graphls.tuning writes them: a study with it has all of them
        attrs = head["user_attrs"]
        for key in [*(k for k in attrs if k != "dataset"), *(["dataset"] if "dataset" in attrs
                                                            else [])]:
            study.set_user_attr(key, attrs[key])
        study.add_trials(trials)
        return len(trials)


def _parse_time(text: str | None) -> datetime | None:
    """An archive's timestamp as Optuna keeps it: naive local time. Archives written before
    timestamps carried their UTC offset hold naive local times already."""
    if text is None:
        return None
    t = datetime.fromisoformat(text)
    return t if t.tzinfo is None else t.astimezone().replace(tzinfo=None)


class Archiver:
    """A ``run_study`` callback: rewrites the study's archive after every finished trial,
    so that a stopped run loses at most the trials it was training."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, study: Any, trial: Any) -> None:
        export_study(study, self.path)
