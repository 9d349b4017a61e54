"""Two-sample comparison of the arms of unpaired items (the arms are not the same task).

Where a suite's two arms cannot be matched item by item, the only defensible comparison is of the
two arms' rates as independent samples: a permutation test of the difference in means (observed
minus unobserved) over per-item values, and a percentile bootstrap interval. Its rows are always
labelled "two-sample, not paired"; no paired verdict is drawn from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALTERNATIVES = ("two-sided", "less", "greater")


@dataclass(frozen=True)
class TwoSampleResult:
    """``statistic``: observed mean minus unobserved mean; ``pvalue``: permutation p value."""

    statistic: float
    pvalue: float
    n_observed: int
    n_unobserved: int
    low: float
    high: float

    def confidence_interval(self) -> tuple[float, float]:
        return (self.low, self.high)


def two_sample_test(observed: np.ndarray, unobserved: np.ndarray, *,
                    rng: np.random.Generator, alternative: str = "two-sided",
                    n_resamples: int = 9999, confidence: float = 0.95) -> TwoSampleResult:
    """Permutation test of mean(observed) - mean(unobserved), and a bootstrap interval.

    Args:
        observed, unobserved: one value per unit (e.g. per item, the arm's mean of a 0/1 metric);
            NaN values are dropped.
        rng: the only source of randomness.
        alternative: ``two-sided``, ``less`` (observed lower) or ``greater``.
        n_resamples: permutations and bootstrap draws; a tail's p = (1 + hits) / (1 + n_resamples),
            and the two-sided p twice the smaller tail (capped at 1).
        confidence: two-sided level of the interval.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    a = np.asarray(observed, dtype=float)
    b = np.asarray(unobserved, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return TwoSampleResult(np.nan, np.nan, len(a), len(b), np.nan, np.nan)
    diff = a.mean() - b.mean()
    pooled = np.concatenate([a, b])
    perm = np.array([rng.permutation(pooled) for _ in range(n_resamples)])
    null = perm[:, :len(a)].mean(axis=1) - perm[:, len(a):].mean(axis=1)
    tol = 1e-12
    less = (1 + np.sum(null <= diff + tol)) / (1 + n_resamples)
    greater = (1 + np.sum(null >= diff - tol)) / (1 + n_resamples)
    # two-sided: twice the smaller tail, as scipy.stats.permutation_test does
    pvalue = {"less": less, "greater": greater,
              "two-sided": min(1.0, 2 * min(less, greater))}[alternative]
    boots = (rng.choice(a, (n_resamples, len(a))).mean(axis=1)
             - rng.choice(b, (n_resamples, len(b))).mean(axis=1))
    tail = (1 - confidence) / 2
    low, high = np.quantile(boots, [tail, 1 - tail])
    return TwoSampleResult(float(diff), float(pvalue), len(a), len(b),
                           float(low), float(high))
