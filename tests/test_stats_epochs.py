"""Specification of consistency.analyse.stats.epochs: d_z, item bootstrap, omnibus test, magnitude."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from consistency.analyse import stats


def responses(values: dict[str, tuple[list[float], list[float]]]) -> pd.DataFrame:
    rows = [(item, arm, v) for item, (obs, unobs) in values.items()
            for arm, vals in (("observed", obs), ("unobserved", unobs)) for v in vals]
    return pd.DataFrame(rows, columns=["item_id", "arm", "value"])


def simulate(rng, n_items=40, epochs=3, effects=None):
    """Binary responses; item difficulty varies; ``effects`` shifts each item's observed rate."""
    effects = np.zeros(n_items) if effects is None else effects
    base = rng.uniform(0.2, 0.8, n_items)
    data = {}
    for i in range(n_items):
        obs = (rng.random(epochs) < np.clip(base[i] + effects[i], 0, 1)).astype(float)
        unobs = (rng.random(epochs) < base[i]).astype(float)
        data[f"i{i}"] = (obs.tolist(), unobs.tolist())
    return responses(data)


def test_cohens_dz_is_the_paired_t_statistic_over_root_n():
    d = np.array([0.2, -0.1, 0.4, 0.3, 0.0, 0.25])
    t = sps.ttest_1samp(d, 0.0).statistic
    assert stats.cohens_dz(d) == pytest.approx(t / math.sqrt(d.size))


def test_cohens_dz_is_nan_without_spread():
    assert math.isnan(stats.cohens_dz([0.3, 0.3, 0.3]))
    assert math.isnan(stats.cohens_dz([0.3]))


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    d = np.random.default_rng(0).normal(0.1, 0.3, 60)
    ours = stats.bootstrap_interval(d, 0.95, 20000, rng=1)
    ref = sps.bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=20000,
                        method="percentile", random_state=2).confidence_interval
    np.testing.assert_allclose(ours, (ref.low, ref.high), atol=0.01)


def test_one_sided_bootstrap_bound_is_the_matching_quantile():
    d = np.random.default_rng(0).normal(0.1, 0.3, 60)
    two = stats.bootstrap_interval(d, 0.90, 4000, rng=5)
    less = stats.bootstrap_interval(d, 0.95, 4000, rng=5, alternative="less")
    greater = stats.bootstrap_interval(d, 0.95, 4000, rng=5, alternative="greater")
    assert less[0] == -1.0 and less[1] == pytest.approx(two[1], abs=1e-12)
    assert greater[1] == 1.0 and greater[0] == pytest.approx(two[0], abs=1e-12)


@pytest.mark.parametrize("distinct", [3, 2000])
def test_bootstrap_means_have_the_mean_and_variance_of_resampling_items(distinct):
    # few distinct values (0/1 scores) take the multinomial-tally path, many the index path
    from consistency.analyse.stats import epochs

    x = np.random.default_rng(7).integers(0, distinct, 2000) / distinct
    means = epochs._bootstrap_means(x, 100_000, np.random.default_rng(8))
    variance = x.var() / x.size  # of the mean of n draws with replacement
    assert means.mean() == pytest.approx(x.mean(), abs=5 * math.sqrt(variance / means.size))
    assert means.var() == pytest.approx(variance, rel=0.03)


def test_bootstrap_interval_on_few_distinct_values_agrees_with_scipy():
    d = np.random.default_rng(0).integers(-2, 3, 400) / 4
    ours = stats.bootstrap_interval(d, 0.95, 20000, rng=1)
    ref = sps.bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=20000,
                        method="percentile", random_state=2).confidence_interval
    np.testing.assert_allclose(ours, (ref.low, ref.high), atol=0.01)


def _exact_omnibus(frame: pd.DataFrame) -> float:
    """Brute force: every within-item relabelling of arms (hand-checkable for tiny data)."""
    items = []
    for _, group in frame.groupby("item_id"):
        values = group["value"].to_numpy()
        n_obs = int((group["arm"] == "observed").sum())
        items.append([(values[list(c)].mean() - np.delete(values, list(c)).mean()) ** 2
                      for c in itertools.combinations(range(values.size), n_obs)])
    observed = sum(
        (g.loc[g.arm == "observed", "value"].mean() - g.loc[g.arm == "unobserved", "value"].mean())
        ** 2 for _, g in frame.groupby("item_id"))
    totals = [sum(combo) for combo in itertools.product(*items)]
    return float(np.mean(np.array(totals) >= observed - 1e-12))


