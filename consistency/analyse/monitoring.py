"""``consistency monitor``: anytime-valid alarms over the runs of one scheduled configuration.

A nightly job that re-tests at alpha 0.05 each night raises a false alarm within a month more often
than not. This command reads the run folders of one configuration (a sweep's folder expands to
its runs, as for ``report``), orders them by when each finished (``environment.json``
``finished_at``, else ``summary.json``'s modification time), refuses runs of different
configurations (model, config keys, pairs, rows or items: the message names what differs), and
alarms only when the evidence accumulated over the runs so far crosses the threshold.

Which rows: only *behaviour rows* (:func:`consistency.analyse.gates.is_behaviour_row`: test pairs,
metrics other than ``aware``/``training_reasoning`` and their judge counterparts) can alarm, and
alpha is split evenly over them (Bonferroni). Planted controls (meant to fire), placebo and
situation rows are monitored and shown for information only.

Which inference (``--inference``):

* ``population`` (default): the per-run verdict's claim, "the framing's effect has mean 0 over
  the item population". Nightly re-runs of the same items are not new evidence about that
  population, so each night's test combines at the item level first (each item's differences
  averaged over the last ``--window`` nights) and tests the items as the sample they are (the
  exact sign-flip test), at a share ``1/(t(t+1))`` of the row's alpha on night ``t``
  (:func:`consistency.analyse.stats.nightly.population_monitor`).
* ``item-set``: "the mean effect over *these* items is 0" (the items are fixed and the claim is
  about them only). Each night's mean difference is then an independent unbiased look, and an
  e-process over them (:func:`consistency.analyse.stats.monitor`) alarms by Ville's inequality. Item
  effects that cancel in the population but not in this set are real findings here.

Either way the chance of *ever* raising a false alarm, over any number of nights and all
behaviour rows, stays below alpha under that inference's null
(``benchmarks/simulate_nightly.py`` measures it).

Exit status: 0 no alarm, 1 an alarm on some behaviour row, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from consistency.analyse import gates
from consistency.analyse import crossrun
from consistency.common import escaping
from consistency.analyse import stats
from consistency.common.errors import InputError
from consistency.measure.scoring import known_family, metrics_for_family
from consistency.analyse.stats.nightly import DEFAULT_WINDOW, population_monitor
from consistency.analyse import runfiles

#: Columns of scores.parquet this command reads (besides the metric columns).
SCORE_COLUMNS = ["item_id", "family", "pair", "pair_kind", "arm"]

#: ``role``: behaviour | planted | placebo | situation; ``monitored``: whether the row can alarm;
#: ``e_value``: the e-process (item-set) or weight / p of the latest night (population).
MONITOR_COLUMNS = ["family", "pair", "pair_kind", "metric", "role", "monitored", "runs", "items",
                   "mean_difference", "e_value", "pvalue", "alarm_run"]
INFERENCES = ("population", "item-set")


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
                 analysed: Iterable[tuple[str, str, str]] = (), inference: str = "population",
                 window: int | None = DEFAULT_WINDOW) -> pd.DataFrame:
    """One row per (family, pair, metric) over ``runs`` (oldest first): ``inference`` and
    ``window`` as in the module docstring, alpha split over the behaviour rows only;
    ``analysed`` as in :func:`item_differences`."""
    return monitor_differences([item_differences(scores, analysed) for scores in runs], alpha,
                               inference, window)


def monitor_differences(per_run: list[dict[tuple[str, str, str, str], pd.Series]],
                        alpha: float = 0.05, inference: str = "population",
                        window: int | None = DEFAULT_WINDOW) -> pd.DataFrame:
    """:func:`monitor_runs` from each run's per-item differences (as :func:`item_differences`
    returns them), oldest first."""
    if inference not in INFERENCES:
        raise ValueError(f"inference must be one of {INFERENCES}, got {inference!r}")
    keys = sorted(set().union(*per_run))
    roles = {key: gates.row_role(key[2], key[3]) for key in keys}
    gated = sum(role == "behaviour" for role in roles.values())
    row_alpha = alpha / max(gated, 1)
    rows = []
    for key in keys:
        nights = [run.get(key, pd.Series(dtype=float)) for run in per_run]
        present = [night for night in nights if len(night)]
        if inference == "population":
            result = population_monitor(nights, alpha=row_alpha, window=window)
        else:
            result = stats.monitor([float(night.mean()) for night in present], alpha=row_alpha)
        values = pd.concat(present)
        monitored = roles[key] == "behaviour"
        rows.append({
            "family": key[0], "pair": key[1], "pair_kind": key[2], "metric": key[3],
            "role": roles[key], "monitored": monitored, "runs": len(present),
            "items": int(values.index.nunique()), "mean_difference": float(values.mean()),
            "e_value": float(result.e_values[-1]) if result.e_values.size else 1.0,
            "pvalue": result.pvalue,
            "alarm_run": None if result.alarm_at is None or not monitored
            else _run_number(result.alarm_at, nights, inference)})
    return pd.DataFrame(rows, columns=MONITOR_COLUMNS)


def _run_number(alarm_at: int, nights: list[pd.Series], inference: str) -> int:
    """1-based run of the alarm (the item-set e-process counts only the runs that have the row)."""
    if inference == "population":
        return alarm_at + 1
    having = [i for i, night in enumerate(nights) if len(night)]
    return having[alarm_at] + 1


def load_runs(paths: list[str]
              ) -> tuple[list[pd.DataFrame], str, list[tuple[str, str, str]], list[dict[str, Any]]]:
    """Scores of each run under ``paths`` (a sweep's folder expands to its runs), oldest first by
    finish time, the model, the (family, pair, metric) rows their tests tables name, and each
    run's identity (``run_id``, ``folder``, ``finished_at``).

    A folder that is not a readable finished run (a file missing, damaged or of another shape)
    is an :class:`InputError` naming it: exit 2, never the alarm status 1. So are runs of
    different configurations."""
    runs = []
    for folder in crossrun.run_folders(paths):
        model = _model_of(folder)
        row, tests, config = crossrun.read_run(folder)
        runs.append({"folder": folder, "model": model, "run_id": row["run_id"],
                     "finished_at": row["finished_at"] or _modified(folder),
                     "tests": tests, "config": config})
    runs.sort(key=lambda run: run["finished_at"])   # stable: ties keep the given order
    models = sorted({run["model"] for run in runs})
    if len(models) > 1:
        raise InputError(f"runs of different models {models}; monitoring follows one "
                         "configuration over time", where="RUN_DIR")
    scores = [_scores_of(run["folder"]) for run in runs]
    check_one_configuration(runs, scores)
    analysed = {}
    for run in runs:
        analysed.update(dict.fromkeys(_rows_of(run["folder"])))
    identities = [{"run_id": run["run_id"], "folder": str(run["folder"]),
                   "finished_at": run["finished_at"]} for run in runs]
    return scores, models[0], list(analysed), identities


def check_one_configuration(runs: list[dict[str, Any]], scores: list[pd.DataFrame]) -> None:
    """Raise :class:`InputError` naming the config keys, pairs, rows or items that differ."""
    from consistency.analyse.gates import check_comparable

    # where the server was and how requests were scheduled do not change what was asked
    keys = crossrun.swept_keys([{k: v for k, v in run["config"].items()
                                 if k != "model.base_url" and not k.startswith("runner.")}
                                for run in runs])
    if keys:
        raise InputError(f"runs of different configurations (config differs in: "
                         f"{', '.join(map(escaping.plain, keys))}); monitoring follows one "
                         "configuration over time: give the runs of one configuration only",
                         where="RUN_DIR")
    for run, frame in zip(runs[1:], scores[1:]):
        try:
            check_comparable(runs[0]["tests"], run["tests"], scores[0], frame)
        except InputError as exc:
            raise InputError(f"{runs[0]['folder']} and {run['folder']} are runs of different "
                             f"designs: {exc}", where="RUN_DIR") from None


def _modified(folder: Path) -> str:
    from datetime import datetime, timezone

    stamp = (folder / "summary.json").stat().st_mtime
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")


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


def render(table: pd.DataFrame, model: str, identities: list[dict[str, Any]], alpha: float,
           inference: str, window: int | None) -> str:
    """The terminal summary: one line per row, every name passed through escaping.plain."""
    gated = int(table["monitored"].sum())
    what = ("the item population (items averaged over the last "
            f"{window or 'all'} night(s), then tested as a sample)" if inference == "population"
            else "this fixed item set (each run's mean difference)")
    lines = [escaping.plain(f"monitoring {model} over {len(identities)} run(s), oldest "
                            f"{identities[0]['run_id']}, newest {identities[-1]['run_id']}"),
             f"inference about {what}; alpha {alpha:g} split over {gated} behaviour rows "
             f"(alarm when a row's anytime p < {alpha / max(gated, 1):.3g}); controls, "
             "placebo and aware/training_reasoning rows are shown, never alarm"]
    table_rows = [("row", "role", "runs", "items", "mean diff", "anytime p", "status")]
    for row in table.to_dict("records"):
        status = ("not gated" if not row["monitored"] else "no alarm"
                  if row["alarm_run"] is None or pd.isna(row["alarm_run"])
                  else f"ALARM since run {int(row['alarm_run'])}")
        table_rows.append((escaping.plain(f"{row['family']}/{row['pair']}/{row['metric']}"),
                           row["role"], str(row["runs"]), str(row["items"]),
                           f"{100 * row['mean_difference']:+.1f} pp", f"{row['pvalue']:.3g}",
                           status))
    widths = [max(len(r[i]) for r in table_rows) for i in range(len(table_rows[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table_rows]
    for row in alarms(table).to_dict("records"):
        lines.append(escaping.plain(f"ALARM: {row['family']} / {row['pair']} / {row['metric']} "
                                    f"since run {int(row['alarm_run'])}"))
    return "\n".join(lines)


def alarms(table: pd.DataFrame) -> pd.DataFrame:
    """The behaviour rows that alarmed."""
    return table[table["monitored"] & table["alarm_run"].notna()]


def as_json(table: pd.DataFrame, model: str, identities: list[dict[str, Any]], alpha: float,
            inference: str, window: int | None) -> dict[str, Any]:
    """The ``--json`` document (schema_version 1; NaN as null)."""
    rows = []
    for row in table.to_dict("records"):
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else
                         int(v) if k == "alarm_run" and v is not None else
                         bool(v) if k == "monitored" else v) for k, v in row.items()})
    failing = [{k: r[k] for k in ("family", "pair", "metric", "alarm_run")} for r in rows
               if r["monitored"] and r["alarm_run"] is not None]
    return {"schema_version": 1, "exit_status": 1 if failing else 0, "model": model,
            "alpha": alpha, "inference": inference, "window": window or None,
            "behaviour_rows": int(table["monitored"].sum()), "runs": identities,
            "alarms": failing, "rows": rows}


def main(argv: list[str]) -> int:
    """Entry point of ``consistency monitor``."""
    parser = argparse.ArgumentParser(
        prog="consistency monitor",
        description="Anytime-valid monitoring of one configuration's runs (ordered by finish "
                    "time); exit 1 on an alarm of a behaviour row.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run folders, or folders of runs (a sweep's results_dir)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="bound on ever raising a false alarm, over all behaviour rows and "
                             "runs")
    parser.add_argument("--inference", choices=INFERENCES, default="population",
                        help="what an alarm is about: the item population the per-run verdict "
                             "is about (default), or this fixed item set")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW,
                        help=f"nights averaged per item before each test (population "
                             f"inference; 0 = all; default {DEFAULT_WINDOW})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        raise InputError("see the usage above", where="consistency monitor") if exc.code else exc
    if not 0 < args.alpha < 1:
        raise InputError(f"--alpha must be in (0, 1), got {args.alpha}", where="--alpha")
    if args.window < 0:
        raise InputError(f"--window must be 0 (all nights) or more, got {args.window}",
                         where="--window")
    runs, model, analysed, identities = load_runs(args.runs)
    table = monitor_runs(runs, alpha=args.alpha, analysed=analysed, inference=args.inference,
                         window=args.window)
    if args.json:
        print(json.dumps(as_json(table, model, identities, args.alpha, args.inference,
                                 args.window), indent=2, allow_nan=False, default=str))
    else:
        print(render(table, model, identities, args.alpha, args.inference, args.window))
    return 1 if len(alarms(table)) else 0
