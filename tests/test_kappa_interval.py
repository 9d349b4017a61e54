"""Judge agreement with uncertainty: Cohen's kappa with a profile-likelihood interval, the
prevalence and positive/negative agreement, and "undefined" said where kappa is."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import chi2
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

from consistency.analyse.judge_agreement import _kappa, judge_markdown
from consistency.analyse.stats.agreement import cohens_kappa


def _ratings(both: int, first: int, second: int, neither: int):
    a = np.repeat([1, 1, 0, 0], [both, first, second, neither])
    b = np.repeat([1, 0, 1, 0], [both, first, second, neither])
    return a, b


def _profile_by_optimiser(counts, kappa: float) -> float:
    """Independent profile log-likelihood: scipy's optimiser over the marginal rates."""
    cells = np.asarray(counts, float)

    def negative(x):
        p1, p2 = 1 / (1 + np.exp(-x))
        chance = p1 * p2 + (1 - p1) * (1 - p2)
        p11 = (kappa * (1 - chance) + chance - 1 + p1 + p2) / 2
        probs = np.array([p11, p1 - p11, p2 - p11, 1 - p1 - p2 + p11])
        if np.any(probs[cells > 0] <= 0) or np.any(probs < -1e-12):
            return 1e9
        return -float(np.sum(cells[cells > 0] * np.log(probs[cells > 0])))

    starts = [np.array([a, b]) for a in (-3.0, -1.0, 0.0, 1.0) for b in (-3.0, -1.0, 0.0, 1.0)]
    return -min(minimize(negative, s, method="Nelder-Mead",
                         options={"xatol": 1e-9, "fatol": 1e-10}).fun for s in starts)


@pytest.mark.parametrize("counts", [(8, 2, 3, 27), (3, 1, 0, 16), (40, 10, 12, 138)])
def test_interval_ends_are_where_the_likelihood_ratio_reaches_the_chi2_cut(counts):
    result = cohens_kappa(*_ratings(*counts))
    cells = np.asarray(counts, float)
    best = float(np.sum(cells[cells > 0] * np.log(cells[cells > 0] / cells.sum())))
    assert result.ci_low < result.kappa < result.ci_high
    for end in (result.ci_low, result.ci_high):
        if abs(end) < 1:
            ratio = 2 * (best - _profile_by_optimiser(counts, end))
            assert ratio == pytest.approx(chi2.ppf(0.95, 1), abs=0.05)


def test_with_many_pairs_the_interval_is_the_large_sample_one():
    counts = (400, 100, 120, 1380)
    result = cohens_kappa(*_ratings(*counts))
    ref = sm_kappa(np.array([[counts[0], counts[1]], [counts[2], counts[3]]]))
    assert result.kappa == pytest.approx(ref["kappa"])
    assert result.ci_low == pytest.approx(ref["kappa_low"], abs=0.01)
    assert result.ci_high == pytest.approx(ref["kappa_upp"], abs=0.01)


def test_coverage_at_twenty_pairs_and_low_prevalence():
    # the large-sample (Wald) interval covers about 0.39 here (benchmarks/simulate_kappa.py)
    rng = np.random.default_rng(6)
    pi, k, n = 0.05, 0.6, 20
    split = pi * (1 - pi) * (1 - k)
    probs = [pi * pi + k * pi * (1 - pi), split, split]
    probs.append(1 - sum(probs))
    covered = defined = 0
    for _ in range(100):
        result = cohens_kappa(*_ratings(*rng.multinomial(n, probs)))
        if math.isnan(result.kappa):
            assert result.note == "both raters gave one constant rating" and math.isnan(result.ci_low)
            continue
        defined += 1
        covered += result.ci_low <= k <= result.ci_high
    assert defined > 60 and covered / defined >= 0.90


def test_prevalence_and_positive_negative_agreement_beside_kappa():
    result = cohens_kappa(*_ratings(3, 1, 2, 14))
    assert result.prevalence == pytest.approx((4 + 5) / 40)
    assert result.positive_agreement == pytest.approx(6 / 9)
    assert result.negative_agreement == pytest.approx(28 / 31)


def test_undefined_kappa_is_said_and_the_report_prints_it():
    constant = _kappa(*(pd_series([0] * 20), pd_series([0] * 20)))
    assert constant["kappa"] is None and constant["ci_low"] is None
    assert constant["note"] and constant["prevalence"] == 0.0
    usual = _kappa(*(pd_series(list(a)) for a in _ratings(3, 1, 2, 14)))
    section = {"model": "j", "second_model": None, "prompt_version": 1, "prompt_sha256": "0" * 64,
               "valid": 20, "judged": 20, "retried": 0, "failures_by_kind": {},
               "double_judged": 20,
               "kappa_between_samples": {"judge_refused": constant},
               "agreement_with_rules": {"judge_refused": usual}}
    text = "\n".join(judge_markdown(section))
    assert "undefined (undefined: both raters gave one constant rating)" not in text
    assert "undefined (both raters gave one constant rating)" in text
    assert f"[{usual['ci_low']:.2f}, {usual['ci_high']:.2f}]" in text
    assert "positive 0.67, negative 0.90" in text


def pd_series(values):
    import pandas as pd

    return pd.Series(values, dtype=float)
