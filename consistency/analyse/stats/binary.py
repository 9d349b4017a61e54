"""Tests and intervals for one binary response per item per arm: McNemar mid-p, Newcombe, odds ratio.

The paired 2x2 table of items (rows: observed arm 1/0, columns: unobserved arm 1/0) is

================  ===============  ===============
                  unobserved = 1   unobserved = 0
================  ===============  ===============
observed = 1      ``n11``          ``n12`` (= b)
observed = 0      ``n21`` (= c)    ``n22``
================  ===============  ===============

* :func:`mcnemar_midp`: the McNemar exact conditional test with the mid-p correction (here,
  not in :mod:`consistency.analyse.stats.paired`, so the two modules do not import each other).
* :func:`newcombe_ci`: Newcombe's (1998) hybrid score interval (his method 10) for the difference
  of the marginal rates, offered beside Tango's because reviewers know it and it has a closed
  form (Fagerland, Lydersen & Laake 2014, Stat Med 33:2850-2875 rank both among the recommended).
* :func:`discordant_odds_ratio`: the conditional (matched-pairs) odds ratio ``b / c`` with the
  exact interval obtained from the Clopper-Pearson interval of ``b / (b + c)`` (Breslow & Day
  1980, *Statistical Methods in Cancer Research I*, sec. 7.2), and its mid-p twin that agrees
  with :func:`consistency.analyse.stats.mcnemar_midp`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize

from consistency.analyse.stats.checks import check_alternative, check_count, check_level
from consistency.analyse.stats.distributions import beta_ppf, binom_cdf, binom_pmf, binom_sf, norm_isf


@dataclass(frozen=True)
class BinaryTestResult:
    """Result of :func:`mcnemar_midp`.

    Attributes:
        statistic: ``b``, the observed-only count; under H0 it is Binomial(b + c, 1/2).
        pvalue: the mid-p value (the one to report).
        pvalue_exact: the exact conditional p value (conservative; kept for comparison).
        b, c: discordant counts (observed-only, unobserved-only).
        alternative: ``"two-sided"``, ``"greater"`` (b > c) or ``"less"``.
    """

    statistic: int
    pvalue: float
    pvalue_exact: float
    b: int
    c: int
    alternative: str


# ----------------------------------------------------------------------------- McNemar mid-p
def mcnemar_midp(b: int, c: int, alternative: str = "two-sided") -> BinaryTestResult:
    """McNemar exact conditional test with the mid-p correction, on discordant counts.

    Conditional on the ``b + c`` discordant items, ``b`` is Binomial(b + c, 1/2) under equal
    marginal rates. The exact conditional p value is conservative for small counts; the mid-p
    value (count half the probability of the observed outcome) keeps close to the nominal level
    with more power, and is the version Fagerland, Lydersen & Laake (2013, BMC Med Res Methodol
    13:91) recommend. Two-sided: ``2*P(X <= min(b, c)) - P(X = min(b, c))``; when ``b == c``
    their tie convention gives ``1 - P(X = b)/2``. ``b + c == 0`` gives p = 1.

    Args:
        b: items with outcome 1 observed and 0 unobserved.
        c: items with outcome 0 observed and 1 unobserved.
        alternative: ``"greater"`` means the observed rate exceeds the unobserved rate.
    """
    b, c = check_count("b", b), check_count("c", c)
    check_alternative(alternative)
    n = b + c
    if n == 0:
        return BinaryTestResult(0, 1.0, 1.0, b, c, alternative)
    point = float(binom_pmf(b, n, 0.5))
    if alternative == "greater":
        exact, mid = float(binom_sf(b - 1, n, 0.5)), float(binom_sf(b, n, 0.5)) + 0.5 * point
    elif alternative == "less":
        exact, mid = float(binom_cdf(b, n, 0.5)), float(binom_cdf(b - 1, n, 0.5)) + 0.5 * point
    elif b == c:
        exact, mid = 1.0, 1.0 - 0.5 * point
    else:
        k = min(b, c)
        exact = min(1.0, 2.0 * float(binom_cdf(k, n, 0.5)))
        mid = exact - float(binom_pmf(k, n, 0.5))
    return BinaryTestResult(b, min(1.0, mid), min(1.0, exact), b, c, alternative)


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson (1927) score interval for one proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_ci(n11: int, n12: int, n21: int, n22: int,
                confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's (1998, Stat Med 17:2638-2650) method 10 interval for ``(n12 - n21) / n``.

    Wilson intervals ``(l1, u1)`` and ``(l2, u2)`` for the two marginal rates ``p1 = (n11 + n12)/n``
    and ``p2 = (n11 + n21)/n`` are combined with the phi coefficient of the 2x2 table, which
    accounts for the pairing (phi = 0 when a margin is empty):

        lower = d - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)
        upper = d + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2)
    """
    counts = [check_count(name, v) for name, v in
              (("n11", n11), ("n12", n12), ("n21", n21), ("n22", n22))]
    n11, n12, n21, n22 = counts
    n = sum(counts)
    if n == 0:
        raise ValueError("the 2x2 table is empty; newcombe_ci needs at least one item")
    z = float(norm_isf((1.0 - check_level("confidence", confidence)) / 2.0))
    p1, p2 = (n11 + n12) / n, (n11 + n21) / n
    l1, u1 = _wilson(n11 + n12, n, z)
    l2, u2 = _wilson(n11 + n21, n, z)
    margins = (n11 + n12) * (n21 + n22) * (n11 + n21) * (n12 + n22)
    phi = (n11 * n22 - n12 * n21) / math.sqrt(margins) if margins > 0 else 0.0
    d = p1 - p2
    lower = d - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0))
    upper = d + math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0))
    return (max(-1.0, lower), min(1.0, upper))


