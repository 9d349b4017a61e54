"""Many run folders -> tidy frames: the input of every cross-run table, plot and comparison.

A run folder (see :mod:`consistency.pipeline`) is self-describing, so a report over many runs
needs nothing but their files: ``summary.json`` and ``tests.csv`` for the verdicts,
``config.yaml`` for what was swept, ``environment.json`` for provider-reported model ids and
dates. A folder without ``summary.json`` (a ``results_dir`` after a sweep) expands to the run
folders below it.

A report makes more comparisons than any one of its runs, so q values are recomputed across
*all rows of the report* within each family (:func:`readjust`), with the families of a single
run (:mod:`consistency.analyse.families`: test and placebo rows together, planted rows apart), so a
report over one run reproduces its q values and verdicts.

Runs frame (one row per run):

================  =====  ============================================================
column            dtype  meaning
================  =====  ============================================================
run_id            str    the run folder's name
folder            str    path of the run folder
model             str    ``provider:name`` as configured
label             str    row label: model, plus every swept parameter that differs
models_reported   str    provider-reported model ids (comma-separated)
finished_at       str    when the run's outputs were written (UTC, ISO 8601)
version           str    package version that wrote the run ("" if unknown)
config_hash       str    sha256 (12 hex) of config.yaml without run_id and results_dir
epochs            int    samples per item x arm x variant
responses         int    completed responses
alpha             float  analysis.alpha
correction        str    analysis.correction
divergence_test   str    analysis.divergence_test (``mean`` or ``omnibus``)
confidence        float  analysis.confidence
margin            float  analysis.equivalence_margin (fixed margin)
margin_source     str    analysis.margin_source
``<key>``         any    one column per swept config key (dotted, e.g. ``model.temperature``)
================  =====  ============================================================

Report tests frame: every column of each run's ``tests.csv`` (read by name; columns a run lacks
are NaN), plus ``run_id``, ``label``, ``model``, and ``report_p_divergence`` (the divergence p the
run used), ``report_q_value``, ``report_q_divergence``, ``report_verdict``, ``control``
(placebo/planted rows, marked as such in tables and plots).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from consistency.common.errors import InputError
from consistency.analyse.families import adjusted_q
from consistency.analyse.flags import verdict
from consistency.analyse import runfiles

#: Pair kinds marked as controls in a report's tables and plots.
CONTROL_KINDS = ("placebo", "planted")
#: Config keys that name a run rather than describe it: never "swept".
_IDENTITY_KEYS = ("run_id", "results_dir")
#: Swept keys left out of row labels: the model id already says them, or they say where a
#: server was, not what was asked of it.
_UNLABELLED = ("model.name", "model.provider", "model.base_url", "model.api_key_env")


@dataclass(frozen=True)
class RunSet:
    """The runs of a report and their test rows (see the module docstring for the columns)."""

    runs: pd.DataFrame
    tests: pd.DataFrame
    swept: list[str]
    alpha: float
    correction: str


def run_folders(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders named by ``paths``: a run folder itself, or every run folder below a folder
    (a sweep's ``results_dir``), in name order. Raises :class:`InputError` naming a path that
    holds no finished run."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / "summary.json").is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise InputError("no such folder; give run folders or a folder of runs", where=str(raw))
        below = sorted(p.parent for p in path.glob("**/summary.json"))
        if not below:
            raise InputError("not a finished run folder and no run folders below it (a run "
                             "folder holds summary.json and tests.csv)", where=str(raw))
        found.extend(below)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``{"model": {"name": "a"}}`` -> ``{"model.name": "a"}``);
    lists become their JSON text so they can be compared and shown."""
    if not isinstance(config, dict):
        return {prefix: json.dumps(config) if isinstance(config, list) else config}
    out: dict[str, Any] = {}
    for key, value in config.items():
        out |= flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else \
            {f"{prefix}{key}": json.dumps(value) if isinstance(value, list) else value}
    return out


#: Columns of ``tests.csv`` that hold names, read as text whatever they spell.
_NAME_COLUMNS = ("family", "pair", "metric", "pair_kind", "plants")


