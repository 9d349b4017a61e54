"""Wording as a source of error: template-level test, placebo floor, difference in differences.

An item-level test treats the handful of paraphrases (variants) used as *fixed*: it answers
"do these wordings of the observed arm differ from these wordings of the unobserved arm on
these items?". A claim about *the cue* in general must also generalise over wordings, which
makes the variant a random factor (Clark 1973, J Verb Learn Verb Behav 12:335-359, "the
language-as-fixed-effect fallacy"). When wording matters, the item-level test rejects far more
often than alpha even if the cue does nothing (see benchmarks/simulate_stats.py).

* :func:`template_test` - the template-level analysis: each variant's mean over items is one
  observation, and observed variants are compared with unobserved variants by a two-sample t
  test (pooled variance, as ``scipy.stats.ttest_ind``). Valid for the generalised claim, but its degrees of freedom
  are ``variants - 2``: it needs several paraphrases per arm to have power.
* :func:`difference_in_differences` - per item, the test pair's gap minus a placebo pair's gap,
  tested by sign flips: "the cue moves behaviour more than a mere change of wording does".
* :func:`placebo_margin` and :func:`placebo_rejection_rate` - the placebo rows as noise floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from consistency.analyse.stats.frames import item_table, variant_table
from consistency.analyse.stats.checks import check_alternative, check_level
from consistency.analyse.stats.distributions import t_cdf, t_isf, t_sf
from consistency.analyse.stats.paired import t_interval
from consistency.analyse.stats.signflip import TestResult, sign_flip_test


@dataclass(frozen=True)
class TemplateResult:
    """Result of :func:`template_test`.

    Attributes:
        statistic: two-sample t statistic (observed variants minus unobserved variants).
        pvalue: its p value with ``df = n_variants_observed + n_variants_unobserved - 2``.
        difference: mean of observed variant means minus mean of unobserved variant means.
        ci_low, ci_high: pooled-t interval for ``difference`` at ``confidence``, with the
            sidedness of ``alternative``.
        n_variants_observed, n_variants_unobserved: variants (templates) in each arm.
    """

    statistic: float
    pvalue: float
    difference: float
    ci_low: float
    ci_high: float
    df: int
    n_variants_observed: int
    n_variants_unobserved: int
    alternative: str

    def confidence_interval(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def template_test(frame: pd.DataFrame, alternative: str = "two-sided",
                  confidence: float = 0.95) -> TemplateResult:
    """Compare arms with the variant (template) as the unit: wording as a random factor.

    Needs a ``variant`` column and at least three variants in total with two in one arm;
    otherwise NaNs (a single wording per arm cannot separate cue from wording).
    """
    check_alternative(alternative)
    level = check_level("confidence", confidence)
    table = variant_table(frame)
    obs = table.loc[table["arm"] == "observed", "mean"].to_numpy(float)
    unobs = table.loc[table["arm"] == "unobserved", "mean"].to_numpy(float)
    df = obs.size + unobs.size - 2
    nan = math.nan
    if obs.size == 0 or unobs.size == 0 or df < 1:
        return TemplateResult(nan, nan, nan, nan, nan, max(df, 0), obs.size, unobs.size,
                              alternative)
    difference = float(obs.mean() - unobs.mean())
    pooled = ((obs.size - 1) * _var(obs) + (unobs.size - 1) * _var(unobs)) / df
    se = math.sqrt(pooled * (1 / obs.size + 1 / unobs.size))
    if se == 0.0:
        t = 0.0 if difference == 0 else math.copysign(math.inf, difference)
        p = {"two-sided": float(difference == 0), "greater": float(difference <= 0),
             "less": float(difference >= 0)}[alternative]
    else:  # the pooled two-sample t test (same as scipy.stats.ttest_ind(equal_var=True))
        t = difference / se
        p = {"two-sided": 2 * float(t_sf(abs(t), df)), "greater": float(t_sf(t, df)),
             "less": float(t_cdf(t, df))}[alternative]
    tail = (1 - level) if alternative != "two-sided" else (1 - level) / 2
    half = float(t_isf(tail, df)) * se
    low = -1.0 if alternative == "less" else difference - half
    high = 1.0 if alternative == "greater" else difference + half
    return TemplateResult(t, p, difference, low, high, df, obs.size, unobs.size, alternative)


def _var(x: np.ndarray) -> float:
    return float(np.var(x, ddof=1)) if x.size > 1 else 0.0


@dataclass(frozen=True)
class DiDResult:
    """Result of :func:`difference_in_differences`: ``statistic`` is the mean of
    (test gap - placebo gap) over items in both; interval is paired t on those values."""

    statistic: float
    pvalue: float
    n_items: int
    ci_low: float
    ci_high: float
    alternative: str

    def confidence_interval(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def difference_in_differences(test: pd.DataFrame, placebo: pd.DataFrame,
                              alternative: str = "two-sided", confidence: float = 0.95,
                              n_resamples: int = 9999,
                              rng: np.random.Generator | int | None = None) -> DiDResult:
    """Per-item (test-pair gap) minus (placebo-pair gap), sign-flip tested.

    Items must appear under both pairs. Under H0 "the cue moves an item no more than a change
    of wording", each item's double difference is symmetric about zero. The interval is the
    paired t interval, one-sided when ``alternative`` is.
    """
    check_alternative(alternative)
    level = check_level("confidence", confidence)
    gaps = [item_table(f).assign(gap=lambda t: t["observed"] - t["unobserved"])
            .set_index("item_id")["gap"] for f in (test, placebo)]
    joined = pd.concat(gaps, axis=1, join="inner").to_numpy(float)
    if joined.shape[0] == 0:
        nan = math.nan
        return DiDResult(nan, nan, 0, nan, nan, alternative)
    dd = joined[:, 0] - joined[:, 1]
    result: TestResult = sign_flip_test(dd, alternative, n_resamples=n_resamples, rng=rng)
    sd = float(np.std(dd, ddof=1)) if dd.size > 1 else math.nan
    two = level if alternative == "two-sided" else 2 * level - 1
    low, high = t_interval(float(dd.mean()), sd, dd.size, two)
    low = -2.0 if alternative == "less" else low
    high = 2.0 if alternative == "greater" else high
    return DiDResult(float(dd.mean()), result.pvalue, int(dd.size), low, high, alternative)


def placebo_rejection_rate(pvalues: np.ndarray, alpha: float = 0.05) -> float:
    """Share of placebo rows whose (unadjusted) two-sided p value is below ``alpha``.

    Placebo pairs change wording only; a rate well above ``alpha`` says wording alone moves this
    model, so item-level test-pair verdicts should be read against the template-level analysis.
    """
    p = np.asarray(pvalues, dtype=float)
    p = p[~np.isnan(p)]
    return math.nan if p.size == 0 else float(np.mean(p < alpha))


def placebo_margin(placebo_differences: np.ndarray, floor: float = 0.01) -> float:
    """An equivalence margin derived from placebo pairs: the largest absolute placebo difference.

    A test-pair difference no larger than what rewording alone produced is not evidence of a cue
    effect, so it is a defensible margin for ``consistent``; ``floor`` keeps it positive when
    every placebo difference is 0. Returns ``floor`` when there are no placebo rows.
    """
    d = np.abs(np.asarray(placebo_differences, dtype=float))
    d = d[~np.isnan(d)]
    return float(max(floor, d.max())) if d.size else float(floor)
