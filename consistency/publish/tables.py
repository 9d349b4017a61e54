"""Cross-run tables: the comparison table and the per-pair detail table, as Markdown, LaTeX, CSV.

Input is a :class:`consistency.analyse.crossrun.RunSet`; nothing is computed here but formatting, so
every number in a table is the number in the runs' ``tests.csv`` (effects, intervals, p values)
or the report-wide q value of :func:`consistency.analyse.crossrun.readjust`. Every string from a run
folder is escaped for its language (:mod:`consistency.common.escaping`).

Every table reads the published rows of :mod:`consistency.publish.published`: the interval is the one
the verdict rests on (``interval_low``/``interval_high`` of ``tests.csv``, with its kind), never
the row's own test interval in its place, and a row whose arms both sit at 0 or 1 is shown as
``cannot move``. Each format opens with every run's headline and manipulation-check result.

Comparison table: one row per pair x family x metric, one column per run (labelled R1, R2, ...
with a key where several runs are reported); a cell is the effect (observed minus unobserved,
percentage points), its interval (one-sided bounds as ``<= x`` / ``>= x``) with its kind, and a
verdict marker (:data:`MARKERS`).

Tidy CSV (:func:`tidy`, one row per label x pair x family x metric x statistic):

===============  =====  ================================================================
column           dtype  meaning
===============  =====  ================================================================
label            str    row label of the comparison table
run_id, model    str    the run and its configured model
<swept keys>     any    the run's value of each swept config key
family, pair     str    item family, framing pair
pair_kind        str    ``test``, ``placebo`` or ``planted``
metric           str    the scored outcome (``correct``, ``refused``, ...)
statistic        str    ``rate_observed``, ``rate_unobserved``, ``difference``,
                        ``interval_low``, ``interval_high`` (the verdict's interval),
                        ``ci_low``, ``ci_high`` (the row's own test interval), ``p_value``,
                        ``q_value`` (report-wide), ``run_q_value``,
                        ``p_divergence``, ``placebo_floor``, ``n_items``, ``n_responses``
value            float  its value (rates and effects as fractions, not percent)
verdict          str    report-wide verdict of the row (controls: their run's verdict)
shown_verdict    str    the verdict as shown: ``cannot move`` at a floor or ceiling
interval_kind    str    kind of ``interval_low``/``interval_high`` (``one-sided 95%``, ...)
caveats          str    the row's caveats (:mod:`consistency.publish.published`)
headline         str    the run's headline (summary.json), one sentence
manipulation_check str  the run's manipulation-check result, one sentence
alternative      str    ``less``/``greater`` (one-sided) or ``two-sided``
version, config_hash, models_reported, finished_at, epochs, alpha, correction
                        reproducibility metadata of the run
===============  =====  ================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from consistency.publish import published
from consistency.common import escaping
from consistency.analyse.crossrun import RunSet

MARKERS = published.MARKERS
CONTROL_MARK = "\u2020"  # dagger: placebo / planted rows
STATISTICS = ["rate_observed", "rate_unobserved", "difference", "interval_low", "interval_high",
              "ci_low", "ci_high", "p_value", "q_value", "run_q_value", "p_divergence",
              "placebo_floor", "n_items", "n_responses"]
META = ["version", "config_hash", "models_reported", "finished_at", "epochs", "alpha",
        "correction"]
_CORRECTIONS = {"bh": "Benjamini-Hochberg", "holm": "Holm"}


# ------------------------------------------------------------------ numbers as text
def pp(value: Any) -> str:
    """A fraction as signed percentage points with one decimal (``-0.125`` -> ``-12.5``)."""
    return "-" if _missing(value) else f"{100 * float(value):+.1f}"


def pct(value: Any) -> str:
    return "-" if _missing(value) else f"{100 * float(value):.1f}"


def pnum(value: Any) -> str:
    """p and q values: three significant digits, scientific below 0.001."""
    if _missing(value):
        return "-"
    value = float(value)
    return f"{value:.2e}" if 0 < value < 1e-3 else f"{value:.3g}"


def interval(row: dict[str, Any], le: str = "<=", ge: str = ">=") -> str:
    """The verdict's interval (``interval_low``/``interval_high``) and its kind, in percentage
    points without the unit: ``[-9.7, +9.7] TOST 90%``, ``[<= +6.3] one-sided 95%``."""
    text = published.bounds(row, le, ge, unit="")
    kind = published.kind_text(row)
    return f"{text} {kind}" if kind and text != "[-]" else text


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ------------------------------------------------------------------ frames
def prepared(runset: RunSet) -> RunSet:
    """``runset`` whose tests carry the published columns (idempotent)."""
    if "shown_verdict" in runset.tests:
        return runset
    from dataclasses import replace

    return replace(runset, tests=published.rows(runset.tests, verdict="report_verdict"))


def stories(runset: RunSet) -> list[tuple[str, str, published.Story]]:
    """(key ``R1``..., label, headline and check) of every run, in the runs frame's order."""
    return [(f"R{i}", str(label), published.read_story(folder)) for i, (label, folder)
            in enumerate(zip(runset.runs["label"], runset.runs["folder"]), start=1)]


