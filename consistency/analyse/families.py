"""Analyse stage: which multiplicity family each test row's p value is adjusted in.

One rule, used by a run (:mod:`consistency.analyse.battery`), a sweep's q values
(:func:`consistency.analyse.battery.sweep_q_values`) and a cross-run report
(:func:`consistency.analyse.crossrun.readjust`), so that a report over one run reproduces that run:

* **Test and placebo rows** share the verdict families: each declared directional hypothesis
  (``sandbagging``, ``strategic_compliance``) over the rows that declare it, and ``divergence``
  over every such row. A placebo row prints a verdict like any test row ("divergence": rewording
  alone moved the model), so its chance of a false verdict is controlled with the others.
* **Planted rows** (positive controls) form families of their own (``control:<hypothesis>`` and
  ``control``), so a control can neither dilute nor borrow significance from the verdicts.

Rows whose p value is NaN get a NaN q value and are not counted (:mod:`consistency.analyse.stats.multiple`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from consistency.analyse.stats.multiple import adjust_within_families


def family_labels(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the label of its directional family (None for two-sided rows) and of its
    divergence family. Needs ``pair_kind``, ``alternative`` and ``hypothesis``."""
    planted = (frame["pair_kind"] == "planted").to_numpy()
    directional = (frame["alternative"] != "two-sided").to_numpy()
    hypothesis = frame["hypothesis"].astype(str).to_numpy(dtype=object)
    direction = np.where(directional, np.where(planted, "control:" + hypothesis, hypothesis), None)
    divergence = np.where(planted, "control", "verdict").astype(object)
    return direction.astype(object), divergence


def adjusted_q(frame: pd.DataFrame, p_directional: np.ndarray, p_divergence: np.ndarray,
               correction: str) -> tuple[np.ndarray, np.ndarray]:
    """``(q_value, q_divergence)`` under the rule of the module docstring.

    ``q_value`` is the directional q for directional rows and the divergence q for two-sided
    rows (whose verdict is divergence or nothing).
    """
    direction, divergence = family_labels(frame)
    q_div = adjust_within_families(np.asarray(p_divergence, float), divergence, correction)
    q_dir = adjust_within_families(np.asarray(p_directional, float), direction, correction)
    directional = (frame["alternative"] != "two-sided").to_numpy()
    return np.where(directional, q_dir, q_div), q_div
