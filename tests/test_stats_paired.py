"""Specification of consistency.analyse.stats.paired: McNemar mid-p, Tango, sign flip, dispatcher."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from consistency.analyse import stats

FAST = settings(max_examples=40, deadline=None)


# ----------------------------------------------------------------------------- helpers
def frame_from_items(
    items: list[tuple[list[float], list[float]]], prefix: str = "i"
) -> pd.DataFrame:
    """Tidy frame from per-item (observed values, unobserved values)."""
    rows = []
    for k, (obs, unobs) in enumerate(items):
        rows += [(f"{prefix}{k}", "observed", v) for v in obs]
        rows += [(f"{prefix}{k}", "unobserved", v) for v in unobs]
    return pd.DataFrame(rows, columns=["item_id", "arm", "value"])


def swap_arms(frame: pd.DataFrame) -> pd.DataFrame:
    swapped = {"observed": "unobserved", "unobserved": "observed"}
    return frame.assign(arm=frame["arm"].map(swapped))


def brute_force_score(b: int, c: int, n: int, deltas: np.ndarray) -> np.ndarray:
    """Tango's score statistic with the constrained MLE found numerically, not in closed form.

    For each delta0 the multinomial log-likelihood in q = p21 (p12 = q + delta0) is concave on
    [max(0, -delta0), (1 - delta0) / 2]; a vectorised golden-section search maximises it.
    """
    lo = np.maximum(0.0, -deltas)
    hi = (1.0 - deltas) / 2.0
    rest = n - b - c

    def loglik(q: np.ndarray) -> np.ndarray:
        return (special.xlogy(b, q + deltas) + special.xlogy(c, q)
                + special.xlogy(rest, np.maximum(1.0 - 2.0 * q - deltas, 0.0)))

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(80):
        x1 = hi - ratio * (hi - lo)
        x2 = lo + ratio * (hi - lo)
        left_better = loglik(x1) >= loglik(x2)
        hi = np.where(left_better, x2, hi)
        lo = np.where(left_better, lo, x1)
    q = (lo + hi) / 2.0
    variance = n * (2.0 * q + deltas * (1.0 - deltas))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (b - c - n * deltas) / np.sqrt(variance)


# ----------------------------------------------------------------------------- McNemar mid-p
def test_mcnemar_midp_reproduces_fagerland_2013_worked_example():
    # Fagerland, Lydersen & Laake (2013, BMC Med Res Methodol 13:91), Table 1 and supplementary
    # "How to calculate the McNemar mid-p test": AHR before/after stem cell transplantation in
    # 21 children (Bentur et al. 2009), n12 = 1, n21 = 7. Their formulas (1)-(2), by hand:
    #   X ~ Binomial(8, 1/2);  P(X <= 1) = (C(8,0) + C(8,1)) / 2^8 = 9/256;  P(X = 1) = 8/256
    #   exact = 2 * 9/256 = 18/256 = 0.0703125     mid-p = 18/256 - 8/256 = 10/256 = 0.0390625
    result = stats.mcnemar_midp(1, 7)
    assert result.pvalue_exact == pytest.approx(18 / 256, abs=1e-12)
    assert result.pvalue == pytest.approx(10 / 256, abs=1e-12)
    assert result.statistic == 1 and (result.b, result.c) == (1, 7)


@pytest.mark.parametrize("b", [0, 1, 2, 5, 9, 13, 25])
@pytest.mark.parametrize("c", [0, 1, 3, 8, 13, 40])
def test_mcnemar_exact_pvalue_matches_statsmodels(b, c):
    reference = sm_mcnemar(np.array([[10, b], [c, 10]]), exact=True).pvalue
    assert stats.mcnemar_midp(b, c).pvalue_exact == pytest.approx(reference, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize(("b", "c"), [(3, 9), (12, 4), (0, 6), (20, 31)])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_mcnemar_one_sided_exact_matches_scipy_binomtest(b, c, alternative):
    reference = sps.binomtest(b, b + c, 0.5, alternative=alternative).pvalue
    assert stats.mcnemar_midp(b, c, alternative).pvalue_exact == pytest.approx(reference, rel=1e-10)


def test_mcnemar_one_sided_midp_by_hand_and_complementary():
    # b = 7, c = 1, X ~ Binomial(8, 1/2): P(X > 7) + P(X = 7)/2 = 1/256 + 4/256 = 5/256
    greater = stats.mcnemar_midp(7, 1, "greater").pvalue
    less = stats.mcnemar_midp(7, 1, "less").pvalue
    assert greater == pytest.approx(5 / 256, abs=1e-12)
    assert greater + less == pytest.approx(1.0, abs=1e-12)  # mid-p one-sided values sum to 1


def test_mcnemar_tie_uses_fagerland_convention():
    # b = c = 3: mid-p = 1 - P(X = 3)/2 with X ~ Binomial(6, 1/2) = 1 - 10/64
    result = stats.mcnemar_midp(3, 3)
    assert result.pvalue == pytest.approx(1 - 10 / 64, abs=1e-12)
    assert result.pvalue_exact == 1.0


def test_mcnemar_without_discordant_pairs_has_pvalue_one():
    for alternative in stats.ALTERNATIVES:
        assert stats.mcnemar_midp(0, 0, alternative).pvalue == 1.0


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"b": -1, "c": 2}, "b must"), ({"b": 1.5, "c": 2}, "b must"), ({"b": 1, "c": True}, "c must"),
    ({"b": 1, "c": 2, "alternative": "two.sided"}, "alternative must be one of"),
])
def test_mcnemar_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        stats.mcnemar_midp(**kwargs)


@given(b=st.integers(0, 60), c=st.integers(0, 60))
@FAST
def test_mcnemar_swapping_counts_keeps_two_sided_and_mirrors_one_sided(b, c):
    assert stats.mcnemar_midp(b, c).pvalue == pytest.approx(stats.mcnemar_midp(c, b).pvalue)
    assert stats.mcnemar_midp(b, c, "greater").pvalue == pytest.approx(
        stats.mcnemar_midp(c, b, "less").pvalue)


# ----------------------------------------------------------------------------- Tango interval
@pytest.mark.parametrize(("b", "c", "n"), [
    (1, 7, 21), (0, 0, 10), (5, 0, 5), (0, 10, 10), (40, 20, 160), (12, 2, 50), (3, 3, 30),
    (1, 0, 30), (0, 1, 1), (9, 2, 44),
])
def test_tango_ci_matches_brute_force_inversion_of_score_test(b, c, n):
    # Independent check: the score test with a numerically maximised nuisance parameter,
    # inverted on a fine grid; the accepted set must be one interval with the same ends.
    z = sps.norm.isf(0.025)
    grid = np.linspace(-1.0, 1.0, 4001)[1:-1]
    accepted = np.flatnonzero(np.abs(brute_force_score(b, c, n, grid)) <= z)
    assert np.all(np.diff(accepted) == 1), "score-test acceptance region is not an interval"
    step = grid[1] - grid[0]
    low, high = stats.tango_ci(b, c, n)
    expected_low = -1.0 if accepted[0] == 0 else grid[accepted[0]]
    expected_high = 1.0 if accepted[-1] == grid.size - 1 else grid[accepted[-1]]
    assert low == pytest.approx(expected_low, abs=1.5 * step)
    assert high == pytest.approx(expected_high, abs=1.5 * step)


def test_tango_score_at_zero_is_asymptotic_mcnemar_z():
    # Tango (1998): at delta0 = 0 the score statistic is (b - c) / sqrt(b + c).
    for b, c, n in [(1, 7, 21), (40, 20, 160), (5, 5, 12)]:
        assert stats.tango_score(b, c, n, 0.0) == pytest.approx((b - c) / math.sqrt(b + c))


def test_tango_ci_excludes_zero_exactly_when_asymptotic_mcnemar_rejects():
    # Bentur example: z = -6/sqrt(8) = -2.12 -> two-sided p = 0.034 < 0.05, so 0 is excluded.
    low, high = stats.tango_ci(1, 7, 21)
    assert low < high < 0
    low, high = stats.tango_ci(4, 9, 21)  # z = -5/sqrt(13) = -1.39: not significant
    assert low < 0 < high


def test_tango_ci_with_no_discordant_pairs_has_closed_form():
    # b = c = 0: the score equation reduces to n d / (1 - d) = z^2, so the limits are -+z^2/(n+z^2)
    z2 = sps.norm.isf(0.025) ** 2
    low, high = stats.tango_ci(0, 0, 10)
    assert high == pytest.approx(z2 / (10 + z2), abs=1e-9)
    assert low == pytest.approx(-high, abs=1e-12)


def test_tango_ci_reaches_the_boundary_when_all_pairs_discordant_one_way():
    assert stats.tango_ci(10, 0, 10)[1] == 1.0
    assert stats.tango_ci(0, 10, 10)[0] == -1.0


@pytest.mark.parametrize(("args", "word"), [
    ((1, 1, 0), "n must"), ((3, 4, 5), "must not exceed n"), ((1, 1, 10, 1.0), "confidence"),
    ((1, -1, 10), "c must"),
])
def test_tango_ci_rejects_bad_arguments(args, word):
    with pytest.raises(ValueError, match=word):
        stats.tango_ci(*args)


def test_tango_ci_covers_the_true_difference_about_95_percent():
    rng = np.random.default_rng(20240601)
    n, probs = 60, [0.3, 0.2, 0.1, 0.4]  # p11, p12 (b), p21 (c), p22; true delta = 0.1
    draws = rng.multinomial(n, probs, size=2000)
    cache: dict[tuple[int, int], tuple[float, float]] = {}
    hits = 0
    for b, c in draws[:, 1:3]:
        key = (int(b), int(c))
        if key not in cache:
            cache[key] = stats.tango_ci(key[0], key[1], n)
        hits += cache[key][0] <= 0.1 <= cache[key][1]
    assert 0.93 <= hits / 2000 <= 0.97


@given(n=st.integers(1, 80), data=st.data())
@FAST
def test_tango_ci_mirrors_under_swap_contains_estimate_and_nests(n, data):
    b = data.draw(st.integers(0, n))
    c = data.draw(st.integers(0, n - b))
    low, high = stats.tango_ci(b, c, n)
    mirrored = stats.tango_ci(c, b, n)
    assert mirrored[0] == pytest.approx(-high, abs=1e-9)
    assert mirrored[1] == pytest.approx(-low, abs=1e-9)
    assert -1.0 <= low <= (b - c) / n <= high <= 1.0
    narrow, wide = stats.tango_ci(b, c, n, 0.8), stats.tango_ci(b, c, n, 0.99)
    assert wide[0] <= low + 1e-12 <= narrow[0] + 2e-12
    assert narrow[1] <= high + 1e-12 <= wide[1] + 2e-12


# ----------------------------------------------------------------------------- sign flip
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_sign_flip_exact_matches_scipy_permutation_test(alternative):
    rng = np.random.default_rng(7)
    obs, unobs = rng.random(11), rng.random(11)
    reference = sps.permutation_test(
        (obs, unobs), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
        permutation_type="samples", n_resamples=np.inf, alternative=alternative,
    ).pvalue
    result = stats.sign_flip_test(obs - unobs, alternative)
    assert result.exact and result.n_resamples == 2**11
    assert result.pvalue == pytest.approx(reference, rel=1e-12)


def test_sign_flip_monte_carlo_agrees_with_enumeration():
    d = np.random.default_rng(3).normal(0.15, 1.0, 16)
    exact = stats.sign_flip_test(d, n_resamples=2**16)  # enumerates all 65536 patterns
    sampled = stats.sign_flip_test(d, n_resamples=20000, rng=1)
    assert exact.exact and not sampled.exact
    assert sampled.pvalue == pytest.approx(exact.pvalue, abs=0.01)


def test_sign_flip_monte_carlo_pvalue_is_never_zero():
    result = stats.sign_flip_test(np.full(40, 0.5), n_resamples=999, rng=0)
    assert result.pvalue == pytest.approx(1 / 1000)


def test_sign_flip_ignores_zero_differences_when_flipping():
    result = stats.sign_flip_test([0.0, 0.0, 0.5, 0.0])
    assert (result.n, result.n_nonzero, result.n_resamples) == (4, 1, 2)
    assert result.statistic == pytest.approx(0.125) and result.pvalue == 1.0
    assert stats.sign_flip_test(np.zeros(5)).pvalue == 1.0


def test_sign_flip_is_reproducible_with_a_seed():
    d = np.random.default_rng(5).normal(size=50)
    assert stats.sign_flip_test(d, rng=11).pvalue == stats.sign_flip_test(d, rng=11).pvalue


@pytest.mark.parametrize(("d", "kwargs", "word"), [
    ([0.1, np.nan], {}, "NaN"), ([[0.1, 0.2]], {}, "1-D"), ([], {}, "non-empty"),
    ([0.1], {"n_resamples": 0}, "n_resamples"), ([0.1], {"alternative": "up"}, "alternative"),
])
def test_sign_flip_rejects_bad_arguments(d, kwargs, word):
    with pytest.raises(ValueError, match=word):
        stats.sign_flip_test(d, **kwargs)


# ----------------------------------------------------------------------------- dispatcher
def test_dispatcher_uses_mcnemar_for_one_binary_value_per_arm():
    items = ([([1.0], [0.0])] * 6 + [([0.0], [1.0])] * 2
             + [([1.0], [1.0])] * 4 + [([0.0], [0.0])] * 3)
    result = stats.paired_test(frame_from_items(items))
    assert result.method == "mcnemar_midp" and (result.b, result.c) == (6, 2)
    assert result.n_items == 15
    assert result.rate_observed == pytest.approx(10 / 15)
    assert result.rate_unobserved == pytest.approx(6 / 15)
    assert result.difference == pytest.approx(4 / 15)
    assert result.pvalue == pytest.approx(stats.mcnemar_midp(6, 2).pvalue)
    assert (result.ci_low, result.ci_high) == stats.tango_ci(6, 2, 15, 0.95)


def test_dispatcher_uses_sign_flip_when_an_item_has_repeats():
    items = [([1.0], [0.0])] * 6 + [([1.0, 0.0], [1.0, 1.0])]
    result = stats.paired_test(frame_from_items(items), rng=0)
    assert result.method == "sign_flip" and result.b is None and result.c is None


def test_dispatcher_relabels_within_items_when_an_arm_has_more_responses():
    items = [([1.0], [0.0])] * 6 + [([1.0, 0.0], [1.0])]
    result = stats.paired_test(frame_from_items(items), rng=0)
    assert result.method == "relabel" and result.b is None and result.c is None


def test_dispatcher_uses_sign_flip_for_graded_scores():
    items = [([0.7], [0.2]), ([0.4], [0.5]), ([1.0], [0.0])]
    assert stats.paired_test(frame_from_items(items)).method == "sign_flip"


def test_sign_flip_path_interval_matches_scipy_ttest_rel():
    rng = np.random.default_rng(9)
    obs, unobs = rng.random(25), rng.random(25)
    frame = frame_from_items([([o], [u]) for o, u in zip(obs, unobs)])
    result = stats.paired_test(frame, confidence=0.9, rng=0)
    reference = sps.ttest_rel(obs, unobs).confidence_interval(0.9)
    assert result.ci_low == pytest.approx(reference.low, rel=1e-10)
    assert result.ci_high == pytest.approx(reference.high, rel=1e-10)
    assert result.sd_difference == pytest.approx(np.std(obs - unobs, ddof=1))


def test_items_are_averaged_over_repeats_before_differencing():
    items = [([1.0, 0.0, 0.0], [1.0]), ([0.5, 1.0], [0.0, 0.0])]
    result = stats.paired_test(frame_from_items(items))
    assert result.rate_observed == pytest.approx((1 / 3 + 0.75) / 2)
    assert result.rate_unobserved == pytest.approx(0.5)
    assert result.difference == pytest.approx(result.rate_observed - 0.5)


def test_items_missing_an_arm_are_dropped():
    items = [([1.0], [0.0]), ([0.0], [0.0]), ([1.0], []), ([], [1.0]), ([1.0], [np.nan])]
    result = stats.paired_test(frame_from_items(items))
    assert result.n_items == 2 and result.method == "mcnemar_midp"
    assert (result.b, result.c) == (1, 0)


def test_no_complete_items_gives_an_empty_result_not_an_error():
    result = stats.paired_test(frame_from_items([([1.0], []), ([], [0.0])]))
    assert result.n_items == 0 and result.method == "none"
    assert math.isnan(result.pvalue) and math.isnan(result.difference)
    assert all(math.isnan(x) for x in result.confidence_interval(0.9))
    empty = pd.DataFrame({"item_id": [], "arm": [], "value": []})
    assert stats.paired_test(empty).n_items == 0


@pytest.mark.parametrize(("frame", "word"), [
    (pd.DataFrame({"item_id": ["a"], "value": [1.0]}), "missing columns"),
    (pd.DataFrame({"item_id": ["a"], "arm": ["watched"], "value": [1.0]}), "arm"),
    (pd.DataFrame({"item_id": ["a"], "arm": ["observed"], "value": [1.5]}), r"\[0, 1\]"),
    (pd.DataFrame({"item_id": ["a"], "arm": ["observed"], "value": ["yes"]}), "numeric"),
    ([1, 2], "DataFrame"),
])
def test_paired_test_rejects_malformed_frames(frame, word):
    with pytest.raises(ValueError, match=word):
        stats.paired_test(frame)


def test_paired_test_rejects_bad_options():
    frame = frame_from_items([([1.0], [0.0])])
    with pytest.raises(ValueError, match="alternative"):
        stats.paired_test(frame, alternative="bigger")
    with pytest.raises(ValueError, match="confidence"):
        stats.paired_test(frame, confidence=95)


def test_aggregation_of_a_million_rows_keeps_every_item():
    # Timing lives in benchmarks/, not here: this checks the vectorised path's result.
    rng = np.random.default_rng(0)
    ids = pd.Series([f"item-{i}" for i in range(1000)])
    frame = pd.DataFrame({
        "item_id": ids.iloc[rng.integers(0, 1000, 10**6)].to_numpy(),
        "arm": np.where(rng.random(10**6) < 0.5, "observed", "unobserved"),
        "value": rng.random(10**6),
    })
    result = stats.paired_test(frame, rng=0, n_resamples=99)
    # arms drawn at random: unequal counts per item, so the within-item relabelling test
    assert result.n_items == 1000 and result.method == "relabel"
    means = frame.groupby(["item_id", "arm"])["value"].mean().unstack()
    assert result.difference == pytest.approx((means["observed"] - means["unobserved"]).mean())


item_values = st.lists(st.sampled_from([0.0, 1.0, 0.25, 0.5]), min_size=1, max_size=3)


@given(items=st.lists(st.tuples(item_values, item_values), min_size=1, max_size=25),
       binary=st.booleans())
@FAST
def test_swapping_arms_negates_difference_and_keeps_two_sided_pvalue(items, binary):
    if binary:
        items = [([round(o[0])], [round(u[0])]) for o, u in items]
    frame = frame_from_items(items)
    forward = stats.paired_test(frame, rng=123, n_resamples=999)
    backward = stats.paired_test(swap_arms(frame), rng=123, n_resamples=999)
    assert backward.method == forward.method
    assert backward.difference == pytest.approx(-forward.difference, abs=1e-12)
    assert backward.pvalue == pytest.approx(forward.pvalue, abs=1e-12)
    assert (backward.rate_observed, backward.rate_unobserved) == pytest.approx(
        (forward.rate_unobserved, forward.rate_observed))
    if forward.n_items >= 2:
        assert backward.ci_low == pytest.approx(-forward.ci_high, abs=1e-9)


@given(items=st.lists(st.tuples(item_values, item_values), min_size=2, max_size=25),
       levels=st.tuples(st.floats(0.5, 0.98), st.floats(0.5, 0.98)))
@FAST
def test_intervals_nest_as_confidence_rises(items, levels):
    result = stats.paired_test(frame_from_items(items), n_resamples=99, rng=0)
    low_level, high_level = sorted(levels)
    inner = result.confidence_interval(low_level)
    outer = result.confidence_interval(high_level)
    assert outer[0] <= inner[0] + 1e-9 and inner[1] <= outer[1] + 1e-9


def test_pvalues_are_uniform_under_the_null_on_the_sign_flip_path():
    rng = np.random.default_rng(42)
    pvalues = []
    for _ in range(400):
        base = rng.random(30)
        noise = rng.normal(0, 0.1, (2, 30))
        obs, unobs = np.clip(base + noise[0], 0, 1), np.clip(base + noise[1], 0, 1)
        frame = frame_from_items([([o], [u]) for o, u in zip(obs, unobs)])
        pvalues.append(stats.paired_test(frame, rng=rng, n_resamples=999).pvalue)
    pvalues = np.array(pvalues)
    assert 0.02 <= np.mean(pvalues < 0.05) <= 0.08
    assert sps.kstest(pvalues, "uniform").pvalue > 0.001


def test_mcnemar_path_keeps_its_size_under_the_null():
    rng = np.random.default_rng(43)
    rejections = 0
    for _ in range(400):
        obs = (rng.random(60) < 0.5).astype(float)
        unobs = (rng.random(60) < 0.5).astype(float)
        result = stats.paired_test(frame_from_items([([o], [u]) for o, u in zip(obs, unobs)]))
        assert result.method == "mcnemar_midp"
        rejections += result.pvalue < 0.05
    assert 0.02 <= rejections / 400 <= 0.08
