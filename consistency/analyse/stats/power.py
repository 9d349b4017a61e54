"""Power planning: the smallest detectable effect for a design, or the items a target needs.

Two planners, both pure functions:

* :func:`plan_mde` / :func:`plan_items` - the normal-theory formula of Miller (2024, "Adding
  Error Bars to Evals: A Statistical Approach to Language Model Evaluations", arXiv:2411.00640,
  sec. 4-5) for a paired comparison with resampling. With ``n`` items, ``K`` epochs per arm,
  between-item variance ``omega^2`` of the true per-item difference and within-item variance
  ``sigma^2`` of one epoch's paired difference, the mean difference has variance
  ``(omega^2 + sigma^2 / K) / n``, so

      MDE = (z_{1-alpha/s} + z_{power}) * sqrt((omega^2 + sigma^2 / K) / n),   s = 2 or 1 sides,
      n   = (z_{1-alpha/s} + z_{power})^2 * (omega^2 + sigma^2 / K) / MDE^2.

  Resampling (more epochs) shrinks only the ``sigma^2`` part: past a point, only items help.
* :func:`mcnemar_power`, :func:`plan_items_mcnemar`, :func:`plan_mde_mcnemar` - one response per
  arm: the exact unconditional power of the McNemar mid-p test, summing over the Binomial(n,
  psi) number of discordant items (psi = the discordance rate). Checked against Connor's (1987,
  Biometrics 43:207-211) normal approximation and by simulation in the tests.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from consistency.analyse.stats.checks import check_level
from consistency.analyse.stats.distributions import binom_cdf, binom_pmf, binom_sf, norm_isf, norm_ppf


@dataclass(frozen=True)
class Plan:
    """A power plan: what was assumed and what it implies.

    Attributes:
        items: items per arm pair (given or computed).
        mde: minimum detectable effect on the difference scale (given or computed).
        power: target (or achieved, for exact plans) probability of a significant result.
        alpha: test level; ``sides`` 1 or 2.
        method: ``"miller2024"`` or ``"mcnemar_exact"``.
    """

    items: int
    mde: float
    power: float
    alpha: float
    sides: int
    method: str


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} finite number, got {value!r}")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _z_sum(alpha: float, power: float, sides: int) -> float:
    if sides not in (1, 2):
        raise ValueError(f"sides must be 1 or 2, got {sides!r}")
    alpha, power = check_level("alpha", alpha), check_level("power", power)
    return float(norm_isf(alpha / sides) + norm_ppf(power))


def plan_mde(items: int, epochs: int = 1, within_var: float = 0.25, between_var: float = 0.0,
             alpha: float = 0.05, power: float = 0.8, sides: int = 2) -> Plan:
    """Minimum detectable paired difference for ``items`` items and ``epochs`` epochs (Miller 2024).

    Args:
        items: items, each posed under both arms.
        epochs: responses per item and arm that are averaged.
        within_var: variance of one epoch's paired difference within an item (for 0/1 outcomes
            near 50%, about 0.25 + 0.25 = 0.5 if the two arms are independent draws).
        between_var: variance over items of the true per-item difference.
        alpha, power, sides: test level, target power, one- or two-sided test.
    """
    n, k = _count("items", items), _count("epochs", epochs)
    variance = _positive("between_var", between_var, True) + \
        _positive("within_var", within_var, True) / k
    if variance == 0:
        raise ValueError("within_var and between_var cannot both be 0 (nothing varies)")
    mde = _z_sum(alpha, power, sides) * math.sqrt(variance / n)
    return Plan(n, mde, power, alpha, sides, "miller2024")


def plan_items(mde: float, epochs: int = 1, within_var: float = 0.25, between_var: float = 0.0,
               alpha: float = 0.05, power: float = 0.8, sides: int = 2) -> Plan:
    """Items needed to detect a true paired difference ``mde`` (Miller 2024); at least 2."""
    k = _count("epochs", epochs)
    variance = _positive("between_var", between_var, True) + \
        _positive("within_var", within_var, True) / k
    if variance == 0:
        raise ValueError("within_var and between_var cannot both be 0 (nothing varies)")
    target = _positive("mde", mde)
    n = _z_sum(alpha, power, sides) ** 2 * variance / target**2
    return Plan(max(2, math.ceil(n - 1e-9)), target, power, alpha, sides, "miller2024")


@functools.lru_cache(maxsize=200_000)
def _bounds_for(m: int, tail: float) -> tuple[int, int]:
    """For m discordant items: the smallest b whose upper mid-p is below ``tail`` and the largest
    b whose lower mid-p is below it (``m + 1`` and ``-1`` when none). Cached: planners call
    this for the same m many times while scanning sample sizes."""
    b = np.arange(m + 1)
    pmf = binom_pmf(b, m, 0.5)
    upper = binom_sf(b, m, 0.5) + 0.5 * pmf
    lower = binom_cdf(b - 1, m, 0.5) + 0.5 * pmf
    up = np.flatnonzero(upper < tail)
    down = np.flatnonzero(lower < tail)
    return (int(up[0]) if up.size else m + 1, int(down[-1]) if down.size else -1)


def _rejection_bounds(m: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.array([_bounds_for(int(mm), float(tail)) for mm in m], dtype=np.int64)
    return pairs[:, 0], pairs[:, 1]


def _check_design(discordance: float, difference: float) -> float:
    psi = _positive("discordance", discordance)
    if psi > 1 or abs(difference) > psi:
        raise ValueError(f"need 0 < discordance <= 1 and |difference| <= discordance (a "
                         f"difference needs that many discordant items); got "
                         f"discordance={discordance!r}, difference={difference!r}")
    return psi


def mcnemar_power(items: int, discordance: float, difference: float, alpha: float = 0.05,
                  sides: int = 2) -> float:
    """Exact power of the McNemar mid-p test with one binary response per item and arm.

    Each item is discordant with probability ``discordance`` (psi = p12 + p21) and the true
    difference is ``difference = p12 - p21`` (observed minus unobserved; |difference| <= psi).
    Power sums, over the Binomial(items, psi) discordant count m, the probability that
    ``b ~ Binomial(m, (psi + difference) / (2 psi))`` falls in the mid-p rejection region. For a
    one-sided test the rejection region is on the side of ``difference``.
    """
    n = _count("items", items)
    psi = _check_design(discordance, difference)
    alpha = check_level("alpha", alpha)
    if sides not in (1, 2):
        raise ValueError(f"sides must be 1 or 2, got {sides!r}")
    m = np.arange(n + 1)
    hi, lo = _rejection_bounds(m, alpha / sides)
    pi = (psi + difference) / (2 * psi)
    p_hi = np.where(hi <= m, binom_sf(hi - 1, m, pi), 0.0)
    p_lo = np.where(lo >= 0, binom_cdf(lo, m, pi), 0.0)
    if sides == 1:
        reject = p_hi if difference >= 0 else p_lo
    else:
        reject = p_hi + p_lo
    return float(np.dot(binom_pmf(m, n, psi), reject))


def connor_items(discordance: float, difference: float, alpha: float = 0.05, power: float = 0.8,
                 sides: int = 2) -> float:
    """Connor's (1987) normal-approximation sample size for McNemar's test (not rounded)."""
    za, zb = float(norm_isf(alpha / sides)), float(norm_ppf(power))
    return (za * math.sqrt(discordance) + zb * math.sqrt(discordance - difference**2)) ** 2 \
        / difference**2


def plan_items_mcnemar(difference: float, discordance: float, alpha: float = 0.05,
                       power: float = 0.8, sides: int = 2, max_items: int = 100_000) -> Plan:
    """Fewest items whose exact mid-p McNemar power reaches ``power``.

    Exact power is a saw-tooth in n (discreteness), so the scan starts below Connor's
    approximation and returns the first n that reaches the target.
    """
    power = check_level("power", power)
    _check_design(discordance, difference)
    if difference == 0:
        raise ValueError("difference must be non-zero to plan for detecting it")
    start = max(1, int(0.6 * connor_items(discordance, difference, alpha, power, sides)))
    for n in range(start, max_items + 1):
        achieved = mcnemar_power(n, discordance, difference, alpha, sides)
        if achieved >= power:
            return Plan(n, abs(difference), achieved, alpha, sides, "mcnemar_exact")
    raise ValueError(f"more than max_items={max_items} items would be needed")


def plan_mde_mcnemar(items: int, discordance: float, alpha: float = 0.05, power: float = 0.8,
                     sides: int = 2) -> Plan:
    """Smallest positive difference whose exact mid-p McNemar power at ``items`` reaches ``power``.

    Returns ``mde = nan`` when even ``difference = discordance`` (every discordant item one way)
    falls short.
    """
    psi = _positive("discordance", discordance)
    power = check_level("power", power)
    if mcnemar_power(items, psi, psi, alpha, sides) < power:
        return Plan(items, math.nan, power, alpha, sides, "mcnemar_exact")
    root = optimize.brentq(lambda d: mcnemar_power(items, psi, d, alpha, sides) - power,
                           1e-9, psi, xtol=1e-6)
    return Plan(items, float(root), power, alpha, sides, "mcnemar_exact")
