"""RESULTS.md: its generated section, rebuilt from every ``results/*.jsonl`` line.

No number in it is typed by hand: :func:`render` builds the section between
:data:`RESULTS_START` and :data:`RESULTS_END` and :func:`write_results_md` puts it in
place, leaving other sections (``speed.py``'s) as they are.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from graphls.config import METRIC_LABELS
from graphls_bench.blocks import (
    MODELS,
    MULTI_SPLIT,
    ROWS,
    SPLIT_KINDS,
    TUNED,
    Block,
    split_name,
)
from graphls_bench.figures import draw_published, published_points
from graphls_bench.records import read_records
from graphls_bench.references import REF_METRICS, load_references, ref_text, references_for
from graphls_bench.settings import Settings, load_config
from graphls_bench.stats import MIN_EFFECT, VERDICTS, summary, tally, worst_recall

RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"
SPEED_START = "<!-- speed:start -->"
#: The test metrics of a block's table (mean ± std over its runs).
METRICS = ("accuracy", "ece", "nll", "brier", "confidence")


def _cell(values: Sequence[float], scale: float) -> str:
    mean, std, _ = summary(values)
    digits = 2 if scale == 100 else 4
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, (list, tuple)):
        return ",".join(_fmt(x) for x in v)
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _group(records: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, ...], dict[str, list]]:
    groups: dict[tuple[Any, ...], dict[str, list]] = {}
    for r in records:
        key = (r["dataset"], r["split"], r["model"], float(r["noise"]))
        groups.setdefault(key, {}).setdefault(r["row"], []).append(r)
    for rows in groups.values():
        for rs in rows.values():
            rs.sort(key=lambda r: r["seed"])
    return groups


def _order(settings: Settings, key: tuple[Any, ...]) -> tuple[Any, ...]:
    # benchmark.toml's order, whichever subset this command ran (RESULTS.md must not
    # reorder with the command that rebuilt it); datasets it lacks follow in run order
    names = [*_configured_names(), *settings.datasets]
    ds, split, model, noise = key
    return (names.index(ds) if ds in names else len(names), ds,
            SPLIT_KINDS.index(split) if split in SPLIT_KINDS else 9,
            MODELS.index(model) if model in MODELS else 9, noise)


@functools.lru_cache(maxsize=1)
def _configured_names() -> tuple[str, ...]:
    return tuple(load_config()["datasets"])


def _block_table(key: tuple[Any, ...], rows: Mapping[str, list], refs: Sequence[Mapping]
                 ) -> list[str]:
    ds, split, model, _noise = key
    any_row = next(iter(rows.values()))
    first = any_row[0]
    seeds = [r["seed"] for r in any_row]
    tuned = [rs[0] for name, rs in rows.items() if name in TUNED]
    commands = sorted({r.get("command", "?") for rs in rows.values() for r in rs})
    if split in MULTI_SPLIT:
        ids = sorted({r["split_id"] for r in any_row})
        over = (f"{len(ids)} splits ({'split seeds' if split == 'dense' else 'split indices'} "
                f"{ids[0]}–{ids[-1]}), one training seed each")
        tuned_on = "split 0's validation nodes"
    else:
        over = (f"{len(seeds)} training seeds ({seeds[0]}–{seeds[-1]}, unseen by the search)"
                if len(seeds) > 1 else f"1 training seed ({seeds[0]}, unseen by the search)")
        tuned_on = "the validation nodes"
    if tuned and tuned[0]["study"].get("tuned_on"):
        tuned_on = "the " + tuned[0]["study"]["tuned_on"]
    lines = [f"### {ds} ({split_name(split)}), {model.upper()}", ""]
    if any(r.get("quick") for rs in rows.values() for r in rs):
        lines += ["**Quick mode (smoke test): too few seeds, trials and epochs to mean "
                  "anything.**", ""]
    batch = tuned[0]["study"].get("batch_size", 1) if tuned else 1
    budget = (f"{tuned[0]['study']['budget']} trials per tuned row "
              f"({tuned[0]['study']['sampler']} sampler, {tuned[0]['study']['pruner']} pruner "
              f"except multi{f', claimed {batch} at a time' if batch > 1 else ''}), "
              f"tuned on {tuned_on}") if tuned else "no tuned row"
    # ROC AUC (binary: class 1; else macro one-vs-rest) is in the lines written since it
    # was added to graphls' metrics; older blocks keep their table without the column
    auc = any("roc_auc" in r["test"] for rs in rows.values() for r in rs)
    by = ""
    if any(line_metric(r) == "roc_auc" for rs in rows.values() for r in rs):
        by = (" Tuned and selected on **validation ROC AUC**: the tuned rows maximise it "
              "(multi: validation ROC AUC ↑, ECE ↓, the pick within 0.5 points of the best "
              "ROC AUC) and every row keeps the epoch with the best validation ROC AUC.")
    lines += [
        f"Test mean ± std over {over}; {first['epochs']} epochs; budget: {budget}.{by}",
        "Command: " + "; ".join(f"`{c}`" for c in commands), "",
        "| row | ε | λ | prior w | accuracy (%) | ECE (%) | NLL | Brier | ECE after TS (%) "
        + ("| ROC AUC (%) " if auc else "") + "| worst-class recall (%) | trials | published |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if auc else "")
        + "---:|---|---|",
    ]
    block_refs = references_for(refs, ds, split, model)
    for row in ROWS:
        rs = rows.get(row)
        if not rs:
            continue
        r0 = rs[0]
        test = {m: [r["test"][m] for r in rs] for m in METRICS}
        ece_ts = [r["calibrated"]["test"]["ece"] for r in rs]
        trials = "—"
        if r0.get("study"):
            st = r0["study"]
            trials = f"{st['complete'] + st['pruned']}"
            if st["pruned"]:
                trials += f" ({st['pruned']} pruned)"
        pub = "; ".join(ref_text(r) for r in block_refs if r["row"] == row) or ""
        lines.append(
            f"| {ROWS[row]} | {_fmt(r0['epsilon'])} | {_fmt(r0['structural'])} | "
            f"{_fmt(r0['prior_weight'])} | {_cell(test['accuracy'], 100)} | "
            f"{_cell(test['ece'], 100)} | {_cell(test['nll'], 1)} | {_cell(test['brier'], 1)} "
            f"| {_cell(ece_ts, 100)} | " + (f"{_auc_cell(rs)} | " if auc else "")
            + f"{_recall_cell(rs)} | {trials} | {pub} |")
    for r in block_refs:
        if r["row"] == "other":
            lines.append(f"| published: {r.get('method', r['source'])} | | | | {r['value']} "
                         f"| | | | | {'| ' if auc else ''}| | {ref_text(r)} |")
    lines.append("")
    return lines


def _recall_cell(rs: Sequence[Mapping[str, Any]]) -> str:
    """Mean ± std over the runs of each run's lowest per-class test recall."""
    values = [worst_recall(r) for r in rs]
    if any(v is None for v in values):
        return "—"  # some lines predate per-class recall
    return _cell(values, 100)