@dataclass(frozen=True)
class OddsRatioResult:
    """Result of :func:`discordant_odds_ratio`.

    Attributes:
        statistic: ``b / c`` (inf when c = 0, NaN when b = c = 0).
        pvalue: McNemar mid-p value for H0: odds ratio = 1 (same ``alternative``).
        b, c: discordant counts.
        alternative: as passed.
    """

    statistic: float
    pvalue: float
    b: int
    c: int
    alternative: str

    def confidence_interval(self, confidence_level: float = 0.95,
                            method: str = "exact") -> tuple[float, float]:
        """Interval for the odds ratio, matching the sidedness of ``alternative``.

        ``method="exact"`` inverts the Clopper-Pearson interval of ``pi = b / (b + c)`` through
        ``OR = pi / (1 - pi)``; ``"midp"`` inverts the mid-p binomial test instead, so that the
        interval excludes 1 exactly when :func:`mcnemar_midp` (one-sided) rejects.
        """
        level = check_level("confidence_level", confidence_level)
        if method not in ("exact", "midp"):
            raise ValueError(f"method must be 'exact' or 'midp', got {method!r}")
        tail = 1.0 - level if self.alternative != "two-sided" else (1.0 - level) / 2.0
        lower = 0.0 if self.alternative == "less" else _pi_bound(self.b, self.c, tail, method, "lower")
        upper = 1.0 if self.alternative == "greater" else _pi_bound(self.b, self.c, tail, method, "upper")
        return (_odds(lower), _odds(upper))


def _odds(pi: float) -> float:
    return math.inf if pi >= 1.0 else pi / (1.0 - pi)


def _pi_bound(b: int, c: int, tail: float, method: str, side: str) -> float:
    """One confidence bound for the binomial proportion ``b / (b + c)``."""
    m = b + c
    if side == "lower" and b == 0 or side == "upper" and c == 0:
        return 0.0 if side == "lower" else 1.0
    if method == "exact":
        if side == "lower":
            return float(beta_ppf(tail, b, c + 1))
        return float(beta_ppf(1.0 - tail, b + 1, c))

    def mid_tail(pi: float) -> float:  # P(X > b) + P(X = b)/2 (lower) or P(X < b) + P(X = b)/2
        point = float(binom_pmf(b, m, pi))
        if side == "lower":
            return float(binom_sf(b, m, pi)) + 0.5 * point - tail
        return float(binom_cdf(b - 1, m, pi)) + 0.5 * point - tail

    return float(optimize.brentq(mid_tail, 1e-15, 1.0 - 1e-15, xtol=1e-14))


def discordant_odds_ratio(b: int, c: int, alternative: str = "two-sided") -> OddsRatioResult:
    """Matched-pairs odds ratio ``b / c`` with McNemar mid-p test of OR = 1.

    Conditional on the ``b + c`` discordant items, ``b`` is Binomial(b + c, pi) with
    ``OR = pi / (1 - pi)``; this is the conditional maximum-likelihood estimate of the odds ratio
    for matched pairs (Breslow & Day 1980, sec. 7.2), useful when rates sit near 0 or 1 where a
    risk difference hides how lopsided the discordant items are.
    """
    b, c = check_count("b", b), check_count("c", c)
    check_alternative(alternative)
    statistic = math.nan if b + c == 0 else (math.inf if c == 0 else b / c)
    return OddsRatioResult(statistic, mcnemar_midp(b, c, alternative).pvalue, b, c, alternative)
