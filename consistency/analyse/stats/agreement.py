"""Agreement between two raters of the same binary items: Cohen's kappa with an interval.

Used to say how far a judge agrees with itself (two samples, or two judge models, on a
double-judged subset) and with the phrase-rule scorers. Kappa corrects raw agreement for the
agreement two raters with the same marginal rates would reach by chance (Cohen 1960). Kappa
alone misleads at low prevalence (few positives: high agreement, kappa swinging widely), so
the result carries beside it the prevalence and the positive and negative agreement
(Cicchetti & Feinstein 1990, J Clin Epidemiol 43:551) and an interval.

The interval is the profile-likelihood interval of kappa under the 2 x 2 multinomial: the
kappas whose best fit (over the two raters' marginal rates) is within ``chi2_1(confidence) / 2``
log-likelihood of the best fit overall. The usual Wald interval from the large-sample variance
(Fleiss, Cohen & Everitt 1969) covers 0.39 at 20 pairs and prevalence 0.05 and 0.86 at 20 pairs
and prevalence 0.2 (nominal 0.95). The likelihood interval respects the bounds of kappa and
covers 0.90-0.96 at 20 and 50 pairs and prevalence 0.05-0.5 (``benchmarks/simulate_kappa.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

#: Marginal-rate grid of the profile: dense near 0 and 1, where low prevalence lives.
_GRID = np.unique(np.concatenate([np.linspace(0.01, 0.99, 99), np.geomspace(1e-4, 0.05, 40),
                                  1 - np.geomspace(1e-4, 0.05, 40)]))


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa of two binary ratings.

    Attributes:
        kappa: (observed - expected) / (1 - expected); NaN when expected agreement is 1 (both
            raters gave one constant rating: agreement then carries no information) or n is 0.
        n: items rated by both (pairs with a NaN on either side are dropped).
        observed: share of items on which the two agree.
        expected: agreement expected by chance from the two raters' marginal rates.
        ci_low, ci_high: profile-likelihood interval of kappa at ``confidence`` (NaN when kappa
            is undefined).
        confidence: level of the interval.
        prevalence: share of positive ratings over both raters.
        positive_agreement: 2a / (2a + b + c), agreement on the positives (NaN: none rated 1).
        negative_agreement: 2d / (2d + b + c), agreement on the negatives (NaN: none rated 0).
        note: why kappa is undefined ("both raters gave one constant rating"), else "".
    """

    kappa: float
    n: int
    observed: float
    expected: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    confidence: float = 0.95
    prevalence: float = math.nan
    positive_agreement: float = math.nan
    negative_agreement: float = math.nan
    note: str = ""


def cohens_kappa(first: np.ndarray | list, second: np.ndarray | list,
                 confidence: float = 0.95) -> KappaResult:
    """Cohen's kappa of two equally long 0/1 ratings (NaN entries drop the pair), with its
    interval, prevalence and positive/negative agreement (module docstring).

    Raises:
        ValueError: when the lengths differ, a rating is not 0, 1 or NaN, or ``confidence`` is
            not strictly between 0 and 1.
    """
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"ratings differ in length: {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if not np.isin(a, (0.0, 1.0)).all() or not np.isin(b, (0.0, 1.0)).all():
        raise ValueError("ratings must be 0, 1 or NaN")
    n = int(a.size)
    if n == 0:
        return KappaResult(math.nan, 0, math.nan, math.nan, confidence=float(confidence),
                           note="no item rated by both")
    both = int(np.sum((a == 1) & (b == 1)))
    only_a = int(np.sum((a == 1) & (b == 0)))
    only_b = int(np.sum((a == 0) & (b == 1)))
    neither = n - both - only_a - only_b
    observed = (both + neither) / n
    pa, pb = float(a.mean()), float(b.mean())
    expected = pa * pb + (1 - pa) * (1 - pb)
    shares = {"prevalence": (pa + pb) / 2,
              "positive_agreement": _ratio(2 * both, 2 * both + only_a + only_b),
              "negative_agreement": _ratio(2 * neither, 2 * neither + only_a + only_b)}
    if math.isclose(expected, 1.0):
        return KappaResult(math.nan, n, observed, expected, confidence=float(confidence),
                           note="both raters gave one constant rating", **shares)
    kappa = (observed - expected) / (1 - expected)
    low, high = kappa_profile_interval((both, only_a, only_b, neither), confidence)
    return KappaResult(kappa, n, observed, expected, low, high, float(confidence), **shares)


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def kappa_profile_interval(counts: tuple[int, int, int, int],
                           confidence: float = 0.95) -> tuple[float, float]:
    """Profile-likelihood interval of Cohen's kappa from the 2 x 2 counts ``(both positive,
    first only, second only, neither)``; the kappa estimate must be defined.

    The multinomial is parametrised by the raters' marginal rates ``(p1, p2)`` and kappa: the
    chance agreement is ``pe = p1 p2 + (1 - p1)(1 - p2)``, the agreement ``po = kappa (1 - pe) +
    pe``, and the cells follow (``p11 = (po - 1 + p1 + p2) / 2``, ...). The profile
    log-likelihood of a kappa is its maximum over ``(p1, p2)`` (a grid dense near 0 and 1, then
    refined around the best point); each end of the interval is where the profile falls
    ``chi2_1(confidence) / 2`` below the unrestricted maximum (the observed proportions), found
    by bisection to 1e-4 on either side of the estimate.
    """
    cells = np.asarray(counts, dtype=float)
    n = cells.sum()
    best = float(np.sum(cells[cells > 0] * np.log(cells[cells > 0] / n)))
    floor = best - chi2.ppf(confidence, 1) / 2
    p1, p2 = (cells[0] + cells[1]) / n, (cells[0] + cells[2]) / n
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    estimate = ((cells[0] + cells[3]) / n - chance) / (1 - chance)
    ends = []
    for outer in (-1.0, 1.0):
        if _profile(cells, outer) >= floor:
            ends.append(outer)
            continue
        inside, outside = estimate, outer
        while abs(outside - inside) > 1e-4:
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if _profile(cells, middle) >= floor \
                else (inside, middle)
        ends.append(inside)
    return float(ends[0]), float(ends[1])