def _auc_cell(rs: Sequence[Mapping[str, Any]]) -> str:
    values = [r["test"].get("roc_auc") for r in rs]
    if any(v is None for v in values):
        return "—"  # some lines predate the metric
    return _cell(values, 100)


def _noise_tables(groups: Mapping[tuple[Any, ...], Mapping[str, list]], settings: Settings
                  ) -> list[str]:
    pairs = sorted({(k[0], k[1], k[2]) for k in groups if k[3] > 0},
                   key=lambda p: _order(settings, (*p, 0.0)))
    if not pairs:
        return ["No label-noise block has run yet.", ""]
    lines: list[str] = []
    for ds, split, model in pairs:
        rates = sorted({k[3] for k in groups if k[:3] == (ds, split, model)})
        lines += [f"### {ds} ({split_name(split)}), {model.upper()}: symmetric training-label "
                  "noise", "",
                  "Test accuracy (%) / ECE (%), mean ± std; tuned rows re-tuned at every "
                  "noise rate on clean validation labels.", "",
                  "| row | " + " | ".join(f"{round(100 * p)} % noise" for p in rates) + " |",
                  "|---|" + "---:|" * len(rates)]
        for row in ("plain", "ls", "joint"):
            cells = []
            for p in rates:
                rs = groups.get((ds, split, model, p), {}).get(row)
                if not rs:
                    cells.append("—")
                    continue
                acc = _cell([r["test"]["accuracy"] for r in rs], 100)
                ece = _cell([r["test"]["ece"] for r in rs], 100)
                cells.append(f"{acc} / {ece}")
            lines.append(f"| {ROWS[row]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _closing_note(groups: Mapping[tuple[Any, ...], Mapping[str, list]], settings: Settings,
                  refs: Sequence[Mapping[str, Any]], figure: Path | None = None) -> list[str]:
    lines = ["Rule: a row *wins* against another when its mean is better by more than two "
             "standard errors of the difference (√(s₁²/n₁ + s₂²/n₂)) and by at least "
             f"{100 * MIN_EFFECT:g} points, *loses* when worse by as much, and *ties* "
             "otherwise. Test numbers; accuracy, ECE and ROC AUC in "
             "points.",
             ""]
    details: list[str] = []
    table = ["| comparison (noise-free blocks) | wins | ties | losses |", "|---|---:|---:|---:|"]
    noise_free = [(key, groups[key]) for key in sorted(groups, key=lambda k: _order(settings, k))
                  if key[3] == 0]
    for row, base, metric, higher in VERDICTS:
        out = {v: [f"{key[0]} {key[1]} {key[2].upper()} ({100 * d:+.2f})" for key, d in found]
               for v, found in tally(noise_free, row, base, metric, higher).items()}
        if not any(out.values()):
            continue
        name = {"accuracy": "accuracy", "ece": "ECE", "roc_auc": "ROC AUC",
                "ece_after_ts": "ECE after TS"}[metric]
        what = f"{ROWS[row]} vs {ROWS[base]}, test {name}"
        table.append(f"| {what} | {len(out['win'])} | {len(out['tie'])} | "
                     f"{len(out['loss'])} |")
        details.append(f"- **{what}**: wins on {len(out['win'])}, ties on {len(out['tie'])}, "
                       f"loses on {len(out['loss'])}.")
        for v, plural in (("win", "wins"), ("tie", "ties"), ("loss", "losses")):
            if out[v]:
                details.append(f"  - {plural}: " + "; ".join(out[v]))
    if details:
        lines += [*table, "", *details]
    lines += published_note(noise_free, refs, figure)
    for key, rows in sorted(groups.items(), key=lambda kv: _order(settings, kv[0])):
        if key[3] == 0 and rows.get("joint") and rows["joint"][0]["split"] in ("dense", "fixed"):
            lines += ["", "Dense and fixed splits are tuned on split 0 only; on the "
                      "other splits some of split 0's validation nodes are test nodes, a "
                      "small optimistic bias of the tuned rows against plain and plain + TS. "
                      "BernNet's splits are tuned on the validation nodes of splits 0–2 "
                      "(each trial scored by its mean over them), the same bias on those."]
            break
    lines.append("")
    return lines


