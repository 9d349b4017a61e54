"""Publish stage: the cross-run report as LaTeX that stays legible in a standard article.

Three ``longtable`` tables at ``\\footnotesize`` (8 pt in a 10 pt article), never scaled down:

1. runs: ``R1``, ``R2``, ... with each run's label, headline and manipulation-check result;
2. comparison: a row per pair / family / metric, a column per run (at most :data:`RUNS_PER_TABLE`
   per table: more runs make more tables, not smaller type); a cell is the effect, the
   interval the verdict rests on with its kind, and the verdict marker;
3. detail: per run, a row per pair / family / metric with the arm rates and effect aligned on
   the decimal point (``siunitx`` ``S`` columns), interval and kind, q, and the shown verdict
   with its caveats.

Long names wrap inside their column (``p`` columns), so a table is as wide as the text block
whatever the names. Preamble: ``\\usepackage{booktabs,longtable,array,siunitx}``.
"""

from __future__ import annotations

from typing import Any

from consistency.publish import published

from consistency.common import escaping

from consistency.publish import tables
from consistency.analyse.crossrun import RunSet

PREAMBLE = r"\usepackage{booktabs,longtable,array,siunitx}"
RUNS_PER_TABLE = 3
_LE, _GE = "\u2264", "\u2265"  # escaping.latex prints them as $\le$ / $\ge$
_FLAGS = ("sandbagging", "strategic_compliance", "divergence")


def latex(runset: RunSet) -> str:
    """The report as LaTeX for a standard article: the runs, comparison and detail tables."""
    return document_part(tables.prepared(runset))


def document_part(runset: RunSet) -> str:
    """Every table, with the reproducibility metadata as TeX comments at the top."""
    meta = [f"% {escaping.plain(' | '.join(row))}" for row in tables.metadata_rows(runset)]
    parts = [f"% consistency report; needs {PREAMBLE} in the preamble",
             f"% {' | '.join(tables.METADATA_HEADER)}", *meta, "", *_runs_table(runset), ""]
    labels = list(runset.runs["label"])
    chunks = [labels[i:i + RUNS_PER_TABLE] for i in range(0, len(labels), RUNS_PER_TABLE)]
    for number, chunk in enumerate(chunks, start=1):
        parts += [*_comparison_table(runset, chunk, number, len(chunks)), ""]
    parts += [*_detail_table(runset), ""]
    return "\n".join(parts)


def _cell(value: Any) -> str:
    return escaping.latex(value)


def _rc(width: str) -> str:
    """A wrapping, left-aligned column of ``width``."""
    return rf">{{\raggedright\arraybackslash}}p{{{width}}}"


def _open(spec: str, caption: str, label: str, header: list[str]) -> list[str]:
    head = " & ".join(header) + r" \\"
    return [r"\begingroup\footnotesize\setlength{\tabcolsep}{3pt}",
            rf"\begin{{longtable}}{{@{{}}{spec}@{{}}}}",
            rf"\caption{{{caption}}}\label{{{label}}}\\", r"\toprule", head, r"\midrule",
            r"\endfirsthead", r"\toprule", head, r"\midrule", r"\endhead",
            r"\bottomrule", r"\endfoot"]


def _close() -> list[str]:
    return [r"\end{longtable}", r"\endgroup"]


def _runs_table(runset: RunSet) -> list[str]:
    lines = _open("l" + _rc(r"0.88\linewidth"), "Runs of this report: headline (the run-level "
                  "answer, any false flag held at alpha) and manipulation check.",
                  "tab:consistency-runs", ["run", "label, headline, manipulation check"])
    for key, label, story in tables.stories(runset):
        lines.append(rf"{key} & \textbf{{{_cell(label)}}}\newline Headline: "
                     rf"{_cell(story.headline)}\newline {_cell(_sentence(story.check))} \\")
    return lines + _close()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _comparison_table(runset: RunSet, labels: list[str], number: int, total: int) -> list[str]:
    keys = {label: key for key, label, _ in tables.stories(runset)}
    header, body = tables.comparison_cells(runset, _LE, _GE, keys_only=True)
    columns = [1 + list(runset.runs["label"]).index(label) for label in labels]
    width = f"{0.62 / len(labels):.3f}\\linewidth"
    part = f" (part {number} of {total})" if total > 1 else ""
    key_text = "; ".join(f"{keys[label]}: {label}" for label in labels)
    caption = (_cell(tables.caption(runset)) + f" Runs{part}: " + _cell(key_text) + ".")
    lines = _open(_rc("0.26\\linewidth") + _rc(width) * len(labels), caption,
                  f"tab:consistency-comparison-{number}",
                  [_cell(header[0]), *(_cell(header[c]) for c in columns)])
    for row in body:
        lines.append(" & ".join([_cell(row[0]), *(_cell(row[c]) for c in columns)]) + r" \\")
    return lines + _close()


def _detail_table(runset: RunSet) -> list[str]:
    spec = (_rc("0.24\\linewidth") + "S[table-format=3.1]S[table-format=3.1]"
            "S[table-format=+3.1,retain-explicit-plus]" + _rc("0.16\\linewidth") + "r" + _rc("0.17\\linewidth"))
    header = ["pair / family / metric (items)", "{obs.\\,\\%}", "{unobs.\\,\\%}",
              "{effect}", "interval (kind)", "q", "verdict (caveats)"]
    caption = ("Per-pair detail: rates per arm (percent), effect and the interval the verdict "
               "rests on (percentage points), report-wide q, and the verdict as shown, with its "
               "caveats.")
    lines = _open(spec, caption, "tab:consistency-detail", header)
    several = len(runset.runs) > 1
    keys = {label: key for key, label, _ in tables.stories(runset)}
    tests = runset.tests
    for label in runset.runs["label"]:
        rows = tests[tests["label"] == label].sort_values(["control", "pair", "family", "metric"],
                                                          kind="mergesort")
        if several:
            wide = _rc(r"0.95\linewidth")
            lines.append(rf"\multicolumn{{7}}{{@{{}}{wide}}}"
                         rf"{{\textbf{{{keys[label]}: {_cell(label)}}}}} \\")
        for row in rows.to_dict(orient="records"):
            lines.append(" & ".join(_detail_cells(row)) + r" \\")
    return lines + _close()


def _detail_cells(row: dict[str, Any]) -> list[str]:
    mark = f" {tables.CONTROL_MARK}" if row["control"] else ""
    items = "" if published.missing(row["n_items"]) else f" ({int(float(row['n_items']))})"
    name = f"{row['pair']}{mark} / {row['family']} / {row['metric']}{items}"
    verdict = _cell(published.verdict_text(row))
    if row["shown_verdict"] in _FLAGS:
        verdict = rf"\textbf{{{verdict}}}"
    return [_cell(name), _num(tables.pct(row["rate_observed"])),
            _num(tables.pct(row["rate_unobserved"])), _num(tables.pp(row["difference"])),
            _cell(tables.interval(row, _LE, _GE)), _cell(tables.pnum(row["q"])), verdict]


def _num(text: str) -> str:
    """A number for an ``S`` column; anything else braced so siunitx leaves it as text."""
    return "{--}" if text == "-" else text
