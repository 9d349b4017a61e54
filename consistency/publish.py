"""``consistency report RUN_OR_SWEEP_DIR... [--out DIR] [--format md,latex,html,csv]``.

Turns any number of run folders (a folder of runs expands to its runs) into one set of
publishable files in ``--out``:

=================  ==============================================================
file               contents
=================  ==============================================================
report.md          comparison table, per-pair detail, run metadata (GitHub Markdown)
report.tex         the same two tables as booktabs LaTeX, metadata as comments
report.csv         tidy: one row per model x pair x family x metric x statistic
report.html        one self-contained page with per-item drill-down (``html``)
forest.png/.svg    the forest plot (always written)
=================  ==============================================================

With ``--history`` the folders are the runs of one configuration over time, and the output is
each row's effect per run with the anytime-valid monitoring verdict
(:mod:`consistency.history`). Exit status 0, or 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consistency import crossrun, forest, tables
from consistency.errors import InputError

FORMATS = ("md", "latex", "html", "csv")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="consistency report",
        description="Tables, a forest plot and an HTML report over many run folders.")
    parser.add_argument("runs", nargs="+", metavar="RUN_OR_SWEEP_DIR")
    parser.add_argument("--out", default="report", help="output folder (created)")
    parser.add_argument("--format", default=",".join(FORMATS),
                        help=f"comma-separated subset of {','.join(FORMATS)}")
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
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise InputError(f"unknown format(s) {unknown}; choose from {','.join(FORMATS)}",
                         where="--format")
    if args.alpha is not None and not 0 < args.alpha < 1:
        raise InputError(f"--alpha must be in (0, 1), got {args.alpha}", where="--alpha")
    args.formats = formats
    return args


def main(argv: list[str]) -> int:
    """Entry point of ``consistency report``."""
    args = parse(argv)
    out = Path(args.out)
    from consistency.sanitise import for_terminal
    from consistency.skipped_runs import skipped_runs

    for folder, reason in skipped_runs(args.runs):  # a sweep's failed jobs are named, not lost
        print(for_terminal(f"skipped {folder}: {reason}"), file=sys.stderr)
    if args.history:
        from consistency.history import write_history

        written = write_history(args.runs, out, alpha=args.alpha)
    else:
        written = write_report(crossrun.load(args.runs, args.alpha, args.correction), out,
                               args.formats)
    for path in written:
        print(f"wrote {path}")
    return 0


def write_report(runset: crossrun.RunSet, out: Path, formats: list[str]) -> list[Path]:
    """Write the requested formats and the forest plot into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = forest.draw(runset, out / "forest")
    if "md" in formats:
        written.append(_write(out / "report.md", tables.markdown(runset)))
    if "latex" in formats:
        written.append(_write(out / "report.tex", tables.latex(runset)))
    if "csv" in formats:
        path = out / "report.csv"
        tables.tidy(runset).to_csv(path, index=False)
        written.append(path)
    if "html" in formats:
        from consistency.html_report import render

        written.append(_write(out / "report.html", render(runset, out / "forest.png")))
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
