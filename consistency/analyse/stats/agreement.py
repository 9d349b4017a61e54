"""Agreement between two raters of the same binary items: Cohen's kappa.

Used to say how far a judge agrees with itself (two samples, or two judge models, on a
double-judged subset) and with the phrase-rule scorers. Kappa corrects raw agreement for the
agreement two raters with the same marginal rates would reach by chance (Cohen 1960).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa of two binary ratings.

    Attributes:
        kappa: (observed - expected) / (1 - expected); NaN when expected agreement is 1 (both
            raters gave one constant rating: agreement then carries no information) or n is 0.
        n: items rated by both (pairs with a NaN on either side are dropped).
        observed: share of items on which the two agree.
        expected: agreement expected by chance from the two raters' marginal rates.
    """

    kappa: float
    n: int
    observed: float
    expected: float


def cohens_kappa(first: np.ndarray | list, second: np.ndarray | list) -> KappaResult:
    """Cohen's kappa of two equally long 0/1 ratings (NaN entries drop the pair).

    Raises:
        ValueError: when the lengths differ or a rating is not 0, 1 or NaN.
    """
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
        return KappaResult(math.nan, 0, math.nan, math.nan)
    observed = float(np.mean(a == b))
    pa, pb = float(a.mean()), float(b.mean())
    expected = pa * pb + (1 - pa) * (1 - pb)
    kappa = math.nan if math.isclose(expected, 1.0) else (observed - expected) / (1 - expected)
    return KappaResult(kappa, n, observed, expected)