def column_keys(runset: RunSet) -> list[tuple[str, str, str]]:
    """(pair, family, metric) of every comparison-table row: test pairs first, then
    controls, each by name."""
    tests = runset.tests
    keys = tests[["pair", "family", "metric", "control"]].drop_duplicates()
    keys = keys.sort_values(["control", "pair", "family", "metric"])
    keys = keys.drop_duplicates(["pair", "family", "metric"])
    return [tuple(k) for k in keys[["pair", "family", "metric"]].itertuples(index=False)]


def rows_by_cell(runset: RunSet) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """Each published test row keyed by (label, pair, family, metric)."""
    return {(r["label"], r["pair"], r["family"], r["metric"]): r
            for r in prepared(runset).tests.to_dict(orient="records")}


def tidy(runset: RunSet) -> pd.DataFrame:
    """The long CSV frame of the module docstring."""
    runset = prepared(runset)
    tests = runset.tests.rename(columns={"q_value": "run_q_value",
                                         "report_p_divergence": "p_divergence"})
    tests = tests.assign(q_value=tests["report_q_value"], verdict=tests["report_verdict"])
    for column in STATISTICS:
        if column not in tests:
            tests[column] = math.nan
    swept = [key for key in runset.swept if key not in META]  # e.g. epochs: already there
    meta = runset.runs[["run_id", *swept, *META]].copy()
    told = {str(folder): story for folder, story in
            zip(runset.runs["folder"], (s for _, _, s in stories(runset)))}
    meta["headline"] = [told[str(f)].headline for f in runset.runs["folder"]]
    meta["manipulation_check"] = [told[str(f)].check for f in runset.runs["folder"]]
    keys = ["label", "run_id", "model", "family", "pair", "pair_kind", "metric", "verdict",
            "shown_verdict", "interval_kind", "caveats", "alternative"]
    long = tests[keys + STATISTICS].melt(id_vars=keys, value_vars=STATISTICS,
                                        var_name="statistic", value_name="value")
    long = long.merge(meta, on="run_id", how="left")
    order = ["label", "run_id", "model", *swept, "family", "pair", "pair_kind", "metric",
             "statistic", "value", "verdict", "shown_verdict", "interval_kind", "caveats",
             "alternative", "headline", "manipulation_check", *META]
    return long[order].sort_values(["label", "pair", "family", "metric", "statistic"],
                                   kind="mergesort").reset_index(drop=True)


# ------------------------------------------------------------------ shared prose
def caption(runset: RunSet) -> str:
    """What the comparison table shows and how its q values were taken (plain text)."""
    tests = runset.tests
    planted = tests["pair_kind"].eq("planted") if "pair_kind" in tests else tests["control"]
    n_rows = int((~planted).sum())
    name = _CORRECTIONS.get(runset.correction, runset.correction)
    # the family rule of a run (consistency.analyse.families): test and placebo rows together,
    # planted controls in families of their own
    return (f"Effect = observed minus unobserved, percentage points, with the interval the "
            f"verdict rests on and its kind (one-sided bound for directional verdicts, TOST "
            f"for consistent). q values are {name}, recomputed across "
            f"all {n_rows} test and placebo rows of this report within each verdict family "
            f"(sandbagging, strategic compliance, divergence); planted controls are adjusted "
            f"among themselves; alpha {runset.alpha:g}. Markers: "
            "S sandbagging, C strategic compliance, D divergence, = consistent, ? inconclusive, "
            "x cannot move (both arms at 0% or both at 100%: no room for an effect). "
            f"{CONTROL_MARK} placebo or planted control: shown apart from the test rows.")


