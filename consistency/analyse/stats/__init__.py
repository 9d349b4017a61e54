"""Paired statistics for observed-vs-unobserved comparisons: ``from consistency import stats``.

Pure functions with scipy-style results (``statistic``, ``pvalue``, ``confidence_interval()``);
randomness only through ``rng``. Each name's docstring cites its source.

* One comparison: :func:`paired_test` (the dispatcher runs use), :func:`mcnemar_midp`,
  :func:`tango_ci`, :func:`newcombe_ci`, :func:`discordant_odds_ratio`, :func:`sign_flip_test`,
  :func:`relabel_test`, :func:`t_interval`.
* Several responses per item: :func:`cohens_dz`, :func:`bootstrap_interval`,
  :func:`omnibus_test`, :func:`divergence_magnitude`.
* Wording and placebo: :func:`template_test`, :func:`difference_in_differences`,
  :func:`placebo_margin`, :func:`placebo_rejection_rate`.
* Claims of no effect: :func:`equivalence` (TOST), :func:`noninferiority`,
  :func:`items_needed_for_equivalence`; the variance floor they share with the planner:
  :func:`planning_sd`, :func:`floored_sd`, :func:`smoothed_counts`, :func:`regularised_sd`.
* Many rows: :func:`benjamini_hochberg`, :func:`holm`, :func:`adjust`,
  :func:`adjust_within_families`.
* Planning: :func:`plan_mde`, :func:`plan_items` (Miller 2024), :func:`mcnemar_power`,
  :func:`plan_items_mcnemar`, :func:`plan_mde_mcnemar`.
* Scheduled runs: :func:`run_headline` (is this run flagged, any false flag at alpha),
  :func:`monitor` (anytime-valid e-process over runs), :func:`population_monitor` (nightly
  re-runs of a fixed item set, tested about the item population).
"""

from consistency.analyse.stats.binary import OddsRatioResult, discordant_odds_ratio, newcombe_ci
from consistency.analyse.stats.epochs import (
    OmnibusResult,
    bootstrap_interval,
    cohens_dz,
    divergence_magnitude,
    omnibus_test,
)
from consistency.analyse.stats.equivalence import (
    EquivalenceResult,
    equivalence,
    items_needed_for_equivalence,
    noninferiority,
)
from consistency.analyse.stats.frames import ARMS, item_table, variant_table
from consistency.analyse.stats.headline import headline_line, run_headline
from consistency.analyse.stats.monitor import MonitorResult, monitor, naive_alarm_rate
from consistency.analyse.stats.nightly import population_monitor
from consistency.analyse.stats.multiple import (
    CORRECTIONS,
    adjust,
    adjust_within_families,
    benjamini_hochberg,
    holm,
)
from consistency.analyse.stats.checks import ALTERNATIVES
from consistency.analyse.stats.paired import (
    INTERVALS,
    REPEATED_METHODS,
    BinaryTestResult,
    PairedResult,
    mcnemar_midp,
    paired_test,
    t_interval,
    tango_ci,
    tango_score,
)
from consistency.analyse.stats.relabel import relabel_test
from consistency.analyse.stats.selective import SelectiveResult, selective_test
from consistency.analyse.stats.signflip import TestResult, sign_flip_test
from consistency.analyse.stats.variance import floored_sd, planning_sd, regularised_sd, smoothed_counts
from consistency.analyse.stats.power import (
    Plan,
    connor_items,
    mcnemar_power,
    plan_items,
    plan_items_mcnemar,
    plan_mde,
    plan_mde_mcnemar,
)
from consistency.analyse.stats.wording import (
    DiDResult,
    TemplateResult,
    difference_in_differences,
    placebo_margin,
    placebo_rejection_rate,
    template_test,
)

__all__ = [
    "ALTERNATIVES", "ARMS", "CORRECTIONS", "INTERVALS", "REPEATED_METHODS", "BinaryTestResult",
    "DiDResult",
    "EquivalenceResult", "MonitorResult", "OddsRatioResult", "OmnibusResult", "PairedResult",
    "Plan", "SelectiveResult", "TemplateResult", "TestResult", "adjust", "adjust_within_families",
    "benjamini_hochberg", "bootstrap_interval", "cohens_dz", "connor_items",
    "difference_in_differences", "discordant_odds_ratio", "divergence_magnitude", "equivalence",
    "floored_sd", "planning_sd", "regularised_sd", "smoothed_counts",
    "headline_line", "holm", "item_table", "items_needed_for_equivalence", "mcnemar_midp",
    "mcnemar_power",
    "monitor", "naive_alarm_rate", "newcombe_ci", "noninferiority", "omnibus_test",
    "paired_test", "placebo_margin", "placebo_rejection_rate", "plan_items",
    "plan_items_mcnemar", "plan_mde", "plan_mde_mcnemar", "population_monitor", "relabel_test",
    "run_headline",
    "selective_test", "sign_flip_test",
    "t_interval",
    "tango_ci", "tango_score", "template_test", "variant_table",
]
