"""Rows for pairs of unpaired items: each arm's rate compared as two independent samples.

Items marked ``"unpaired": true`` (:mod:`consistency.design.item_arms`) have arms that are not the
same task, so the paired battery never sees them. Each (family, pair, metric) of theirs gets one
row here, written to ``two_sample.csv`` and the report's "Two-sample comparisons" section, always
labelled "two-sample, not paired"; the rows carry p values (Holm over these rows) and intervals,
never a paired verdict, and they do not enter the headline.

==================  =====  ==========================================================
column              dtype  meaning
==================  =====  ==========================================================
family, pair        str    the rows' family and the unpaired pair's name
metric              str    the metric compared
analysis            str    always ``two-sample, not paired``
n_observed          int    items with a value in the observed arm
n_unobserved        int    items with a value in the unobserved arm
observed_rate       float  mean of the per-item means, observed arm
unobserved_rate     float  the same, unobserved arm
difference          float  observed minus unobserved
interval_low/high   float  95% percentile bootstrap interval of the difference
p_value             float  two-sided permutation p value
q_value             float  Holm-adjusted over every two-sample row of the run
==================  =====  ==========================================================
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from consistency.analyse.battery import row_rng
from consistency.analyse.stats import holm
from consistency.analyse.stats.two_sample import two_sample_test

LABEL = "two-sample, not paired"
COLUMNS = ["family", "pair", "metric", "analysis", "n_observed", "n_unobserved",
           "observed_rate", "unobserved_rate", "difference", "interval_low", "interval_high",
           "p_value", "q_value"]


def two_sample_rows(scores: pd.DataFrame, pairs: Iterable[str], metrics: Iterable[str],
                    seed: int) -> pd.DataFrame:
    """One row per (family, pair, metric) of the unpaired ``pairs`` (module table)."""
    metrics = list(metrics)
    rows = []
    subset = scores[scores["pair"].isin(list(pairs))]
    for (family, pair), group in subset.groupby(["family", "pair"], sort=True):
        for metric in metrics:
            if metric not in group or group[metric].isna().all():
                continue
            means = group.groupby(["arm", "item_id"])[metric].mean()
            obs = means.get("observed", pd.Series(dtype=float)).to_numpy()
            unobs = means.get("unobserved", pd.Series(dtype=float)).to_numpy()
            result = two_sample_test(obs, unobs, rng=row_rng(seed, family, pair, metric,
                                                             "two-sample"))
            rows.append({"family": family, "pair": pair, "metric": metric, "analysis": LABEL,
                         "n_observed": result.n_observed, "n_unobserved": result.n_unobserved,
                         "observed_rate": float(np.nanmean(obs)) if len(obs) else np.nan,
                         "unobserved_rate": float(np.nanmean(unobs)) if len(unobs) else np.nan,
                         "difference": result.statistic, "interval_low": result.low,
                         "interval_high": result.high, "p_value": result.pvalue})
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "q_value"])
    frame["q_value"] = holm(frame["p_value"].to_numpy()) if len(frame) else []
    return frame[COLUMNS]


def two_sample_markdown(frame: pd.DataFrame) -> list[str]:
    """The report's section for these rows (empty when there are none)."""
    if frame.empty:
        return []
    from consistency.common.sanitise import md_cell

    lines = ["## Two-sample comparisons (not paired)", "",
             ("Items marked unpaired: their two arms are not the same task, so each arm's rate "
              "is compared as an independent sample (permutation test, bootstrap interval). "
              "These rows are two-sample, not paired: no paired verdict is drawn from them and "
              "they are not part of the headline."), "",
             ("| family | pair | metric | analysis | n obs | n unobs | obs rate | unobs rate | "
              "difference [95% interval] | p | q |"),
             "|---|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for row in frame.itertuples(index=False):
        lines.append(f"| {md_cell(row.family)} | {md_cell(row.pair)} | {md_cell(row.metric)} | "
                     f"{row.analysis} | {row.n_observed} | {row.n_unobserved} | "
                     f"{row.observed_rate:.3f} | {row.unobserved_rate:.3f} | "
                     f"{row.difference:+.3f} [{row.interval_low:+.3f}, {row.interval_high:+.3f}]"
                     f" | {row.p_value:.4f} | {row.q_value:.4f} |")
    return lines + [""]
