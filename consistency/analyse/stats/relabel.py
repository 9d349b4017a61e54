"""Within-item relabelling test of the mean difference: the path for unequal responses per arm.

When an item has ``n_o`` responses in the observed arm and ``n_u != n_o`` in the unobserved one
(failed requests, a resumed run, or a design), its two arm means have different variances, so
the item difference ``d_i`` is not symmetric about 0 under the null and flipping its sign is not
a null move: near a ceiling the sign-flip test rejected 14-15 % of the time at alpha 0.05
(``benchmarks/simulate_stats.py``, scenario F). Under the null that the framing changes nothing,
an item's ``n_o + n_u`` responses are exchangeable between its arms whatever the counts, so the
valid move is to deal them out again, ``n_o`` to the observed arm and ``n_u`` to the other
(Fisher 1935; Rosenbaum 2002, ch. 2; the same relabelling as the omnibus test in
:mod:`consistency.analyse.stats.epochs`). Statistic: ``mean_i d_i``, as on the sign-flip path. With one
response per arm the relabelling *is* a sign flip.

Items whose responses are all 0 or 1 draw their relabelled observed-arm count from its exact
hypergeometric law (the same null, without permuting responses); graded items permute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from consistency.analyse.stats.checks import check_alternative
from consistency.analyse.stats.frames import validated_columns
from consistency.analyse.stats.signflip import TestResult, _count_extreme

_CHUNK = 1 << 21  # resample x response cells per chunk


def _blocks(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Is-observed and values of responses of items with both arms, sorted so each item is one
    block; and the block starts."""
    codes, _, unobserved, value = validated_columns(frame)
    n_codes = int(codes.max()) + 1 if codes.size else 0
    per_arm = np.bincount(2 * codes + unobserved, minlength=2 * n_codes).reshape(n_codes, 2)
    keep = ((per_arm > 0).all(axis=1))[codes] if codes.size else np.zeros(0, bool)
    order = np.argsort(codes[keep], kind="mergesort")
    codes, observed, value = codes[keep][order], ~unobserved[keep][order], value[keep][order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if codes.size else codes
    return observed, value, starts


def _item_sums(values: np.ndarray, observed: np.ndarray, starts: np.ndarray,
               n_obs: np.ndarray, n_unobs: np.ndarray) -> np.ndarray:
    """Sum over items of (observed mean - unobserved mean), for each row of ``values``."""
    obs_sum = np.add.reduceat(values * observed, starts, axis=-1)
    all_sum = np.add.reduceat(values, starts, axis=-1)
    return (obs_sum / n_obs - (all_sum - obs_sum) / n_unobs).sum(axis=-1)


def _binary_null(ones: np.ndarray, n_obs: np.ndarray, n_unobs: np.ndarray, n_resamples: int,
                 generator: np.random.Generator) -> np.ndarray:
    """Null sums of d_i over 0/1 items: an arm's relabelled count of ones is hypergeometric.

    The count is drawn for each item's smaller arm (the observed one on a tie), a choice that
    does not depend on which arm is called observed, so swapping the arms negates every null
    sum exactly and the two-sided p value is unchanged."""
    out = np.zeros(n_resamples)
    varying = (ones > 0) & (ones < n_obs + n_unobs)
    if not varying.any():
        return out
    good = np.rint(ones[varying]).astype(np.int64)
    n_o = np.rint(n_obs[varying]).astype(np.int64)
    n_u = np.rint(n_unobs[varying]).astype(np.int64)
    small_is_obs = n_o <= n_u
    draw = np.where(small_is_obs, n_o, n_u)
    rest = n_o + n_u - draw
    sign = np.where(small_is_obs, 1.0, -1.0)
    bad = rest + draw - good
    rows = max(1, _CHUNK // good.size)
    for start in range(0, n_resamples, rows):
        size = min(rows, n_resamples - start)
        s = generator.hypergeometric(good, bad, draw, size=(size, good.size))
        out[start:start + size] = ((s / draw - (good - s) / rest) * sign).sum(axis=1)
    return out


def _graded_null(observed: np.ndarray, values: np.ndarray, starts: np.ndarray,
                 n_resamples: int, generator: np.random.Generator) -> np.ndarray:
    """Null sums of d_i by permuting each item's responses (one argsort per resample)."""
    out = np.zeros(n_resamples)
    if values.size == 0:
        return out
    block = np.repeat(np.arange(starts.size, dtype=float), np.diff(np.r_[starts, values.size]))
    n_obs = np.add.reduceat(observed.astype(float), starts)
    n_unobs = np.diff(np.r_[starts, values.size]) - n_obs
    rows = max(1, _CHUNK // values.size)
    for start in range(0, n_resamples, rows):
        size = min(rows, n_resamples - start)
        order = np.argsort(block + generator.random((size, values.size)), axis=1)
        out[start:start + size] = _item_sums(values[order], observed, starts, n_obs, n_unobs)
    return out


def _swap_to_canonical(observed: np.ndarray, values: np.ndarray, starts: np.ndarray,
                       sizes: np.ndarray) -> bool:
    """Whether to compute in the swapped orientation: the Monte Carlo draws then do not depend on
    which arm is called observed, so swapping the arms mirrors the p value exactly (not just in
    law). The orientation is fixed by the first of these that is not 0: the sum of item
    differences, of their cubes, of the count differences; each changes sign under a swap."""
    n_obs = np.add.reduceat(observed.astype(float), starts)
    obs_sum = np.add.reduceat(values * observed, starts)
    d = obs_sum / n_obs - (np.add.reduceat(values, starts) - obs_sum) / (sizes - n_obs)
    for key in (d.sum(), (d**3).sum(), (2 * n_obs - sizes).sum()):
        if abs(key) > 1e-9:
            return bool(key < 0)
    return False


def relabel_test(frame: pd.DataFrame, alternative: str = "two-sided", n_resamples: int = 9999,
                 rng: np.random.Generator | int | None = None, midp: bool = False) -> TestResult:
    """Monte Carlo within-item relabelling test that the mean item difference is 0.

    Args:
        frame: tidy responses (``item_id``, ``arm``, ``value``); items lacking an arm are dropped.
        alternative: ``"greater"`` means the observed arm is higher.
        n_resamples: relabellings drawn; ``p = (hits + 1) / (n_resamples + 1)`` (Phipson &
            Smyth 2010), ties counting one half with ``midp`` as in :func:`sign_flip_test`.
        rng: seed or Generator.
        midp: mid-p (Lancaster 1961).

    Returns a :class:`~consistency.analyse.stats.signflip.TestResult` whose ``statistic`` is
    ``mean_i d_i`` and ``n_nonzero`` the items whose responses are not all equal.
    """
    check_alternative(alternative)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) \
            or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    generator = np.random.default_rng(rng)
    observed, values, starts = _blocks(frame)
    if starts.size == 0:
        raise ValueError("relabel_test needs at least one item with a response in both arms")
    sizes = np.diff(np.r_[starts, values.size])
    statistic = float(_item_sums(values, observed, starts, np.add.reduceat(
        observed.astype(float), starts), sizes - np.add.reduceat(observed.astype(float), starts)))
    if _swap_to_canonical(observed, values, starts, sizes):
        observed = ~observed
        alternative = {"less": "greater", "greater": "less"}.get(alternative, alternative)
    n_obs = np.add.reduceat(observed.astype(float), starts)
    n_unobs = sizes - n_obs
    total = float(_item_sums(values, observed, starts, n_obs, n_unobs))
    graded = np.add.reduceat(((values != 0) & (values != 1)).astype(np.int64), starts) > 0
    null = _binary_null(np.add.reduceat(values, starts)[~graded], n_obs[~graded],
                        n_unobs[~graded], n_resamples, generator)
    if graded.any():
        keep = np.repeat(graded, sizes)
        kept_starts = np.r_[0, np.cumsum(sizes[graded])[:-1]].astype(np.int64)
        null += _graded_null(observed[keep], values[keep], kept_starts, n_resamples, generator)
    spread = np.add.reduceat(np.abs(values - np.repeat(
        np.add.reduceat(values, starts) / sizes, sizes)), starts)
    tol = 1e-10 * max(1.0, float(np.abs(null).max(initial=0.0)), abs(total))
    hits = _count_extreme(null, total, alternative, tol, midp)
    pvalue = min(1.0, (hits + (0.5 if midp else 1.0)) / (n_resamples + 1))
    n_items = int(starts.size)
    return TestResult(statistic / n_items, pvalue, alternative, n_items,
                      int(np.count_nonzero(spread > 0)), int(n_resamples), False)
