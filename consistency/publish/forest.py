"""The forest plot of a report: effect and interval per model x pair x metric (PNG, SVG, PDF).

Drawn for print first: one paper column wide (3.4 in), black and white (verdicts differ by
marker shape, not colour; placebo and planted rows sit on a grey band and use open markers),
a zero line and the equivalence margin as a hatched band. Every run starts with its label as
a full-width header (wrapped, never clipped), each pair and family with a sub-header, and each
row is labelled with its metric, the one thing that differs between the rows of a group. The
legend lists every verdict's marker whether or not it occurs, below the axis.

The interval drawn is the published one (:mod:`consistency.publish.published`): the interval the
verdict rests on, ``interval_low``/``interval_high`` of ``tests.csv``. One-sided intervals run
to the edge of the axis with an arrow, since their open end is the whole scale; the RMS
interval of an omnibus divergence verdict is dashed (it bounds the spread of item effects, not
the mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from consistency.publish import published
from consistency.common import escaping
from consistency.analyse.crossrun import RunSet

#: Marker per verdict: shapes that stay distinct in black and white.
SHAPES = {"sandbagging": "v", "strategic_compliance": "^", "divergence": "D",
          "consistent": "o", "inconclusive": "s", published.CANNOT_MOVE: "X"}
COLUMN_WIDTH_IN = 3.4
ROW_HEIGHT_IN = 0.16


FORMATS = ("png", "svg", "pdf")
#: Characters per line of a header in a column-wide figure at 6.5 pt.
HEADER_CHARS = 62
LABEL_CHARS = 22
#: Matplotlib settings for drawing and saving (text stays text in SVG and PDF).
STYLE = {"font.size": 6.5, "svg.fonttype": "none", "pdf.fonttype": 42, "axes.linewidth": 0.6,
         "xtick.major.width": 0.6, "ytick.major.size": 0}


@dataclass
class Drawn:
    """What the plot drew for one test row: the row, its y, and its interval in pp."""

    row: dict
    y: float
    low: float
    high: float


def plot_rows(tests: pd.DataFrame) -> list[tuple[str, Any]]:
    """What is drawn, top to bottom: ``("run", label)`` headers, ``("group", "pair / family")``
    sub-headers (one line each; long text takes more lines), and ``("row", record)``."""
    if "shown_verdict" not in tests:
        tests = published.rows(tests, verdict="report_verdict")
    ordered = tests.sort_values(["label", "control", "pair", "family", "metric"],
                                kind="mergesort")
    out: list[tuple[str, Any]] = []
    for label, group in ordered.groupby("label", sort=False):
        out += [("run", line) for line in published.wrap(_text(label), HEADER_CHARS)]
        for (pair, family), rows in group.groupby(["pair", "family"], sort=False):
            mark = " \u2020" if bool(rows["control"].iloc[0]) else ""
            text = _text(f"{pair}{mark} \u00b7 {family}")
            out += [("group", line) for line in published.wrap(text, HEADER_CHARS - 4)]
            out += [("row", record) for record in rows.to_dict(orient="records")]
    return out


def _text(value: object) -> str:
    """A label for the figure: plain text, with matplotlib's mathtext switched off by
    escaping ``$`` (a pair named ``$x$`` must not be typeset)."""
    return escaping.plain(value).replace("$", r"\$")


def _metric_label(row: dict) -> str:
    return "\n".join(published.wrap(_text(row["metric"]), LABEL_CHARS)[:2])


def figure(runset: RunSet) -> tuple[Any, list[Drawn]]:
    """The matplotlib figure and what it drew (the caller closes the figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = plot_rows(runset.tests)
    margin = float(runset.runs["margin"].max()) * 100
    labels = [_metric_label(r) if kind == "row" else "" for kind, r in rows]
    longest = max((len(line) for label in labels for line in label.split("\n")), default=8)
    legend_in, axis_in = 0.62, 0.34
    height = legend_in + axis_in + 0.15 + ROW_HEIGHT_IN * len(rows)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, height))
        # margins set by hand, not by constrained layout: with hundreds of tick labels the
        # layout engine's repeated text measurement cost more than drawing
        left = (0.2 + 0.052 * longest) / COLUMN_WIDTH_IN
        fig.subplots_adjust(left=left, right=0.96, bottom=(legend_in + axis_in) / height,
                            top=1 - 0.1 / height)
        drawn = _draw_rows(ax, rows, labels, margin)
    return fig, drawn


