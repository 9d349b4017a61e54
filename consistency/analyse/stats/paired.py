"""Paired tests for one comparison (model x family x pair x metric) between two arms.

The *item* is the unit of analysis: each task item is posed under both arms, so the two arms of
one item are a matched pair and the per-item difference removes item difficulty from the
comparison (the design is a crossover of framings within items). Repeated responses to the same
(item, arm) cell (variants, epochs) are averaged first, so items count once however many times
they were sampled.

Input frame of :func:`paired_test` (one row per scored response):

=========  =======  =============================================================
column     dtype    meaning
=========  =======  =============================================================
item_id    str      task item identifier
arm        str      ``"observed"`` or ``"unobserved"``
value      float    per-response outcome in [0, 1]; NaN means missing and is dropped
=========  =======  =============================================================

Two paths, chosen by :func:`paired_test`:

* one binary value per arm per item -> McNemar mid-p test on the discordant counts with Tango's
  score interval for the difference of proportions (Fagerland, Lydersen & Laake 2013, 2014);
* anything else (repeats, graded scores) -> sign-flip permutation test on per-item mean
  differences (:mod:`consistency.analyse.stats.signflip`, mid-p optional) with a paired t interval;
  when some item has unequal response counts in its two arms, the within-item relabelling test
  of the same statistic instead (:mod:`consistency.analyse.stats.relabel`).

Every interval has the sidedness of its test (one-sided bounds for one-sided tests), so a
verdict is never printed beside an interval that contradicts it. The aggregation to items lives
in :mod:`consistency.analyse.stats.frames`, argument checks in :mod:`consistency.analyse.stats.checks`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from consistency.design.settings import INTERVALS
from consistency.analyse.stats.binary import BinaryTestResult, mcnemar_midp, newcombe_ci
from consistency.analyse.stats.checks import check_alternative, check_count, check_level
from consistency.analyse.stats.distributions import norm_isf, t_ppf
from consistency.analyse.stats.frames import item_table
from consistency.analyse.stats.signflip import TestResult, sign_flip_test
from consistency.analyse.stats.variance import floored_sd

METHOD_MCNEMAR = "mcnemar_midp"
METHOD_SIGN_FLIP = "sign_flip"
METHOD_RELABEL = "relabel"
#: Methods of the repeated-responses path: item mean differences with a paired t interval.
REPEATED_METHODS = (METHOD_SIGN_FLIP, METHOD_RELABEL)
METHOD_NONE = "none"
_BOUNDARY = 1e-12  # keeps Tango's root search off the degenerate points delta0 = +-1


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class PairedResult:
    """One paired comparison of the observed arm against the unobserved arm.

    Attributes:
        method: ``"mcnemar_midp"``, ``"sign_flip"``, ``"relabel"`` (some item has unequal
            response counts in its arms: :mod:`consistency.analyse.stats.relabel`) or ``"none"`` (no
            item had both arms).
        n_items: items with at least one non-missing value in both arms.
        rate_observed, rate_unobserved: means over items of per-item arm means.
        difference: ``rate_observed - rate_unobserved`` (= mean per-item difference).
        statistic, pvalue, alternative: from the underlying test (see BinaryTestResult /
            TestResult for what ``statistic`` means on each path).
        sd_difference: SD of per-item differences (ddof=1); NaN if fewer than two items.
        confidence, ci_low, ci_high: interval for the difference at ``confidence``, one-sided
            (the far end is -1 or 1) when ``alternative`` is, so that it agrees with the test.
            On the sign-flip path the t interval uses the floored SD
            (:func:`consistency.analyse.stats.variance.floored_sd`), so it never has zero width.
        b, c: discordant counts on the McNemar path, else None; ``n11`` items with 1 in both arms.
        interval: ``"tango"`` or ``"newcombe"``: the McNemar-path interval method.
    """

    method: str
    n_items: int
    rate_observed: float
    rate_unobserved: float
    difference: float
    statistic: float
    pvalue: float
    alternative: str
    sd_difference: float
    confidence: float
    ci_low: float
    ci_high: float
    b: int | None = None
    c: int | None = None
    n11: int | None = None
    interval: str = "tango"

    def confidence_interval(self, confidence_level: float = 0.95,
                            alternative: str | None = None) -> tuple[float, float]:
        """Interval for the difference whose sidedness matches the test.

        Two-sided: Tango's (or Newcombe's, if ``interval == "newcombe"``) interval on the McNemar
        path, paired t otherwise. ``"less"`` gives ``(-1, upper)`` and ``"greater"`` gives
        ``(lower, 1)`` where the bound is the one-sided ``confidence_level`` bound (the matching
        end of the two-sided ``2 * confidence_level - 1`` interval), so a one-sided test at
        ``alpha`` and the published bound at ``1 - alpha`` tell the same story. ``alternative``
        defaults to the test's own.
        """
        level = check_level("confidence_level", confidence_level)
        side = check_alternative(alternative or self.alternative)
        two_level = level if side == "two-sided" else 2.0 * level - 1.0
        if two_level <= 0.0:
            raise ValueError(f"a one-sided confidence_level must exceed 0.5, got {level}")
        low, high = self._two_sided(two_level)
        if side == "less":
            return (-1.0, high)
        if side == "greater":
            return (low, 1.0)
        return (low, high)

    def _two_sided(self, level: float) -> tuple[float, float]:
        if self.method == METHOD_MCNEMAR and self.b is not None and self.c is not None:
            if self.interval == "newcombe" and self.n11 is not None:
                n22 = self.n_items - self.n11 - self.b - self.c
                return newcombe_ci(self.n11, self.b, self.c, n22, level)
            return tango_ci(self.b, self.c, self.n_items, level)
        if self.method in REPEATED_METHODS:  # floored: never a zero-width interval
            sd = floored_sd(self.sd_difference, self.difference, self.n_items)
            return t_interval(self.difference, sd, self.n_items, level)
        return (math.nan, math.nan)


# ----------------------------------------------------------------------------- Tango interval
def tango_score(b: int, c: int, n: int, delta0: float) -> float:
    """Tango's (1998, Stat Med 17:891-908) score statistic for H0: delta = delta0.

    ``delta = p12 - p21`` is the paired difference of proportions (observed minus unobserved).
    The variance is evaluated at the constrained MLE of p21 under delta0, the larger root of
    ``2n q^2 + (-b - c + (2n - b + c) delta0) q - c delta0 (1 - delta0) = 0``;
    the root is taken in the cancellation-free form. At delta0 = 0 the statistic reduces to the
    asymptotic McNemar z = (b - c) / sqrt(b + c). The statistic decreases in delta0.
    """
    quad_a = 2.0 * n
    quad_b = -b - c + (2.0 * n - b + c) * delta0
    quad_c = -c * delta0 * (1.0 - delta0)
    root = math.sqrt(max(quad_b * quad_b - 4.0 * quad_a * quad_c, 0.0))
    if quad_b <= 0:
        q21 = (root - quad_b) / (2.0 * quad_a)
    else:
        q21 = -2.0 * quad_c / (quad_b + root)
    q21 = max(q21, 0.0, -delta0)
    numerator = b - c - n * delta0
    variance = n * (2.0 * q21 + delta0 * (1.0 - delta0))
    if numerator == 0:
        return 0.0
    if variance <= 0:
        return math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def tango_ci(b: int, c: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Tango's (1998) asymptotic score interval for the paired difference ``(b - c) / n``.

    Inverts :func:`tango_score`: the limits are the delta0 where the score equals -+z, found by
    Brent's method on each side of the estimate. Unlike the Wald interval it stays inside
    [-1, 1] and is not degenerate when b = c = 0; Fagerland, Lydersen & Laake (2014, Stat Med
    33:2850-2875) recommend it for paired proportions.

    Args:
        b, c: discordant counts (observed-only, unobserved-only).
        n: number of pairs (items), at least ``b + c``.
        confidence: two-sided confidence level in (0, 1).
    """
    b, c = check_count("b", b), check_count("c", c)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
        raise ValueError(f"n must be a positive integer (number of pairs), got {n!r}")
    if b + c > n:
        raise ValueError(f"b + c must not exceed n; got b={b}, c={c}, n={n}")
    z = float(norm_isf((1.0 - check_level("confidence", confidence)) / 2.0))
    estimate = (b - c) / n
    lower, upper = -1.0, 1.0
    if c < n:
        edge = -1.0 + _BOUNDARY
        if tango_score(b, c, n, edge) > z:
            lower = optimize.brentq(lambda d: tango_score(b, c, n, d) - z, edge, estimate,
                                    xtol=1e-13)
    if b < n:
        edge = 1.0 - _BOUNDARY
        if tango_score(b, c, n, edge) < -z:
            upper = optimize.brentq(lambda d: tango_score(b, c, n, d) + z, estimate, edge,
                                    xtol=1e-13)
    return (float(lower), float(upper))