def published_note(blocks: Sequence[tuple[tuple[Any, ...], Mapping[str, list]]],
                    refs: Sequence[Mapping[str, Any]], figure: Path | None = None) -> list[str]:
    """Joint + posterior against PosteL's published accuracy, block by block: at or above
    the published mean, or below it (the published number is one value, so this is the
    mean against it, not a verdict), and the λ it chose; with the fixed recipe and, where
    it ran, with lr and weight decay tuned as PosteL's rows are. With ``figure`` (a PNG
    path beside RESULTS.md), the blocks are also drawn there and the note shows it."""
    posterior = [r for r in refs if r["row"] == "posterior" and r["metric"] == "accuracy"]
    found = []
    for key, rows in blocks:
        ds, split, model, _ = key
        mine = rows.get("joint_posterior")
        ref = next((r for r in posterior if (r["dataset"], r["split"], r["model"]) ==
                    (ds, split, model)), None)
        if not mine or ref is None:
            continue
        grid = rows.get("joint_posterior_grid")
        found.append((f"{ds} {model.upper()}", float(ref["value"]),
                      100 * summary([r["test"]["accuracy"] for r in mine])[0],
                      mine[0]["structural"],
                      100 * summary([r["test"]["accuracy"] for r in grid])[0] if grid else None,
                      grid[0] if grid else None))
    if not found:
        return []
    reached = [f for f in found if f[2] >= f[1]]
    with_grid = [f for f in found if f[4] is not None]
    reached_grid = [f for f in with_grid if f[4] >= f[1]]
    lines = ["", f"**Joint + posterior against PosteL's published accuracy** (Table 1, BernNet "
             f"splits): at or above it on {len(reached)} of {len(found)} blocks with the fixed "
             f"recipe (lr 0.05, weight decay 5e-4)."]
    if with_grid:
        lines[-1] += (f" With lr and weight decay tuned too, as PosteL's rows are (row "
                      f"`joint_posterior_grid`, run on {len(with_grid)} of them), it is at or "
                      f"above it on {len(reached_grid)} of those {len(with_grid)}.")
    lines += ["", "| block | PosteL published (%) | joint + posterior (%) | difference | "
              "λ chosen | lr, wd tuned too (%) | difference | λ, lr, wd chosen |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, pub, mean, lam, gmean, g in found:
        tail = ("— | — | —" if g is None else
                f"{gmean:.2f} | {gmean - pub:+.2f} | {_fmt(g['structural'])}, "
                f"{_fmt(g['config']['lr'])}, {_fmt(g['config']['weight_decay'])}")
        lines.append(f"| {name} | {pub:.2f} | {mean:.2f} | {mean - pub:+.2f} | {_fmt(lam)} "
                     f"| {tail} |")
    if figure is not None:
        caption = draw_published(figure, published_points(blocks, refs))
        lines += ["", f"![{caption}]({figure.parent.name}/{figure.name})"]
    return lines


def _environment_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, int] = {}
    for r in records:
        v = r.get("versions", {})
        m = r.get("machine", {})
        text = (f"graphls {v.get('graphls')}, torch {v.get('torch')}, PyG "
                f"{v.get('torch_geometric')}, Optuna {v.get('optuna')}, Python {v.get('python')}"
                f"; git {str(r.get('git_sha'))[:10]}{' (dirty)' if r.get('git_dirty') else ''}; "
                f"{m.get('platform')}, {m.get('nproc')} CPUs ({m.get('torch_threads')} torch "
                "threads)")
        seen[text] = seen.get(text, 0) + 1
    return [f"- {t} — {n} result lines" for t, n in seen.items()] + [""]


