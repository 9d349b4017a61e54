"""Specification of consistency.analyse.stats.binary: Newcombe's method 10 and the discordant odds ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from consistency.analyse import stats

FAST = settings(max_examples=50, deadline=None)


@pytest.mark.parametrize("table", [(4, 4, 4, 4), (2, 6, 1, 3), (9, 3, 6, 2), (0, 5, 0, 7)])
def test_newcombe_with_zero_phi_equals_statsmodels_unpaired_newcombe_interval(table):
    # When ad - bc = 0 (or a margin is empty) phi is 0 and method 10 is Newcombe's unpaired
    # hybrid score interval (his 1998 method 10 for independent samples), which statsmodels
    # implements independently: confint_proportions_2indep(method="newcomb").
    n11, n12, n21, n22 = table
    n = sum(table)
    assert n11 * n22 - n12 * n21 == 0 or min(n11 + n12, n21 + n22, n11 + n21, n12 + n22) == 0
    reference = confint_proportions_2indep(n11 + n12, n, n11 + n21, n, method="newcomb")
    np.testing.assert_allclose(stats.newcombe_ci(*table), reference, atol=1e-10)


def test_newcombe_uses_statsmodels_wilson_limits_and_the_phi_correction():
    # Bentur et al. (2009) via Fagerland et al. (2013): n11=1, n12=1, n21=7, n22=12. Recomputed
    # here from statsmodels' Wilson limits and Newcombe's (1998) eqs for delta and epsilon.
    n11, n12, n21, n22, n = 1, 1, 7, 12, 21
    l1, u1 = proportion_confint(n11 + n12, n, method="wilson")
    l2, u2 = proportion_confint(n11 + n21, n, method="wilson")
    p1, p2 = (n11 + n12) / n, (n11 + n21) / n
    phi = (n11 * n22 - n12 * n21) / math.sqrt((n11 + n12) * (n21 + n22) * (n11 + n21) * (n12 + n22))
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    np.testing.assert_allclose(stats.newcombe_ci(n11, n12, n21, n22), (low, high), atol=1e-12)
    assert high < 0  # agrees with mid-p 0.039 for this example


def test_newcombe_covers_the_true_difference_about_95_percent():
    rng = np.random.default_rng(3)
    probs = np.array([0.3, 0.15, 0.05, 0.5])  # true difference 0.15 - 0.05 = 0.10
    covered = 0
    for table in rng.multinomial(60, probs, size=800):
        low, high = stats.newcombe_ci(*map(int, table))
        covered += low <= 0.10 <= high
    assert 0.92 <= covered / 800 <= 0.98


@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
@FAST
def test_newcombe_contains_the_estimate_and_stays_in_range(n11, n12, n21, n22):
    if n11 + n12 + n21 + n22 == 0:
        return
    low, high = stats.newcombe_ci(n11, n12, n21, n22)
    d = (n12 - n21) / (n11 + n12 + n21 + n22)
    assert -1 <= low <= d + 1e-12 and d - 1e-12 <= high <= 1


@pytest.mark.parametrize(("b", "c"), [(1, 7), (5, 5), (12, 3), (0, 4), (6, 0)])
def test_odds_ratio_exact_interval_matches_statsmodels_clopper_pearson(b, c):
    result = stats.discordant_odds_ratio(b, c)
    lo_pi, hi_pi = proportion_confint(b, b + c, alpha=0.05, method="beta")
    odds = lambda p: math.inf if p >= 1 else p / (1 - p)  # noqa: E731
    low, high = result.confidence_interval(0.95)
    assert low == pytest.approx(odds(lo_pi), rel=1e-9, abs=1e-12)
    assert high == pytest.approx(odds(hi_pi), rel=1e-9) or (high == math.inf == odds(hi_pi))
    assert result.statistic == (math.inf if c == 0 else b / c)


@given(st.integers(0, 40), st.integers(0, 40), st.sampled_from(["less", "greater"]))
@FAST
def test_odds_ratio_midp_bound_excludes_one_exactly_when_mcnemar_midp_rejects(b, c, alternative):
    if b + c == 0:
        return
    result = stats.discordant_odds_ratio(b, c, alternative)
    low, high = result.confidence_interval(0.95, method="midp")
    excludes = high < 1 if alternative == "less" else low > 1
    p = stats.mcnemar_midp(b, c, alternative).pvalue
    if abs(p - 0.05) > 1e-9:
        assert excludes == (p < 0.05)


def test_odds_ratio_of_no_discordant_items_is_nan():
    assert math.isnan(stats.discordant_odds_ratio(0, 0).statistic)


def test_binary_functions_reject_bad_arguments():
    with pytest.raises(ValueError, match="n12"):
        stats.newcombe_ci(1, -1, 2, 3)
    with pytest.raises(ValueError, match="empty"):
        stats.newcombe_ci(0, 0, 0, 0)
    with pytest.raises(ValueError, match="method"):
        stats.discordant_odds_ratio(2, 3).confidence_interval(0.95, method="wald")