def _profile(cells: np.ndarray, kappa: float) -> float:
    """Largest log-likelihood of the counts over the marginal rates, at this kappa."""
    grid1 = grid2 = _GRID
    value, centre, width = -np.inf, None, None
    for _ in range(4):  # the grid, then three zooms around the best point
        p1, p2 = np.meshgrid(grid1, grid2, indexing="ij")
        loglik = _loglik(cells, kappa, p1, p2)
        k = int(np.argmax(loglik))
        if not np.isfinite(loglik.flat[k]):
            return value
        value = max(value, float(loglik.flat[k]))
        centre = (p1.flat[k], p2.flat[k])
        width = 0.02 if width is None else width / 5
        grid1, grid2 = (np.clip(np.linspace(c - width, c + width, 21), 1e-9, 1 - 1e-9)
                        for c in centre)
    for cell in np.flatnonzero(cells == 0):  # the best fit may put an empty cell at 0
        value = max(value, _edge_profile(cells, kappa, int(cell)))
    return value


def _edge_profile(cells: np.ndarray, kappa: float, cell: int) -> float:
    """Largest log-likelihood on the edge where ``cell`` has probability 0 (a grid the interior
    search cannot reach): there one marginal rate is a function of the other, solved from the
    cell's formula: ``p2 = k p1 / (1 + (1 - k)(1 - 2 p1))`` for an empty "second only" cell,
    ``p2 = k p1 / (2 (k - 1) p1 - k)`` for an empty "both" cell, and the mirror images."""
    t = np.unique(np.concatenate([np.linspace(1e-6, 1 - 1e-6, 2001),
                                  np.geomspace(1e-7, 1e-2, 200), 1 - np.geomspace(1e-7, 1e-2, 200)]))
    value = -np.inf
    for _ in range(3):
        with np.errstate(divide="ignore", invalid="ignore"):
            if cell in (1, 2):  # first only / second only
                other = kappa * t / (1 + (1 - kappa) * (1 - 2 * t))
            else:  # both / neither (neither: the same on 1 - p)
                u = t if cell == 0 else 1 - t
                other = kappa * u / (2 * (kappa - 1) * u - kappa)
                other = other if cell == 0 else 1 - other
        ok = np.isfinite(other) & (other > 0) & (other < 1)
        p1, p2 = (t, other) if cell != 1 else (other, t)
        loglik = np.full(t.shape, -np.inf)
        loglik[ok] = _loglik(cells, kappa, p1[ok], p2[ok])
        k = int(np.argmax(loglik))
        if not np.isfinite(loglik[k]):
            return value
        value = max(value, float(loglik[k]))
        step = np.diff(t).max() if t.size > 1 else 1e-3
        t = np.clip(np.linspace(t[k] - step, t[k] + step, 201), 1e-9, 1 - 1e-9)
    return value


def _loglik(cells: np.ndarray, kappa: float, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Multinomial log-likelihood at (kappa, p1, p2); -inf where a cell would be impossible."""
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    p11 = (kappa * (1 - chance) + chance - 1 + p1 + p2) / 2
    loglik = np.zeros_like(p11)
    valid = np.ones_like(p11, dtype=bool)
    for count, prob in zip(cells, (p11, p1 - p11, p2 - p11, 1 - p1 - p2 + p11)):
        valid &= prob > 0 if count > 0 else prob >= -1e-12
        if count > 0:
            loglik += count * np.log(np.where(prob > 0, prob, 1.0))
    return np.where(valid, loglik, -np.inf)