def line_metric(record: Mapping[str, Any]) -> str:
    """The validation metric a result line was tuned and selected on (older lines: accuracy)."""
    return str(record.get("config", {}).get("select", "accuracy"))


def recipe_select(block: Block) -> str:
    """The epoch-selection metric of a block's recipe (``TrainConfig.select``)."""
    from graphls.config import TrainConfig

    return TrainConfig.for_model(block.model, recipe=block.recipe).select


def missing_blocks(groups: Mapping[tuple[Any, ...], Mapping[str, Any]],
                   expected: Sequence[Block]) -> list[str]:
    """One note per block of ``expected`` with rows that have no result line yet."""
    notes = []
    for b in expected:
        have = groups.get((b.dataset, b.split, b.model, float(b.noise)), {})
        absent = [r for r in b.rows if r not in have]
        # rows run with another validation metric than the block's are out of date (a
        # block with a recipe selects its epochs as the recipe does)
        select = b.metric if b.recipe == "pyg" else recipe_select(b)
        stale = [r for r in b.rows if r in have
                 and any(line_metric(x) != select for x in have[r])]
        if not absent and not stale:
            continue
        if stale:
            old = sorted({line_metric(x) for r in stale for x in have[r]} - {b.metric})
            who = "run" if len(stale) == len(b.rows) else f"rows {', '.join(stale)} were"
            what = (f"{who} tuned and "
                    f"selected on validation {', '.join(METRIC_LABELS[m] for m in old)}; the "
                    f"benchmark uses {METRIC_LABELS[b.metric]} for {b.dataset} now")
            if absent:
                what += f"; rows {', '.join(absent)} not run yet"
            absent = [r for r in b.rows if r in absent or r in stale]
        else:
            what = "not run yet" if len(absent) == len(b.rows) else (
                f"rows {', '.join(absent)} not run yet")
        noise = f", {round(100 * b.noise)} % label noise" if b.noise else ""
        flags = f"--models {b.model} --datasets {b.dataset} --splits {b.split}"
        if len(absent) < len(b.rows):
            flags += f" --rows {','.join(absent)}"
        notes.append(f"{b.title}{noise}: {what} (`python benchmarks/run.py {flags}`)")
    return notes