def draw(runset: RunSet, out_base: Path, formats: tuple[str, ...] = ("png", "svg")) \
        -> list[Path]:
    """Write ``out_base`` in each of ``formats`` (png, svg, pdf); returns their paths."""
    import matplotlib.pyplot as plt

    fig, _ = figure(runset)
    height = fig.get_size_inches()[1]
    paths = []
    with plt.rc_context(STYLE):
        for fmt in formats:
            path = out_base.with_suffix(f".{fmt}")
            # 300 dpi for print; a plot of hundreds of rows is capped at 8000 px tall (a PNG
            # of 30000 px took most of a 100-run report's time and no viewer shows it whole)
            fig.savefig(path, dpi=min(300, max(72, 8000 / height)) if fmt == "png" else 300)
            paths.append(path)
    plt.close(fig)
    return paths


def _draw_rows(ax: Any, rows: list[tuple[str, Any]], labels: list[str],
               margin: float) -> list[Drawn]:
    """All rows in a few collection artists (one per marker kind), so hundreds of rows draw in
    about the time of a few."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    n = len(rows)
    ys = list(range(n - 1, -1, -1))
    ax.axvspan(-margin, margin, facecolor="none", edgecolor="0.55", hatch="////",
               linewidth=0, zorder=0)
    ax.axvline(0, color="black", linewidth=0.7, zorder=1)
    data = [(y, r) for y, (kind, r) in zip(ys, rows) if kind == "row"]
    controls = [y for y, r in data if r["control"]]
    if controls:
        ax.barh(controls, 210, left=-105, height=1.0, color="0.88", linewidth=0, zorder=0)
    solid, dashed, left_open, right_open, drawn = [], [], [], [], []
    for y, r in data:
        low, high = 100 * float(r["interval_low"]), 100 * float(r["interval_high"])
        if math.isnan(low) or math.isnan(high):
            continue
        drawn.append(Drawn(r, y, low, high))
        kind = str(r.get("interval_kind") or "")
        if kind.startswith("one-sided") and low <= -100:
            low = -105.0
            left_open.append(y)
        elif kind.startswith("one-sided") and high >= 100:
            high = 105.0
            right_open.append(y)
        (dashed if kind.startswith("RMS") else solid).append([(low, y), (high, y)])
    ax.add_collection(LineCollection(solid, colors="black", linewidths=0.9, zorder=2))
    ax.add_collection(LineCollection(dashed, colors="black", linewidths=0.9, zorder=2,
                                     linestyles=(0, (2, 1.5))))
    ax.scatter([-105] * len(left_open), left_open, marker="<", s=6, c="black", zorder=2,
               clip_on=False)
    ax.scatter([105] * len(right_open), right_open, marker=">", s=6, c="black", zorder=2,
               clip_on=False)
    for verdict, shape in SHAPES.items():
        for control in (False, True):
            points = [(100 * r["difference"], y) for y, r in data
                      if r["shown_verdict"] == verdict and bool(r["control"]) == control
                      and not published.missing(r["difference"])]
            if points:
                xs, yv = zip(*points)
                ax.scatter(xs, yv, marker=shape, s=18, linewidths=0.8, edgecolors="black",
                           c="white" if control or verdict == published.CANNOT_MOVE else "black",
                           zorder=3)
    ax.set_yticks(ys, labels)
    for y, (kind, text) in zip(ys, rows):
        if kind in ("run", "group"):
            ax.annotate(text, xy=(0.02 if kind == "run" else 0.05, y),
                        xycoords=("figure fraction", "data"), va="center", ha="left",
                        fontweight="bold" if kind == "run" else "normal",
                        style="normal" if kind == "run" else "italic", annotation_clip=False)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlim(-105, 105)
    ax.set_xticks([-100, -50, 0, 50, 100])
    ax.set_xlabel("observed \u2212 unobserved (pp)")
    handles = [Line2D([], [], linestyle="", marker=shape, markersize=4, markeredgewidth=0.8,
                      markeredgecolor="black",
                      markerfacecolor="white" if verdict == published.CANNOT_MOVE else "black",
                      label=verdict.replace("_", " ") + (" (both arms 0 or 1)" if verdict ==
                                                         published.CANNOT_MOVE else ""))
               for verdict, shape in SHAPES.items()]
    import matplotlib.patches as mpatches

    handles += [mpatches.Patch(facecolor="white", edgecolor="0.55", hatch="////", linewidth=0,
                               label=f"equivalence margin \u00b1{margin:g} pp"),
                mpatches.Patch(facecolor="0.88", edgecolor="black", linewidth=0.4,
                               label="\u2020 control (open marker)"),
                Line2D([], [], color="black", linestyle=(0, (2, 1.5)), linewidth=0.9,
                       label="RMS item-effect interval")]
    ax.figure.legend(handles=handles, loc="lower center", ncol=2, frameon=False,
                     fontsize=5.5, bbox_to_anchor=(0.5, 0.0), handlelength=1.6,
                     columnspacing=1.0)
    return drawn
