"""Specification of consistency.analyse.stats.multiple: Benjamini-Hochberg and Holm adjustments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from consistency.analyse import stats

FAST = settings(max_examples=60, deadline=None)

# The 15 p values of the worked example in Benjamini & Hochberg (1995, JRSS B 57:289-300, sec. 4).
BH_1995_EXAMPLE = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
                   0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000]

pvalue_lists = st.lists(
    st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
    min_size=1, max_size=40,
)


def test_bh_on_the_1995_example_rejects_four_and_holm_three():
    # By hand: 4th smallest 0.0095 <= 4/15 * 0.05 = 0.0133 but 0.0201 > 5/15 * 0.05 (and no
    # later p is under its line), so BH rejects 4; Holm stops at 0.0095 > 0.05/12 = 0.0042.
    assert int(np.sum(stats.benjamini_hochberg(BH_1995_EXAMPLE) <= 0.05)) == 4
    assert int(np.sum(stats.holm(BH_1995_EXAMPLE) <= 0.05)) == 3
    # q of the 4th smallest: min over j >= 4 of 15 p_(j) / j = 15 * 0.0095 / 4
    assert stats.benjamini_hochberg(BH_1995_EXAMPLE)[3] == pytest.approx(15 * 0.0095 / 4)


@given(pvalue_lists)
@FAST
def test_bh_matches_statsmodels(pvalues):
    reference = multipletests(pvalues, method="fdr_bh")[1]
    result = stats.benjamini_hochberg(pvalues)
    np.testing.assert_allclose(result, reference, rtol=1e-12, atol=1e-300)


@given(pvalue_lists)
@settings(max_examples=25, deadline=None)  # statsmodels' holm costs ~50 ms a call
def test_holm_matches_statsmodels(pvalues):
    reference = multipletests(pvalues, method="holm")[1]
    np.testing.assert_allclose(stats.holm(pvalues), reference, rtol=1e-12, atol=1e-300)


@given(pvalue_lists)
@FAST
def test_adjusted_values_are_monotone_in_p_at_least_p_and_at_most_one(pvalues):
    p = np.asarray(pvalues)
    order = np.argsort(p, kind="mergesort")
    for adjust in (stats.benjamini_hochberg, stats.holm):
        q = adjust(p)
        assert np.all(np.diff(q[order]) >= -1e-15)
        assert np.all(q >= p - 1e-15) and np.all(q <= 1.0)


@pytest.mark.parametrize("method", ["fdr_bh", "holm"])
def test_nan_entries_stay_nan_and_do_not_count_towards_m(method):
    adjust = stats.benjamini_hochberg if method == "fdr_bh" else stats.holm
    pvalues = [0.01, np.nan, 0.04, 0.03, np.nan]
    result = adjust(pvalues)
    assert np.isnan(result[[1, 4]]).all()
    reference = multipletests([0.01, 0.04, 0.03], method=method)[1]
    np.testing.assert_allclose(result[[0, 2, 3]], reference, rtol=1e-12)


def test_all_nan_and_empty_inputs_pass_through():
    assert np.isnan(stats.benjamini_hochberg([np.nan, np.nan])).all()
    assert stats.holm([]).shape == (0,)


def test_order_of_input_is_preserved():
    q = stats.benjamini_hochberg([0.04, 0.001, 0.5])
    assert q[1] == pytest.approx(0.003) and q[0] == pytest.approx(0.06) and q[2] == 0.5


@pytest.mark.parametrize(("pvalues", "word"), [
    ([0.1, 1.2], "lie in"), ([-0.01], "lie in"), ([[0.1, 0.2]], "one-dimensional"),
    (["a"], "numbers"),
])
def test_invalid_pvalues_are_rejected(pvalues, word):
    for adjust in (stats.benjamini_hochberg, stats.holm):
        with pytest.raises(ValueError, match=word):
            adjust(pvalues)
