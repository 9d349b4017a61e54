"""Tidy responses -> per-item tables: the aggregation every paired method starts from.

The item is the unit of analysis, so responses are reduced to one row per item before any test.
Kept apart from the tests themselves so that each method module stays small and so that the
aggregation (the step most likely to hide a bug, e.g. pooling epochs) is tested on its own.

Input frame (one row per scored response):

=========  =======  =============================================================
column     dtype    meaning
=========  =======  =============================================================
item_id    str      task item identifier
arm        str      ``"observed"`` or ``"unobserved"``
value      float    per-response outcome in [0, 1]; NaN means missing and is dropped
variant    int      optional: paraphrase index (used by the template-level analysis)
=========  =======  =============================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ARMS = ("observed", "unobserved")
REQUIRED_COLUMNS = ("item_id", "arm", "value")


def validated_columns(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Check the frame schema; return codes, item ids, is_unobserved, value of non-missing rows."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [col for col in REQUIRED_COLUMNS if col not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing columns {missing}; required: {list(REQUIRED_COLUMNS)}")
    if not (pd.api.types.is_numeric_dtype(frame["value"]) or frame["value"].empty):
        raise ValueError(f"frame['value'] must be numeric in [0, 1], got {frame['value'].dtype}")
    bad_arms = [a for a in pd.unique(frame["arm"]) if a not in ARMS]
    if bad_arms:
        raise ValueError(f"frame['arm'] must be one of {ARMS}; found {bad_arms[:5]}")
    if frame["item_id"].isna().any():
        raise ValueError("frame['item_id'] has missing values; every row needs an item_id")
    value = frame["value"].to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(value)
    outside = present & ~((value >= 0.0) & (value <= 1.0))
    if outside.any():
        raise ValueError(f"frame['value'] must lie in [0, 1] (NaN = missing); found "
                         f"{value[outside][:5].tolist()}")
    codes, uniques = frame["item_id"].factorize()  # Series methods stay on Arrow strings: fast
    unobserved = (frame["arm"] == "unobserved").to_numpy(dtype=bool)
    return codes[present], np.asarray(uniques), unobserved[present], value[present]


def item_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-item arm means for items that have a non-missing value in both arms.

    Returns one row per kept item with columns ``item_id``, ``observed``, ``unobserved``
    (arm means), ``n_observed``, ``n_unobserved`` (response counts), ``var_observed``,
    ``var_unobserved`` (within-arm sample variances, ddof=1, NaN with one response) and
    ``binary`` (all of the item's values are 0 or 1). Vectorised with ``bincount`` over factorised item codes, so a
    million rows take a fraction of a second.
    """
    codes, uniques, unobserved, value = validated_columns(frame)
    n_all = len(uniques)
    cell = 2 * codes + unobserved
    sums = np.bincount(cell, weights=value, minlength=2 * n_all).reshape(n_all, 2)
    counts = np.bincount(cell, minlength=2 * n_all).reshape(n_all, 2)
    squares = np.bincount(cell, weights=value * value, minlength=2 * n_all).reshape(n_all, 2)
    nonbinary = np.bincount(codes, weights=(value != 0) & (value != 1), minlength=n_all)
    keep = (counts > 0).all(axis=1)
    means = sums[keep] / counts[keep]
    n_kept = counts[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        # unbiased within-arm variance (ddof=1); NaN where an arm has a single response
        var = (squares[keep] - n_kept * means**2) / (n_kept - 1)
    var = np.where(n_kept > 1, np.maximum(var, 0.0), np.nan)
    return pd.DataFrame({
        "item_id": uniques[keep],
        "observed": means[:, 0],
        "unobserved": means[:, 1],
        "n_observed": n_kept[:, 0],
        "n_unobserved": n_kept[:, 1],
        "var_observed": var[:, 0],
        "var_unobserved": var[:, 1],
        "binary": nonbinary[keep] == 0,
    })


def variant_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-(arm, variant) means over items, for the template-level (wording-as-random) analysis.

    Each variant's responses are first averaged within item (so epochs do not weight an item
    more), then over the items that met that variant. Returns columns ``arm``, ``variant``,
    ``mean`` and ``n_items``; empty when the frame has no ``variant`` column.
    """
    validated_columns(frame)
    if "variant" not in frame.columns:
        return pd.DataFrame(columns=["arm", "variant", "mean", "n_items"])
    present = frame.dropna(subset=["value"])
    per_item = present.groupby(["arm", "variant", "item_id"], sort=True)["value"].mean()
    grouped = per_item.groupby(level=["arm", "variant"])
    return pd.DataFrame({"mean": grouped.mean(), "n_items": grouped.size()}).reset_index()
