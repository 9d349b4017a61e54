"""``consistency monitor``'s inference about a fixed item set re-run every night.

The default (``population``) is about the item population a run's verdict is about: nightly
re-runs of the same items are not new evidence about it. ``item-set`` is about these items only.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from consistency.analyse import stats
from consistency.analyse.monitoring import monitor_runs
from consistency.analyse.stats.nightly import (
    night_weight,
    population_monitor,
    sign_flip_bound_p,
    sign_flip_lattice_p,
)


def _night(rng, effects, epochs=3, base=0.6):
    """Scores of one night: capability/eval/correct, item i moved by effects[i] when observed."""
    rows = []
    for i, effect in enumerate(effects):
        for arm, p in (("observed", base + effect), ("unobserved", base)):
            for _ in range(epochs):
                rows.append({"item_id": f"c{i}", "family": "capability", "pair": "eval",
                             "pair_kind": "test", "arm": arm,
                             "correct": float(rng.random() < p), "refused": 0.0})
    return pd.DataFrame(rows)


# 24 items at +0.25, 16 at -0.25: the population mean is 0 (an imbalance this large or larger
# happens in a quarter of item sets drawn from it); the mean over this set is +0.05
HETEROGENEOUS = np.array([0.25] * 24 + [-0.25] * 16)


def test_heterogeneous_item_effects_with_population_mean_0_do_not_alarm():
    rng = np.random.default_rng(11)
    nights = [_night(rng, HETEROGENEOUS) for _ in range(30)]
    table = monitor_runs(nights, alpha=0.05)
    correct = table[table["metric"] == "correct"].iloc[0]
    assert pd.isna(correct["alarm_run"]) and correct["pvalue"] > 0.05


def test_the_item_set_inference_finds_the_set_mean_that_is_not_0():
    # 28 at +0.25, 12 at -0.25: mean +0.10 over these items; the population's is still 0
    rng = np.random.default_rng(11)
    nights = [_night(rng, np.array([0.25] * 28 + [-0.25] * 12)) for _ in range(60)]
    item_set = monitor_runs(nights, alpha=0.05, inference="item-set")
    assert item_set.loc[item_set["metric"] == "correct", "alarm_run"].notna().all()
    population = monitor_runs(nights, alpha=0.05)
    assert population.loc[population["metric"] == "correct", "alarm_run"].isna().all()


def test_a_real_population_effect_alarms():
    rng = np.random.default_rng(12)
    nights = [_night(rng, np.full(40, -0.25)) for _ in range(3)]
    table = monitor_runs(nights, alpha=0.05)
    assert table.loc[table["metric"] == "correct", "alarm_run"].iloc[0] in (1, 2, 3)


@pytest.mark.parametrize("seed", range(20))
def test_the_bound_is_never_below_the_exact_sign_flip_p(seed):
    # validity: the closed-form p is at least the exact (enumerated) sign-flip p
    rng = np.random.default_rng(seed)
    m = np.round(rng.normal(0.1, 0.3, int(rng.integers(3, 11))), 2)
    m = m[m != 0]
    signs = np.array(list(itertools.product([-1, 1], repeat=m.size)))
    exact = float(np.mean(np.abs(signs @ m) >= abs(m.sum()) - 1e-12))
    assert sign_flip_bound_p(m) >= exact - 1e-12
    assert stats.sign_flip_test(m, "two-sided").pvalue == pytest.approx(exact)


def test_the_night_weights_spend_at_most_alpha():
    assert sum(night_weight(t) for t in range(1, 100_000)) == pytest.approx(1.0, abs=1e-4)


def test_false_alarms_over_twenty_nights_stay_below_alpha_under_the_population_null():
    # each sequence draws its own item set (item effects +-0.25, population mean 0)
    rng = np.random.default_rng(13)
    alarms, sims = 0, 300
    for _ in range(sims):
        effects = rng.choice([-0.25, 0.25], 30)
        base = rng.uniform(0.3, 0.7, 30)
        nights = []
        for _ in range(20):
            observed = rng.binomial(3, base + effects) / 3
            unobserved = rng.binomial(3, base) / 3
            nights.append(pd.Series(observed - unobserved, index=[f"i{k}" for k in range(30)]))
        alarms += population_monitor(nights, alpha=0.05).alarmed
    # bound 0.05; 300 draws: 0.05 + 2 SE = 0.075
    assert alarms / sims <= 0.075


def test_the_window_averages_each_item_over_the_last_nights_it_was_run():
    rng = np.random.default_rng(14)
    items = [f"i{k}" for k in range(12)]
    nights = [pd.Series(rng.choice([-1.0, 0.0, 0.5, 1.0], 12), index=items) for _ in range(9)]
    nights[4] = pd.Series(dtype=float)   # a night without this row
    result = population_monitor(nights, alpha=0.05, window=3)
    for t in range(1, 10):
        span = [s for s in nights[max(0, t - 3):t] if len(s)]
        if not span:
            continue
        means = pd.concat(span).groupby(level=0).mean().to_numpy()
        expected = night_weight(t) / sign_flip_lattice_p(means)
        assert result.e_values[t - 1] == pytest.approx(expected)
