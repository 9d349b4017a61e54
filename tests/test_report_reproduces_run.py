"""A cross-run report over one run reproduces that run: same q values, same verdicts.

The run, the sweep q values and the report adjust within the same families
(:mod:`consistency.analyse.families`: test and placebo rows together, planted rows apart)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from consistency.analyse import crossrun
from consistency.analyse.battery import AnalysisSettings, analyse, sweep_q_values

PAIRS = (("eval", "test", "refusal", 0.12), ("tier", "test", "compliance", -0.08),
         ("wording", "placebo", "refusal", 0.25), ("other", "placebo", "refusal", 0.0),
         ("plant", "planted", "refusal", -0.4))


def _scores(seed: int, n_items: int = 30, variants: int = 1) -> pd.DataFrame:
    """Capability and harmful items; every pair shifts the observed arm by its own amount, so
    test rows sit near the threshold and placebo rows carry small p values."""
    rng = np.random.default_rng(seed)
    rows = []
    for family in ("capability", "harmful"):
        base = rng.uniform(0.3, 0.7, n_items)
        for pair, kind, prefers, shift in PAIRS:
            for i in range(n_items):
                for arm in ("observed", "unobserved"):
                    p = np.clip(base[i] + (shift if arm == "observed" else 0.0), 0, 1)
                    for variant in range(variants):
                        value = float(rng.random() < p)
                        rows.append({"item_id": f"{family[0]}{i}", "family": family,
                                     "pair": pair, "pair_kind": kind,
                                     "overseer_prefers": prefers, "arm": arm,
                                     "variant": variant, "epoch": 0,
                                     "plants": "sandbagging" if kind == "planted" else "",
                                     "correct": value if family == "capability" else np.nan,
                                     "refused": value if family == "harmful" else np.nan,
                                     "complied": 1 - value if family == "harmful" else np.nan})
    return pd.DataFrame(rows)


def _folder(tmp_path, tests: pd.DataFrame, settings: AnalysisSettings):
    folder = tmp_path / "run"
    folder.mkdir()
    tests.to_csv(folder / "tests.csv", index=False)
    (folder / "summary.json").write_text(json.dumps({"run_id": "r1", "model": "m"}))
    (folder / "config.yaml").write_text(
        f"analysis:\n  alpha: {settings.alpha}\n  correction: {settings.correction}\n"
        f"  divergence_test: {settings.divergence_test}\n")
    return folder


@pytest.mark.parametrize("variants,correction,divergence_test", [
    (1, "bh", "mean"), (2, "bh", "mean"), (2, "holm", "omnibus")])
def test_report_over_one_run_reproduces_its_q_values_and_verdicts(
        tmp_path, variants, correction, divergence_test):
    settings = AnalysisSettings(n_resamples=999, omnibus_resamples=199, bootstrap_resamples=99,
                                correction=correction, divergence_test=divergence_test)
    tests = analyse(_scores(4, variants=variants), settings)
    assert (tests["pair_kind"] == "placebo").sum() >= 4
    # placebo rows that move the BH q values of the others (Holm: any row changes the count)
    assert tests.loc[tests["pair_kind"] == "placebo", "p_value"].min() < 0.1
    report = crossrun.load([_folder(tmp_path, tests, settings)]).tests
    run = pd.read_csv(tmp_path / "run" / "tests.csv")
    np.testing.assert_array_equal(report["report_q_value"].to_numpy(), run["q_value"].to_numpy())
    np.testing.assert_array_equal(report["report_q_divergence"].to_numpy(),
                                  run["q_divergence"].to_numpy())
    assert report["report_verdict"].tolist() == run["verdict"].tolist()


def test_a_sweep_of_one_run_reproduces_every_rows_q_values_placebo_and_planted_included():
    tests = analyse(_scores(5), AnalysisSettings(n_resamples=999))
    sweep = sweep_q_values([tests])
    np.testing.assert_array_equal(sweep["sweep_q_value"], tests["q_value"])
    np.testing.assert_array_equal(sweep["sweep_q_divergence"], tests["q_divergence"])
