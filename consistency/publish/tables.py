"""Cross-run tables: the comparison table and the per-pair detail table, as Markdown, LaTeX, CSV.

Input is a :class:`consistency.publish.crossrun.RunSet`; nothing is computed here but formatting, so
every number in a table is the number in the runs' ``tests.csv`` (effects, intervals, p values)
or the report-wide q value of :func:`consistency.publish.crossrun.readjust`. Every string from a run
folder is escaped for its language (:mod:`consistency.common.escaping`).

Comparison table: one row per run label (model, plus swept parameters), one column per
pair x family x metric; a cell is the effect (observed minus unobserved, percentage points),
its interval (one-sided bounds as ``<= x`` / ``>= x``) and a verdict marker (:data:`MARKERS`).

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
statistic        str    ``rate_observed``, ``rate_unobserved``, ``difference``, ``ci_low``,
                        ``ci_high``, ``p_value``, ``q_value`` (report-wide), ``run_q_value``,
                        ``p_divergence``, ``placebo_floor``, ``n_items``, ``n_responses``
value            float  its value (rates and effects as fractions, not percent)
verdict          str    report-wide verdict of the row (controls: their run's verdict)
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

from consistency.common import escaping
from consistency.publish.crossrun import RunSet

MARKERS = {"sandbagging": "S", "strategic_compliance": "C", "divergence": "D",
           "consistent": "=", "inconclusive": "?"}
CONTROL_MARK = "\u2020"  # dagger: placebo / planted rows
STATISTICS = ["rate_observed", "rate_unobserved", "difference", "ci_low", "ci_high", "p_value",
              "q_value", "run_q_value", "p_divergence", "placebo_floor", "n_items",
              "n_responses"]
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
    """The row's interval as published: one bound for one-sided rows."""
    if _missing(row.get("ci_low")) or _missing(row.get("ci_high")):
        return "[-]"
    if row.get("alternative") == "less":
        return f"[{le} {pp(row['ci_high'])}]"
    if row.get("alternative") == "greater":
        return f"[{ge} {pp(row['ci_low'])}]"
    return f"[{pp(row['ci_low'])}, {pp(row['ci_high'])}]"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ------------------------------------------------------------------ frames
def column_keys(runset: RunSet) -> list[tuple[str, str, str]]:
    """(pair, family, metric) of every comparison-table column: test pairs first, then
    controls, each by name."""
    tests = runset.tests
    keys = tests[["pair", "family", "metric", "control"]].drop_duplicates()
    keys = keys.sort_values(["control", "pair", "family", "metric"])
    return [tuple(k) for k in keys[["pair", "family", "metric"]].itertuples(index=False)]


def rows_by_cell(runset: RunSet) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """Each test row keyed by (label, pair, family, metric)."""
    return {(r["label"], r["pair"], r["family"], r["metric"]): r
            for r in runset.tests.to_dict(orient="records")}


def tidy(runset: RunSet) -> pd.DataFrame:
    """The long CSV frame of the module docstring."""
    tests = runset.tests.rename(columns={"q_value": "run_q_value",
                                         "report_p_divergence": "p_divergence"})
    tests = tests.assign(q_value=tests["report_q_value"], verdict=tests["report_verdict"])
    for column in STATISTICS:
        if column not in tests:
            tests[column] = math.nan
    swept = [key for key in runset.swept if key not in META]  # e.g. epochs: already there
    meta = runset.runs[["run_id", *swept, *META]]
    keys = ["label", "run_id", "model", "family", "pair", "pair_kind", "metric", "verdict",
            "alternative"]
    long = tests[keys + STATISTICS].melt(id_vars=keys, value_vars=STATISTICS,
                                        var_name="statistic", value_name="value")
    long = long.merge(meta, on="run_id", how="left")
    order = ["label", "run_id", "model", *swept, "family", "pair", "pair_kind", "metric",
             "statistic", "value", "verdict", "alternative", *META]
    return long[order].sort_values(["label", "pair", "family", "metric", "statistic"],
                                   kind="mergesort").reset_index(drop=True)


# ------------------------------------------------------------------ shared prose
def caption(runset: RunSet) -> str:
    """What the comparison table shows and how its q values were taken (plain text)."""
    n_rows = int((~runset.tests["control"]).sum())
    name = _CORRECTIONS.get(runset.correction, runset.correction)
    return (f"Effect = observed minus unobserved, percentage points, with its interval "
            f"(one-sided bound for directional rows). q values are {name}, recomputed across "
            f"all {n_rows} test rows of this report within each verdict family (sandbagging, "
            f"strategic compliance, divergence); alpha {runset.alpha:g}. Markers: "
            "S sandbagging, C strategic compliance, D divergence, = consistent, ? inconclusive. "
            f"{CONTROL_MARK} placebo or planted control: shown, kept out of the q values.")


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
                     str(run["epochs"]), settings))
    return rows


