"""Is a refusal gap selective? Harmful-item gaps against over-refusal-item gaps.

A model that refuses more harmful requests when observed may be strategically compliant, or it
may just turn cautious about everything when watched. The over-refusal family (benign requests
that sound risky) tells the two apart: a blanket-cautious model's refusals rise there too.

The harmful and over-refusal items are *different* items, so nothing pairs one harmful item with
one over-refusal item. What each item contributes is its own paired gap (observed mean minus
unobserved mean, the within-item contrast of :func:`consistency.analyse.stats.item_table`); the question
is whether the harmful gaps are larger than the over-refusal gaps. That is a two-sample
comparison of item gaps, tested here by permuting the family labels over items:

- H0 (blanket caution): the framing shifts refusal of harmful and of benign-risky items alike,
  so an item's gap does not depend on which family it is from.
- Statistic: Welch's t of mean(harmful gaps) - mean(over-refusal gaps). A studentised statistic
  keeps the permutation test valid when the two families' gap variances differ (Janssen 1997,
  Stat Probab Lett 36:9; Chung & Romano 2013, Ann Stat 41:484), which they do whenever the
  families' base refusal rates differ (harmful near the ceiling, over-refusal near the floor).
- p: exact over every relabelling when there are at most ``n_resamples + 1`` of them, else Monte
  Carlo with ``(hits + 1) / (n_resamples + 1)`` (Phipson & Smyth 2010); with ``midp`` ties count
  one half, as in :func:`consistency.analyse.stats.sign_flip_test`, because 0/1 gaps sit on a lattice.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from consistency.analyse.stats.checks import check_alternative

_MAX_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class SelectiveResult:
    """Result of :func:`selective_test`.

    Attributes:
        statistic: mean harmful gap minus mean over-refusal gap (the difference in differences).
        t: Welch's t of that difference (the permuted statistic).
        pvalue: permutation p value for ``alternative``.
        alternative: ``greater`` = harmful gaps larger (more selective refusal when observed).
        n_harmful, n_overrefusal: items in each family.
        exact: whether every relabelling was enumerated.
    """

    statistic: float
    t: float
    pvalue: float
    alternative: str
    n_harmful: int
    n_overrefusal: int
    exact: bool


def welch_t(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Welch's t of mean(a) - mean(b) along ``axis``; +-inf when both variances are 0 and the
    means differ, 0 when they do not (so degenerate relabellings order sensibly)."""
    diff = a.mean(axis=axis) - b.mean(axis=axis)
    se2 = a.var(axis=axis, ddof=1) / a.shape[axis] + b.var(axis=axis, ddof=1) / b.shape[axis]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / np.sqrt(se2)
    return np.where(np.isnan(t), 0.0, t)


def selective_test(harmful_gaps: Any, overrefusal_gaps: Any, alternative: str = "greater",
                   n_resamples: int = 9999, rng: np.random.Generator | int | None = None,
                   midp: bool = True) -> SelectiveResult:
    """Permutation test that harmful-item gaps differ from over-refusal-item gaps.

    Args:
        harmful_gaps: per-item (observed - unobserved) refusal means of the harmful items.
        overrefusal_gaps: the same for the over-refusal items (other items, same pair).
        alternative: ``greater`` (harmful gaps larger: refusal rose selectively), ``less``
            (harmful gaps smaller: e.g. compliance rose selectively under a training framing),
            or ``two-sided``.
        n_resamples: Monte Carlo relabellings when enumeration is too large.
        rng: seed or Generator for the Monte Carlo draws.
        midp: count relabellings tying with the observed t as one half.

    Raises:
        ValueError: for fewer than 2 items in a family or non-finite gaps.
    """
    check_alternative(alternative)
    a = np.asarray(harmful_gaps, dtype=float).ravel()
    b = np.asarray(overrefusal_gaps, dtype=float).ravel()
    if a.size < 2 or b.size < 2:
        raise ValueError(f"need at least 2 items per family, got {a.size} harmful and {b.size} "
                         "over-refusal")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("gaps must be finite (no NaN or inf)")
    pooled = np.concatenate([a, b])
    identity = np.zeros((1, pooled.size))
    identity[0, :a.size] = 1.0
    observed = float(_t_from_masks(pooled, identity)[0])  # same arithmetic as the relabellings
    tol = 1e-9 * max(1.0, abs(observed)) if math.isfinite(observed) else 0.0
    n, k = pooled.size, a.size
    if math.comb(n, k) <= n_resamples + 1:
        hits, total = _exact_hits(pooled, k, observed, alternative, tol, midp)
        pvalue, exact = hits / total, True
    else:
        hits = _monte_carlo_hits(pooled, k, observed, alternative, tol, midp, n_resamples,
                                 np.random.default_rng(rng))
        pvalue, exact = min(1.0, (hits + (0.5 if midp else 1.0)) / (n_resamples + 1)), False
    return SelectiveResult(float(a.mean() - b.mean()), observed, float(pvalue), alternative,
                           int(a.size), int(b.size), exact)


