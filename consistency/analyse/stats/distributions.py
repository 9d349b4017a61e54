"""The few distribution functions the statistics need, written on ``scipy.special``.

Why not ``scipy.stats``: importing it builds every distribution it offers and pulls in
``scipy.interpolate``, ``scipy.ndimage`` and more, which is paid at the start of every
``consistency run`` although the package only evaluates normal, Student t, binomial and beta
tails. Measured: ``import consistency.analyse.battery`` (after pandas) took 0.68 s with it and takes
0.30 s without. ``scipy.special`` (about 0.1 s, and loaded anyway by ``scipy.optimize``) has
the same kernels: ``scipy.stats`` itself calls ``ndtr``/``ndtri`` for the normal and
``stdtr``/``stdtrit`` for the t distribution.

Each function mirrors the ``scipy.stats`` method of the same name: the same argument order
(``t_sf(x, df)``, ``binom_cdf(k, n, p)``, ``beta_ppf(q, a, b)``), the same support and edge
conventions (a binomial cdf is 0 below 0 and 1 from ``n`` on; NaN for parameters outside the
distribution's domain), numpy broadcasting, and a numpy scalar back for scalar input.
``tests/test_stats_distributions.py`` checks every function against ``scipy.stats`` over
grids that include the far tails and the edges, and that ``scipy.stats`` stays unimported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "beta_ppf",
    "binom_cdf",
    "binom_pmf",
    "binom_sf",
    "norm_cdf",
    "norm_isf",
    "norm_ppf",
    "norm_sf",
    "t_cdf",
    "t_isf",
    "t_ppf",
    "t_sf",
]

ArrayLike = npt.ArrayLike


def _out(values: np.ndarray) -> np.ndarray | np.float64:
    """A 0-d result as a numpy scalar (as scipy.stats returns), anything else unchanged."""
    return values[()] if values.ndim == 0 else values


def _floats(*args: ArrayLike) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in args]


# ----------------------------------------------------------------------------- normal
def norm_cdf(x: ArrayLike) -> np.ndarray | np.float64:
    """P(Z <= x) for a standard normal Z."""
    return _out(np.asarray(special.ndtr(np.asarray(x, dtype=np.float64))))


def norm_sf(x: ArrayLike) -> np.ndarray | np.float64:
    """P(Z > x), computed as ``ndtr(-x)`` so the upper tail keeps its relative accuracy."""
    return _out(np.asarray(special.ndtr(-np.asarray(x, dtype=np.float64))))


def norm_ppf(q: ArrayLike) -> np.ndarray | np.float64:
    """The x with P(Z <= x) = q (NaN outside [0, 1])."""
    return _out(np.asarray(special.ndtri(np.asarray(q, dtype=np.float64))))


def norm_isf(q: ArrayLike) -> np.ndarray | np.float64:
    """The x with P(Z > x) = q, as ``-ndtri(q)``: exact for tiny q, where ``ndtri(1 - q)``
    would lose everything to rounding in ``1 - q``."""
    return _out(np.asarray(-special.ndtri(np.asarray(q, dtype=np.float64))))


# ----------------------------------------------------------------------------- Student t
def _t_valid(df: np.ndarray) -> np.ndarray:
    return df > 0  # NaN compares False


def t_cdf(x: ArrayLike, df: ArrayLike) -> np.ndarray | np.float64:
    """P(T <= x) for Student's t with ``df`` degrees of freedom (NaN unless df > 0)."""
    x, df = _floats(x, df)
    return _out(np.where(_t_valid(df), special.stdtr(df, x), np.nan))


def t_sf(x: ArrayLike, df: ArrayLike) -> np.ndarray | np.float64:
    """P(T > x), by symmetry as ``stdtr(df, -x)``."""
    x, df = _floats(x, df)
    return _out(np.where(_t_valid(df), special.stdtr(df, -x), np.nan))


def _t_quantile(q: np.ndarray, df: np.ndarray, lower: bool) -> np.ndarray:
    """Lower (``ppf``) or upper (``isf``) quantile; q = 0 and 1 map to the infinite ends as in
    scipy.stats (``stdtrit`` itself returns +inf at both)."""
    inner = special.stdtrit(df, q)
    value = inner if lower else -inner
    low_end, high_end = (-np.inf, np.inf) if lower else (np.inf, -np.inf)
    value = np.where(q == 0, low_end, np.where(q == 1, high_end, value))
    ok = _t_valid(df) & (q >= 0) & (q <= 1)
    return np.where(ok, value, np.nan)


