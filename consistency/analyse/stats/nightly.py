"""Analyse stage: nightly re-runs of one fixed item set, tested about the item population.

A scheduled job re-runs the *same* items every night. Each night's per-item differences are then
not new evidence about the item population a run's verdict is about: an item whose own effect is
+0.25 shows it every night, so streaming every night's items into one martingale
(:func:`consistency.analyse.stats.monitor` with per-item arrays) alarms on an item set whose mean effect
is not 0 even when the population's is. :func:`population_monitor` combines at the item level
first and tests the items as the sample they are:

* on night ``t`` each item's differences are averaged over the nights of the window (the last
  ``window`` nights, or all of them), giving one number ``m_i`` per item: the repeats reduce the
  within-item noise, never the item-sampling error;
* the test of "mean effect 0 over the item population" is the sign-flip test of those item
  means (items exchangeable in sign under the null: Fisher 1935), computed *exactly* by
  convolution on a lattice (:func:`sign_flip_lattice_p`): each ``m_i`` is rounded, odd-
  symmetrically, to a multiple of ``1 / scale`` (so sign-flipping the rounded values is exactly
  as valid as flipping the ``m_i``), and the distribution of ``sum e_i k_i`` over all ``2^n``
  sign vectors is built one item at a time (Pagano & Tritchler 1983, JASA 78:435, for the
  permutation distribution by convolution). Valid at every level, however small (nights are
  tested at levels far below any Monte Carlo resolution), without resampling, and far tighter
  than the sub-Gaussian bound ``2 exp(-S^2 / (2 sum m_i^2))`` (Hoeffding 1963; Efron 1969) the
  monitor used before (:func:`sign_flip_bound_p`, kept as a check: it is never below the exact
  p of the same values);
* night ``t`` is tested at ``alpha * w_t`` with ``w_t = 1 / (t (t + 1))`` (``sum w_t = 1``), so
  by the union bound the chance of *ever* alarming under the null is at most ``alpha`` over any
  number of nights. The anytime p value is ``min_t p_t / w_t``.

The null is the per-run verdict's: the framing's effect has mean 0 over the item population
(items may differ), with each item's sign symmetric under it. What is lost: alpha is spent
over nights, the rounding to the lattice discards detail finer than ``1 / scale``, and a change on night
``k`` is seen through the window's average (``benchmarks/simulate_nightly.py`` measures the
power this costs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from consistency.analyse.stats.checks import check_level
from consistency.analyse.stats.monitor import MonitorResult

#: Nights averaged per item before each night's test (a week of a nightly job).
DEFAULT_WINDOW = 7


def night_weight(night: int) -> float:
    """Share ``1 / (t (t + 1))`` of alpha spent on night ``t`` (1-based); the shares sum to 1."""
    return 1.0 / (night * (night + 1.0))


def sign_flip_bound_p(item_means: np.ndarray) -> float:
    """Two-sided p value of "the item means are centred at 0" from the sub-Gaussian bound of the
    sign-flip distribution: ``min(1, 2 exp(-S^2 / (2 sum m_i^2)))`` with ``S = sum m_i``."""
    m = np.asarray(item_means, dtype=float)
    square = float(np.sum(m * m))
    if square == 0.0:
        return 1.0
    return min(1.0, 2.0 * math.exp(-float(np.sum(m)) ** 2 / (2.0 * square)))


#: Lattice span ``sum |k_i|`` of :func:`sign_flip_lattice_p` per item (at least 2048 in all;
#: the cost is ``n x span``): item means are resolved to about ``1 / 64`` of their mean size.
LATTICE_SPAN_PER_ITEM = 64


def _odd_round(values: np.ndarray) -> np.ndarray:
    """Round half away from zero: ``round(-x) == -round(x)``, so the rounding commutes with a sign
    flip and the sign-flip test of the rounded values is exact under the same null."""
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def _common_denominator(values: np.ndarray, largest: int) -> int | None:
    """The least ``q <= largest`` with every ``values * q`` an integer (item means of 0/1 scores
    over epochs and nights are such fractions), or None: on that lattice the p is exact for the
    values themselves, not only for their rounding."""
    if largest < 1:
        return None
    q = 1
    for value in np.unique(np.abs(values)):
        fraction = Fraction(float(value)).limit_denominator(largest)
        if abs(float(fraction) - value) > 1e-9:
            return None
        q = math.lcm(q, fraction.denominator)
        if q > largest:
            return None
    return q


def sign_flip_lattice_p(item_means: np.ndarray, scale: float | None = None,
                        span: int | None = None) -> float:
    """Exact two-sided sign-flip p value of "the item means are centred at 0", on a lattice.

    ``k_i`` is ``m_i * scale`` rounded half away from zero (``scale`` defaults to the common
    denominator of the ``m_i`` when they are fractions whose lattice fits the span (then the p
    is that of the ``m_i`` themselves), otherwise to the largest for which ``sum |k_i| <= span``, ``span`` defaulting to ``max(2048, 64 n)``, and is capped
    at 10^6); the p value is the share of the
    ``2^n`` sign vectors ``e`` with ``|sum e_i k_i| >= |sum k_i|``, computed by convolving the
    items' two-point distributions (no enumeration, no resampling). Under the null (each
    ``m_i``'s sign symmetric given ``|m_i|``) ``P(p <= a) <= a`` for every ``a``.
    """
    m = np.asarray(item_means, dtype=float)
    m = m[np.isfinite(m)]
    total = float(np.sum(np.abs(m)))
    if total == 0.0:
        return 1.0
    if span is None:
        span = max(2048, LATTICE_SPAN_PER_ITEM * m.size)
    if scale is None:
        scale = _common_denominator(m, int(span / total)) or min(1e6, span / total)
    k = _odd_round(m * scale).astype(np.int64)
    k = k[k != 0]          # a zero contributes the same to every sign vector
    if k.size == 0:
        return 1.0
    size = int(np.sum(np.abs(k)))
    observed = abs(int(np.sum(k)))
    if observed == 0:
        return 1.0
    dist = np.zeros(2 * size + 1)
    dist[size] = 1.0                      # index = sum + size
    for step in np.abs(k):
        shifted = np.zeros_like(dist)
        shifted[step:] += dist[:-step]
        shifted[:-step] += dist[step:]
        dist = 0.5 * shifted
    tail = float(dist[size + observed:].sum() + dist[:size - observed + 1].sum())
    return min(1.0, tail)


def population_monitor(nights: Sequence[pd.Series], alpha: float = 0.05,
                       window: int | None = DEFAULT_WINDOW) -> MonitorResult:
    """Anytime-valid monitoring of a fixed item set's nightly runs, about the item population.

    Args:
        nights: oldest first; each night's per-item differences (observed minus unobserved
            item means, in [-1, 1]) indexed by item id.
        alpha: bound on the probability of ever alarming when the population mean is 0.
        window: nights averaged per item before each night's test; None or 0 averages all.

    Returns:
        A :class:`MonitorResult` whose ``e_values`` are the reciprocal of each night's p over its
        weight (``w_t / p_t``: 1/alpha or more is an alarm) and ``pvalue`` the anytime p.
    """
    alpha = check_level("alpha", alpha)
    if window is not None and (isinstance(window, bool) or window < 0):
        raise ValueError(f"window must be a non-negative number of nights, got {window!r}")
    ratios, alarm = [], None
    present = [s.astype(float) for s in nights if len(s)]
    if present and all(s.index.equals(present[0].index) for s in present) \
            and present[0].index.is_unique:   # the usual case: the same items every night
        matrix = np.column_stack([s.to_numpy() for s in present])
    elif present:  # items x nights (NaN where a night lacks an item)
        matrix = pd.concat([s.groupby(level=0).mean() if not s.index.is_unique else s
                            for s in present], axis=1).to_numpy()
    slot = np.cumsum([len(s) > 0 for s in nights]) - 1   # column of each night, or -1
    for t in range(1, len(nights) + 1):
        last = slot[t - 1] + 1
        first = max(0, slot[max(0, t - window) - 1] + 1 if t > window else 0) if window else 0
        if last <= first:
            ratios.append(1.0)
            continue
        block = matrix[:, first:last]
        seen = ~np.isnan(block).all(axis=1)
        means = np.nanmean(block[seen], axis=1)
        ratio = night_weight(t) / max(sign_flip_lattice_p(means), 1e-300)
        ratios.append(ratio)
        if alarm is None and ratio >= 1.0 / alpha:
            alarm = t - 1
    ratios_arr = np.asarray(ratios, dtype=float)
    best = float(ratios_arr.max()) if ratios_arr.size else 1.0
    return MonitorResult(ratios_arr, alarm, alpha, min(1.0, 1.0 / max(best, 1e-300)))
