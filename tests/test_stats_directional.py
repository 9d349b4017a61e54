"""One-sided tests with agreeing intervals, non-inferiority, family-wise adjustment, and laws.

Property tests: swapping arms negates the effect and mirrors the one-sided p value; p values are
uniform under the null; intervals nest as confidence rises; a one-sided bound excludes 0 exactly
when the one-sided test of the same family rejects.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from consistency.analyse import stats

FAST = settings(max_examples=40, deadline=None)
MIRROR = {"less": "greater", "greater": "less", "two-sided": "two-sided"}


def frame_from(obs, unobs) -> pd.DataFrame:
    rows = [(f"i{k}", "observed", o) for k, o in enumerate(obs)]
    rows += [(f"i{k}", "unobserved", u) for k, u in enumerate(unobs)]
    return pd.DataFrame(rows, columns=["item_id", "arm", "value"])


def swap(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(arm=frame["arm"].map({"observed": "unobserved", "unobserved": "observed"}))


binary_items = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=2, max_size=60)
graded_items = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=3, max_size=30)


def test_one_sided_interval_is_the_matching_end_of_the_doubled_two_sided_interval():
    result = stats.paired_test(frame_from([0, 0, 0, 1, 0, 1, 0, 0], [1, 1, 0, 1, 1, 1, 0, 1]),
                               alternative="less")
    two = stats.tango_ci(result.b, result.c, result.n_items, 0.90)
    assert (result.ci_low, result.ci_high) == (-1.0, pytest.approx(two[1]))
    assert result.confidence_interval(0.95, "greater") == (pytest.approx(two[0]), 1.0)


@given(graded_items, st.sampled_from(["less", "greater"]))
@FAST
def test_t_bound_excludes_zero_exactly_when_one_sided_paired_t_rejects(items, alternative):
    """scipy's one-sided paired t test, on the floored SD the interval uses (stats/variance)."""
    obs, unobs = np.array(items).T
    d = obs - unobs
    if np.std(d) < 1e-6:
        return
    result = stats.paired_test(frame_from(obs, unobs), alternative=alternative, rng=0,
                               n_resamples=99)
    reference = sps.ttest_rel(obs, unobs, alternative=alternative)
    ratio = result.sd_difference / stats.floored_sd(result.sd_difference, result.difference,
                                                    result.n_items)
    t = reference.statistic * ratio
    df = len(d) - 1
    p = sps.t.sf(t, df) if alternative == "greater" else sps.t.cdf(t, df)
    excludes = result.ci_high < 0 if alternative == "less" else result.ci_low > 0
    if abs(p - 0.05) > 1e-6:
        assert excludes == (p < 0.05)


@given(binary_items, st.sampled_from(["less", "greater"]))
@FAST
def test_tango_bound_excludes_zero_exactly_when_one_sided_score_test_rejects(items, alternative):
    obs, unobs = np.array(items).T
    result = stats.paired_test(frame_from(obs, unobs), alternative=alternative)
    b, c = result.b, result.c
    if b + c == 0:
        return
    z = (b - c) / math.sqrt(b + c)  # Tango's score at 0 (asymptotic McNemar), one-sided
    p = sps.norm.cdf(z) if alternative == "less" else sps.norm.sf(z)
    excludes = result.ci_high < 0 if alternative == "less" else result.ci_low > 0
    if abs(p - 0.05) > 1e-6:
        assert excludes == (p < 0.05)


@given(binary_items, st.sampled_from(["two-sided", "less", "greater"]))
@FAST
def test_swapping_arms_negates_effect_and_mirrors_the_pvalue(items, alternative):
    obs, unobs = np.array(items).T
    frame = frame_from(obs, unobs)
    forward = stats.paired_test(frame, alternative=alternative)
    backward = stats.paired_test(swap(frame), alternative=MIRROR[alternative])
    assert backward.difference == pytest.approx(-forward.difference)
    assert backward.pvalue == pytest.approx(forward.pvalue)
    assert backward.ci_low == pytest.approx(-forward.ci_high)


@given(graded_items, st.sampled_from(["less", "greater"]),
       st.lists(st.floats(0.6, 0.99), min_size=2, max_size=4, unique=True))
@FAST
def test_one_sided_bounds_nest_as_confidence_rises(items, alternative, levels):
    obs, unobs = np.array(items).T
    result = stats.paired_test(frame_from(obs, unobs), alternative=alternative, rng=0,
                               n_resamples=99)
    bounds = [result.confidence_interval(level) for level in sorted(levels)]
    for (lo1, hi1), (lo2, hi2) in zip(bounds, bounds[1:]):
        assert lo2 <= lo1 + 1e-12 and hi1 <= hi2 + 1e-12