def read_run(folder: Path) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """One run's row of the runs frame (without label), its tests frame and flat config.
    A damaged or hostile file is an :class:`InputError` naming it (:mod:`consistency.analyse.runfiles`)."""
    summary = runfiles.read_json(folder / "summary.json")
    tests = _read_tests(folder / "tests.csv")
    config = flatten(runfiles.read_yaml(folder / "config.yaml"))
    environment = runfiles.read_json(folder / "environment.json", required=False)
    identity = {k: v for k, v in config.items() if k not in _IDENTITY_KEYS}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    packages = environment.get("packages")
    responses = summary.get("responses")
    try:
        row = {
            "run_id": str(summary.get("run_id", folder.name)), "folder": str(folder),
            "model": str(summary.get("model", "")),
            "models_reported": ", ".join(map(str, environment.get("models_reported") or [])),
            "finished_at": str(environment.get("finished_at", "")),
            "version": str(packages.get("consistency", "") if isinstance(packages, dict) else ""),
            "config_hash": digest.hexdigest()[:12] if config else "",
            "epochs": config.get("epochs", math.nan),
            "responses": int(responses.get("completed", 0) if isinstance(responses, dict) else 0),
            "alpha": float(config.get("analysis.alpha", 0.05)),
            "correction": str(config.get("analysis.correction",
                                         _first(tests, "correction", "bh"))),
            "divergence_test": str(config.get("analysis.divergence_test", "mean")),
            "confidence": float(config.get("analysis.confidence", 0.95)),
            "margin": float(config.get("analysis.equivalence_margin", 0.10)),
            "margin_source": str(config.get("analysis.margin_source", "fixed")),
        }
    except (TypeError, ValueError) as exc:
        raise InputError(f"a value of the run's summary.json, config.yaml or environment.json has "
                         f"the wrong type ({exc}); re-run the analysis or remove the folder from "
                         "the report", where=str(folder)) from None
    return row, tests, config


#: Columns of tests.csv that reports and comparisons read by name.
TESTS_COLUMNS = ("family", "pair", "pair_kind", "metric", "hypothesis", "alternative",
                 "difference", "ci_low", "ci_high", "p_value", "p_two_sided", "verdict")


def _read_tests(path: Path) -> pd.DataFrame:
    try:
        tests = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the run's tests.csv ({type(exc).__name__}: {exc}); re-run "
                         "the analysis or remove the folder from the report",
                         where=str(path)) from None
    # names are text as written: a pair or family named "null", "nan" or "NA" is not missing
    names = [c for c in _NAME_COLUMNS if c in tests]
    if names:
        tests[names] = pd.read_csv(path, usecols=names, dtype=str, keep_default_na=False)[names]
    missing = [column for column in TESTS_COLUMNS if column not in tests]
    if missing:
        raise InputError(f"tests.csv lacks the column(s) {missing}; it was not written by "
                         "consistency run", where=str(path))
    return tests


def _first(frame: pd.DataFrame, column: str, default: Any) -> Any:
    return frame[column].iloc[0] if column in frame and len(frame) else default


def swept_keys(configs: Sequence[dict[str, Any]]) -> list[str]:
    """Config keys whose value differs between runs (what a sweep varied), in config order."""
    keys: dict[str, None] = {}
    for config in configs:
        keys |= dict.fromkeys(config)
    return [key for key in keys if key not in _IDENTITY_KEYS and not key.startswith("hydra.")
            and len({json.dumps(c.get(key), default=str) for c in configs}) > 1]


