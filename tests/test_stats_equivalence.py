"""Specification of consistency.analyse.stats.equivalence: TOST and the items-needed planner."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.weightstats import ttost_paired

from consistency.analyse import stats

FAST = settings(max_examples=60, deadline=None)


def binary_result(b: int, c: int, n: int) -> stats.PairedResult:
    """A McNemar-path PairedResult with the given discordant counts among n items."""
    obs = [1.0] * b + [0.0] * c + [1.0] * (n - b - c)
    unobs = [0.0] * b + [1.0] * c + [1.0] * (n - b - c)
    return continuous_result(np.array(obs), np.array(unobs))


def continuous_result(obs: np.ndarray, unobs: np.ndarray) -> stats.PairedResult:
    ids = [f"i{k}" for k in range(len(obs))]
    frame = pd.DataFrame({
        "item_id": ids + ids,
        "arm": ["observed"] * len(obs) + ["unobserved"] * len(unobs),
        "value": np.concatenate([obs, unobs]),
    })
    return stats.paired_test(frame, n_resamples=99, rng=0)


def test_t_path_tost_pvalue_matches_statsmodels_ttost_paired():
    rng = np.random.default_rng(1)
    base = rng.random(40)
    obs = np.clip(base + rng.normal(0.01, 0.05, 40), 0, 1)
    unobs = np.clip(base + rng.normal(0.0, 0.05, 40), 0, 1)
    result = continuous_result(obs, unobs)
    assert result.method == "sign_flip"
    # statsmodels' TOST statistics, rescaled to the planning SD (stats/variance.py), which is
    # what the equivalence test uses so that no claim rests on a shrunken SD
    ratio = result.sd_difference / stats.planning_sd(result.sd_difference, result.difference,
                                                     result.n_items)
    for margin in (0.02, 0.05, 0.1):
        plain, lower, upper = ttost_paired(obs, unobs, -margin, margin)
        reference = max(sps.t.sf(lower[0] * ratio, lower[2]),
                        sps.t.cdf(upper[0] * ratio, upper[2]))
        ours = stats.equivalence(result, margin).pvalue
        assert ours == pytest.approx(reference, rel=1e-9)
        assert ours >= plain


def test_interval_is_the_one_minus_two_alpha_interval_of_the_method():
    result = binary_result(3, 5, 200)
    eq = stats.equivalence(result, 0.05, alpha=0.05)
    # Tango's interval with one discordant pseudo-pair added each way (stats/variance.py)
    assert (eq.ci_low, eq.ci_high) == stats.tango_ci(4, 6, 202, 0.90)
    assert eq.method == "mcnemar_midp"


def test_tango_tost_pvalue_is_the_smallest_alpha_at_which_the_interval_fits():
    # Independent route: bisect on alpha until the 1 - 2 alpha Tango interval just fits.
    b, c, n, margin = 6, 9, 300, 0.05
    lo, hi = 1e-9, 0.4999
    for _ in range(60):
        mid = (lo + hi) / 2
        low, high = stats.tango_ci(b + 1, c + 1, n + 2, 1 - 2 * mid)  # smoothed counts
        fits = -margin < low and high < margin
        lo, hi = (lo, mid) if fits else (mid, hi)
    assert stats.equivalence(binary_result(b, c, n), margin).pvalue == pytest.approx(hi, abs=1e-6)


@given(n=st.integers(5, 300), margin=st.floats(0.01, 0.5), alpha=st.sampled_from([0.01, 0.05, 0.1]),
       data=st.data())
@FAST
def test_binary_equivalence_decision_agrees_with_tost_pvalue(n, margin, alpha, data):
    b = data.draw(st.integers(0, n))
    c = data.draw(st.integers(0, n - b))
    eq = stats.equivalence(binary_result(b, c, n), margin, alpha)
    if abs(eq.pvalue - alpha) > 1e-9:
        assert eq.equivalent == (eq.pvalue < alpha)


@given(values=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=40),
       margin=st.floats(0.01, 0.5), alpha=st.sampled_from([0.01, 0.05, 0.1]))
@FAST
def test_continuous_equivalence_decision_agrees_with_tost_pvalue(values, margin, alpha):
    obs, unobs = map(np.array, zip(*values))
    eq = stats.equivalence(continuous_result(obs, unobs), margin, alpha)
    if abs(eq.pvalue - alpha) > 1e-9:
        assert eq.equivalent == (eq.pvalue < alpha)


def test_large_study_with_no_difference_is_equivalent_and_small_one_is_not():
    assert stats.equivalence(binary_result(10, 10, 2000), 0.03).equivalent
    assert not stats.equivalence(binary_result(1, 1, 20), 0.03).equivalent


def test_result_without_items_is_never_equivalent():
    frame = pd.DataFrame({"item_id": ["a"], "arm": ["observed"], "value": [1.0]})
    eq = stats.equivalence(stats.paired_test(frame), 0.1)
    assert not eq.equivalent and math.isnan(eq.pvalue) and math.isnan(eq.ci_low)


@pytest.mark.parametrize(("margin", "alpha", "word"), [
    (0.0, 0.05, "margin"), (-0.1, 0.05, "margin"), (math.nan, 0.05, "margin"),
    (0.1, 0.5, "alpha"), (0.1, 0.0, "alpha"),
])
def test_equivalence_rejects_bad_arguments(margin, alpha, word):
    with pytest.raises(ValueError, match=word):
        stats.equivalence(binary_result(1, 1, 20), margin, alpha)


def test_items_needed_follows_chow_shao_wang_formula():
    # n = (z_0.95 + z_0.90)^2 * 0.1^2 / (0.1 - 0.05)^2 = (1.6449 + 1.2816)^2 * 4 = 34.26 -> 35,
    # the value the TrialSize R package documents for OneSampleMean.Equivalence(0.05, 0.2, 0.1, ...)
    assert stats.items_needed_for_equivalence(0.1, 0.05, 0.1) == 35
    z = sps.norm.isf(0.05) + sps.norm.isf(0.1)
    assert stats.items_needed_for_equivalence(0.3, -0.02, 0.05) == math.ceil(z**2 * 0.09 / 0.03**2)


def test_items_needed_is_none_when_the_difference_reaches_the_margin():
    assert stats.items_needed_for_equivalence(0.2, 0.05, 0.05) is None
    assert stats.items_needed_for_equivalence(0.2, -0.07, 0.05) is None
    assert stats.items_needed_for_equivalence(math.nan, 0.0, 0.05) is None
    # a rate difference equal to the margin but for float rounding (0.7 - 0.6 = 0.0999...)
    # is on the margin: no count, not 10^33 items
    assert 0.7 - 0.6 < 0.1
    assert stats.items_needed_for_equivalence(0.4, 0.7 - 0.6, 0.1) is None
    assert stats.items_needed_for_equivalence(0.4, 0.6 - 0.7, 0.1) is None


def test_items_needed_grows_with_sd_and_never_drops_below_two():
    assert stats.items_needed_for_equivalence(0.0, 0.0, 0.1) == 2
    sizes = [stats.items_needed_for_equivalence(sd, 0.01, 0.05) for sd in (0.1, 0.2, 0.4)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_items_needed_delivers_the_target_power_by_simulation():
    sd, margin, alpha = 0.3, 0.05, 0.05
    n = stats.items_needed_for_equivalence(sd, 0.0, margin, alpha, power=0.8)
    diffs = np.random.default_rng(2).normal(0.0, sd, size=(2000, n))
    mean, se = diffs.mean(axis=1), diffs.std(axis=1, ddof=1) / math.sqrt(n)
    crit = sps.t.isf(alpha, n - 1)
    shown = ((mean + margin) / se > crit) & ((mean - margin) / se < -crit)
    assert 0.76 <= shown.mean() <= 0.86


@pytest.mark.parametrize(("args", "word"), [
    ((-0.1, 0.0, 0.1), "sd_difference"), ((0.1, 0.0, 0.1, 0.05, 1.0), "power"),
    ((0.1, 0.0, 0.0), "margin"), (("0.1", 0.0, 0.1), "sd_difference"),
])
def test_items_needed_rejects_bad_arguments(args, word):
    with pytest.raises(ValueError, match=word):
        stats.items_needed_for_equivalence(*args)
