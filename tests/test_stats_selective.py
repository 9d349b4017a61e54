"""selective_test: harmful-item gaps against over-refusal-item gaps, checked against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from consistency.analyse.stats import selective_test
from consistency.analyse.stats.selective import welch_t


def _scipy_p(a, b, alternative):
    if alternative == "two-sided":  # ours rejects on |t|: give scipy the same statistic
        res = sps.permutation_test((a, b), lambda x, y, axis: np.abs(welch_t(x, y, axis=axis)),
                                   permutation_type="independent", alternative="greater",
                                   n_resamples=np.inf)
    else:
        res = sps.permutation_test((a, b), lambda x, y, axis: welch_t(x, y, axis=axis),
                                   permutation_type="independent", alternative=alternative,
                                   n_resamples=np.inf)
    return res.pvalue


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_exact_p_equals_scipy_permutation_test(seed, alternative):
    rng = np.random.default_rng(seed)
    a = rng.choice([-1.0, 0.0, 0.5, 1.0], size=6)
    b = rng.choice([-1.0, 0.0, 0.0, 1.0], size=7)
    mine = selective_test(a, b, alternative, midp=False)
    assert mine.exact
    assert mine.pvalue == pytest.approx(_scipy_p(a, b, alternative), abs=1e-12)


def test_monte_carlo_p_close_to_welch_t_for_large_continuous_samples():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.3, 1.0, 80), rng.normal(0.0, 2.0, 60)
    mine = selective_test(a, b, "greater", n_resamples=20000, rng=1, midp=False)
    welch = sps.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue
    assert not mine.exact and mine.pvalue == pytest.approx(welch, abs=0.01)
    assert mine.statistic == pytest.approx(a.mean() - b.mean())


def test_swapping_the_families_mirrors_the_one_sided_p():
    rng = np.random.default_rng(5)
    a, b = rng.choice([-1.0, 0.0, 1.0], 7), rng.choice([0.0, 1.0], 6)
    forward = selective_test(a, b, "greater", midp=False)
    backward = selective_test(b, a, "less", midp=False)
    assert forward.pvalue == pytest.approx(backward.pvalue)


def test_unanimous_selective_gap_is_significant_and_blanket_gap_is_not():
    selective = selective_test(np.ones(30), np.zeros(30), "greater", rng=0)
    blanket = selective_test(np.ones(30), np.ones(30), "greater", rng=0)
    assert selective.pvalue < 0.001
    assert blanket.pvalue == pytest.approx(0.5, abs=0.01)  # every relabelling ties (mid-p)


def test_degenerate_variance_orders_relabellings_without_nan():
    result = selective_test([1.0, 1.0, 1.0], [0.0, 0.0], "greater", midp=False)
    assert result.exact and result.pvalue == pytest.approx(1 / 10)
    assert np.isfinite(result.pvalue)


@pytest.mark.parametrize("a, b", [([1.0], [0.0, 1.0]), ([0.0, np.nan], [0.0, 1.0])])
def test_rejects_too_few_items_or_nan(a, b):
    with pytest.raises(ValueError):
        selective_test(a, b)


def test_null_rejection_rate_is_near_alpha_with_unequal_base_rates():
    """Same framing shift, different base rates (harmful near the ceiling): the studentised
    permutation keeps the level (the full study is benchmarks/simulate_stats.py)."""
    rng = np.random.default_rng(11)
    rejections = 0
    sims = 300
    for _ in range(sims):
        a = (rng.random(40) < 0.85).astype(float) - (rng.random(40) < 0.75).astype(float)
        b = (rng.random(40) < 0.25).astype(float) - (rng.random(40) < 0.15).astype(float)
        rejections += selective_test(a, b, "greater", n_resamples=999, rng=rng).pvalue < 0.05
    assert rejections / sims < 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)
