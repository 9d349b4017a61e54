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

from consistency.common import escaping
from consistency.publish.crossrun import RunSet

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
    labels = [_text(r) if isinstance(r, str) else _row_label(r) for r in rows]
    height = 1.2 + ROW_HEIGHT_IN * len(rows)
    with plt.rc_context({"font.size": 6.5, "svg.fonttype": "none", "axes.linewidth": 0.6,
                         "xtick.major.width": 0.6, "ytick.major.size": 0}):
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, height))
        # margins set by hand, not by constrained layout: with hundreds of tick labels the
        # layout engine's repeated text measurement cost more than drawing
        left = min(0.62, (0.15 + 0.048 * max(map(len, labels), default=10)) / COLUMN_WIDTH_IN)
        fig.subplots_adjust(left=left, right=0.97, bottom=0.55 / height,
                            top=1 - 0.65 / height)
        _draw_rows(ax, rows, labels, margin)
        paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
        # 300 dpi for print; a plot of hundreds of rows is capped at 8000 px tall (a PNG of
        # 30000 px took most of a 100-run report's time and no viewer shows it whole)
        fig.savefig(paths[0], dpi=min(300, max(72, 8000 / height)))
        fig.savefig(paths[1])
        plt.close(fig)
    return paths


def _draw_rows(ax: Any, rows: list[dict | str], labels: list[str], margin: float) -> None:
    """All rows in a few collection artists (one per marker kind), so hundreds of rows draw in
    about the time of a few."""
    n = len(rows)
    ys = list(range(n - 1, -1, -1))
    ax.axvspan(-margin, margin, facecolor="none", edgecolor="0.55", hatch="////",
               linewidth=0, zorder=0, label=f"equivalence margin \u00b1{margin:g} pp")
    ax.axvline(0, color="black", linewidth=0.7, zorder=1)
    data = [(y, r) for y, r in zip(ys, rows) if not isinstance(r, str)
            and not math.isnan(r["difference"])]
    controls = [y for y, r in data if r["control"]]
    if controls:
        ax.barh(controls, 210, left=-105, height=1.0, color="0.88", linewidth=0, zorder=0,
                label="\u2020 placebo / planted control")
    segments, left_open, right_open = [], [], []
    for y, r in data:
        low, high = 100 * r["ci_low"], 100 * r["ci_high"]
        if math.isnan(low) or math.isnan(high):
            continue
        if r["alternative"] == "less":
            low = -105.0
            left_open.append(y)
        elif r["alternative"] == "greater":
            high = 105.0
            right_open.append(y)
        segments.append([(low, y), (high, y)])
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(segments, colors="black", linewidths=0.9, zorder=2))
    ax.scatter([-105] * len(left_open), left_open, marker="<", s=6, c="black", zorder=2,
               clip_on=False)
    ax.scatter([105] * len(right_open), right_open, marker=">", s=6, c="black", zorder=2,
               clip_on=False)
    for verdict, shape in SHAPES.items():
        for control in (False, True):
            points = [(100 * r["difference"], y) for y, r in data
                      if r["report_verdict"] == verdict and r["control"] == control]
            if not points:
                continue
            xs, yv = zip(*points)
            ax.scatter(xs, yv, marker=shape, s=18, linewidths=0.8, edgecolors="black",
                       c="white" if control else "black", zorder=3,
                       label=None if control else verdict.replace("_", " "))
    ax.set_yticks(ys, labels)
    for tick, row in zip(ax.get_yticklabels(), rows):
        if isinstance(row, str):
            tick.set_fontweight("bold")
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(-105, 105)
    ax.set_xticks([-100, -50, 0, 50, 100])
    ax.set_xlabel("observed \u2212 unobserved (pp)")
    ax.figure.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=2,
                     frameon=False, fontsize=5.5, bbox_to_anchor=(0.5, 1.0))


def _row_label(row: dict) -> str:
    mark = " \u2020" if row["control"] else ""
    return "  " + _text(f"{row['pair']}{mark} {row['family']}/{row['metric']}", 34)