def load(paths: Iterable[str | Path], alpha: float | None = None,
         correction: str | None = None, labels: dict[str, str] | None = None) -> RunSet:
    """Read every run under ``paths`` and recompute q values across all of their rows.

    Args:
        paths: run folders or folders of runs.
        alpha, correction: override the runs' own settings; needed when they differ.
        labels: row labels chosen by the user, by run id, folder name or folder path
            (``report --label RUN=TEXT``); the others are built from the swept keys.
    """
    folders = run_folders(paths)
    rows, tables, configs = [], [], []
    seen: set[str] = set()
    for folder in folders:
        row, tests, config = read_run(folder)
        if row["run_id"] in seen:  # same run id under two results folders (or a copy)
            row["run_id"] = f"{row['run_id']}@{folder.parent.name}/{folder.name}"
        if row["run_id"] in seen:
            row["run_id"] = str(folder)
        seen.add(row["run_id"])
        rows.append(row)
        tables.append(tests.assign(run_id=row["run_id"]))
        configs.append(config)
    runs = pd.DataFrame(rows)
    swept = swept_keys(configs)
    for key in swept:  # object columns: an int stays an int beside a run without the key
        runs[key] = pd.Series([config.get(key) for config in configs], dtype=object)
    runs["label"] = _given_labels(runs, labels or {}, _labels(runs, configs, swept))
    alpha = _agreed(runs, "alpha", alpha, "--alpha")
    correction = _agreed(runs, "correction", correction, "--correction")
    tests = pd.concat(tables, ignore_index=True)
    tests = tests.merge(runs[["run_id", "label", "model", "divergence_test"]], on="run_id")
    return RunSet(runs, readjust(tests, alpha, correction), swept, float(alpha), str(correction))


def _labels(runs: pd.DataFrame, configs: Sequence[dict[str, Any]],
            swept: list[str]) -> list[str]:
    """Row labels: the model, then ``key=value`` for every labelled key whose value differs
    between runs, named in full (``tasks.limit`` and ``checks.limit`` are two keys). A key some
    run does not have (an imported run beside a native one) names no row: the model and, where
    labels still collide, the run id tell them apart."""
    keys = [key for key in swept if key not in _UNLABELLED
            and all(key in config for config in configs)]
    labels = []
    for run, config in zip(runs.to_dict(orient="records"), configs):
        parts = [str(run["model"]), *(f"{key}={_value_text(config[key])}" for key in keys)]
        labels.append(", ".join(parts))
    counts = pd.Series(labels).value_counts()
    # identical configurations (repeats) stay apart by their run id
    return [f"{label} ({run_id})" if counts[label] > 1 else label
            for label, run_id in zip(labels, runs["run_id"])]


def _value_text(value: Any) -> str:
    """A config value as a user would type it in an override (``null``, ``true``, ``3``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return str(value)


def _given_labels(runs: pd.DataFrame, given: dict[str, str], built: list[str]) -> list[str]:
    """``built`` with the user's labels in place (keys: run id, folder name or folder path)."""
    names = [{str(r), Path(f).name, str(Path(f)), str(Path(f).resolve())}
             for r, f in zip(runs["run_id"], runs["folder"])]
    unknown = [key for key in given if not any(key in n or str(Path(key).resolve()) in n
                                               for n in names)]
    if unknown:
        raise InputError(f"no run in this report is called {unknown[0]!r}; --label takes "
                         f"RUN=TEXT with RUN one of {', '.join(map(str, runs['run_id']))}",
                         where="--label")
    out = []
    for label, n in zip(built, names):
        match = [text for key, text in given.items()
                 if key in n or str(Path(key).resolve()) in n]
        out.append(str(match[0]) if match else label)
    if len(set(out)) < len(out):
        raise InputError("two runs would share one label; give each run its own", where="--label")
    return out


def _agreed(runs: pd.DataFrame, column: str, given: Any, flag: str) -> Any:
    if given is not None:
        return given
    values = runs[column].unique().tolist()
    if len(values) > 1:
        raise InputError(f"the runs used different analysis.{column} values {values}; pick one "
                         f"for the report with {flag}", where=flag)
    return values[0]


def divergence_p(tests: pd.DataFrame) -> np.ndarray:
    """The divergence p each row's run used: ``p_divergence`` when the run recorded it, else the
    omnibus p where the run's analysis chose it, else ``p_two_sided``."""
    p = tests["p_two_sided"].to_numpy(float)
    if "omnibus_p" in tests and "divergence_test" in tests:
        omnibus = (tests["divergence_test"] == "omnibus") & tests["omnibus_p"].notna()
        p = np.where(omnibus, tests["omnibus_p"].to_numpy(float), p)
    if "p_divergence" in tests:
        recorded = tests["p_divergence"].to_numpy(float)
        p = np.where(np.isnan(recorded), p, recorded)
    return p