# ----------------------------------------------------------------------------- t interval
def t_interval(mean: float, sd: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Paired (one-sample) Student t interval ``mean -+ t_{n-1} sd / sqrt(n)``.

    Returns (NaN, NaN) when fewer than two items make the SD undefined.
    """
    level = check_level("confidence", confidence)
    if n < 2 or not (math.isfinite(mean) and math.isfinite(sd)):
        return (math.nan, math.nan)
    half = float(t_ppf(0.5 + level / 2.0, n - 1)) * sd / math.sqrt(n)
    return (mean - half, mean + half)


# ----------------------------------------------------------------------------- dispatcher
def _empty_result(alternative: str, confidence: float) -> PairedResult:
    nan = math.nan
    return PairedResult(METHOD_NONE, 0, nan, nan, nan, nan, nan, alternative, nan, confidence,
                        nan, nan)


def _choose_test(
    frame: pd.DataFrame, table: pd.DataFrame, diff: np.ndarray, alternative: str,
    n_resamples: int, rng: np.random.Generator | int | None, midp: bool = False,
) -> tuple[str, BinaryTestResult | TestResult]:
    """McNemar mid-p if every item has one binary value per arm; the within-item relabelling
    test if some item has unequal response counts in its two arms (a sign flip is then not a
    null move); else the sign-flip test."""
    n_obs, n_unobs = table["n_observed"].to_numpy(), table["n_unobserved"].to_numpy()
    single = (n_obs == 1) & (n_unobs == 1)
    if bool(single.all() and table["binary"].all()):
        b, c = int(np.count_nonzero(diff == 1)), int(np.count_nonzero(diff == -1))
        return METHOD_MCNEMAR, mcnemar_midp(b, c, alternative)
    if bool((n_obs != n_unobs).any()):
        from consistency.analyse.stats.relabel import relabel_test  # relabel imports signflip only

        return METHOD_RELABEL, relabel_test(frame, alternative, n_resamples, rng, midp)
    return METHOD_SIGN_FLIP, sign_flip_test(diff, alternative, n_resamples=n_resamples, rng=rng,
                                            midp=midp)


def paired_test(
    frame: pd.DataFrame,
    *,
    alternative: str = "two-sided",
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
    n_resamples: int = 9999,
    interval: str = "tango",
    midp: bool = False,
) -> PairedResult:
    """Test whether the observed arm differs from the unobserved arm, item by item.

    Items lacking a non-missing value in either arm are dropped. If every kept item has exactly
    one binary value per arm, the McNemar mid-p test with Tango's interval is used (it is the
    recommended pair for paired binary data, Fagerland et al. 2014); otherwise a sign-flip
    permutation test on per-item mean differences with a paired t interval. With no kept items
    the result has ``n_items == 0`` and NaN numbers rather than raising, so a table of many
    comparisons can still be built.

    Args:
        frame: tidy responses with columns ``item_id``, ``arm``, ``value`` (see module doc).
        alternative: ``"greater"`` means the observed arm's rate is higher.
        confidence: level of ``ci_low``/``ci_high`` (one-sided when ``alternative`` is).
        rng: seed or Generator for the Monte Carlo sign flips.
        n_resamples: Monte Carlo draws for the sign-flip path.
        interval: ``"tango"`` (default) or ``"newcombe"`` (method 10) on the McNemar path.
        midp: mid-p sign-flip test on the repeated-responses path (see :func:`sign_flip_test`).
    """
    check_alternative(alternative)
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
    confidence = check_level("confidence", confidence)
    table = item_table(frame)
    n = len(table)
    if n == 0:
        return _empty_result(alternative, confidence)
    observed = table["observed"].to_numpy()
    unobserved = table["unobserved"].to_numpy()
    diff = observed - unobserved
    sd = float(np.std(diff, ddof=1)) if n > 1 else math.nan
    method, test = _choose_test(frame, table, diff, alternative, n_resamples, rng, midp)
    b = test.b if isinstance(test, BinaryTestResult) else None
    c = test.c if isinstance(test, BinaryTestResult) else None
    n11 = int(np.count_nonzero((observed == 1) & (unobserved == 1))) if b is not None else None
    rate_obs, rate_unobs = float(observed.mean()), float(unobserved.mean())
    result = PairedResult(
        method, n, rate_obs, rate_unobs, rate_obs - rate_unobs, float(test.statistic),
        float(test.pvalue), alternative, sd, confidence, math.nan, math.nan, b, c, n11, interval,
    )
    low, high = result.confidence_interval(confidence)
    return dataclasses.replace(result, ci_low=low, ci_high=high)