def test_one_sided_pvalues_are_uniform_under_the_null_on_the_sign_flip_path():
    rng = np.random.default_rng(0)
    p = []
    for _ in range(200):
        base = rng.uniform(0, 0.5, 30)
        frame = frame_from(base + rng.random(30) / 2, base + rng.random(30) / 2)
        p.append(stats.paired_test(frame, alternative="less", rng=rng, n_resamples=999).pvalue)
    assert sps.kstest(p, "uniform").pvalue > 0.001


def test_noninferiority_on_the_t_path_matches_scipy_one_sample_t_against_the_margin():
    rng = np.random.default_rng(1)
    obs, unobs = rng.random(40), rng.random(40)
    result = stats.paired_test(frame_from(obs, unobs), rng=0, n_resamples=99)
    ni = stats.noninferiority(result, 0.1, "less")
    # scipy's statistic rescaled to the planning SD the claims of no effect use
    ratio = result.sd_difference / stats.planning_sd(result.sd_difference, result.difference,
                                                     result.n_items)
    t = sps.ttest_1samp(obs - unobs, -0.1).statistic * ratio
    assert ni.pvalue == pytest.approx(sps.t.sf(t, 39), rel=1e-10)
    assert ni.pvalue >= sps.ttest_1samp(obs - unobs, -0.1, alternative="greater").pvalue
    assert ni.equivalent == (ni.pvalue < 0.05) == (ni.ci_low > -0.1)
    mirrored = stats.noninferiority(result, 0.1, "greater")
    t = sps.ttest_1samp(obs - unobs, 0.1).statistic * ratio
    assert mirrored.pvalue == pytest.approx(sps.t.cdf(t, 39), rel=1e-10)


@given(binary_items, st.floats(0.02, 0.5))
@FAST
def test_noninferiority_on_the_tango_path_agrees_with_its_one_sided_bound(items, margin):
    obs, unobs = np.array(items).T
    result = stats.paired_test(frame_from(obs, unobs))
    ni = stats.noninferiority(result, margin, "less")
    if abs(ni.pvalue - 0.05) > 1e-6 and abs(ni.ci_low + margin) > 1e-6:
        assert (ni.pvalue < 0.05) == (ni.ci_low > -margin) == ni.equivalent


def test_adjust_within_families_matches_statsmodels_per_family():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, np.nan, 0.049])
    families = ["a", "a", "b", "b", "a", "b", None]
    for method, sm in (("bh", "fdr_bh"), ("holm", "holm")):
        out = stats.adjust_within_families(p, families, method)
        np.testing.assert_allclose(out[[0, 1, 4]], multipletests(p[[0, 1, 4]], method=sm)[1])
        np.testing.assert_allclose(out[[2, 3]], multipletests(p[[2, 3]], method=sm)[1])
        assert np.isnan(out[5]) and np.isnan(out[6])


def test_public_api_has_the_names_the_issue_promises():
    for name in ("mcnemar_midp", "tango_ci", "paired_test", "equivalence", "plan_mde",
                 "plan_items", "benjamini_hochberg"):
        assert callable(getattr(stats, name)), name
    with pytest.raises(ValueError, match="interval"):
        stats.paired_test(frame_from([1], [0]), interval="wald")


@given(binary_items, st.sampled_from(["two-sided", "less", "greater"]))
@FAST
def test_midp_sign_flip_on_single_binary_responses_is_the_mcnemar_midp_test(items, alternative):
    # With one 0/1 response per arm, d_i is in {-1, 0, 1}: enumerating sign flips of the b + c
    # nonzero d_i is the Binomial(b + c, 1/2) reference of McNemar's test, and counting ties as
    # one half gives its mid-p value (Fagerland et al. 2013), tie convention included.
    obs, unobs = np.array(items).T
    d = (obs - unobs).astype(float)
    b, c = int(np.sum(d == 1)), int(np.sum(d == -1))
    if b + c == 0 or b + c > 16:
        return
    result = stats.sign_flip_test(d, alternative, n_resamples=2**17, midp=True)
    assert result.exact
    assert result.pvalue == pytest.approx(stats.mcnemar_midp(b, c, alternative).pvalue, abs=1e-12)


def test_midp_sign_flip_keeps_its_size_and_gains_power_on_repeated_binary_responses():
    rng = np.random.default_rng(4)
    null_p, plain, mid = [], 0, 0
    for _ in range(300):
        base = rng.uniform(0.2, 0.8, 30)
        d = (rng.random((30, 2)) < base[:, None]).mean(1) - (rng.random((30, 2)) < base[:, None]).mean(1)
        null_p.append(stats.sign_flip_test(d, "less", 999, rng, midp=True).pvalue)
        shifted = d - 0.25 * (rng.random(30) < 0.5)
        plain += stats.sign_flip_test(shifted, "less", 999, 1).pvalue < 0.05
        mid += stats.sign_flip_test(shifted, "less", 999, 1, midp=True).pvalue < 0.05
    assert np.mean(np.array(null_p) < 0.05) <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / 300)
    assert mid >= plain