def render(settings: Settings, skipped: Sequence[str] = (),
           expected: Sequence[Block] = ()) -> str:
    """The generated section of RESULTS.md, from every ``results/*.jsonl`` line.

    ``skipped`` notes the datasets whose files are missing; every block of ``expected``
    (the full benchmark's plan) that has rows without result lines is listed under
    "Not run here" too, so a table never silently lacks a block.
    """
    records = list(read_records(settings.out / "results").values())
    refs = load_references()
    groups = _group(records)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [RESULTS_START,
             f"<!-- generated by benchmarks/run.py from results/*.jsonl on {stamp}; "
             "do not edit by hand: rerun the command -->", "",
             "## Results", "",
             "Rows: plain = PyG's GCN/GAT with PyG's example settings (ε = 0, λ = 1); "
             "plain + TS = the same runs after temperature scaling fitted on validation; "
             "tuned rows search with Optuna on validation only, one study per row with the "
             "same trial budget, then retrain the chosen configuration on fresh seeds. "
             "ECE uses 15 equal-width confidence bins; NLL and Brier are per node; "
             "\"ECE after TS\" re-scales each row's own logits. The multi-objective pick is "
             "the lowest-ECE Pareto trial within 0.5 points of the best validation accuracy.",
             ""]
    if not records:
        lines += ["No results yet: run `python benchmarks/run.py`.", ""]
    main_keys = sorted((k for k in groups if k[3] == 0), key=lambda k: _order(settings, k))
    for key in main_keys:
        lines += _block_table(key, groups[key], refs)
    lines += ["## Label noise", "", *_noise_tables(groups, settings)]
    fig_dir = settings.out / "figures"
    index_file = fig_dir / "figures.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    lines += ["## Figures", ""]
    if index:
        for name, caption in sorted(index.items()):
            lines += [f"- [{caption}](figures/{name})"]
        lines.append("")
        for name, caption in sorted(index.items()):
            lines += [f"![{caption}](figures/{name})", ""]
    else:
        lines += ["No figure yet.", ""]
    lines += ["## Where joint tuning wins, ties or loses", ""]
    lines += _closing_note(groups, settings, refs, fig_dir / "published-bernnet.png")
    lines += ["## Published references", "",
              "| dataset | model | split | metric (%) | value | source |",
              "|---|---|---|---|---:|---|"]
    for r in refs:
        method = r.get("method") or ROWS.get(r["row"], r["row"])
        lines.append(f"| {r['dataset']} | {r['model'].upper()} ({method}) | "
                     f"{split_name(r['split'])} | "
                     f"{METRIC_LABELS.get(r['metric'], REF_METRICS[r['metric']])} | {r['value']} | "
                     f"{r['source']} |")
    lines.append("")
    not_run = [*skipped, *missing_blocks(groups, expected)]
    if not_run:
        lines += ["## Not run here", "", *(f"- {s}" for s in not_run), ""]
    lines += ["## Environment", "", *_environment_lines(records)]
    lines.append(RESULTS_END)
    return "\n".join(lines) + "\n"


def write_results_md(path: Path, section: str) -> Path:
    """Replace the ``results`` markers' section of ``path`` (create it; keep other sections)."""
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if RESULTS_START in text and RESULTS_END in text:
            head, rest = text.split(RESULTS_START, 1)
            _, tail = rest.split(RESULTS_END, 1)
            text = head + section.rstrip("\n") + tail
        elif SPEED_START in text:
            head, tail = text.split(SPEED_START, 1)
            text = head + section + "\n" + SPEED_START + tail
        else:
            text = text.rstrip("\n") + "\n\n" + section
    else:
        text = ("# graphls benchmark results\n\nGenerated by `benchmarks/run.py` (see "
                "`benchmarks/README.md`); every number below comes from `results/*.jsonl`.\n\n"
                + section)
    path.write_text(text, encoding="utf-8")
    return path
