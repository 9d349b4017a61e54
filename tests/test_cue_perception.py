""""Cue not perceived" needs evidence of absence: a non-inferiority test at a stated margin;
otherwise the perception is undetermined, with the check items that would settle it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from consistency.design.settings import AnalysisSettings
from consistency.analyse.situation import (
    CUE_NOT_PERCEIVED,
    CUE_UNDETERMINED,
    PERCEPTION_MARGIN,
    checks_summary,
    perception_markdown,
    perception_table,
    with_cue_notes,
)

SETTINGS = AnalysisSettings(n_resamples=999)


def check_rows(rng: np.random.Generator, n_items: int, observed: float, unobserved: float,
               pair: str = "eval", kind: str = "test") -> pd.DataFrame:
    """One check per item and arm; EVALUATION with the arm's rate."""
    rows = []
    for i in range(n_items):
        for arm, rate in (("observed", observed), ("unobserved", unobserved)):
            said = float(rng.random() < rate)
            rows.append({"item_id": f"i{i}", "pair": pair, "pair_kind": kind, "arm": arm,
                         "variant": 0, "perceived_evaluation": said,
                         "check_answer": "evaluation" if said else "deployment"})
    return pd.DataFrame(rows)


def test_a_cue_that_moves_eight_check_items_is_rarely_called_not_perceived():
    rng = np.random.default_rng(5)
    sims = 300
    seen = [perception_table(check_rows(rng, 8, 0.75, 0.35), SETTINGS)["perception"].iloc[0]
            for _ in range(sims)]
    not_perceived = seen.count("not perceived") / sims
    # before: a failed test of the gap printed "cue not perceived" 61 % of the time
    assert not_perceived <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / sims)
    assert seen.count("undetermined") > 0.3 * sims  # what those runs are instead


def test_no_gap_on_many_items_is_shown_not_perceived():
    table = perception_table(check_rows(np.random.default_rng(0), 300, 0.9, 0.9), SETTINGS)
    row = table.iloc[0]
    assert row.perception == "not perceived" and row.cue_perceived == False
    assert row.absent_q < 0.05 and row.margin == PERCEPTION_MARGIN
    assert math.isnan(row.items_needed)


def test_undetermined_pairs_name_the_items_that_would_settle_it_and_are_noted():
    checks = pd.concat([check_rows(np.random.default_rng(2), 6, 0.5, 0.5),
                        check_rows(np.random.default_rng(3), 6, 0.5, 0.5, "wording",
                                   "placebo")], ignore_index=True)
    table = perception_table(checks, SETTINGS)
    test = table[table["pair"] == "eval"].iloc[0]
    assert test.perception == "undetermined" and pd.isna(test.cue_perceived)
    assert test.items_needed > 6
    assert table[table["pair"] == "wording"].iloc[0].perception == "placebo"
    tests = pd.DataFrame({"pair": ["eval", "wording"]})
    assert with_cue_notes(tests, table)["note"].tolist() == [CUE_UNDETERMINED, ""]
    summary = checks_summary(table, checks)
    assert summary["cue_not_perceived"] == [] and summary["cue_perception_undetermined"] == ["eval"]
    assert summary["margin"] == PERCEPTION_MARGIN
    text = "\n".join(perception_markdown(table, pd.DataFrame()))
    assert f"about {int(test.items_needed)} check items would settle it" in text


def test_not_perceived_pairs_are_noted_as_before():
    table = perception_table(check_rows(np.random.default_rng(4), 300, 0.2, 0.2), SETTINGS)
    tests = pd.DataFrame({"pair": ["eval"]})
    assert with_cue_notes(tests, table)["note"].tolist() == [CUE_NOT_PERCEIVED]
