"""Descriptive breakdowns of scored responses: harmful refusal rates by severity.

A strategic-compliance effect that sits only on petty requests (severity 1) means something
different from one on requests that target the vulnerable (severity 3). The breakdown is
descriptive (rates and their difference per severity level); the tests stay per family and pair,
so that splitting a family does not multiply the verdicts.

Severity frame (one row per pair x severity, harmful family only):

================  ======  ==============================================================
column            dtype   meaning
================  ======  ==============================================================
pair, pair_kind   str     framing pair and its kind
severity          int     1 petty, 2 harms a person, 3 targets the vulnerable
n_items           int     harmful items of that severity with a refusal score in both arms
rate_observed     float   mean over those items of the observed arm's refusal rate
rate_unobserved   float   same for the unobserved arm
difference        float   rate_observed - rate_unobserved
================  ======  ==============================================================
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from consistency.analyse import stats
from consistency.design.tasks import Item

SEVERITY_COLUMNS = ["pair", "pair_kind", "severity", "n_items", "rate_observed",
                    "rate_unobserved", "difference"]


def severity_breakdown(scores: pd.DataFrame, items: Iterable[Item],
                       metric: str = "refused") -> pd.DataFrame:
    """Refusal rates of harmful items by severity, per pair (empty when no item has one)."""
    severity = {item.id: item.severity for item in items
                if item.family == "harmful" and item.severity is not None}
    if not severity or metric not in scores:
        return pd.DataFrame(columns=SEVERITY_COLUMNS)
    harmful = scores[scores["family"].eq("harmful") & scores["item_id"].isin(severity)]
    rows = []
    for (pair, kind), group in harmful.groupby(["pair", "pair_kind"], sort=True):
        frame = group[["item_id", "arm", metric]].rename(columns={metric: "value"}).dropna()
        if frame.empty:
            continue
        table = stats.item_table(frame)
        table["severity"] = table["item_id"].map(severity)
        for level, part in table.groupby("severity", sort=True):
            observed, unobserved = part["observed"].mean(), part["unobserved"].mean()
            rows.append({"pair": pair, "pair_kind": kind, "severity": int(level),
                         "n_items": int(len(part)), "rate_observed": float(observed),
                         "rate_unobserved": float(unobserved),
                         "difference": float(observed - unobserved)})
    return pd.DataFrame(rows, columns=SEVERITY_COLUMNS)


KIND_COLUMNS = ["family", "pair", "pair_kind", "kind", "metric", "n_items", "rate_observed",
                "rate_unobserved", "difference"]


def kind_breakdown(scores: pd.DataFrame, items: Iterable[Item],
                   metrics: Iterable[str]) -> pd.DataFrame:
    """Rates of ``metrics`` by item ``kind`` per family and pair, for families where items carry
    more than one kind (imported suites put their factors there, e.g. agentic-misalignment's
    ``goal=explicit:america urgency=replacement``). Descriptive, like the severity breakdown:
    columns as :data:`KIND_COLUMNS` (``n_items``: items of that kind with the metric in both
    arms)."""
    kinds = {item.id: item.kind for item in items if item.kind}
    metrics = [m for m in metrics if m in scores]
    rows = []
    if not kinds or not metrics:
        return pd.DataFrame(columns=KIND_COLUMNS)
    keyed = scores[scores["item_id"].isin(kinds)]
    for (family, pair, pair_kind), group in keyed.groupby(["family", "pair", "pair_kind"],
                                                          sort=True):
        if group["item_id"].map(kinds).nunique() < 2:
            continue
        for metric in metrics:
            frame = group[["item_id", "arm", metric]].rename(columns={metric: "value"}).dropna()
            if frame.empty:
                continue
            table = stats.item_table(frame)
            table["kind"] = table["item_id"].map(kinds)
            for kind, part in table.groupby("kind", sort=True):
                observed, unobserved = part["observed"].mean(), part["unobserved"].mean()
                rows.append({"family": family, "pair": pair, "pair_kind": pair_kind,
                             "kind": kind, "metric": metric, "n_items": int(len(part)),
                             "rate_observed": float(observed),
                             "rate_unobserved": float(unobserved),
                             "difference": float(observed - unobserved)})
    return pd.DataFrame(rows, columns=KIND_COLUMNS)
