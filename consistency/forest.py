"""The forest plot of a report: effect and interval per model x pair x metric (PNG and SVG).

Drawn for print first: one paper column wide (3.4 in), black and white (verdicts differ by
marker shape, not colour; placebo and planted rows sit on a grey band and use open markers),
a zero line and the equivalence margin as a hatched band. One-sided intervals run to the edge
of the axis with an arrow, since their open end is the whole scale.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from consistency import escaping
from consistency.crossrun import RunSet

#: Marker per verdict: shapes that stay distinct in black and white.
SHAPES = {"sandbagging": "v", "strategic_compliance": "^", "divergence": "D",
          "consistent": "o", "inconclusive": "s"}
COLUMN_WIDTH_IN = 3.4
ROW_HEIGHT_IN = 0.16


def plot_rows(tests: pd.DataFrame) -> list[dict | str]:
    """What is drawn, top to bottom: per run label a header (the label, a string), then its
    test rows and its controls, each by pair, family and metric."""
    ordered = tests.sort_values(["label", "control", "pair", "family", "metric"],
                                kind="mergesort")
    out: list[dict | str] = []
    for label, group in ordered.groupby("label", sort=False):
        out.append(str(label))
        out.extend(group.to_dict(orient="records"))
    return out


def _text(value: object, limit: int = 48) -> str:
    """A label for the figure: plain text, with matplotlib's mathtext switched off by
    escaping ``$`` (a pair named ``$x$`` must not be typeset)."""
    text = escaping.plain(value).replace("$", r"\$")
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def draw(runset: RunSet, out_base: Path) -> list[Path]:
    """Write ``out_base.png`` and ``out_base.svg``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = plot_rows(runset.tests)
    margin = float(runset.runs["margin"].max()) * 100
    height = 1.1 + ROW_HEIGHT_IN * len(rows)
    with plt.rc_context({"font.size": 6.5, "svg.fonttype": "none", "axes.linewidth": 0.6,
                         "xtick.major.width": 0.6, "ytick.major.size": 0}):
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, height), layout="constrained")
        _draw_rows(ax, rows, margin)
        paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
        fig.savefig(paths[0], dpi=300)
        fig.savefig(paths[1])
        plt.close(fig)
    return paths


def _draw_rows(ax: Any, rows: list[dict | str], margin: float) -> None:
    n = len(rows)
    ax.axvspan(-margin, margin, facecolor="none", edgecolor="0.55", hatch="////",
               linewidth=0, zorder=0, label=f"equivalence margin \u00b1{margin:g} pp")
    ax.axvline(0, color="black", linewidth=0.7, zorder=1)
    labels, verdicts = [], set()
    for y, row in zip(range(n - 1, -1, -1), rows):
        if isinstance(row, str):
            labels.append(_text(row))
            continue
        mark = " \u2020" if row["control"] else ""
        labels.append("  " + _text(f"{row['pair']}{mark} {row['family']}/{row['metric']}", 34))
        if row["control"]:
            ax.axhspan(y - 0.5, y + 0.5, color="0.88", linewidth=0, zorder=0)
        verdicts.add(row["report_verdict"])
        _draw_row(ax, y, row)
    ax.set_yticks(range(n - 1, -1, -1), labels)
    for tick, row in zip(ax.get_yticklabels(), rows):
        if isinstance(row, str):
            tick.set_fontweight("bold")
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(-105, 105)
    ax.set_xticks([-100, -50, 0, 50, 100])
    ax.set_xlabel("observed \u2212 unobserved (pp)")
    ax.axhspan(-10, -10, color="0.88", label="\u2020 placebo / planted control")
    for verdict, shape in SHAPES.items():
        if verdict in verdicts:
            ax.plot([], [], shape, color="black", markersize=4, label=verdict.replace("_", " "))
    ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncol=2,
                     frameon=False, fontsize=5.5)


def _draw_row(ax: Any, y: int, row: dict) -> None:
    effect = 100 * row["difference"]
    low, high = 100 * row["ci_low"], 100 * row["ci_high"]
    if math.isnan(effect):
        return
    if not (math.isnan(low) or math.isnan(high)):
        if row["alternative"] == "less":
            low = -105.0
        elif row["alternative"] == "greater":
            high = 105.0
        ax.plot([low, high], [y, y], color="black", linewidth=0.9, zorder=2)
        for end, open_end in ((low, row["alternative"] == "less"),
                              (high, row["alternative"] == "greater")):
            ax.plot([end], [y], marker="<" if end == low else ">", color="black",
                    markersize=3 if open_end else 0, zorder=2)
    ax.plot([effect], [y], SHAPES.get(row["report_verdict"], "s"), markersize=4.5,
            markerfacecolor="white" if row["control"] else "black", markeredgecolor="black",
            markeredgewidth=0.8, zorder=3)
