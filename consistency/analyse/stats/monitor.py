"""Anytime-valid monitoring of a configuration that is re-run on a schedule.

Testing every nightly run at alpha = 0.05 and raising an alarm at the first p < 0.05 does not
keep a 5% false-alarm rate: over 30 nights the chance of at least one false alarm is far larger.
:func:`monitor` instead keeps a test martingale (an e-process) over the runs and alarms when it
reaches ``1 / alpha``; by Ville's inequality (1939) the probability that it *ever* does so under
the null is at most ``alpha``, however many looks are taken (Ramdas, Grunwald, Vovk & Shafer
2023, Stat Sci 38:576-601; Waudby-Smith & Ramdas 2024, JRSS B 86:1-27, "Estimating means of
bounded random variables by betting").

Each run contributes its per-item differences (observed minus unobserved item means, in
[-1, 1]), read in order as one stream ``x_1, x_2, ...``. Under the null that the framing changes
no item (each item's two arms have the same response distribution), every ``x_j`` has
conditional mean 0 given the past. For a *predictable* bet ``lam_j`` in (-1, 1) (chosen from
earlier observations only) the wealth ``prod_j (1 + lam_j x_j)`` is then a non-negative
martingale with mean 1. The bet is the clipped GRAPA plug-in ``lam_j = m / (v + m^2)`` from the
running mean ``m`` and variance ``v`` of past observations (Waudby-Smith & Ramdas 2024, sec. 5),
whose sign follows the data, so the test is two-sided without splitting alpha. Runs may also be
given as one number each (a run's mean difference); the null is then "mean effect 0 on this item
set", which also allows effects that vary over items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from consistency.analyse.stats.checks import check_level

#: Largest absolute bet; below 1 so that no factor 1 + lam x can reach 0 on [-1, 1].
MAX_BET = 0.9


@dataclass(frozen=True)
class MonitorResult:
    """Result of :func:`monitor`.

    Attributes:
        e_values: the e-process after each run (wealth; 1 means no evidence yet).
        alarm_at: index (0-based) of the first run by which the e-process reached ``1 / alpha``
            (at any point inside that run), or None.
        alpha: the anytime false-alarm bound.
        pvalue: anytime-valid p value ``min(1, 1 / max e)``: valid at any stopping time.
    """

    e_values: np.ndarray
    alarm_at: int | None
    alpha: float
    pvalue: float

    @property
    def alarmed(self) -> bool:
        return self.alarm_at is not None


def _stream(runs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flatten runs (numbers or arrays) into one stream and the index where each run ends."""
    parts = [np.atleast_1d(np.asarray(run, dtype=float)) for run in runs]
    x = np.concatenate(parts) if parts else np.zeros(0)
    if x.ndim != 1 or not np.isfinite(x).all() or (np.abs(x) > 1).any():
        raise ValueError("runs must hold finite differences in [-1, 1] (one number or one "
                         "array of per-item differences per run)")
    return x, np.cumsum([part.size for part in parts]) - 1


def monitor(runs: Any, alpha: float = 0.05, prior_var: float = 0.25) -> MonitorResult:
    """Anytime-valid e-process over accumulating runs; alarm when it reaches ``1 / alpha``.

    Args:
        runs: oldest first; each run either its per-item differences (array) or its mean
            difference (number), all in [-1, 1].
        alpha: bound on the probability of *ever* raising a false alarm.
        prior_var: variance assumed before any data, which keeps the first bets small.
    """
    alpha = check_level("alpha", alpha)
    x, ends = _stream(runs)
    if x.size == 0:
        return MonitorResult(np.zeros(0), None, alpha, 1.0)
    count = np.arange(x.size, dtype=float)  # observations before j
    past_sum = np.concatenate([[0.0], np.cumsum(x)[:-1]])
    past_sq = np.concatenate([[0.0], np.cumsum(x * x)[:-1]])
    mean = past_sum / (count + 1.0)  # shrunk toward 0 by one pseudo-observation
    var = (prior_var + past_sq - count * mean**2) / (count + 1.0)
    bet = np.clip(mean / (np.maximum(var, 1e-6) + mean**2), -MAX_BET, MAX_BET)
    log_wealth = np.cumsum(np.log1p(bet * x))
    running_max = np.maximum.accumulate(log_wealth)
    threshold = math.log(1.0 / alpha)
    hit = np.flatnonzero(running_max[ends] >= threshold)
    best = float(np.exp(running_max[-1]))
    return MonitorResult(np.exp(log_wealth[ends]), int(hit[0]) if hit.size else None, alpha,
                         min(1.0, 1.0 / max(best, 1.0)))


def naive_alarm_rate(n_looks: int, alpha: float = 0.05) -> float:
    """False-alarm probability of re-testing independent runs at ``alpha`` each, ``n_looks``
    times: ``1 - (1 - alpha)^n`` (0.785 for 30 nights at 0.05). For the docs' comparison."""
    return 1.0 - (1.0 - check_level("alpha", alpha)) ** n_looks