def test_omnibus_monte_carlo_agrees_with_full_enumeration():
    frame = responses({"a": ([1, 1, 0.5], [0, 0.25]), "b": ([0, 0], [1, 1]),
                       "c": ([0.2, 0.9], [0.4, 0.1])})
    exact = _exact_omnibus(frame)
    result = stats.omnibus_test(frame, n_resamples=40000, rng=0)
    assert result.pvalue == pytest.approx(exact, abs=0.01)
    assert result.n_items == 3


def test_omnibus_detects_effects_that_cancel_while_the_mean_test_does_not():
    rng = np.random.default_rng(4)
    effects = np.where(np.arange(60) % 2 == 0, 0.4, -0.4)
    frame = simulate(rng, 60, 6, effects)
    assert stats.omnibus_test(frame, 999, rng=1).pvalue < 0.01
    assert stats.paired_test(frame, rng=1, n_resamples=999).pvalue > 0.05


def test_omnibus_pvalues_are_uniform_under_the_sharp_null_for_graded_scores():
    rng = np.random.default_rng(8)
    p = []
    for _ in range(150):
        base = rng.uniform(0, 0.5, 20)
        data = {f"i{i}": ((base[i] + rng.random(3) / 2).tolist(),
                          (base[i] + rng.random(3) / 2).tolist()) for i in range(20)}
        p.append(stats.omnibus_test(responses(data), 199, rng=rng).pvalue)
    assert sps.kstest(p, "uniform").pvalue > 0.001


def test_omnibus_keeps_its_size_under_the_sharp_null_for_binary_scores():
    # binary scores give tied permutation statistics, so p is conservative: P(p <= u) <= u
    rng = np.random.default_rng(9)
    p = np.array([stats.omnibus_test(simulate(rng, 20, 3), 199, rng=rng).pvalue
                  for _ in range(200)])
    for u in (0.05, 0.1, 0.25):
        assert np.mean(p <= u) <= u + 2.5 * math.sqrt(u * (1 - u) / p.size)


def test_omnibus_skips_items_with_a_single_response_in_an_arm():
    frame = responses({"a": ([1, 0], [0]), "b": ([1], [0, 0])})
    result = stats.omnibus_test(frame, 99, rng=0)
    assert result.n_items == 0 and math.isnan(result.pvalue)


def test_divergence_magnitude_is_unbiased_for_the_rms_item_effect():
    rng = np.random.default_rng(11)
    effects = np.where(np.arange(200) % 2 == 0, 0.3, -0.3)  # RMS effect 0.3, mean 0
    estimates = [stats.divergence_magnitude(simulate(rng, 200, 4, effects), rng=rng)[0] ** 2
                 for _ in range(20)]
    # clipping at the rate bounds shrinks a few items' effects, so allow a little below 0.09
    assert np.mean(estimates) == pytest.approx(0.09, abs=0.015)


def test_divergence_magnitude_is_near_zero_under_the_sharp_null_and_interval_contains_it():
    rng = np.random.default_rng(12)
    values = [stats.divergence_magnitude(simulate(rng, 100, 4), rng=rng) for _ in range(10)]
    naive = np.mean([(g.observed - g.unobserved) ** 2 for g in
                     stats.item_table(simulate(rng, 100, 4)).itertuples()])
    assert np.mean([v[0] for v in values]) < 0.08 < math.sqrt(naive)
    assert all(low <= est <= high for est, low, high in values)


def _exact_null_moments(frame: pd.DataFrame) -> tuple[float, float]:
    """Mean and variance of the permutation null, from every relabelling of each item (items
    are relabelled independently, so their moments add)."""
    mean = var = 0.0
    for _, group in frame.groupby("item_id"):
        values = group["value"].to_numpy()
        n_obs = int((group["arm"] == "observed").sum())
        terms = np.array([(values[list(c)].mean() - np.delete(values, list(c)).mean()) ** 2
                          for c in itertools.combinations(range(values.size), n_obs)])
        mean, var = mean + terms.mean(), var + terms.var()
    return mean, var