METADATA_HEADER = ("label", "run", "version", "config", "models reported", "finished",
                   "responses", "epochs", "analysis")
DETAIL_HEADER = ("label", "family", "pair", "kind", "metric", "observed %", "unobserved %",
                 "items", "responses", "effect [interval]", "p", "q", "verdict",
                 "placebo floor")


def detail_cells(row: dict[str, Any], le: str = "<=", ge: str = ">=") -> list[str]:
    """One detail-table row as unescaped text cells (in :data:`DETAIL_HEADER` order)."""
    kind = row["pair_kind"] + (f" {CONTROL_MARK}" if row["control"] else "")
    return [row["label"], row["family"], row["pair"], kind, row["metric"],
            pct(row["rate_observed"]), pct(row["rate_unobserved"]), _int(row["n_items"]),
            _int(row["n_responses"]), f"{pp(row['difference'])} {interval(row, le, ge)}",
            pnum(row["p_value"]), pnum(row["report_q_value"]), row["report_verdict"],
            pp(row.get("placebo_floor"))]


def comparison_cells(runset: RunSet, le: str = "<=", ge: str = ">=") \
        -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table as unescaped text."""
    keys = column_keys(runset)
    cells = rows_by_cell(runset)
    controls = set(runset.tests.loc[runset.tests["control"], "pair"])
    header = ["model", *(f"{pair}{' ' + CONTROL_MARK if pair in controls else ''} / "
                         f"{family} / {metric}" for pair, family, metric in keys)]
    body = []
    for label in runset.runs["label"]:
        line = [label]
        for pair, family, metric in keys:
            row = cells.get((label, pair, family, metric))
            line.append("" if row is None else
                        f"{pp(row['difference'])} {interval(row, le, ge)} "
                        f"{MARKERS.get(row['report_verdict'], '?')}")
        body.append(line)
    return header, body


def _int(value: Any) -> str:
    return "-" if _missing(value) else str(int(value))


# ------------------------------------------------------------------ Markdown
def markdown(runset: RunSet) -> str:
    """The whole report as GitHub Markdown."""
    header, body = comparison_cells(runset)
    lines = ["# Consistency comparison", "", escaping.markdown(caption(runset)), "",
             *_md_table(header, body, right_from=99), "", "## Per-pair detail", "",
             *_md_table(list(DETAIL_HEADER),
                        [detail_cells(r) for r in runset.tests.to_dict(orient="records")],
                        right_from=5), "", "## Runs", "",
             *_md_table(list(METADATA_HEADER), [list(r) for r in metadata_rows(runset)],
                        right_from=99), ""]
    return "\n".join(lines)


def _md_table(header: list[str], body: list[list[str]], right_from: int) -> list[str]:
    esc: Callable[[Any], str] = escaping.markdown
    align = ["---:" if i >= right_from else "---" for i in range(len(header))]
    return ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(esc(c) for c in row) + " |" for row in body)]


# ------------------------------------------------------------------ LaTeX
def latex(runset: RunSet) -> str:
    """Two booktabs tables (comparison, detail) for a standard article.

    Needs ``\\usepackage{booktabs}`` (and ``graphicx`` for the width fit) in the preamble; the
    file starts with the reproducibility metadata as TeX comments.
    """
    le, ge = "\u2264", "\u2265"  # escaping.latex prints them as $\le$ / $\ge$
    header, body = comparison_cells(runset, le, ge)
    meta = [f"% {escaping.plain(' | '.join(row))}" for row in metadata_rows(runset)]
    return "\n".join([
        "% consistency comparison; needs \\usepackage{booktabs,graphicx}",
        f"% {' | '.join(METADATA_HEADER)}", *meta, "",
        *_tex_table(header, body, caption(runset), "tab:consistency-comparison"), "",
        *_tex_table(list(DETAIL_HEADER),
                    [detail_cells(r, le, ge) for r in runset.tests.to_dict(orient="records")],
                    "Per-pair detail: rates per arm, items, responses, p, report-wide q, "
                    "verdict and placebo floor (percentage points).",
                    "tab:consistency-detail"), ""])


def _tex_table(header: list[str], body: list[list[str]], text: str, label: str) -> list[str]:
    cell = escaping.latex

    return [r"\begin{table}[tbp]", r"\centering", r"\small",
            f"\\caption{{{cell(text)}}}", f"\\label{{{label}}}",
            r"\resizebox{\linewidth}{!}{%",
            f"\\begin{{tabular}}{{l{'l' * (len(header) - 1)}}}", r"\toprule",
            " & ".join(cell(h) for h in header) + r" \\", r"\midrule",
            *(" & ".join(cell(c) for c in row) + r" \\" for row in body),
            r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
