"""Specification of consistency.analyse.stats.distributions: the scipy.special-based stand-ins for the
scipy.stats methods the package used to call, checked against scipy.stats itself.

Tolerances: the normal and t functions call the very kernels scipy.stats calls (ndtr, ndtri,
stdtr, stdtrit), and beta_ppf agrees bit for bit over the package's domain (a, b >= 1), so those
are held to 1e-14. The binomial functions differ in kernel: scipy.stats uses Boost's binomial
distribution, these use cephes' bdtr/bdtrc and a gammaln sum for the pmf, whose rounding
error grows with the size of the log-gamma terms (~log n!): measured 1.6e-11 at n = 5000,
~2e-12 at n = 1000 (exact rational arithmetic puts Boost at ~1e-14 at n = 5000), hence
rtol 1e-10, far below anything a p value or a planned sample size could notice.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps

from consistency.analyse.stats import distributions as dist

TINY = 1e-300  # below this (subnormals) relative error is meaningless; compare absolutely


def assert_matches(ours, reference, rtol: float) -> None:
    """Same shape, same NaNs and infinities, relative error <= rtol above TINY."""
    ours, reference = np.asarray(ours, dtype=float), np.asarray(reference, dtype=float)
    assert ours.shape == reference.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(reference))
    finite = np.isfinite(reference)
    np.testing.assert_array_equal(ours[~finite & ~np.isnan(reference)],
                                  reference[~finite & ~np.isnan(reference)])
    big = finite & (np.abs(reference) >= TINY)
    np.testing.assert_allclose(ours[big], reference[big], rtol=rtol, atol=0)
    small = finite & ~big
    np.testing.assert_allclose(ours[small], reference[small], rtol=0, atol=TINY)


# Points on both sides, deep into the tails (38 is where the normal tail underflows), and the
# non-finite ones.
X = np.concatenate([-np.geomspace(1e-3, 40, 200)[::-1], [0.0], np.geomspace(1e-3, 40, 200),
                    [-np.inf, np.inf, np.nan]])
# Probabilities from 1e-300 through the middle to 1 - 1e-15, the ends, and out of range.
Q = np.concatenate([np.geomspace(1e-300, 1e-2, 200), [1e-12], np.linspace(0.01, 0.99, 99),
                    1 - np.geomspace(1e-2, 1e-15, 50), [0.0, 1.0, -0.1, 1.1, np.nan]])
DF = np.concatenate([np.arange(1, 31), np.geomspace(31, 1000, 30).round(), [1e4, 1e6, np.inf],
                     [0.5, 2.5], [0.0, -1.0, np.nan]])


@pytest.mark.parametrize("name", ["cdf", "sf"])
def test_normal_tails_match_scipy(name):
    assert_matches(getattr(dist, f"norm_{name}")(X), getattr(sps.norm, name)(X), rtol=1e-14)


@pytest.mark.parametrize("name", ["ppf", "isf"])
def test_normal_quantiles_match_scipy(name):
    assert_matches(getattr(dist, f"norm_{name}")(Q), getattr(sps.norm, name)(Q), rtol=1e-14)


def test_normal_isf_is_accurate_in_the_far_upper_tail():
    # -ndtri(q), not ndtri(1 - q): 1 - 1e-20 rounds to 1 and would give +inf.
    assert dist.norm_isf(1e-20) == pytest.approx(9.262340089798408, rel=1e-14)
    assert dist.norm_sf(9.262340089798408) == pytest.approx(1e-20, rel=1e-13)


@pytest.mark.parametrize("name", ["cdf", "sf"])
def test_t_tails_match_scipy(name):
    x, df = np.meshgrid(X, DF)
    assert_matches(getattr(dist, f"t_{name}")(x, df), getattr(sps.t, name)(x, df), rtol=1e-14)


@pytest.mark.parametrize("name", ["ppf", "isf"])
def test_t_quantiles_match_scipy(name):
    q, df = np.meshgrid(Q, DF)
    assert_matches(getattr(dist, f"t_{name}")(q, df), getattr(sps.t, name)(q, df), rtol=1e-14)


def test_t_quantiles_at_the_ends_are_the_infinite_ends():
    # stdtrit itself returns +inf for both q = 0 and q = 1; scipy.stats maps them to the support.
    assert dist.t_ppf(0.0, 5) == -np.inf and dist.t_ppf(1.0, 5) == np.inf
    assert dist.t_isf(0.0, 5) == np.inf and dist.t_isf(1.0, 5) == -np.inf


N = [0, 1, 2, 3, 10, 37, 100, 1000, 5000]
P = [0.0, 1e-12, 1e-6, 0.01, 0.1, 0.3, 0.5, 0.7, 0.99, 1 - 1e-9, 1.0]


@pytest.mark.parametrize("name", ["pmf", "cdf", "sf"])
@pytest.mark.parametrize("n", N)
def test_binomial_matches_scipy_over_all_k(name, n):
    k = np.arange(-2, n + 3)  # includes k = -1, k = n and k beyond n
    ks, ps = np.meshgrid(k, P)
    ours = getattr(dist, f"binom_{name}")(ks, n, ps)
    assert_matches(ours, getattr(sps.binom, name)(ks, n, ps), rtol=1e-10)


def test_binomial_edges_are_exact():
    assert dist.binom_cdf(-1, 10, 0.3) == 0.0 and dist.binom_sf(-1, 10, 0.3) == 1.0
    assert dist.binom_cdf(10, 10, 0.3) == 1.0 and dist.binom_sf(10, 10, 0.3) == 0.0
    assert dist.binom_cdf(11, 10, 0.3) == 1.0 and dist.binom_sf(11, 10, 0.3) == 0.0
    assert dist.binom_pmf(-1, 10, 0.3) == 0.0 and dist.binom_pmf(11, 10, 0.3) == 0.0
    for n in (0, 1, 7, 5000):
        assert dist.binom_pmf(0, n, 0.0) == 1.0 and dist.binom_pmf(n, n, 1.0) == 1.0
        assert dist.binom_cdf(0, n, 0.0) == 1.0 and dist.binom_sf(n - 1, n, 1.0) == 1.0
    assert dist.binom_pmf(1, 7, 0.0) == 0.0 and dist.binom_pmf(6, 7, 1.0) == 0.0
    assert dist.binom_cdf(5, 7, 1.0) == 0.0 and dist.binom_sf(0, 7, 0.0) == 0.0


def test_binomial_conventions_follow_scipy():
    # Non-integer k: the cdf and sf round down, the pmf is 0 (scipy.stats' _nonzero rule).
    assert dist.binom_cdf(2.7, 10, 0.3) == pytest.approx(sps.binom.cdf(2, 10, 0.3), rel=1e-14)
    assert dist.binom_sf(2.7, 10, 0.3) == pytest.approx(sps.binom.sf(2, 10, 0.3), rel=1e-14)
    assert dist.binom_pmf(2.5, 10, 0.3) == 0.0 == sps.binom.pmf(2.5, 10, 0.3)
    # Outside the parameter domain: NaN, as scipy.stats.
    for args in [(2, 10, -0.1), (2, 10, 1.1), (2, -1, 0.5), (2, 10.5, 0.5), (np.nan, 10, 0.5),
                 (2, 10, np.nan)]:
        for name in ("pmf", "cdf", "sf"):
            ours, ref = getattr(dist, f"binom_{name}")(*args), getattr(sps.binom, name)(*args)
            assert np.isnan(ours) and np.isnan(ref), (name, args)


def test_binomial_broadcasts_like_the_call_sites_use_it():
    m = np.arange(50)  # power.mcnemar_power: n varies along the array, k shifts with it
    k = m // 2
    assert_matches(dist.binom_sf(k - 1, m, 0.3), sps.binom.sf(k - 1, m, 0.3), rtol=1e-12)
    assert_matches(dist.binom_cdf(k, m, 0.3), sps.binom.cdf(k, m, 0.3), rtol=1e-12)
    assert_matches(dist.binom_pmf(m, 49, 0.2), sps.binom.pmf(m, 49, 0.2), rtol=1e-12)


def test_beta_ppf_matches_scipy_where_the_package_uses_it():
    # Clopper-Pearson bounds: beta_ppf(tail, b, c + 1) and beta_ppf(1 - tail, b + 1, c) with
    # integer counts, so a, b >= 1.
    shape = np.array([1, 2, 3, 5, 7, 10, 20, 50, 100, 300, 1000, 2000, 5000], dtype=float)
    q = np.concatenate([[0.0, 1e-12, 1e-9, 1e-6, 1e-4, 0.005, 0.025, 0.975, 0.995, 1 - 1e-6,
                         1 - 1e-12, 1.0, -0.1, 1.1, np.nan], np.linspace(0.01, 0.99, 50)])
    qs, a, b = np.meshgrid(q, shape, shape, indexing="ij")
    assert_matches(dist.beta_ppf(qs, a, b), sps.beta.ppf(qs, a, b), rtol=1e-14)
    assert np.isnan(dist.beta_ppf(0.5, 0.0, 3.0)) and np.isnan(dist.beta_ppf(0.5, 2.0, -1.0))


def test_beta_ppf_inverts_the_cdf_where_scipy_stats_does_not():
    # For a < 1 and tiny q, Boost's root finder behind scipy.stats.beta.ppf gives up (with a
    # RuntimeWarning) and returns a value whose cdf is ~0.07 q; betaincinv gets it right.
    for q, a, b in [(1e-12, 0.5, 2.0), (1e-9, 0.5, 3.0), (1e-12, 0.5, 0.5)]:
        x = dist.beta_ppf(q, a, b)
        assert special.betainc(a, b, x) == pytest.approx(q, rel=1e-13)


def test_scalars_in_give_numpy_scalars_out_and_arrays_give_arrays():
    for value in (dist.norm_cdf(0.3), dist.t_ppf(0.975, 9), dist.binom_pmf(3, 10, 0.5),
                  dist.binom_cdf(3, 10, 0.5), dist.binom_sf(3, 10, 0.5),
                  dist.beta_ppf(0.025, 3, 8)):
        assert isinstance(value, np.float64)
    assert dist.binom_sf(np.arange(3), 10, 0.5).shape == (3,)
    assert dist.t_sf([[0.1], [0.2]], [3, 4, 5]).shape == (2, 3)


def test_importing_the_analysis_does_not_import_scipy_stats():
    # scipy.stats added ~0.4 s to every start-up; this keeps it from creeping back in.
    code = "import consistency.analyse.battery, sys; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", out.stderr
