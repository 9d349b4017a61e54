"""Several responses per item and arm (epochs, variants): effect size, bootstrap, omnibus test.

With repeats, each item has an observed mean and an unobserved mean; the per-item difference
``d_i`` is the unit (see :mod:`consistency.analyse.stats.frames`). Beyond the mean test of
:func:`consistency.analyse.stats.paired_test` this module gives:

* :func:`cohens_dz` - standardised paired effect ``mean(d) / sd(d)`` (Lakens 2013, Front Psychol
  4:863, eq. 4), the quantity a power analysis needs;
* :func:`bootstrap_interval` - percentile interval from resampling *items* (not responses), so
  the interval reflects variation between items (Efron & Tibshirani 1993, ch. 13), expanded for
  small samples (Hesterberg 2015);
* :func:`omnibus_test` - within-item permutation test of the sharp null "the framing changes
  nothing on any item" (Fisher 1935; Rosenbaum 2002, *Observational Studies*, ch. 2). A framing
  that moves some items up and others down leaves ``mean(d)`` near zero, but not ``sum(d_i^2)``;
* :func:`divergence_magnitude` - bias-corrected root-mean-square item effect with an item
  bootstrap interval: ``E[d_i^2] = delta_i^2 + Var(d_i)``, and ``Var(d_i)`` has the unbiased
  estimate ``s_obs^2 / n_obs + s_unobs^2 / n_unobs`` from the within-arm sample variances.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from consistency.analyse.stats.frames import item_table, validated_columns
from consistency.analyse.stats.checks import check_level

_CHUNK = 1 << 21  # resample x response cells per chunk


def _as_differences(d: Any) -> np.ndarray:
    x = np.asarray(d, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"d must be a non-empty 1-D array of finite differences, got {x!r:.80}")
    return x


def _check_resamples(n_resamples: Any) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) \
            or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def cohens_dz(d: Any) -> float:
    """Cohen's d_z for paired data: mean difference over the SD of differences (ddof=1).

    Equals the paired t statistic divided by ``sqrt(n)``. NaN with fewer than two items or zero SD.
    """
    x = _as_differences(d)
    if x.size < 2:
        return math.nan
    sd = float(np.std(x, ddof=1))
    return math.nan if sd == 0.0 else float(x.mean()) / sd


def bootstrap_interval(d: Any, confidence: float = 0.95, n_resamples: int = 9999,
                       rng: np.random.Generator | int | None = None,
                       alternative: str = "two-sided", expand: bool = True) -> tuple[float, float]:
    """Item-level percentile bootstrap interval for ``mean(d)``, expanded for small samples.

    Items are resampled with replacement, so the interval is for the population of items the
    suite stands for. ``alternative`` ``"less"``/``"greater"`` gives a one-sided bound at
    ``confidence`` (the other end is -1 or 1, the range of a rate difference).

    The plain percentile interval is too narrow with few items: the bootstrap spread of a mean
    is ``s sqrt((n-1)/n) / sqrt(n)`` and its quantiles are normal ones where a t quantile is
    due (simulated coverage 0.90-0.91 at 12 items, nominal 0.95; BCa does no better for a mean,
    0.90-0.91, ``benchmarks/simulate_bootstrap.py``). With ``expand`` (the default) the tail
    probability is shrunk to ``Phi(-sqrt(n/(n-1)) t_{n-1, tail})`` before the quantiles are
    read (Hesterberg's expanded percentile interval, Am Stat 69:371, 2015), which brings
    coverage to 0.94-0.95 at 12 items; the adjustment vanishes as ``n`` grows.
    """
    x = _as_differences(d)
    level = check_level("confidence", confidence)
    n_resamples = _check_resamples(n_resamples)
    generator = np.random.default_rng(rng)
    means = _bootstrap_means(x, n_resamples, generator)
    sides = 2 if alternative == "two-sided" else 1
    tail = expanded_tail((1.0 - level) / sides, x.size) if expand else (1.0 - level) / sides
    if alternative == "less":
        return (-1.0, float(np.quantile(means, 1.0 - tail)))
    if alternative == "greater":
        return (float(np.quantile(means, tail)), 1.0)
    return (float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail)))


def expanded_tail(tail: float, n: int) -> float:
    """The tail probability of Hesterberg's expanded percentile interval for a mean of ``n``
    values: ``Phi(-sqrt(n / (n - 1)) t_{n-1}(1 - tail))``; ``tail`` itself when ``n < 2``."""
    from scipy.stats import norm, t

    if n < 2:
        return tail
    return float(norm.sf(math.sqrt(n / (n - 1)) * t.isf(tail, n - 1)))


def _bootstrap_means(x: np.ndarray, n_resamples: int, generator: np.random.Generator) -> np.ndarray:
    """Means of ``n_resamples`` resamples of ``x`` with replacement, in chunks (flat memory).

    When ``x`` has few distinct values (0/1 scores give a handful), a resample is drawn as a
    multinomial tally of those values, the same law as drawing indices; otherwise indices are
    drawn (as int32 when they fit: about 3x faster than int64).
    """
    values, counts = np.unique(x, return_counts=True)
    if values.size * 20 <= x.size:  # a binomial draw per value costs ~20 index draws
        tallies = generator.multinomial(x.size, counts / x.size, size=n_resamples)
        return tallies @ values / x.size
    means = np.empty(n_resamples)
    rows = max(1, _CHUNK // x.size)
    dtype = np.int32 if x.size < 2**31 else np.int64
    for start in range(0, n_resamples, rows):
        size = min(rows, n_resamples - start)
        means[start:start + size] = x[generator.integers(0, x.size, (size, x.size),
                                                         dtype=dtype)].mean(axis=1)
    return means


@dataclass(frozen=True)
class OmnibusResult:
    """Result of :func:`omnibus_test`.

    Attributes:
        statistic: ``sum_i d_i^2`` over items, the squared per-item mean differences.
        pvalue: Monte Carlo permutation p value ``(hits + 1) / (n_resamples + 1)``.
        n_items: items with at least two responses in each arm.
        n_resamples: permutations drawn.
        magnitude: bias-corrected RMS item effect (see :func:`divergence_magnitude`).
        ci_low, ci_high: its item-bootstrap interval at ``confidence``.
    """

    statistic: float
    pvalue: float
    n_items: int
    n_resamples: int
    magnitude: float
    ci_low: float
    ci_high: float

    def confidence_interval(self) -> tuple[float, float]:
        """The interval for the RMS item effect computed with the test."""
        return (self.ci_low, self.ci_high)


def _repeated_items(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes, is-observed and values of responses from items with >= 2 responses in each arm,
    sorted by item so each item is one contiguous block."""
    codes, _, unobserved, value = validated_columns(frame)
    n_codes = int(codes.max()) + 1 if codes.size else 0
    per_arm = np.bincount(2 * codes + unobserved, minlength=2 * n_codes).reshape(n_codes, 2)
    keep_item = (per_arm >= 2).all(axis=1)
    keep = keep_item[codes] if codes.size else np.zeros(0, bool)
    order = np.argsort(codes[keep], kind="mergesort")
    return codes[keep][order], ~unobserved[keep][order], value[keep][order]


def _item_sq_stat(values: np.ndarray, observed: np.ndarray, starts: np.ndarray,
                  n_obs: np.ndarray, n_unobs: np.ndarray) -> np.ndarray:
    """Sum over items of squared (observed mean - unobserved mean), for rows of ``values``."""
    obs_sum = np.add.reduceat(values * observed, starts, axis=-1)
    all_sum = np.add.reduceat(values, starts, axis=-1)
    d = obs_sum / n_obs - (all_sum - obs_sum) / n_unobs
    return (d * d).sum(axis=-1)


def _permutation_null(codes: np.ndarray, observed: np.ndarray, values: np.ndarray,
                      n_resamples: int, generator: np.random.Generator) -> np.ndarray:
    """Null statistics from relabelling arms within items (one argsort per resample).

    ``codes`` must be sorted so that each item is one contiguous block."""
    out = np.zeros(n_resamples)
    if codes.size == 0:
        return out
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    n_obs = np.add.reduceat(observed.astype(float), starts)
    n_unobs = np.diff(np.r_[starts, codes.size]) - n_obs
    rows = max(1, _CHUNK // codes.size)
    block = codes.astype(float)
    for start in range(0, n_resamples, rows):
        size = min(rows, n_resamples - start)
        order = np.argsort(block + generator.random((size, codes.size)), axis=1)
        out[start:start + size] = _item_sq_stat(values[order], observed, starts, n_obs, n_unobs)
    return out


def _hypergeometric_null(ones: np.ndarray, n_obs: np.ndarray, n_unobs: np.ndarray,
                         n_resamples: int, generator: np.random.Generator) -> np.ndarray:
    """Null statistics of 0/1 items without permuting responses.

    Relabelling the arms of an item with ``ones`` ones among ``n_obs + n_unobs`` responses puts
    a Hypergeometric(ones, zeros, n_obs) number of ones in the observed arm, and that count fixes
    the item's ``d_i``; so drawing it is the same permutation null in O(resamples x items).
    Items with all zeros or all ones have ``d_i = 0`` under every relabelling and are skipped.
    Items sharing (ones, zeros, n_obs) are independent draws from one law, so a group of them
    is drawn at once as a multinomial tally of outcomes (same distribution, far fewer draws).
    """
    out = np.zeros(n_resamples)
    varying = (ones > 0) & (ones < n_obs + n_unobs)
    if not varying.any():
        return out
    good = np.rint(ones[varying]).astype(np.int64)
    draw = np.rint(n_obs[varying]).astype(np.int64)
    bad = np.rint(n_unobs[varying]).astype(np.int64) + draw - good
    laws, which, sizes = np.unique(np.c_[good, bad, draw], axis=0, return_inverse=True,
                                   return_counts=True)
    tallied = sizes > np.minimum(laws[:, 0], laws[:, 2])  # more items than outcomes
    for (k, zeros, n), size in zip(laws[tallied].tolist(), sizes[tallied].tolist()):
        outcomes = np.arange(max(0, n - zeros), min(k, n) + 1)
        total = math.comb(k + zeros, n)
        pmf = np.array([math.comb(k, s) * math.comb(zeros, n - s) / total for s in outcomes])
        d = outcomes / n - (k - outcomes) / (k + zeros - n)
        out += generator.multinomial(size, pmf / pmf.sum(), size=n_resamples) @ (d * d)
    single = ~tallied[which.ravel()]
    good, bad, draw = good[single], bad[single], draw[single]
    rows = max(1, _CHUNK // max(1, good.size))
    for start in range(0, n_resamples if good.size else 0, rows):
        size = min(rows, n_resamples - start)
        obs_sum = generator.hypergeometric(good, bad, draw, size=(size, good.size))
        d = obs_sum / draw - (good - obs_sum) / (good + bad - draw)
        out[start:start + size] += (d * d).sum(axis=1)
    return out


def omnibus_test(frame: pd.DataFrame, n_resamples: int = 999, confidence: float = 0.95,
                 rng: np.random.Generator | int | None = None) -> OmnibusResult:
    """Within-item permutation test of the sharp null that the framing changes no item.

    Under the sharp null each item's responses are exchangeable between its two arms, so arm
    labels are permuted *within* items (never across: items differ in difficulty). Only items
    with at least two responses per arm enter (with one each, the statistic is fixed by the
    discordant count and the test degenerates). Two-sided by construction; sensitive to effects
    that cancel on average. NaN p value when no item qualifies. Items whose values are all 0 or
    1 (the usual metrics) draw their relabelled observed-arm count from its exact
    hypergeometric law instead of permuting responses: the same null, much faster.

    Args:
        frame: tidy responses (``item_id``, ``arm``, ``value``).
        n_resamples: Monte Carlo permutations.
        confidence: level of the magnitude interval.
        rng: seed or Generator.
    """
    n_resamples = _check_resamples(n_resamples)
    generator = np.random.default_rng(rng)
    codes, observed, values = _repeated_items(frame)
    if codes.size == 0:
        nan = math.nan
        return OmnibusResult(nan, nan, 0, n_resamples, nan, nan, nan)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    n_obs = np.add.reduceat(observed.astype(float), starts)
    n_unobs = np.diff(np.r_[starts, codes.size]) - n_obs
    observed_stat = float(_item_sq_stat(values, observed, starts, n_obs, n_unobs))
    tol = 1e-10 * max(1.0, observed_stat)
    graded = np.add.reduceat(((values != 0) & (values != 1)).astype(np.int64), starts) > 0
    null = np.zeros(n_resamples)
    if not graded.all():
        binary = ~graded
        ones = np.add.reduceat(values, starts)
        null += _hypergeometric_null(ones[binary], n_obs[binary], n_unobs[binary], n_resamples,
                                     generator)
    if graded.any():
        keep = np.repeat(graded, np.diff(np.r_[starts, codes.size]))
        null += _permutation_null(codes[keep], observed[keep], values[keep], n_resamples,
                                  generator)
    hits = int(np.count_nonzero(null >= observed_stat - tol))
    magnitude, low, high = divergence_magnitude(frame, confidence, rng=generator)
    return OmnibusResult(observed_stat, (hits + 1) / (n_resamples + 1), starts.size,
                         n_resamples, magnitude, low, high)


def divergence_magnitude(frame: pd.DataFrame, confidence: float = 0.95, n_resamples: int = 1999,
                         rng: np.random.Generator | int | None = None) -> tuple[float, float, float]:
    """Bias-corrected RMS of the true per-item framing effects, with an item bootstrap interval.

    ``theta^2 = mean_i(d_i^2 - s_obs,i^2 / n_obs,i - s_unobs,i^2 / n_unobs,i)`` is unbiased for
    the mean squared item effect ``mean_i(delta_i^2)`` (the naive ``mean(d_i^2)`` is inflated by
    sampling noise even when every ``delta_i`` is 0). Returns ``(sqrt(max(theta^2, 0)), low,
    high)`` with the percentile interval of ``theta^2`` from resampling items, mapped the same
    way. Items need two responses per arm; NaNs when none has.
    """
    level = check_level("confidence", confidence)
    table = item_table(frame)
    table = table[(table["n_observed"] >= 2) & (table["n_unobserved"] >= 2)]
    if table.empty:
        return (math.nan, math.nan, math.nan)
    d = (table["observed"] - table["unobserved"]).to_numpy()
    noise = (table["var_observed"] / table["n_observed"]
             + table["var_unobserved"] / table["n_unobserved"]).to_numpy()
    terms = d * d - noise
    generator = np.random.default_rng(rng)
    boot = _bootstrap_means(terms, _check_resamples(n_resamples), generator)
    tail = (1.0 - level) / 2.0
    root = lambda v: math.sqrt(max(float(v), 0.0))  # noqa: E731
    return (root(terms.mean()), root(np.quantile(boot, tail)), root(np.quantile(boot, 1 - tail)))
