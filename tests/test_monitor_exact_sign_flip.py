"""``monitor``'s nightly test of the item means: the exact sign-flip p on a lattice.

It replaced the sub-Gaussian bound (far too conservative at the levels a night is tested at), so
it is checked independently: against enumeration of every sign vector, against
``scipy.stats.permutation_test``, against the bound it replaced, and by simulation under the
population null at its edges (few items, ties, zeros, values off the lattice).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from consistency.analyse.stats.nightly import (
    population_monitor,
    sign_flip_bound_p,
    sign_flip_lattice_p,
)


def _enumerated(m: np.ndarray) -> float:
    signs = np.array(list(itertools.product([-1, 1], repeat=m.size)))
    return float(np.mean(np.abs(signs @ m) >= abs(m.sum()) - 1e-9))


@pytest.mark.parametrize("seed", range(25))
def test_on_lattice_values_it_equals_enumeration_of_every_sign_vector(seed):
    # item means of 0/1 differences over 2 epochs and 3 nights: multiples of 1/6
    rng = np.random.default_rng(seed)
    m = rng.integers(-6, 7, int(rng.integers(2, 13))) / 6
    assert sign_flip_lattice_p(m, scale=6) == pytest.approx(_enumerated(m), abs=1e-12)
    # the default scale is finer than 1/6 here, so the rounding is exact too
    assert sign_flip_lattice_p(m) == pytest.approx(_enumerated(m), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_it_equals_scipys_exact_sign_flip_permutation_test(seed):
    rng = np.random.default_rng(100 + seed)
    m = rng.integers(-8, 9, 11) / 8
    reference = scipy_stats.permutation_test(
        (m,), lambda x, axis: np.abs(np.sum(x, axis=axis)), permutation_type="samples",
        alternative="greater", n_resamples=np.inf, vectorized=True).pvalue
    assert sign_flip_lattice_p(m) == pytest.approx(reference, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_the_bound_it_replaced_is_never_below_it(seed):
    rng = np.random.default_rng(200 + seed)
    m = rng.integers(-12, 13, int(rng.integers(3, 40))) / 12
    assert sign_flip_bound_p(m) >= sign_flip_lattice_p(m) - 1e-12


def test_a_uniform_fall_is_resolved_far_below_the_bound():
    # 30 items all moved: the exact p is 2/2^30, the bound only 2 exp(-15)
    m = np.full(30, -0.25)
    assert sign_flip_lattice_p(m) == pytest.approx(2 / 2 ** 30)
    assert sign_flip_bound_p(m) == pytest.approx(2 * np.exp(-15))


def test_edges_no_signal_gives_p_1_and_zeros_do_not_count():
    assert sign_flip_lattice_p(np.zeros(5)) == 1.0
    assert sign_flip_lattice_p(np.array([])) == 1.0
    assert sign_flip_lattice_p(np.array([0.5, -0.5])) == 1.0
    assert sign_flip_lattice_p(np.array([0.5, 0.0, 0.0])) == pytest.approx(1.0)
    assert sign_flip_lattice_p(np.array([0.5, 0.5, 0.0])) == pytest.approx(0.5)
    assert sign_flip_lattice_p(np.array([np.nan, 0.5, 0.5])) == pytest.approx(0.5)


@pytest.mark.parametrize("items", [3, 8, 30])
def test_off_lattice_values_rounded_keep_the_level_under_the_null(items):
    # continuous, skewed |m_i| with symmetric signs: P(p <= a) <= a at several levels
    rng = np.random.default_rng(items)
    sims = 4000
    ps = np.array([sign_flip_lattice_p(rng.choice([-1, 1], items) * rng.exponential(1, items),
                                       span=40) for _ in range(sims)])
    for a in (0.01, 0.05, 0.25):
        assert np.mean(ps <= a) <= a + 2.6 * np.sqrt(a * (1 - a) / sims)


def test_lattice_p_is_valid_at_every_level_with_heavy_ties():
    # 0/1 differences near a ceiling: most item means 0, a few +-1/2 or +-1
    rng = np.random.default_rng(5)
    sims, items = 4000, 12
    ps = np.array([sign_flip_lattice_p(rng.choice([-1, 1], items)
                                       * rng.choice([0, 0, 0, 0.5, 1], items))
                   for _ in range(sims)])
    for a in (0.01, 0.05, 0.1):
        assert np.mean(ps <= a) <= a + 2.6 * np.sqrt(a * (1 - a) / sims)


def test_false_alarms_over_thirty_nights_at_the_ceiling_stay_below_alpha():
    # the monitor under the population null at the edge the bound hid: few items, 0/1 data near
    # the ceiling, item effects +-0.25 with mean 0 over the population, alpha 0.05 and 0.2
    rng = np.random.default_rng(21)
    sims = 300
    alarms = {0.05: 0, 0.2: 0}
    for _ in range(sims):
        items = 10
        effects = rng.choice([-0.25, 0.25], items)
        base = rng.uniform(0.70, 0.75, items)
        nights = [pd.Series(rng.binomial(2, base + effects) / 2 - rng.binomial(2, base) / 2,
                            index=[f"i{k}" for k in range(items)]) for _ in range(30)]
        for alpha in alarms:
            alarms[alpha] += population_monitor(nights, alpha=alpha).alarmed
    for alpha, count in alarms.items():
        assert count / sims <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / sims)


def test_a_real_fall_of_a_quarter_is_found_within_a_week():
    # what the bound missed for 20 nights in the benchmark: 30 items, 2 epochs, -0.25 observed
    rng = np.random.default_rng(22)
    base = rng.uniform(0.80, 1.00, 30)
    nights = [pd.Series(rng.binomial(2, base - 0.25) / 2 - rng.binomial(2, base) / 2,
                        index=[f"i{k}" for k in range(30)]) for _ in range(7)]
    assert population_monitor(nights, alpha=0.05 / 49).alarmed
