"""The item bootstrap interval keeps its coverage with few items (expanded percentile)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as sps

from consistency.analyse import stats
from consistency.analyse.stats.epochs import expanded_tail


def _item_differences(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-item mean differences of 3 observed and 3 unobserved responses; item base rates
    U(0.05, 0.95) and item effects +-0.25 with population mean 0."""
    base = rng.uniform(0.05, 0.95, n)
    moved = np.clip(base + rng.choice([-0.25, 0.25], n), 0, 1)
    return (rng.binomial(3, moved) - rng.binomial(3, base)) / 3


def test_coverage_at_twelve_items_is_near_nominal():
    rng = np.random.default_rng(12)
    # population mean of d: the clipping at 0 and 1 makes it not exactly 0
    mu = _item_differences(np.random.default_rng(99), 400_000).mean()
    sims = 600
    hits = sum(low <= mu <= high for low, high in
               (stats.bootstrap_interval(_item_differences(rng, 12), 0.95, 999, rng)
                for _ in range(sims)))
    # the plain percentile interval covers about 0.905 here (benchmarks/simulate_bootstrap.py)
    assert hits / sims >= 0.95 - 2 * np.sqrt(0.95 * 0.05 / sims)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_expanded_interval_is_scipys_percentile_interval_at_the_expanded_level(alternative):
    d = np.random.default_rng(3).normal(0.1, 0.3, 12)
    sides = 2 if alternative == "two-sided" else 1
    tail = expanded_tail(0.05 / sides, d.size)
    # the expansion is t_{n-1} against the normal, and sqrt(n / (n - 1)) for the bootstrap's sd
    assert sps.norm.isf(tail) == pytest.approx(np.sqrt(12 / 11) * sps.t.isf(0.05 / sides, 11))
    ours = stats.bootstrap_interval(d, 0.95, 40000, rng=1, alternative=alternative)
    ref = sps.bootstrap((d,), np.mean, confidence_level=1 - sides * tail, n_resamples=40000,
                        method="percentile", random_state=2,
                        alternative=alternative).confidence_interval
    expected = (max(ref.low, -1.0), min(ref.high, 1.0))
    np.testing.assert_allclose(ours, expected, atol=0.01)


def test_the_expansion_vanishes_with_many_items():
    assert expanded_tail(0.025, 100_000) == pytest.approx(0.025, rel=1e-3)
    assert expanded_tail(0.025, 1) == 0.025