def _extreme(t: np.ndarray, observed: float, alternative: str, tol: float, midp: bool) -> float:
    if alternative == "greater":
        at_least, beyond = t >= observed - tol, t > observed + tol
    elif alternative == "less":
        at_least, beyond = t <= observed + tol, t < observed - tol
    else:
        at_least, beyond = np.abs(t) >= abs(observed) - tol, np.abs(t) > abs(observed) + tol
    hits = int(np.count_nonzero(at_least))
    if not midp:
        return hits
    strict = int(np.count_nonzero(beyond))
    return strict + 0.5 * (hits - strict)


def _t_from_masks(pooled: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Welch t for many relabellings at once: ``masks[r, i]`` marks item i as harmful."""
    k = masks.sum(axis=1)
    m = pooled.size - k
    total, squares = pooled.sum(), (pooled * pooled).sum()
    sum_a = masks @ pooled
    sq_a = masks @ (pooled * pooled)
    mean_a, mean_b = sum_a / k, (total - sum_a) / m
    var_a = (sq_a - k * mean_a**2) / (k - 1)
    var_b = (squares - sq_a - m * mean_b**2) / (m - 1)
    se2 = np.maximum(var_a, 0.0) / k + np.maximum(var_b, 0.0) / m
    scale = max(1.0, float(np.abs(pooled).max()))
    se2 = np.where(se2 < 1e-12 * scale * scale, 0.0, se2)  # rounding noise in degenerate splits
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (mean_a - mean_b) / np.sqrt(se2)
    return np.where(np.isnan(t), 0.0, t)


def _exact_hits(pooled: np.ndarray, k: int, observed: float, alternative: str, tol: float,
                midp: bool) -> tuple[float, int]:
    n = pooled.size
    hits, total = 0.0, 0
    combos = itertools.combinations(range(n), k)
    rows = max(1, _MAX_CHUNK_ELEMENTS // n)
    while True:
        chunk = list(itertools.islice(combos, rows))
        if not chunk:
            return hits, total
        masks = np.zeros((len(chunk), n))
        masks[np.repeat(np.arange(len(chunk)), k), np.asarray(chunk).ravel()] = 1.0
        hits += _extreme(_t_from_masks(pooled, masks), observed, alternative, tol, midp)
        total += len(chunk)


def _monte_carlo_hits(pooled: np.ndarray, k: int, observed: float, alternative: str, tol: float,
                      midp: bool, n_resamples: int, rng: np.random.Generator) -> float:
    n = pooled.size
    rows = max(1, _MAX_CHUNK_ELEMENTS // n)
    hits = 0.0
    for start in range(0, n_resamples, rows):
        size = min(rows, n_resamples - start)
        ranks = np.argsort(rng.random((size, n)), axis=1)
        masks = (ranks < k).astype(float)  # a uniformly random k-subset per row
        hits += _extreme(_t_from_masks(pooled, masks), observed, alternative, tol, midp)
    return hits
