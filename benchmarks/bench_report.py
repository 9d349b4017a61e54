"""How long ``consistency report`` takes over many runs: 100 run folders of 10^4 responses each.

Builds the run folders once (synthetic scored responses with a planted effect in some models,
analysed by the real :func:`consistency.analyse.battery.analyse`, written as a run folder is), then
times, each as the median of ``--repeat`` runs:

- reading: :func:`consistency.analyse.crossrun.load` (summary.json, tests.csv, config.yaml,
  environment.json of every run, report-wide q values) plus
  :func:`consistency.analyse.crossrun.load_scores` of every ``scores.parquet`` (10^6 responses);
- writing Markdown, LaTeX, CSV and the forest plot (PNG and SVG) for all runs;
- the HTML report (with the per-item drill-down) over the first ``--html-runs`` runs.

Usage::

    python benchmarks/bench_report.py                 # 100 runs x 10^4 responses
    python benchmarks/bench_report.py --runs 10       # quicker
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.analyse import crossrun  # noqa: E402
from consistency.analyse.battery import analyse  # noqa: E402
from consistency.publish.report_command import write_report  # noqa: E402
from consistency.publish.report import build_summary  # noqa: E402
from consistency.design.settings import AnalysisSettings  # noqa: E402

PAIRS = [("eval_vs_deploy", "test"), ("monitored", "test"), ("wording", "placebo")]


def scores_frame(rng: np.random.Generator, n_responses: int, effect: float) -> pd.DataFrame:
    """Scored responses: capability items x pairs x arms x 2 variants x epochs."""
    per_item = len(PAIRS) * 2 * 2 * 2          # pairs x arms x variants x epochs(2)
    n_items = max(n_responses // per_item, 2)
    rows = []
    for pair, kind in PAIRS:
        for arm in ("observed", "unobserved"):
            p = 0.8 - (effect if arm == "observed" and kind == "test" else 0.0)
            for variant in range(2):
                for epoch in range(2):
                    ids = [f"c{i}" for i in range(n_items)]
                    correct = (rng.random(n_items) < p).astype(float)
                    rows.append(pd.DataFrame({
                        "cell_id": [f"{i}|{pair}|{arm}|v{variant}|e{epoch}" for i in ids],
                        "item_id": ids, "family": "capability", "pair": pair, "pair_kind": kind,
                        "overseer_prefers": "refusal", "arm": arm, "variant": variant,
                        "epoch": epoch, "status": "ok",
                        "text": [f"The answer is {int(c)}." for c in correct],
                        "correct": correct, "refused": 0.0, "complied": 1.0}))
    return pd.concat(rows, ignore_index=True)


def build(root: Path, runs: int, responses: int) -> None:
    rng = np.random.default_rng(1)
    settings = AnalysisSettings(n_resamples=999, bootstrap_resamples=200, omnibus_resamples=200)
    templates = {}
    for k in range(runs):
        model = f"model-{k % 10}"
        effect = 0.1 if k % 10 == 3 else 0.0
        key = (effect,)
        folder = root / f"run-{k:03d}"
        folder.mkdir(parents=True)
        scores = scores_frame(rng, responses, effect)
        scores.to_parquet(folder / "scores.parquet", index=False)
        if key not in templates:  # the analysis is not what is measured: reuse per effect
            templates[key] = analyse(scores, settings)
        tests = templates[key]
        counts = {"expected": len(scores), "completed": len(scores), "failed": 0, "empty": 0,
                  "failed_by_kind": {}}
        summary = build_summary(folder.name, f"openai:{model}", counts, tests)
        tests.to_csv(folder / "tests.csv", index=False)
        (folder / "summary.json").write_text(json.dumps(summary))
        config = {"model": {"provider": "openai", "name": model, "temperature": k // 10 / 10},
                  "epochs": 2, "run_id": folder.name, "results_dir": str(root),
                  "analysis": {"alpha": 0.05, "correction": "bh"}}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        (folder / "environment.json").write_text(json.dumps(
            {"packages": {"consistency": "0.1.0"}, "models_reported": [model],
             "finished_at": "2026-12-01T00:00:00+00:00"}))


def timed(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--html-runs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        start = time.perf_counter()
        build(root / "runs", args.runs, args.responses)
        print(f"built {args.runs} runs x {args.responses} responses in "
              f"{time.perf_counter() - start:.1f} s")

        def read() -> None:
            runset = crossrun.load([root / "runs"])
            scores = crossrun.load_scores(runset.runs)
            assert len(scores) >= args.runs * args.responses * 0.95

        t_read = timed(args.repeat, read)
        runset = crossrun.load([root / "runs"])
        t_tables = timed(args.repeat, lambda: write_report(runset, root / "out",
                                                           ["md", "latex", "csv"]))
        small = crossrun.load(sorted((root / "runs").iterdir())[: args.html_runs])
        t_html = timed(args.repeat, lambda: write_report(small, root / "html", ["html"]))
        size = (root / "html" / "report.html").stat().st_size / 1e6
        print(f"read {args.runs} runs ({len(runset.tests)} test rows, "
              f"{args.runs * args.responses} responses): {t_read:.2f} s (median of "
              f"{args.repeat})")
        print(f"Markdown + LaTeX + CSV + forest plot over {args.runs} runs: {t_tables:.2f} s")
        print(f"HTML with drill-down over {args.html_runs} runs: {t_html:.2f} s, {size:.1f} MB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
