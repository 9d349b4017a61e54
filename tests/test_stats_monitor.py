"""Specification of consistency.analyse.stats.monitor: the anytime-valid e-process over runs."""

from __future__ import annotations

import numpy as np
import pytest

from consistency.analyse import stats


def run(rng, effect=0.0, n=40):
    base = rng.uniform(0.2, 0.8, n)
    obs = rng.random(n) < np.clip(base + effect, 0, 1)
    return obs.astype(float) - (rng.random(n) < base)


def test_false_alarm_probability_over_thirty_looks_stays_below_alpha():
    rng = np.random.default_rng(0)
    alarms = np.mean([stats.monitor([run(rng) for _ in range(30)]).alarmed for _ in range(400)])
    assert alarms <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 400)
    assert stats.naive_alarm_rate(30) == pytest.approx(1 - 0.95**30)  # 0.785 for naive re-testing


def test_e_process_has_mean_at_most_one_under_the_null():
    rng = np.random.default_rng(1)
    finals = [stats.monitor([run(rng) for _ in range(5)]).e_values[-1] for _ in range(400)]
    assert np.mean(finals) < 1.25


def test_a_real_effect_raises_the_alarm_in_either_direction():
    rng = np.random.default_rng(2)
    assert stats.monitor([run(rng, 0.2) for _ in range(10)]).alarmed
    assert stats.monitor([run(rng, -0.2) for _ in range(10)]).alarmed


def test_run_means_are_accepted_as_single_observations():
    result = stats.monitor([0.0, 0.1, -0.05])
    assert result.e_values.shape == (3,) and not result.alarmed and 0 < result.pvalue <= 1


def test_alarm_index_is_the_first_run_reaching_one_over_alpha():
    result = stats.monitor([[0.0] * 5] + [[1.0] * 20] * 3, alpha=0.05)
    assert result.alarm_at == 1 and result.e_values[1] >= 20


def test_monitor_rejects_values_outside_minus_one_to_one():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        stats.monitor([[0.5, 1.5]])
