"""Specification of consistency.analyse.stats.wording: template level, difference in differences, placebo."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from consistency.analyse import stats


def wording_frame(rng, n_items=60, variants=3, wording_sd=0.0, cue=0.0, epochs=1):
    """Binary responses; every item meets every variant of both arms. Each variant has its own
    fixed shift of the response rate (wording effect, N(0, wording_sd)); ``cue`` shifts every
    observed variant."""
    shifts = {arm: rng.normal(0, wording_sd, variants) + (cue if arm == "observed" else 0.0)
              for arm in ("observed", "unobserved")}
    base = rng.uniform(0.3, 0.7, n_items)
    rows = []
    for i in range(n_items):
        for arm, shift in shifts.items():
            for v in range(variants):
                p = np.clip(base[i] + shift[v], 0, 1)
                rows += [(f"i{i}", arm, v, float(rng.random() < p)) for _ in range(epochs)]
    return pd.DataFrame(rows, columns=["item_id", "arm", "variant", "value"])


def test_template_test_is_the_pooled_t_test_on_variant_means():
    frame = wording_frame(np.random.default_rng(0), variants=4, cue=0.1)
    means = stats.variant_table(frame)
    obs = means.loc[means.arm == "observed", "mean"]
    unobs = means.loc[means.arm == "unobserved", "mean"]
    for alternative in ("two-sided", "less", "greater"):
        ref = sps.ttest_ind(obs, unobs, equal_var=True, alternative=alternative)
        result = stats.template_test(frame, alternative)
        assert result.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
        assert result.statistic == pytest.approx(ref.statistic, rel=1e-10)
    result = stats.template_test(frame)
    assert result.df == 6 and (result.n_variants_observed, result.n_variants_unobserved) == (4, 4)
    ci = sps.ttest_ind(obs, unobs, equal_var=True).confidence_interval(0.95)
    np.testing.assert_allclose(result.confidence_interval(), (ci.low, ci.high), rtol=1e-10)


def test_template_test_keeps_its_size_when_wording_matters_but_item_level_test_does_not():
    rng = np.random.default_rng(1)
    item_p, template_p = [], []
    for _ in range(120):
        frame = wording_frame(rng, n_items=60, variants=3, wording_sd=0.12)
        item_p.append(stats.paired_test(frame, rng=rng, n_resamples=499).pvalue)
        template_p.append(stats.template_test(frame).pvalue)
    assert np.mean(np.array(item_p) < 0.05) > 0.25 # wording alone fools the item-level test
    assert np.mean(np.array(template_p) < 0.05) < 0.12


def test_template_test_needs_more_than_one_variant_per_arm():
    frame = wording_frame(np.random.default_rng(2), variants=1)
    result = stats.template_test(frame)
    assert math.isnan(result.pvalue) and result.df == 0


def test_difference_in_differences_is_a_sign_flip_test_on_gap_differences():
    rng = np.random.default_rng(3)
    test = wording_frame(rng, n_items=30, variants=2, cue=0.2, epochs=2)
    placebo = wording_frame(rng, n_items=30, variants=2, epochs=2)
    result = stats.difference_in_differences(test, placebo, rng=5, n_resamples=999)
    gaps = [stats.item_table(f).set_index("item_id").eval("observed - unobserved")
            for f in (test, placebo)]
    dd = (gaps[0] - gaps[1]).to_numpy()
    assert result.statistic == pytest.approx(dd.mean())
    assert result.pvalue == stats.sign_flip_test(dd, n_resamples=999, rng=5).pvalue
    ref = sps.ttest_1samp(dd, 0).confidence_interval(0.95)
    np.testing.assert_allclose(result.confidence_interval(), (ref.low, ref.high), rtol=1e-10)
    assert result.n_items == 30


def test_placebo_margin_is_the_largest_absolute_placebo_difference_with_a_floor():
    assert stats.placebo_margin([0.01, -0.04, np.nan]) == pytest.approx(0.04)
    assert stats.placebo_margin([0.0], floor=0.02) == 0.02
    assert stats.placebo_margin([], floor=0.03) == 0.03


def test_placebo_rejection_rate_counts_unadjusted_rejections():
    assert stats.placebo_rejection_rate([0.01, 0.2, 0.04, np.nan]) == pytest.approx(2 / 3)
    assert math.isnan(stats.placebo_rejection_rate([]))
