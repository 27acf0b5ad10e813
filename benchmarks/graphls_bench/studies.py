"""A block's studies: one Optuna study per tuned row, on the tuning split's validation
nodes, topped up to the trial budget and archived as it goes.

The calls into ``graphls.tuning`` sit in :func:`run_row_study` (``run_study``) and
:func:`best_of` (``select_best_trial``); :mod:`graphls_bench.archive` holds the storage ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from graphls_bench.archive import Archiver, archive_path, export_study, restore_study
from graphls_bench.blocks import TUNED, Block, row_objective, tuned_on, tuning_split
from graphls_bench.settings import CONFIGS, Settings


def study_name(settings: Settings, block: Block, row: str, epochs: int | None = None) -> str:
    """``bench-<dataset>-<split>-<model>-<row>-e<epochs>[-noise<pct>][-k<spt>][-auc]``
    (``epochs``: the block's, default the settings')."""
    epochs = epochs or settings.epochs
    name = f"bench-{block.dataset.lower()}-{block.split}-{block.model}-{row}-e{epochs}"
    if block.noise:
        name += f"-noise{round(100 * block.noise)}"
    if settings.seeds_per_trial != 1:
        name += f"-k{settings.seeds_per_trial}"
    if block.metric == "roc_auc":
        name += "-auc"
    return name


def trial_batch(settings: Settings, data: Any, base: Any) -> int:
    """Trials a study trains together: ``batch_size``, within the memory cap.

    A batch holds ``batch_size × seeds_per_trial`` members; like the test runs it is
    capped by ``graphls.engine.default_seed_batch`` (large graphs: fewer trials).
    """
    from graphls.engine import default_seed_batch

    want, spt = settings.batch_size, settings.seeds_per_trial
    if want == 1:
        return 1
    return max(1, min(want, default_seed_batch(data, base, want * spt) // spt))


def tune(settings: Settings, block: Block, row: str, base: Any, data: Any, *,
         wait: bool = True) -> tuple[Any, dict[str, Any], dict[str, Any]] | None:
    """Run (or top up) the row's study on ``data``, the tuning split (:func:`tuning_split`);
    return the study, its pick's parameters and the study's summary for the result lines.

    The study is restored from its archive first if the storage lacks it. ``wait=False``
    is a first pass over a block's studies: it trains the trials still free and returns
    ``None`` instead of waiting for trials another process holds.
    """
    batch = trial_batch(settings, data[0] if isinstance(data, list) else data, base)
    name = study_name(settings, block, row, base.epochs)
    archive = archive_path(settings.out / "results", name)
    restore_study(settings.storage, name, archive)
    try:
        study = run_row_study(settings, block, row, base, data, name=name, batch=batch,
                              archive=archive, wait=wait)
    except BaseException:  # an interrupt or a failure: the archive gets what the storage has
        archive_stored(settings.storage, name, archive)
        raise
    if not wait:  # the callback archived every trial it added
        return None
    export_study(study, archive)  # also when no trial was added (a restored study)
    params, info = best_of(settings, block, row, study, archive=archive, batch=batch)
    return study, params, info


def archive_stored(storage: str, name: str, archive: Path) -> None:
    """Export study ``name`` from ``storage`` to ``archive`` if the storage holds it.

    The :class:`Archiver` callback runs after each told trial; this catches what it could
    not (a stop between a tell and its callback, or a callback that failed).
    """
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # never created: nothing to keep
        return
    export_study(study, archive)


def run_row_study(settings: Settings, block: Block, row: str, base: Any, data: Any, *,
                  name: str, batch: int, archive: Path, wait: bool) -> Any:
    """``graphls.tuning.run_study`` for ``row`` of ``block``: its space file, objective and
    prior, the settings' budget, sampler and pruner, ``batch`` trials at a time, the
    archive rewritten after every finished trial."""
    from graphls.tuning import StudySettings, run_study

    spec = TUNED[row]
    split_id = tuning_split(block)
    study_settings = StudySettings(
        dataset=block.dataset, data=data, split=block.split, split_index=split_id or 0,
        model=block.model, space="joint", space_file=CONFIGS / "searchspace" / spec.space_file,
        prior=spec.prior, pseudo_label_rounds=spec.rounds,
        enqueue=tuple(dict(p) for p in spec.start),
        objective=row_objective(spec, block), epochs=base.epochs,
        config=base, seeds_per_trial=settings.seeds_per_trial, sampler=settings.sampler,
        pruner=settings.pruner, seed=0, batch_size=batch, storage=settings.storage,
        study_name=name)
    return run_study(study_settings, n_trials=None, total_trials=settings.trials,
                     callbacks=[Archiver(archive)], wait=wait, progress=settings.progress)


def best_of(settings: Settings, block: Block, row: str, study: Any, *, archive: Path,
            batch: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The study's pick (``graphls.tuning.select_best_trial``) and its summary: name,
    budget, trials complete and pruned, best trial, tuning seconds."""
    from optuna.trial import TrialState

    from graphls.tuning import select_best_trial

    spec = TUNED[row]
    best = select_best_trial(study)
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state for t in trials)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    info = {
        "name": study.study_name, "storage": "results/studies.db",
        "archive": str(archive.relative_to(settings.out)),
        "objective": row_objective(spec, block),
        "space_file": f"configs/searchspace/{spec.space_file}",
        "prior": spec.prior, "budget": settings.trials,
        "complete": counts[TrialState.COMPLETE], "pruned": counts[TrialState.PRUNED],
        "sampler": settings.sampler,
        "pruner": "none" if spec.objective == "multi" else settings.pruner,
        "seeds_per_trial": settings.seeds_per_trial, "batch_size": batch,
        "tuned_on": tuned_on(block),
        "best_trial": best.number, "best_values": list(best.values),
        "tuning_seconds": busy_seconds(finished),
    }
    return best.params, info


def busy_seconds(trials: Iterable[Any]) -> float:
    """Seconds during which at least one of ``trials`` ran (the union of their intervals).

    A batch's trials all start before and finish after its one training pass, so the sum
    of their durations would count that pass once per trial; one at a time, the two agree.
    """
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials
                   if t.datetime_start is not None and t.datetime_complete is not None)
    total, end = 0.0, None
    for lo, hi in spans:
        if end is None or lo > end:
            total += (hi - lo).total_seconds()
            end = hi
        elif hi > end:
            total += (hi - end).total_seconds()
            end = hi
    return total
