"""Multiplicity corrections across the test rows of a run.

A run tests many (model x family x pair x metric) rows; reporting raw p values would flag some
rows by chance alone. Both corrections here return *adjusted p values* (compare them with the
nominal level directly) in the input order, leave NaN entries (rows that could not be tested) as
NaN, and exclude them from the number of tests ``m``, so an untestable row neither spends nor
dilutes the error budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from consistency.design.settings import CORRECTIONS


def _as_pvalues(pvalues: Any) -> np.ndarray:
    """Validate ``pvalues`` as a 1-D float array with entries in [0, 1] or NaN."""
    try:
        p = np.asarray(pvalues, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"pvalues must be numbers in [0, 1] or NaN: {exc}") from None
    if p.ndim != 1:
        raise ValueError(f"pvalues must be one-dimensional, got shape {p.shape}")
    bad = ~np.isnan(p) & ~((p >= 0.0) & (p <= 1.0))
    if bad.any():
        positions = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"pvalues must lie in [0, 1] (NaN allowed); bad positions {positions}")
    return p


def benjamini_hochberg(pvalues: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p values (q values) controlling the false discovery rate.

    With the ``m`` non-missing p values sorted ascending, ``q_(i) = min_{j >= i} m p_(j) / j``
    capped at 1 (Benjamini & Hochberg 1995, JRSS B 57:289-300). Rejecting rows with
    ``q <= alpha`` controls the FDR at ``alpha`` under independence or positive regression
    dependence (Benjamini & Yekutieli 2001, Ann Stat 29:1165), which is plausible for rows that
    share a model. Matches ``statsmodels.stats.multitest.multipletests(method="fdr_bh")``.

    Args:
        pvalues: 1-D array-like of p values; NaN entries are passed through.

    Returns:
        Float array of the same length, in input order.
    """
    return _adjust(pvalues, _bh_sorted)


def _bh_sorted(x: np.ndarray) -> np.ndarray:
    m = x.size
    scaled = x * m / np.arange(1, m + 1)
    return np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)


def holm(pvalues: Any) -> np.ndarray:
    """Holm step-down adjusted p values controlling the family-wise error rate.

    With the ``m`` non-missing p values sorted ascending,
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` (Holm 1979, Scand J Stat 6:65-70).
    Valid under any dependence; use it when a single false flag is costly (e.g. a release gate).
    Matches ``statsmodels.stats.multitest.multipletests(method="holm")``.

    Args:
        pvalues: 1-D array-like of p values; NaN entries are passed through.

    Returns:
        Float array of the same length, in input order.
    """
    return _adjust(pvalues, _holm_sorted)


def _holm_sorted(x: np.ndarray) -> np.ndarray:
    m = x.size
    return np.maximum.accumulate(np.minimum(x * (m - np.arange(m)), 1.0))


def _adjust(pvalues: Any, adjust_sorted: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Shared frame of every step-wise correction: drop NaNs (they are not counted in m), sort
    ascending, adjust, and put the results back in input order with NaNs where they were."""
    p = _as_pvalues(pvalues)
    out = np.full(p.shape, np.nan)
    present = ~np.isnan(p)
    x = p[present]
    if x.size == 0:
        return out
    order = np.argsort(x, kind="mergesort")
    adjusted = np.empty(x.size)
    adjusted[order] = adjust_sorted(x[order])
    out[present] = adjusted
    return out




def adjust(pvalues: Any, method: str = "bh") -> np.ndarray:
    """Adjusted p values by ``method``: ``"bh"`` (:func:`benjamini_hochberg`) or ``"holm"``."""
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "holm":
        return holm(pvalues)
    raise ValueError(f"method must be one of {CORRECTIONS}, got {method!r}")


def adjust_within_families(pvalues: Any, families: Any, method: str = "bh") -> np.ndarray:
    """Adjust p values separately within each family label (e.g. each verdict family).

    Each verdict answers its own question (is there sandbagging anywhere? strategic compliance?
    any divergence?), so its error rate is controlled over the rows that can produce it, not
    diluted by rows that cannot (Benjamini & Bogomolov 2014, JRSS B 76:297-318, on selective
    inference over families). Rows whose family is None or NaN get NaN.

    Args:
        pvalues: 1-D p values (NaN allowed).
        families: labels of the same length.
        method: ``"bh"`` or ``"holm"``.
    """
    p = _as_pvalues(pvalues)
    labels = np.asarray(families, dtype=object)
    if labels.shape != p.shape:
        raise ValueError(f"families must have the same length as pvalues ({p.size}), "
                         f"got {labels.shape}")
    out = np.full(p.shape, np.nan)
    valid = np.array([isinstance(f, str) for f in labels], dtype=bool)
    for family in set(labels[valid]):
        rows = valid & (labels == family)
        out[rows] = adjust(p[rows], method)
    return out
