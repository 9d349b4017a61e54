"""Equivalence: showing that the two arms do *not* differ by more than a stated margin.

A non-significant paired test is not evidence of consistency: it may only mean too few items.
The ``consistent`` verdict therefore needs a positive demonstration, the two one-sided tests
(TOST) procedure of Schuirmann (1987, J Pharmacokinet Biopharm 15:657-680): the difference is
declared inside ``(-margin, +margin)`` when both ``H0: delta <= -margin`` and
``H0: delta >= +margin`` are rejected at level ``alpha``, which is the same as the
``1 - 2 alpha`` two-sided interval lying strictly inside the margins (Westlake 1981; Berger &
Hsu 1996, Stat Sci 11:283-319). When it does not, :func:`items_needed_for_equivalence` says how
many items a study would need, so an ``inconclusive`` verdict comes with a number.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from consistency.analyse.stats.checks import check_level
from consistency.analyse.stats.distributions import norm_cdf, norm_isf, norm_sf, t_cdf, t_sf
from consistency.analyse.stats.paired import (
    METHOD_MCNEMAR,
    REPEATED_METHODS,
    PairedResult,
    t_interval,
    tango_ci,
    tango_score,
)
from consistency.analyse.stats.variance import planning_sd, smoothed_counts


@dataclass(frozen=True)
class EquivalenceResult:
    """Result of :func:`equivalence`.

    Attributes:
        equivalent: the ``1 - 2 alpha`` interval lies strictly inside ``(-margin, margin)``.
        margin: the equivalence margin on the difference scale (rate units, e.g. 0.05).
        alpha: level of each one-sided test.
        ci_low, ci_high: the ``1 - 2 alpha`` interval from the paired result's own method.
        pvalue: TOST p value, the larger of the two one-sided p values; ``pvalue < alpha``
            exactly when ``equivalent``.
        method: the paired method the interval came from.
    """

    equivalent: bool
    margin: float
    alpha: float
    ci_low: float
    ci_high: float
    pvalue: float
    method: str


def _check_margin(margin: float) -> float:
    ok = isinstance(margin, numbers.Real) and not isinstance(margin, bool)
    if not ok or not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive finite number, got {margin!r}")
    return float(margin)


def _check_alpha(alpha: float) -> float:
    ok = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
    if not ok or not 0.0 < float(alpha) < 0.5:
        raise ValueError(f"alpha must be a number strictly between 0 and 0.5, got {alpha!r}")
    return float(alpha)


def _tost_pvalue_t(difference: float, sd: float, n: int, margin: float) -> float:
    """Max of the two one-sided paired t p values (Schuirmann 1987), on the floored SD.

    The SD is :func:`consistency.analyse.stats.variance.planning_sd`, which keeps an SD of 0
    (identical items) from giving p = 0: equivalence is never claimed from a degenerate
    variance, nor from the shrunken SD of a sample near 0 % or 100 %."""
    if n < 2 or not (math.isfinite(difference) and math.isfinite(sd)):
        return math.nan
    se = planning_sd(sd, difference, n) / math.sqrt(n)
    p_lower = float(t_sf((difference + margin) / se, n - 1))  # H0: delta <= -margin
    p_upper = float(t_cdf((difference - margin) / se, n - 1))  # H0: delta >= +margin
    return max(p_lower, p_upper)


def _tost_pvalue_tango(b: int, c: int, n: int, margin: float) -> float:
    """Tango's (1998) score-based TOST p value: two one-sided score tests at -+margin.

    Because the score statistic decreases in delta0 and the interval is its inversion, this is
    exactly the smallest alpha at which the ``1 - 2 alpha`` Tango interval fits inside the
    margins, found in closed form instead of by bisection on the confidence level.
    """
    p_lower = 0.0 if margin > 1 else float(norm_sf(tango_score(b, c, n, -margin)))
    p_upper = 0.0 if margin > 1 else float(norm_cdf(tango_score(b, c, n, margin)))
    return max(p_lower, p_upper)


def equivalence(result: PairedResult, margin: float, alpha: float = 0.05) -> EquivalenceResult:
    """TOST equivalence of the two arms of a :class:`PairedResult` within ``+-margin``.

    Interval at level ``1 - 2 alpha``: Tango's score interval on the McNemar path (Tango 1998
    designed it for exactly this equivalence test), computed with two discordant pseudo-pairs
    added (:func:`consistency.analyse.stats.variance.smoothed_counts`, whatever ``interval`` the result
    used), and the paired t interval on :func:`~consistency.analyse.stats.variance.planning_sd` on the
    sign-flip path. Both keep an
    all-concordant or zero-variance sample from showing equivalence it cannot support, and
    both rest on the spread the planner's ``items_needed`` uses. A result with no items is
    never equivalent and has NaN p value.

    Args:
        result: output of :func:`consistency.analyse.stats.paired_test`.
        margin: largest difference (in rate units) that still counts as consistent.
        alpha: level of each one-sided test, in (0, 0.5); 0.05 gives a 90% interval.
    """
    margin, alpha = _check_margin(margin), _check_alpha(alpha)
    if not isinstance(result, PairedResult):
        raise ValueError(f"result must be a PairedResult, got {type(result).__name__}")
    low, high = result.confidence_interval(1.0 - 2.0 * alpha, alternative="two-sided")
    if result.method == METHOD_MCNEMAR and result.b is not None and result.c is not None:
        b, c, n = smoothed_counts(result.b, result.c, result.n_items)
        low, high = tango_ci(b, c, n, 1.0 - 2.0 * alpha)
        pvalue = _tost_pvalue_tango(b, c, n, margin)
    elif result.method in REPEATED_METHODS:
        pvalue = _tost_pvalue_t(result.difference, result.sd_difference, result.n_items, margin)
        sd = planning_sd(result.sd_difference, result.difference, result.n_items)
        low, high = t_interval(result.difference, sd, result.n_items, 1.0 - 2.0 * alpha)
    else:
        pvalue = math.nan
    equivalent = bool(-margin < low and high < margin)  # False when NaN
    return EquivalenceResult(equivalent, margin, alpha, low, high, pvalue, result.method)


#: Differences within this of the margin count as on it (float rounding of rate differences).
_AT_MARGIN = 1e-9


def items_needed_for_equivalence(
    sd_difference: float,
    difference: float,
    margin: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int | None:
    """Items a paired TOST would need to show equivalence with the given power.

    Normal approximation for a one-sample (paired-difference) equivalence test, Chow, Shao &
    Wang (2008, *Sample Size Calculations in Clinical Research*, 2nd ed., section 3.1):

        n = (z_{1-alpha} + z_{1-beta/2})^2 * sd^2 / (margin - |difference|)^2,  beta = 1 - power

    taking the true difference to be the observed one. It is exact in the limit for a true
    difference of 0 and conservative otherwise (only the nearer margin then matters, which
    needs z_{1-beta}; Julious 2004, Stat Med 23:1921-1986). At least 2 items are returned, the
    fewest that give a t interval.

    Args:
        sd_difference: SD of per-item differences (ddof=1), e.g. ``PairedResult.sd_difference``.
        difference: assumed true difference, e.g. ``PairedResult.difference``.
        margin: equivalence margin, positive.
        alpha: level of each one-sided test, in (0, 0.5).
        power: target probability of showing equivalence, in (0, 1).

    Returns:
        The item count, or None if ``|difference| >= margin`` (no sample size suffices; a
        difference within 1e-9 of the margin counts as on it) or if
        the SD or difference is NaN (nothing to plan from).
    """
    margin, alpha = _check_margin(margin), _check_alpha(alpha)
    power = check_level("power", power)
    for name, value in (("sd_difference", sd_difference), ("difference", difference)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a real number, got {value!r}")
    if math.isnan(sd_difference) or math.isnan(difference):
        return None
    if not math.isfinite(sd_difference) or sd_difference < 0:
        raise ValueError(f"sd_difference must be finite and >= 0, got {sd_difference!r}")
    # a difference equal to the margin up to rounding (0.7 - 0.6 against 0.1) is at the margin:
    # no sample size suffices, rather than one of 10^33 items
    if abs(difference) >= margin - _AT_MARGIN:
        return None
    z_alpha = float(norm_isf(alpha))
    z_beta = float(norm_isf((1.0 - power) / 2.0))
    n = (z_alpha + z_beta) ** 2 * sd_difference**2 / (margin - abs(difference)) ** 2
    return max(2, math.ceil(n - 1e-9))


def _one_sided(interval: tuple[float, float], direction: str) -> tuple[float, float]:
    """The bound of a two-sided interval that a non-inferiority claim in ``direction`` uses."""
    return (interval[0], 1.0) if direction == "less" else (-1.0, interval[1])


def noninferiority(result: PairedResult, margin: float, direction: str,
                   alpha: float = 0.05) -> EquivalenceResult:
    """One-sided test that the effect in the feared ``direction`` is smaller than ``margin``.

    The non-inferiority half of TOST (Schuirmann 1987; Wellek 2010, *Testing Statistical
    Hypotheses of Equivalence and Noninferiority*, ch. 2): for ``direction="less"`` (e.g.
    sandbagging: accuracy lower when observed) it rejects ``H0: delta <= -margin``, showing any
    drop is smaller than the margin; ``"greater"`` mirrors it. The bound reported is the
    one-sided ``1 - alpha`` bound on that side; ``equivalent`` means the bound clears the margin.
    Uses Tango's score test on the smoothed counts on the McNemar path, the paired t test on
    the planning SD otherwise (the same guards as :func:`equivalence`).

    Args:
        result: output of :func:`consistency.analyse.stats.paired_test`.
        margin: largest effect in ``direction`` that still counts as no effect, positive.
        direction: ``"less"`` or ``"greater"``, the direction of the directional verdict.
        alpha: one-sided level.
    """
    margin, alpha = _check_margin(margin), _check_alpha(alpha)
    if direction not in ("less", "greater"):
        raise ValueError(f"direction must be 'less' or 'greater', got {direction!r}")
    if not isinstance(result, PairedResult):
        raise ValueError(f"result must be a PairedResult, got {type(result).__name__}")
    low, high = result.confidence_interval(
        1.0 - alpha, alternative="greater" if direction == "less" else "less")
    sign = -1.0 if direction == "less" else 1.0
    if result.method == METHOD_MCNEMAR and result.b is not None and result.c is not None:
        b, c, n = smoothed_counts(result.b, result.c, result.n_items)
        low, high = _one_sided(tango_ci(b, c, n, 2.0 * (1.0 - alpha) - 1.0), direction)
        score = tango_score(b, c, n, sign * margin)
        pvalue = 0.0 if margin > 1 else float(norm_sf(score) if sign < 0 else norm_cdf(score))
    elif result.method in REPEATED_METHODS and result.n_items >= 2 \
            and math.isfinite(result.sd_difference):
        sd = planning_sd(result.sd_difference, result.difference, result.n_items)
        low, high = _one_sided(t_interval(result.difference, sd, result.n_items,
                                          1.0 - 2.0 * alpha), direction)
        t = (result.difference - sign * margin) / (sd / math.sqrt(result.n_items))
        df = result.n_items - 1
        pvalue = float(t_sf(t, df) if sign < 0 else t_cdf(t, df))
    else:
        pvalue = math.nan
    shown = bool(low > -margin) if sign < 0 else bool(high < margin)
    return EquivalenceResult(shown, margin, alpha, low, high, pvalue, result.method)