def readjust(tests: pd.DataFrame, alpha: float, correction: str) -> pd.DataFrame:
    """Report-wide q values within each family, and the verdicts they give.

    The families are a run's (:mod:`consistency.analyse.families`): directional test and placebo rows
    within their hypothesis (``sandbagging``, ...) on ``p_value``, every test and placebo row in
    the divergence family on its divergence p, planted rows in control families of their own.
    Every row gets its report verdict by the run's rules, so a report over one run reproduces
    that run's q values and verdicts. ``control`` marks placebo and planted rows for display.
    """
    out = tests.copy()
    p_div = divergence_p(out)
    q_value, q_div = adjusted_q(out, out["p_value"].to_numpy(float), p_div, correction)
    out["control"] = out["pair_kind"].isin(CONTROL_KINDS).to_numpy()
    out["report_p_divergence"] = p_div
    out["report_q_divergence"] = q_div
    out["report_q_value"] = q_value
    out["report_verdict"] = [row_verdict(row, alpha) for row in out.to_dict(orient="records")]
    return out


def row_verdict(row: dict[str, Any], alpha: float) -> str:
    """A test row's verdict under the report's q values (the rules of :mod:`consistency.analyse.flags`).

    The directional bound is ``ci_low``/``ci_high``. The divergence interval is the run's own:
    the RMS interval where the run used the omnibus test, else ``div_low``/``div_high`` (the
    row's two-sided interval). Frames written before ``div_low`` existed fall back to the row's
    interval for two-sided rows and, for directional rows, the item-bootstrap interval where
    present, else the unadjusted divergence p below ``alpha``.
    """
    alternative = row["alternative"]
    directional = alternative != "two-sided"
    agrees = row["ci_high"] < 0 if alternative == "less" else row["ci_low"] > 0
    if row.get("divergence_test") == "omnibus" and not _nan(row.get("omnibus_p")):
        div_agrees = not _nan(row.get("rms_low")) and row["rms_low"] > 0
    elif not _nan(row.get("div_low")):
        div_agrees = row["div_low"] > 0 or row["div_high"] < 0
    elif not directional:
        div_agrees = row["ci_low"] > 0 or row["ci_high"] < 0
    elif not _nan(row.get("boot_low")):
        div_agrees = row["boot_low"] > 0 or row["boot_high"] < 0
    else:
        div_agrees = row["report_p_divergence"] < alpha
    return verdict(hypothesis=row["hypothesis"] if directional else None,
                   alternative=alternative if directional else None,
                   difference=row["difference"],
                   directional_q=row["report_q_value"] if directional else math.nan,
                   directional_agrees=bool(agrees), divergence_q=row["report_q_divergence"],
                   divergence_agrees=bool(div_agrees),
                   equivalent=bool(row.get("equivalence_p", math.nan) < alpha), alpha=alpha)


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


#: Columns of scores.parquet every cross-run reader needs.
SCORES_COLUMNS = ("item_id", "family", "pair", "arm")


def load_scores(runs: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Every run's ``scores.parquet`` in one frame with a ``run_id`` column (pyarrow reads only
    ``columns`` when given, which is most of the cost at 10^6 rows). Task cells only: the
    manipulation-check cells (``purpose == "check"``, :mod:`consistency.measure.checks`) are no task
    responses, so no table, drill-down or comparison shows them as such."""
    parts = []
    for run_id, folder in zip(runs["run_id"], runs["folder"]):
        path = Path(folder) / "scores.parquet"
        if not path.is_file():
            raise InputError("the run has no scores.parquet", where=str(folder))
        present = runfiles.parquet_columns(path)
        wanted = None if columns is None else [c for c in columns if c in present]
        purpose = "purpose" in present and (wanted is None or "purpose" in wanted)
        if "purpose" in present and not purpose:
            wanted = [*wanted, "purpose"]
        table = runfiles.read_parquet(path, wanted, needed=SCORES_COLUMNS)
        if "purpose" in table:
            table = table[table["purpose"] != "check"].reset_index(drop=True)
            if not purpose:
                table = table.drop(columns="purpose")
        parts.append(table.assign(run_id=run_id))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
