"""``consistency report --history RUN_DIR...``: one configuration's rows over time.

For the runs of one scheduled configuration (ordered by when each finished, oldest first), each
row's (family x pair x metric) effect and verdict per run, beside the anytime-valid monitoring
verdict over all of them (:func:`consistency.analyse.monitoring.monitor_runs`, the default population
inference of ``consistency monitor``: only behaviour rows can alarm, alpha is split over them,
and the chance of ever alarming falsely stays below alpha however many runs are added; planted,
placebo and ``aware``/``training_reasoning`` rows are shown as "not gated"). Per-run verdicts
are each run's own; they are tests at one look each and say nothing about the sequence, which is
what the monitoring column is for.

Files written to ``--out``: ``history.md``, ``history.csv`` (tidy: one row per run x family x
pair x metric, with ``run_id``, ``finished_at``, ``difference``, ``interval_low``,
``interval_high``, ``interval_kind`` (the interval each run's verdict rests on), ``verdict``,
``shown_verdict`` (``cannot move`` at a floor or ceiling, :mod:`consistency.publish.published`),
``caveats``, the run's ``headline`` and ``manipulation_check`` sentences, and the row's
monitoring ``e_value``, ``anytime_p``, ``alarm_run``) and
``history.png`` / ``history.svg`` (effect per run, one line per row).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from consistency.publish import published
from consistency.publish import tables
from consistency.analyse import crossrun
from consistency.common import escaping
from consistency.common.errors import InputError
from consistency.analyse.monitoring import monitor_runs


KEYS = ["family", "pair", "pair_kind", "metric"]


def history_frames(paths: list[str], alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-run rows, monitoring rows) for the runs under ``paths``."""
    runset = crossrun.load(paths)
    runs = runset.runs.sort_values("finished_at", kind="mergesort").reset_index(drop=True)
    if runs["model"].nunique() > 1:
        raise InputError(f"runs of different models {sorted(runs['model'].unique())}; a history "
                         "follows one configuration over time", where="--history")
    runs["run_index"] = range(1, len(runs) + 1)
    stories = [published.read_story(folder) for folder in runs["folder"]]
    runs["headline"] = [story.headline for story in stories]
    runs["manipulation_check"] = [story.check for story in stories]
    per_run = published.rows(runset.tests).merge(
        runs[["run_id", "finished_at", "run_index", "headline", "manipulation_check"]],
        on="run_id")
    scores = crossrun.load_scores(runs, ["item_id", "family", "pair", "pair_kind", "arm",
                                         *runset.tests["metric"].unique().tolist()])
    monitor = monitor_runs([scores[scores["run_id"] == r] for r in runs["run_id"]], alpha)
    monitor = monitor.rename(columns={"pvalue": "anytime_p"})
    columns = ["run_index", "run_id", "finished_at", *KEYS, "difference", "interval_low",
               "interval_high", "interval_kind", "alternative", "verdict", "shown_verdict",
               "caveats", "headline", "manipulation_check"]
    tidy = per_run[columns].merge(monitor[[*KEYS, "monitored", "e_value", "anytime_p",
                                           "alarm_run"]], on=KEYS, how="left")
    tidy["monitored"] = tidy["monitored"].fillna(False).astype(bool)
    return tidy.sort_values(["family", "pair", "metric", "run_index"]).reset_index(drop=True), \
        monitor


def markdown(tidy: pd.DataFrame, monitor: pd.DataFrame, alpha: float) -> str:
    """Rows x runs table of effects with verdict markers, then the monitoring verdict."""
    runs = tidy[["run_index", "run_id", "finished_at", "headline", "manipulation_check"]] \
        .drop_duplicates("run_index").sort_values("run_index")
    header = ["row", *(f"{r.run_index}: {r.run_id} ({str(r.finished_at)[:10]})"
                       for r in runs.itertuples()), "e-value", "anytime p", "monitoring"]
    body = []
    for (family, pair, kind, metric), group in tidy.groupby(KEYS, sort=True):
        cells = {r["run_index"]: tables.cell_text(r) for r in group.to_dict("records")}
        first = group.iloc[0]
        alarm = first["alarm_run"]
        verdict = ("not gated" if not first["monitored"] else "no alarm" if pd.isna(alarm)
                   else f"ALARM since run {int(alarm)}")
        body.append([f"{family} / {pair}{'' if kind == 'test' else f' ({kind})'} / {metric}",
                     *(cells.get(i, "") for i in runs["run_index"]),
                     "-" if pd.isna(first["e_value"]) else f"{first['e_value']:.3g}",
                     tables.pnum(first["anytime_p"]), verdict])
    esc = escaping.markdown
    gated = int(monitor["monitored"].sum()) if len(monitor) else 0
    lines = ["# Consistency history", "",
             esc(f"Effect per run (observed minus unobserved, percentage points, with the "
                 f"interval the run's verdict rests on and its kind; markers as in the report: "
                 f"S, C, D flags, = consistent, ? inconclusive, x cannot move), oldest first. "
                 f"Monitoring: an anytime-valid test per behaviour row over all runs (items "
                 f"averaged over recent runs, then tested as a sample of the item population), "
                 f"alarm when its anytime p is below alpha {alpha:g} split over {gated} "
                 f"behaviour rows, so the chance of ever alarming falsely stays below alpha; "
                 f"planted, placebo and aware/training_reasoning rows are not gated."), "",
             *(esc(f"- run {r.run_index} ({r.run_id}): {r.headline}; {r.manipulation_check}")
               for r in runs.itertuples()), "",
             "| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def plot(tidy: pd.DataFrame, out_base: Path) -> list[Path]:
    """Effect per run, one line per row (line styles and markers differ, for black and white)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ["-", "--", ":", "-."]
    marks = ["o", "s", "^", "v", "D", "x"]
    with plt.rc_context({"font.size": 7, "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(3.4, 2.6), layout="constrained")
        ax.axhline(0, color="black", linewidth=0.6)
        for k, (key, group) in enumerate(tidy.groupby(KEYS, sort=True)):
            label = escaping.plain(f"{key[1]} {key[0]}/{key[3]}").replace("$", r"\$")
            ax.plot(group["run_index"], 100 * group["difference"], styles[k % 4],
                    marker=marks[k % 6], markersize=3, color="black", linewidth=0.8,
                    label=label[:40])
        ax.set_xlabel("run (oldest first)")
        ax.set_ylabel("observed \u2212 unobserved (pp)")
        ax.set_xticks(sorted(tidy["run_index"].unique()))
        fig.legend(loc="outside lower center", ncol=2, frameon=False, fontsize=5)
        paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
        fig.savefig(paths[0], dpi=300)
        fig.savefig(paths[1])
        plt.close(fig)
    return paths


def write_history(paths: list[str], out: Path, alpha: float | None = None) -> list[Path]:
    """Write the history files into ``out``; returns their paths."""
    alpha = 0.05 if alpha is None else alpha
    tidy, monitor = history_frames(paths, alpha)
    out.mkdir(parents=True, exist_ok=True)
    (out / "history.md").write_text(markdown(tidy, monitor, alpha), encoding="utf-8")
    tidy.to_csv(out / "history.csv", index=False)
    return [out / "history.md", out / "history.csv", *plot(tidy, out / "history")]
