"""``consistency report RUN_OR_SWEEP_DIR... [--out DIR] [--format md,latex,html,csv,png,svg,pdf]``.

Turns any number of run folders (a folder of runs expands to its runs) into one set of
publishable files in ``--out``:

=================  ==============================================================
file               contents
=================  ==============================================================
report.md          comparison table, per-pair detail, run metadata (GitHub Markdown)
report.tex         the same two tables as booktabs LaTeX, metadata as comments
report.csv         tidy: one row per model x pair x family x metric x statistic
report.html        one self-contained page with per-item drill-down (``html``)
forest.png/.svg    the forest plot (always; ``--format`` naming png, svg or pdf writes those)
=================  ==============================================================

Every format opens with each run's headline and manipulation-check result and prints the
published rows of :mod:`consistency.publish.published`. ``--label RUN=TEXT`` names a run's rows
(RUN: its run id or folder).

With ``--history`` the folders are the runs of one configuration over time, and the output is
each row's effect per run with the anytime-valid monitoring verdict
(:mod:`consistency.publish.history`). Exit status 0, or 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consistency.publish import forest, latex_tables, tables

from consistency.analyse import crossrun
from consistency.common.errors import InputError

TABLES = ("md", "latex", "html", "csv")
FORMATS = (*TABLES, *forest.FORMATS)
DEFAULT = ("md", "latex", "html", "csv", "png", "svg")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="consistency report",
        description="Tables, a forest plot and an HTML report over many run folders.")
    parser.add_argument("runs", nargs="+", metavar="RUN_OR_SWEEP_DIR")
    parser.add_argument("--out", default="report", help="output folder (created)")
    parser.add_argument("--format", default=",".join(DEFAULT),
                        help=f"comma-separated subset of {','.join(FORMATS)} (png, svg, pdf: "
                             f"the forest plot; default {','.join(DEFAULT)})")
    parser.add_argument("--label", action="append", default=[], metavar="RUN=TEXT",
                        help="label the rows of run RUN (run id or folder) TEXT; repeatable")
    parser.add_argument("--alpha", type=float, default=None,
                        help="level for report-wide verdicts (default: the runs' own)")
    parser.add_argument("--correction", choices=("bh", "holm"), default=None,
                        help="q-value correction across the report (default: the runs' own)")
    parser.add_argument("--history", action="store_true",
                        help="the runs are one configuration over time: effects per run and "
                             "the anytime-valid monitoring verdict")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        raise InputError("see the usage above", where="consistency report") if exc.code else exc
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown format {', '.join(unknown) or '(none given)'}; choose one "
                         f"or more of {', '.join(FORMATS)}", where="--format")
    args.labels = {}
    for given in args.label:
        run, sep, text = given.partition("=")
        if not sep or not run.strip() or not text.strip():
            raise InputError(f"--label takes RUN=TEXT (a run id or folder, then the label), "
                             f"got {given!r}", where="--label")
        args.labels[run.strip()] = text.strip()
    if args.alpha is not None and not 0 < args.alpha < 1:
        raise InputError(f"--alpha must be in (0, 1), got {args.alpha}", where="--alpha")
    args.formats = formats
    return args


def main(argv: list[str]) -> int:
    """Entry point of ``consistency report``."""
    args = parse(argv)
    out = Path(args.out)
    from consistency.common.sanitise import for_terminal
    from consistency.publish.skipped_runs import skipped_runs

    for folder, reason in skipped_runs(args.runs):  # a sweep's failed jobs are named, not lost
        print(for_terminal(f"skipped {folder}: {reason}"), file=sys.stderr)
    if args.history:
        from consistency.publish.history import write_history

        written = write_history(args.runs, out, alpha=args.alpha)
    else:
        written = write_report(crossrun.load(args.runs, args.alpha, args.correction,
                                             args.labels), out, args.formats)
    for path in written:
        print(f"wrote {path}")
    return 0


def write_report(runset: crossrun.RunSet, out: Path, formats: list[str]) -> list[Path]:
    """Write the requested formats and the forest plot into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    runset = tables.prepared(runset)
    # the plot is always written: as the image formats asked for, else as PNG and SVG
    images = tuple(f for f in forest.FORMATS if f in formats) or ("png", "svg")
    if "html" in formats and "png" not in images:
        images += ("png",)  # the page embeds it
    written = forest.draw(runset, out / "forest", images)
    if "md" in formats:
        written.append(_write(out / "report.md", tables.markdown(runset)))
    if "latex" in formats:
        written.append(_write(out / "report.tex", latex_tables.latex(runset)))
    if "csv" in formats:
        path = out / "report.csv"
        tables.tidy(runset).to_csv(path, index=False)
        written.append(path)
    if "html" in formats:
        from consistency.publish.html_report import render

        written.append(_write(out / "report.html", render(runset, out / "forest.png")))
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
