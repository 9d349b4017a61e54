"""Specification of consistency.analyse.stats.power: Miller (2024) planner and exact McNemar power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from consistency.analyse import stats


def test_plan_mde_is_millers_formula_by_hand():
    # By hand: (z_0.975 + z_0.8) * sqrt((0.02 + 0.5 / 3) / 100), z values from scipy.
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    plan = stats.plan_mde(100, epochs=3, within_var=0.5, between_var=0.02)
    assert plan.mde == pytest.approx(z * math.sqrt((0.02 + 0.5 / 3) / 100), rel=1e-12)
    assert plan.method == "miller2024" and plan.items == 100


def test_plan_items_and_plan_mde_are_inverses():
    plan = stats.plan_items(0.08, epochs=2, within_var=0.4, between_var=0.01, sides=1)
    assert stats.plan_mde(plan.items, 2, 0.4, 0.01, sides=1).mde <= 0.08
    assert stats.plan_mde(plan.items - 1, 2, 0.4, 0.01, sides=1).mde > 0.08


def test_more_epochs_only_shrink_the_within_item_part():
    one = stats.plan_mde(200, 1, 0.5, 0.05).mde
    many = stats.plan_mde(200, 10_000, 0.5, 0.05).mde
    floor = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * math.sqrt(0.05 / 200)
    assert one > many == pytest.approx(floor, rel=1e-3)


def test_planned_items_give_the_promised_power_in_simulation():
    # Per-item mean differences: true effect 0.1 + N(0, between) + epoch noise N(0, within/K).
    rng = np.random.default_rng(0)
    plan = stats.plan_items(0.1, epochs=4, within_var=0.5, between_var=0.02)
    sd = math.sqrt(0.02 + 0.5 / 4)
    d = 0.1 + rng.normal(0, sd, (4000, plan.items))
    power = np.mean(sps.ttest_1samp(d, 0, axis=1).pvalue < 0.05)
    assert power == pytest.approx(0.8, abs=0.03)


def test_mcnemar_power_matches_simulation_of_the_midp_test():
    rng = np.random.default_rng(1)
    n, psi, diff = 80, 0.3, 0.12
    cells = rng.multinomial(n, [(psi + diff) / 2, (psi - diff) / 2, 1 - psi], size=3000)
    cache: dict[tuple[int, int], bool] = {}
    hits = 0
    for b, c, _ in cells:
        key = (int(b), int(c))
        if key not in cache:
            cache[key] = stats.mcnemar_midp(*key).pvalue < 0.05
        hits += cache[key]
    assert stats.mcnemar_power(n, psi, diff) == pytest.approx(hits / 3000, abs=0.025)


def test_exact_mcnemar_items_are_close_to_connors_approximation():
    # Connor (1987, Biometrics 43:207) eq. 3; the exact mid-p answer should lie within ~10%.
    for psi, diff in ((0.3, 0.1), (0.2, 0.1), (0.5, 0.15)):
        exact = stats.plan_items_mcnemar(diff, psi).items
        assert exact == pytest.approx(stats.connor_items(psi, diff), rel=0.1)


def test_exact_mcnemar_plan_reaches_the_power_and_one_fewer_item_range_is_below():
    plan = stats.plan_items_mcnemar(0.1, 0.3, power=0.8)
    assert plan.power >= 0.8
    assert stats.mcnemar_power(plan.items - 5, 0.3, 0.1) < 0.8


def test_exact_mde_has_the_target_power():
    plan = stats.plan_mde_mcnemar(100, 0.3)
    assert stats.mcnemar_power(100, 0.3, plan.mde) == pytest.approx(0.8, abs=1e-3)
    assert math.isnan(stats.plan_mde_mcnemar(5, 0.1).mde)


def test_one_sided_power_exceeds_two_sided():
    assert stats.mcnemar_power(60, 0.3, -0.1, sides=1) > stats.mcnemar_power(60, 0.3, -0.1)


def test_planner_rejects_bad_arguments():
    with pytest.raises(ValueError, match="items"):
        stats.plan_mde(0)
    with pytest.raises(ValueError, match="both be 0"):
        stats.plan_mde(10, within_var=0, between_var=0)
    with pytest.raises(ValueError, match="discordance"):
        stats.mcnemar_power(10, 0.1, 0.2)
    with pytest.raises(ValueError, match="sides"):
        stats.plan_items(0.1, sides=3)