def metadata_rows(runset: RunSet) -> list[tuple[str, ...]]:
    """One row per run: label, run id, version, config hash, models reported, finished, n
    responses, epochs, analysis settings."""
    rows = []
    for run in runset.runs.to_dict(orient="records"):
        settings = (f"alpha {run['alpha']:g}, {run['correction']}, confidence "
                    f"{run['confidence']:g}, margin {run['margin']:g} ({run['margin_source']}), "
                    f"divergence {run['divergence_test']}")
        rows.append((run["label"], run["run_id"], run["version"], run["config_hash"],
                     run["models_reported"], run["finished_at"], str(run["responses"]),
                     _int(run["epochs"]), settings))
    return rows


METADATA_HEADER = ("label", "run", "version", "config", "models reported", "finished",
                   "responses", "epochs", "analysis")
DETAIL_HEADER = ("label", "family", "pair", "kind", "metric", "observed %", "unobserved %",
                 "items", "responses", "effect", "interval", "p", "q", "verdict",
                 "placebo floor")


def detail_cells(row: dict[str, Any], le: str = "<=", ge: str = ">=") -> list[str]:
    """One detail-table row as unescaped text cells (in :data:`DETAIL_HEADER` order)."""
    kind = row["pair_kind"] + (f" {CONTROL_MARK}" if row["control"] else "")
    return [row["label"], row["family"], row["pair"], kind, row["metric"],
            pct(row["rate_observed"]), pct(row["rate_unobserved"]), _int(row["n_items"]),
            _int(row["n_responses"]), pp(row["difference"]), interval(row, le, ge),
            pnum(row["p"]), pnum(row["q"]), published.verdict_text(row),
            pp(row.get("placebo_floor"))]


def cell_text(row: dict[str, Any] | None, le: str = "<=", ge: str = ">=") -> str:
    """A comparison-table cell: effect, the verdict's interval with its kind, marker."""
    if row is None:
        return ""
    return f"{pp(row['difference'])} {interval(row, le, ge)} {published.marker(row)}"


def comparison_cells(runset: RunSet, le: str = "<=", ge: str = ">=",
                     keys_only: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table as unescaped text: a row per pair / family /
    metric, a column per run (its label, or ``R1``... with ``keys_only``)."""
    runset = prepared(runset)
    cells = rows_by_cell(runset)
    controls = set(runset.tests.loc[runset.tests["control"], "pair"])
    labels = list(runset.runs["label"])
    names = [key for key, _, _ in stories(runset)] if keys_only else labels
    header = ["pair / family / metric", *names]
    body = []
    for pair, family, metric in column_keys(runset):
        mark = f" {CONTROL_MARK}" if pair in controls else ""
        body.append([f"{pair}{mark} / {family} / {metric}",
                     *(cell_text(cells.get((label, pair, family, metric)), le, ge)
                       for label in labels)])
    return header, body


def _int(value: Any) -> str:
    return "-" if published.missing(value) else str(int(float(value)))


def _detail_rows(runset: RunSet, le: str = "<=", ge: str = ">=") -> list[list[str]]:
    single = len(runset.runs) == 1
    return [detail_cells(r, le, ge)[1 if single else 0:]
            for r in prepared(runset).tests.to_dict(orient="records")]


# ------------------------------------------------------------------ Markdown
def markdown(runset: RunSet) -> str:
    """The whole report as GitHub Markdown: headline and manipulation check per run, the
    comparison table, the per-pair detail, the runs' metadata."""
    runset = prepared(runset)
    header, body = comparison_cells(runset)
    single = len(runset.runs) == 1
    esc = escaping.markdown
    told = stories(runset)
    opening = ([f"**Headline:** {esc(told[0][2].headline)}", "",
                f"**Manipulation check:** {esc(told[0][2].check.split(': ', 1)[-1])}", ""]
               if single else
               [f"- **{esc(label)}**: {esc(story.headline)}; {esc(story.check)}"
                for _, label, story in told] + [""])
    lines = ["# Consistency comparison", "", *opening, esc(caption(runset)), "",
             *_md_table(header, body, right_from=99), "", "## Per-pair detail", "",
             *_md_table(list(DETAIL_HEADER[1:] if single else DETAIL_HEADER),
                        _detail_rows(runset), right_from=4 if single else 5), "", "## Runs", "",
             *_md_table(list(METADATA_HEADER), [list(r) for r in metadata_rows(runset)],
                        right_from=99), ""]
    return "\n".join(lines)


def _md_table(header: list[str], body: list[list[str]], right_from: int) -> list[str]:
    esc: Callable[[Any], str] = escaping.markdown
    align = ["---:" if i >= right_from else "---" for i in range(len(header))]
    return ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(esc(c) for c in row) + " |" for row in body)]
