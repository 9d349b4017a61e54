"""``consistency monitor``: anytime-valid alarms over the runs of one scheduled configuration.

A nightly job that re-tests at alpha 0.05 each night raises a false alarm within a month more often
than not. This command reads the run folders of one configuration (oldest first), feeds each
(family, pair, metric) row's per-item differences into :func:`consistency.analyse.stats.monitor` (an
e-process), and alarms only when the evidence accumulated over all runs so far crosses the
threshold. The chance of *ever* raising a false alarm, over any number of nights, stays below
alpha: alpha is split evenly over the rows (Bonferroni), so the bound holds for the whole table.

Exit status: 0 no alarm, 1 an alarm on some row, 2 bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from consistency.analyse import runfiles
from consistency.analyse import stats
from consistency.common.errors import InputError
from consistency.measure.scoring import known_family, metrics_for_family

#: Columns of scores.parquet this command reads (besides the metric columns).
SCORE_COLUMNS = ["item_id", "family", "pair", "pair_kind", "arm"]

MONITOR_COLUMNS = ["family", "pair", "pair_kind", "metric", "runs", "items", "mean_difference",
                   "e_value", "pvalue", "alarm_run"]


def item_differences(scores: pd.DataFrame, analysed: Iterable[tuple[str, str, str]] = ()
                     ) -> dict[tuple[str, str, str, str], pd.Series]:
    """Per-item differences (observed minus unobserved item means) for every row of one run.

    The metrics are each family's own (:func:`consistency.measure.scoring.metrics_for_family`) plus the
    (family, pair, metric) rows of ``analysed`` that the package does not score itself (the
    tests table of an imported run names its ``score_*`` columns), so imported runs are
    monitored like native ones.
    """
    out = {}
    analysed = list(analysed)
    for (family, pair, kind), group in scores.groupby(["family", "pair", "pair_kind"], sort=True):
        own = list(metrics_for_family(family)) if known_family(family) else []
        extra = [m for f, p, m in analysed if (f, p) == (family, pair) and m not in own]
        for metric in own + list(dict.fromkeys(extra)):
            if metric not in group:
                continue
            means = group.groupby(["item_id", "arm"])[metric].mean().unstack()
            if {"observed", "unobserved"} <= set(means.columns):
                out[(family, pair, kind, metric)] = (means["observed"] - means["unobserved"]).dropna()
    return out


def monitor_runs(runs: list[pd.DataFrame], alpha: float = 0.05,
                 analysed: Iterable[tuple[str, str, str]] = ()) -> pd.DataFrame:
    """One row per (family, pair, metric): the e-process over ``runs`` (oldest first);
    ``analysed`` as in :func:`item_differences`."""
    analysed = list(analysed)
    per_run = [item_differences(scores, analysed) for scores in runs]
    keys = sorted(set().union(*per_run))
    row_alpha = alpha / max(len(keys), 1)
    rows = []
    for key in keys:
        series = [run[key].to_numpy() for run in per_run if key in run]
        result = stats.monitor(series, alpha=row_alpha)
        values = pd.concat([run[key] for run in per_run if key in run])
        rows.append({
            "family": key[0], "pair": key[1], "pair_kind": key[2], "metric": key[3],
            "runs": len(series), "items": int(values.size), "mean_difference": float(values.mean()),
            "e_value": float(result.e_values[-1]) if result.e_values.size else 1.0,
            "pvalue": result.pvalue,
            "alarm_run": None if result.alarm_at is None else int(result.alarm_at) + 1})
    return pd.DataFrame(rows, columns=MONITOR_COLUMNS)


def load_runs(folders: list[str]
              ) -> tuple[list[pd.DataFrame], str, list[tuple[str, str, str]]]:
    """Scores of each run folder, checking that they share one model and one design, and the
    (family, pair, metric) rows their tests tables name.

    A folder that is not a readable finished run (a file missing, damaged or of another shape)
    is an :class:`InputError` naming it: exit 2, never the alarm status 1."""
    runs, identities, analysed = [], set(), {}
    for name in folders:
        folder = Path(name)
        identities.add(_model_of(folder))
        analysed.update(dict.fromkeys(_rows_of(folder)))
        runs.append(_scores_of(folder))
    if len(identities) > 1:
        raise InputError(f"runs of different models {sorted(identities)}; monitoring follows one "
                         "configuration over time", where="RUN_DIR")
    return runs, identities.pop(), list(analysed)


def _model_of(folder: Path) -> str:
    path = folder / "summary.json"
    if not folder.is_dir() or not path.is_file() or not (folder / "scores.parquet").is_file():
        raise InputError("not a finished run folder (needs scores.parquet and summary.json)",
                         where=str(folder))
    model = runfiles.read_json(path).get("model")
    if not isinstance(model, str):
        raise InputError("summary.json has no model name", where=str(path))
    return model


def _rows_of(folder: Path) -> list[tuple[str, str, str]]:
    """The (family, pair, metric) rows the run's summary names (read after :func:`_model_of`
    has checked the file)."""
    tests = runfiles.read_json(folder / "summary.json").get("tests") or []
    tests = tests if isinstance(tests, list) else []
    return [(str(t["family"]), str(t["pair"]), str(t["metric"])) for t in tests
            if isinstance(t, dict) and {"family", "pair", "metric"} <= set(t)]


def _scores_of(folder: Path) -> pd.DataFrame:
    return runfiles.read_parquet(folder / "scores.parquet", needed=SCORE_COLUMNS)


def main(argv: list[str]) -> int:
    """Entry point of ``consistency monitor``."""
    parser = argparse.ArgumentParser(
        prog="consistency monitor",
        description="Anytime-valid monitoring of one configuration's runs (oldest first).")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders, oldest first")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="bound on ever raising a false alarm, over all rows and runs")
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        raise InputError(f"--alpha must be in (0, 1), got {args.alpha}", where="--alpha")
    runs, model, analysed = load_runs(args.runs)
    table = monitor_runs(runs, alpha=args.alpha, analysed=analysed)
    print(f"monitoring {model} over {len(runs)} run(s); alarm when an e-value reaches "
          f"{len(table)}/alpha = {len(table) / args.alpha:.0f} (alpha {args.alpha} over "
          f"{len(table)} rows)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    alarms = table[table["alarm_run"].notna()]
    for row in alarms.itertuples():
        print(f"ALARM: {row.family} / {row.pair} / {row.metric} since run {int(row.alarm_run)}")
    return 1 if len(alarms) else 0