def t_ppf(q: ArrayLike, df: ArrayLike) -> np.ndarray | np.float64:
    """The x with P(T <= x) = q."""
    q, df = _floats(q, df)
    return _out(_t_quantile(q, df, lower=True))


def t_isf(q: ArrayLike, df: ArrayLike) -> np.ndarray | np.float64:
    """The x with P(T > x) = q, as ``-stdtrit(df, q)`` (accurate for tiny q)."""
    q, df = _floats(q, df)
    return _out(_t_quantile(q, df, lower=False))


# ----------------------------------------------------------------------------- binomial
def _binom_valid(n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """scipy.stats' parameter domain: integer n >= 0 and 0 <= p <= 1 (and n finite)."""
    return (n >= 0) & np.isfinite(n) & (n == np.floor(n)) & (p >= 0) & (p <= 1)


def _count(n: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """n as integers for bdtr/bdtrc's integer-n loop (their float-n loop is deprecated and
    warns on every call); entries outside ``inside`` become 1 and are discarded later."""
    return np.where(inside, n, 1.0).astype(np.int64)


def binom_pmf(k: ArrayLike, n: ArrayLike, p: ArrayLike) -> np.ndarray | np.float64:
    """P(X = k) for X ~ Binomial(n, p); 0 for k outside 0..n or not an integer.

    Evaluated in logs, ``log C(n, k) + k log p + (n - k) log(1 - p)`` with ``xlogy`` and
    ``xlog1py`` so that ``0 * log 0`` is 0: at p = 0 or 1 the result is exactly 1 or 0.
    """
    k, n, p = np.broadcast_arrays(*_floats(k, n, p))
    inside = _binom_valid(n, p) & (k >= 0) & (k <= n) & (k == np.floor(k))
    kk, nn, pp = (np.where(inside, v, 0.0) for v in (k, n, p))  # keep gammaln's args >= 1
    log_choose = special.gammaln(nn + 1) - special.gammaln(kk + 1) - special.gammaln(nn - kk + 1)
    log_pmf = log_choose + special.xlogy(kk, pp) + special.xlog1py(nn - kk, -pp)
    value = np.where(inside, np.exp(log_pmf), 0.0)
    return _out(np.where(_binom_valid(n, p) & ~np.isnan(k), value, np.nan))


def binom_cdf(k: ArrayLike, n: ArrayLike, p: ArrayLike) -> np.ndarray | np.float64:
    """P(X <= k): 0 for k < 0, 1 for k >= n; non-integer k is rounded down as in scipy."""
    return _binom_tail(special.bdtr, k, n, p, below=0.0, above=1.0)


def binom_sf(k: ArrayLike, n: ArrayLike, p: ArrayLike) -> np.ndarray | np.float64:
    """P(X > k): 1 for k < 0, 0 for k >= n; non-integer k is rounded down as in scipy.

    ``bdtrc`` evaluates the upper tail itself rather than ``1 - cdf``, so tiny tails keep their
    relative accuracy.
    """
    return _binom_tail(special.bdtrc, k, n, p, below=1.0, above=0.0)


def _binom_tail(kernel: Any, k: ArrayLike, n: ArrayLike, p: ArrayLike, *, below: float,
                above: float) -> np.ndarray | np.float64:
    """``kernel`` (bdtr or bdtrc) where 0 <= k < n, ``below`` for k < 0 and ``above`` for k >= n;
    NaN for invalid n, p or k."""
    k, n, p = np.broadcast_arrays(*_floats(k, n, p))
    k = np.floor(k)
    valid = _binom_valid(n, p)
    inside = (k >= 0) & (k < n) & valid
    value = kernel(np.where(inside, k, 0.0), _count(n, inside), np.where(inside, p, 0.5))
    value = np.where(inside, value, np.where(k >= n, above, below))
    return _out(np.where(valid & ~np.isnan(k), value, np.nan))


# ----------------------------------------------------------------------------- beta
def beta_ppf(q: ArrayLike, a: ArrayLike, b: ArrayLike) -> np.ndarray | np.float64:
    """The x with P(B <= x) = q for B ~ Beta(a, b) (NaN unless a, b > 0 and 0 <= q <= 1)."""
    q, a, b = _floats(q, a, b)
    ok = (a > 0) & (b > 0) & (q >= 0) & (q <= 1)
    value = special.betaincinv(a, b, q)
    return _out(np.where(ok, value, np.nan))