def _null_inputs(frame: pd.DataFrame) -> tuple:
    from consistency.analyse.stats import epochs

    codes, observed, values = epochs._repeated_items(frame)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    n_obs = np.add.reduceat(observed.astype(float), starts)
    n_unobs = np.diff(np.r_[starts, codes.size]) - n_obs
    return codes, observed, values, np.add.reduceat(values, starts), n_obs, n_unobs


BINARY_FRAMES = [
    {"a": ([1, 1, 0], [0, 0]), "b": ([0, 1], [1, 1, 1]), "c": ([1, 0], [0, 1])},
    {"a": ([1, 1, 1], [0, 0, 0]), "b": ([0, 0], [1, 0]), "c": ([1, 1], [1, 1]),
     "d": ([0, 1, 0], [1, 0])},
    {"a": ([1, 0, 0, 0], [1, 1]), "b": ([1, 1], [0, 0, 1, 0])},
]


@pytest.mark.parametrize("data", BINARY_FRAMES)
def test_omnibus_on_binary_scores_agrees_with_full_enumeration(data):
    frame = responses(data)
    result = stats.omnibus_test(frame, n_resamples=40000, rng=3)
    assert result.pvalue == pytest.approx(_exact_omnibus(frame), abs=0.01)


def _shared_laws_frame() -> pd.DataFrame:
    # 40 items in four (ones, zeros, n_obs) laws, so items are drawn as multinomial tallies,
    # plus two items with laws of their own
    rng = np.random.default_rng(5)
    data = {}
    for i in range(40):
        obs = [[1, 1, 0], [1, 0], [0, 0, 1, 0], [1, 1, 1]][i % 4]
        unobs = [[0, 1], [1, 0], [1, 0], [0, 0, 1]][i % 4]
        data[f"i{i}"] = (rng.permutation(obs).tolist(), rng.permutation(unobs).tolist())
    data["x"], data["y"] = ([1, 0, 0, 0], [1, 1]), ([0, 1, 1, 1, 1], [1, 0])
    return responses(data)


@pytest.mark.parametrize("frame", [responses(d) for d in BINARY_FRAMES] + [_shared_laws_frame()])
def test_hypergeometric_null_has_the_permutation_null_mean_and_variance(frame):
    # the binary shortcut must draw from the same distribution as relabelling responses
    from consistency.analyse.stats import epochs

    mean, var = _exact_null_moments(frame)
    codes, observed, values, ones, n_obs, n_unobs = _null_inputs(frame)
    draws = 200_000
    fast = epochs._hypergeometric_null(ones, n_obs, n_unobs, draws, np.random.default_rng(1))
    slow = epochs._permutation_null(codes, observed, values, draws, np.random.default_rng(2))
    for null in (fast, slow):
        assert null.mean() == pytest.approx(mean, abs=5 * math.sqrt(var / draws))
        assert null.var() == pytest.approx(var, rel=0.03)


def test_hypergeometric_and_permutation_nulls_give_the_same_pvalue():
    from consistency.analyse.stats import epochs

    # 60 items with four responses per arm: 7 laws, so most items are drawn as tallies
    frame = simulate(np.random.default_rng(6), 60, 4, np.where(np.arange(60) % 2, 0.15, -0.15))
    observed_stat = stats.omnibus_test(frame, 1, rng=0).statistic
    codes, observed, values, ones, n_obs, n_unobs = _null_inputs(frame)
    fast = epochs._hypergeometric_null(ones, n_obs, n_unobs, 20000, np.random.default_rng(3))
    slow = epochs._permutation_null(codes, observed, values, 20000, np.random.default_rng(4))
    p_fast, p_slow = (np.mean(n >= observed_stat - 1e-9) for n in (fast, slow))
    assert 0.05 < p_slow < 0.95 and p_fast == pytest.approx(p_slow, abs=0.02)


def test_omnibus_mixes_binary_and_graded_items_in_one_statistic():
    frame = responses({"a": ([1, 1, 0.5], [0, 0.25]), "b": ([0, 0], [1, 1]),
                       "c": ([1, 0, 1], [0, 0]), "d": ([0.2, 0.9], [0.4, 0.1])})
    result = stats.omnibus_test(frame, n_resamples=40000, rng=0)
    assert result.pvalue == pytest.approx(_exact_omnibus(frame), abs=0.01)
    assert result.n_items == 4
