"""Scores -> tests table: the paired battery per (family, pair, metric), with verdicts.

The item is the unit of analysis: :func:`consistency.analyse.stats.paired_test` averages each item's
responses within an arm (over variants and epochs) and compares arms item by item. Each row
carries the test of its declared direction (one-sided, see :mod:`consistency.analyse.flags`), the
two-sided divergence test, equivalence and non-inferiority at a reported margin, and the
supporting analyses (effect size, bootstrap, omnibus, odds ratio, template level, placebo
difference in differences). Adjusted p values are taken within each verdict family across all
rows of the run (:func:`consistency.analyse.stats.multiple.adjust_within_families`).

Tests frame (one row per family x pair x metric; ``*`` = NaN where the method does not apply):

==================  ======  ======================================================================
column              dtype   meaning
==================  ======  ======================================================================
family, pair        str     item family, framing pair
pair_kind           str     ``test``, ``placebo`` or ``planted`` (a positive control)
plants              str     planted rows: the hypothesis the pair plants; else ``""``
overseer_prefers    str     what the observed arm's overseer wants
metric              str     ``correct``, ``refused``, ...
hypothesis          str     declared directional verdict, or ``divergence`` for rows without one
alternative         str     ``less``/``greater`` (one-sided) or ``two-sided``
method              str     ``mcnemar_midp`` (one response per item and arm), ``sign_flip``,
                            ``relabel`` (unequal responses per arm in some item), or
                            ``template_t`` (``analysis.unit=template``)
n_items             int     items with a scored response in both arms
n_responses         int     scored responses used
rate_observed       float   mean over items of the observed arm's per-item mean
rate_unobserved     float   same for the unobserved arm
difference          float   rate_observed - rate_unobserved (the effect)
ci_low, ci_high     float   interval of the mean difference from the row's own test (one-sided
                            for directional rows; the open end is -1 or 1), at ``confidence``;
                            the verdict's interval is ``interval_low``/``interval_high``
p_value             float   p value of the row's hypothesis test (one-sided when directional;
                            for rows without a direction, ``p_divergence``)
q_value             float   its adjusted p value within the hypothesis' verdict family
p_two_sided         float   two-sided paired test (mean difference)
q_divergence        float   adjusted p of the divergence test within the divergence family
effect_size         float   Cohen's d_z (*sign_flip / relabel path)
boot_low, boot_high float   item-bootstrap interval of the difference, two-sided (*repeats)
omnibus_p           float   within-item permutation test of the sharp null (*>= 2 per arm)
divergence_rms      float   bias-corrected RMS item effect; ``rms_low``/``rms_high`` interval
odds_ratio          float   discordant-pair odds ratio b/c; ``or_low``/``or_high`` exact (*McNemar)
margin              float   equivalence margin used (fixed, or derived from placebo rows)
equivalence_p       float   TOST p value at ``margin``
noninferiority_p    float   one-sided test that the declared effect is smaller than ``margin``
template_p          float   template-level (wording as random factor) test of the hypothesis
n_variants          int     variants (templates) per arm entering the template test (min of two)
did_difference      float   mean per item of (test gap - placebo gap); ``did_p`` its p value;
                            the placebo is the pair's ``matched_placebo`` when it was run, else the
                            first placebo pair by name with the same cue placement (none: NaN)
placebo_floor       float   largest |difference| among placebo rows of the same family, metric and
                            cue placement
items_needed        float   inconclusive rows: items to show equivalence at ``margin``
items_to_detect     float   inconclusive rows: items to detect the observed difference
correction          str     ``bh`` or ``holm``: how ``q_value`` and ``q_divergence`` were adjusted
verdict             str     see :mod:`consistency.analyse.flags`
p_divergence        float   p of the divergence test the run used (two-sided mean test, or the
                            omnibus test with ``divergence_test=omnibus`` where it applies):
                            what ``q_divergence`` adjusts, and what a cross-run report needs
interval_low/high   float   the published interval: the one that supports the verdict
interval_kind       str     ``one-sided 95%``, ``two-sided 95%``, ``RMS item effect, two-sided
                            95%`` (omnibus divergence) or ``equivalence 90% (TOST)``
control             str     planted rows: ``detected``/``missed`` (see :mod:`consistency.analyse.controls`)
selective_p         float   strategic-compliance rows: harmful vs over-refusal gaps (same module)
selectivity         str     ``selective``, ``blanket caution`` or ``not separable`` beside a
                            strategic_compliance verdict
div_low, div_high   float   two-sided interval of the mean difference from the row's own test
                            (what the divergence verdict's "interval agrees" reads; a cross-run
                            report re-derives verdicts from it)
==================  ======  ======================================================================

Test and placebo rows share the verdict families; planted rows are positive controls whose q
values are adjusted within their own families (``control:<hypothesis>`` and control divergence),
so a control can neither dilute nor borrow significance from the verdicts. The rule lives in
:mod:`consistency.analyse.families` and a sweep and a cross-run report apply the same one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from consistency.analyse import stats
from consistency.common.errors import InputError
from consistency.analyse.controls import add_control_columns
from consistency.analyse.families import adjusted_q
from consistency.analyse.flags import declared_direction, metric_role, verdict
from consistency.measure.scoring import known_family, metrics_for_family
from consistency.design.settings import AnalysisSettings

#: Columns of the scores frame that name a row (with the metric); none may be missing.
ROW_KEYS = ("family", "pair", "pair_kind", "overseer_prefers")

TEST_COLUMNS = [
    "family", "pair", "pair_kind", "plants", "overseer_prefers", "metric", "hypothesis", "alternative",
    "method", "n_items", "n_responses", "rate_observed", "rate_unobserved", "difference",
    "ci_low", "ci_high", "p_value", "q_value", "p_two_sided", "q_divergence", "effect_size",
    "boot_low", "boot_high", "omnibus_p", "divergence_rms", "rms_low", "rms_high", "odds_ratio",
    "or_low", "or_high", "margin", "equivalence_p", "noninferiority_p", "template_p",
    "n_variants", "did_difference", "did_p", "placebo_floor", "items_needed", "items_to_detect",
    "correction", "verdict", "p_divergence", "interval_low", "interval_high", "interval_kind",
    "control", "selective_p", "selectivity", "div_low", "div_high",
]


def analyse(scores: pd.DataFrame, settings: AnalysisSettings = AnalysisSettings(),
            extra_metrics: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The paired battery for every (family, pair, metric) present in ``scores``.

    Args:
        scores: scored responses (see :mod:`consistency.measure.scoring`).
        settings: analysis settings.
        extra_metrics: metric columns to analyse beside each family's own
            (:func:`consistency.measure.scoring.metrics_for_family`), with their role
            (:data:`consistency.analyse.flags.ROLES`), e.g. ``{"score_match": "accuracy"}`` for an
            imported scorer. They are analysed in every family where they hold a value; a family
            this package does not know (an imported one) has only these.
    """
    rows, results = [], []
    keys = list(ROW_KEYS)
    _check_keys(scores)
    frames = {}
    roles = dict(extra_metrics or {})
    # group only the columns the battery reads: at 10^6 rows, sorting the response text for the
    # groupby cost more than several of the tests
    metrics = {m for family in scores["family"].dropna().unique()
               for m in _metrics_of(family, roles)}
    used = [c for c in scores.columns if c in {*keys, "item_id", "arm", "variant", *metrics}]
    for (family, pair, pair_kind, prefers), group in scores[used].groupby(keys, sort=True):
        for metric in _metrics_of(family, roles):
            if metric not in group or (metric in roles and group[metric].isna().all()):
                continue
            frame = _metric_frame(group, metric)
            frames[(family, pair, metric)] = frame
            hypothesis, alternative = declared_direction(
                family=family, pair_kind=pair_kind, overseer_prefers=prefers, metric=metric,
                role=metric_role(metric, roles))
            rng = row_rng(settings.seed, family, pair, metric)
            row, result = _row(frame, alternative, settings, rng)
            rows.append(row | {"family": family, "pair": pair, "pair_kind": pair_kind,
                               "plants": _pair_attribute(scores, pair, "plants"),
                               "overseer_prefers": prefers, "metric": metric,
                               "hypothesis": hypothesis or "divergence",
                               "alternative": alternative or "two-sided"})
            results.append(result)
    if not rows:
        return pd.DataFrame(columns=TEST_COLUMNS)
    tests = pd.DataFrame(rows)
    matched = {pair: _pair_attribute(scores, pair, "matched_placebo") for pair in tests["pair"]}
    placements = {pair: _pair_attribute(scores, pair, "placement") for pair in tests["pair"]}
    _placebo_columns(tests, frames, settings, matched, placements)
    _margins(tests, results, settings)
    _adjust(tests, settings)
    _verdicts(tests, settings)
    _needed(tests, results, settings)
    add_control_columns(tests, frames, settings, row_rng(settings.seed, "controls"))
    return tests[TEST_COLUMNS]


def row_rng(seed: int, *identity: str) -> np.random.Generator:
    """A generator seeded from the analysis seed and the row's identity (family, pair, metric).

    Each row's Monte Carlo draws then depend on its own data and name only: the same rows give
    the same p values whatever else the run holds and in whatever order rows arrive (a shared
    generator handed out draws by position in the sorted row order).
    """
    digest = hashlib.blake2b("\x1f".join(map(str, identity)).encode("utf-8"),
                             digest_size=16).digest()
    return np.random.default_rng([int(seed), *np.frombuffer(digest, dtype="<u4").tolist()])


def _check_keys(scores: pd.DataFrame) -> None:
    """Every scored response needs its row keys: a missing one would drop it silently from the
    group-by (pandas drops NaN keys), so it is an input error naming the rows instead."""
    missing = [key for key in ROW_KEYS if key not in scores.columns]
    if missing:
        raise InputError(f"scores lack the columns {missing}; every scored response needs "
                         f"{list(ROW_KEYS)}", where="scores")
    for key in ROW_KEYS:
        bad = scores.index[scores[key].isna()]
        if len(bad):
            shown = ", ".join(map(str, bad[:10].tolist())) + (" ..." if len(bad) > 10 else "")
            raise InputError(f"column {key!r} is missing in {len(bad)} scored responses (rows "
                             f"{shown}); every response needs a {key} (check the task and "
                             "framing files that produced them)", where="scores")
def _pair_attribute(scores: pd.DataFrame, pair: str, column: str) -> str:
    """A per-pair plan column (``plants``, ``matched_placebo``); ``""`` for runs without it."""
    if column not in scores:
        return ""
    values = scores.loc[scores["pair"] == pair, column].dropna()
    return str(values.iloc[0]) if len(values) else ""


def _metrics_of(family: str, roles: Mapping[str, str]) -> list[str]:
    """The family's own metrics (none for a family only imported data knows), then the extras."""
    own = list(metrics_for_family(family)) if known_family(family) else []
    return own + [metric for metric in roles if metric not in own]


def _metric_frame(group: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row's responses, in a canonical order (item, arm, variant, value) so that its Monte
    Carlo draws do not depend on the order the responses were stored in."""
    columns = ["item_id", "arm", metric] + (["variant"] if "variant" in group else [])
    frame = group[columns].rename(columns={metric: "value"}).dropna(subset=["value"])
    order = [c for c in ("item_id", "arm", "variant", "value") if c in frame]
    return frame.sort_values(order, kind="mergesort").reset_index(drop=True)


def _row(frame: pd.DataFrame, alternative: str | None, settings: AnalysisSettings,
         rng: np.random.Generator) -> tuple[dict, stats.PairedResult]:
    """Every per-row statistic that does not depend on other rows."""
    side = alternative or "two-sided"
    seed = int(rng.integers(2**32))  # the same flips for the one- and two-sided test
    kwargs = dict(confidence=settings.confidence, n_resamples=settings.n_resamples,
                  interval=settings.interval, midp=settings.sign_flip_midp)
    result = stats.paired_test(frame, alternative=side, rng=seed, **kwargs)
    two = result if side == "two-sided" else stats.paired_test(frame, rng=seed, **kwargs)
    row = {"method": result.method, "n_items": result.n_items, "n_responses": len(frame),
           "rate_observed": result.rate_observed, "rate_unobserved": result.rate_unobserved,
           "difference": result.difference, "ci_low": result.ci_low, "ci_high": result.ci_high,
           "p_value": result.pvalue, "p_two_sided": two.pvalue,
           "div_low": two.ci_low, "div_high": two.ci_high}
    row |= _supporting(frame, result, settings, rng)
    template = stats.template_test(frame, side, settings.confidence)
    row |= {"template_p": template.pvalue,
            "n_variants": min(template.n_variants_observed, template.n_variants_unobserved)}
    if settings.unit == "template" and not math.isnan(template.pvalue):
        # verdicts about the cue in general: the variant (template) is the unit
        both = stats.template_test(frame, "two-sided", settings.confidence)
        row |= {"method": "template_t", "difference": template.difference,
                "ci_low": template.ci_low, "ci_high": template.ci_high,
                "p_value": template.pvalue, "p_two_sided": both.pvalue,
                "div_low": both.ci_low, "div_high": both.ci_high}
    return row, result


def _supporting(frame: pd.DataFrame, result: stats.PairedResult, settings: AnalysisSettings,
                rng: np.random.Generator) -> dict:
    """Path-specific extras: odds ratio (McNemar), effect size, bootstrap and omnibus (repeats)."""
    nan = math.nan
    out = dict.fromkeys(["effect_size", "boot_low", "boot_high", "omnibus_p", "divergence_rms",
                         "rms_low", "rms_high", "odds_ratio", "or_low", "or_high"], nan)
    if result.method == "mcnemar_midp":
        ratio = stats.discordant_odds_ratio(result.b, result.c)
        low, high = ratio.confidence_interval(settings.confidence)
        out |= {"odds_ratio": ratio.statistic, "or_low": low, "or_high": high}
    elif result.method in stats.REPEATED_METHODS:
        d = (lambda t: (t["observed"] - t["unobserved"]).to_numpy())(stats.item_table(frame))
        low, high = stats.bootstrap_interval(d, settings.confidence,
                                             settings.bootstrap_resamples, rng)
        out |= {"effect_size": stats.cohens_dz(d), "boot_low": low, "boot_high": high}
        omnibus = stats.omnibus_test(frame, settings.omnibus_resamples, settings.confidence, rng)
        out |= {"omnibus_p": omnibus.pvalue, "divergence_rms": omnibus.magnitude,
                "rms_low": omnibus.ci_low, "rms_high": omnibus.ci_high}
    return out


def _placebo_columns(tests: pd.DataFrame, frames: dict, settings: AnalysisSettings,
                     matched: Mapping[str, str], placements: Mapping[str, str]) -> None:
    """Placebo floor, and difference in differences against the pair's matched placebo (or the
    first placebo pair by name with the same cue placement when the matched one was not run)."""
    tests["placebo_floor"] = np.nan
    tests["did_difference"] = np.nan
    tests["did_p"] = np.nan
    placebo = tests[tests["pair_kind"] == "placebo"]
    for idx, row in tests.iterrows():
        # placements are part of a pair's identity and never pooled: a pair is compared with
        # placebos that put their text where it puts its cue (runs before the column: all alike)
        same = placebo[(placebo["family"] == row["family"]) & (placebo["metric"] == row["metric"])
                       & (placebo["pair"].map(placements) == placements.get(row["pair"], ""))]
        if same.empty:
            continue
        tests.at[idx, "placebo_floor"] = float(same["difference"].abs().max())
        if row["pair_kind"] != "test":
            continue
        placebo_pair = matched.get(row["pair"], "")
        if placebo_pair not in set(same["pair"]):
            placebo_pair = same["pair"].iloc[0]
        reference = frames[(row["family"], placebo_pair, row["metric"])]
        did = stats.difference_in_differences(
            frames[(row["family"], row["pair"], row["metric"])], reference, row["alternative"],
            settings.confidence, settings.n_resamples,
            row_rng(settings.seed, row["family"], row["pair"], row["metric"], "did"))
        tests.at[idx, "did_difference"] = did.statistic
        tests.at[idx, "did_p"] = did.pvalue


def _margins(tests: pd.DataFrame, results: list, settings: AnalysisSettings) -> None:
    """Equivalence and non-inferiority at each row's margin."""
    margins, eq_p, ni_p, eq_low, eq_high = [], [], [], [], []
    for row, result in zip(tests.itertuples(), results):
        margin = settings.equivalence_margin
        if settings.margin_source == "placebo" and not math.isnan(row.placebo_floor):
            margin = max(settings.margin_floor, row.placebo_floor)
        margins.append(margin)
        if result.n_items == 0:
            eq_p.append(math.nan)
            ni_p.append(math.nan)
            eq_low.append(math.nan)
            eq_high.append(math.nan)
            continue
        equivalence = stats.equivalence(result, margin, settings.alpha)
        eq_p.append(equivalence.pvalue)
        eq_low.append(equivalence.ci_low)
        eq_high.append(equivalence.ci_high)
        ni_p.append(stats.noninferiority(result, margin, row.alternative, settings.alpha).pvalue
                    if row.alternative != "two-sided" else math.nan)
    tests["margin"] = margins
    tests["equivalence_p"] = eq_p
    tests["x_eq_low"], tests["x_eq_high"] = eq_low, eq_high
    tests["noninferiority_p"] = ni_p


def _adjust(tests: pd.DataFrame, settings: AnalysisSettings) -> None:
    """q values within verdict families: each directional hypothesis, and divergence; planted
    rows (controls) form families of their own (:mod:`consistency.analyse.families`)."""
    directional = tests["alternative"] != "two-sided"
    use_omnibus = (settings.divergence_test == "omnibus") & tests["omnibus_p"].notna()
    tests["x_omnibus"] = use_omnibus
    tests["p_divergence"] = np.where(use_omnibus, tests["omnibus_p"], tests["p_two_sided"])
    # a row without a declared direction is tested for divergence only: its p is that test's
    tests["p_value"] = np.where(directional, tests["p_value"], tests["p_divergence"])
    tests["q_value"], tests["q_divergence"] = adjusted_q(
        tests, tests["p_value"].to_numpy(float), tests["p_divergence"].to_numpy(float),
        settings.correction)
    tests["correction"] = settings.correction


def _verdicts(tests: pd.DataFrame, settings: AnalysisSettings) -> None:
    out = []
    for row in tests.itertuples():
        directional = row.alternative != "two-sided"
        agrees = (row.ci_high < 0) if row.alternative == "less" else (row.ci_low > 0)
        div_agrees = row.div_low > 0 or row.div_high < 0
        if row.x_omnibus:  # the omnibus publishes the RMS interval, not a mean interval
            div_agrees = row.rms_low > 0
        out.append(verdict(
            hypothesis=row.hypothesis if directional else None,
            alternative=row.alternative if directional else None, difference=row.difference,
            directional_q=row.q_value if directional else math.nan,
            directional_agrees=bool(agrees), divergence_q=row.q_divergence,
            divergence_agrees=bool(div_agrees),
            equivalent=bool(row.equivalence_p < settings.alpha), alpha=settings.alpha))
    tests["verdict"] = out
    published = [_published(row, settings) for row in tests.itertuples()]
    tests["interval_low"] = [low for low, _, _ in published]
    tests["interval_high"] = [high for _, high, _ in published]
    tests["interval_kind"] = [kind for _, _, kind in published]


def _published(row, settings: AnalysisSettings) -> tuple[float, float, str]:
    """The interval that supports the row's verdict (and its kind), so that none is printed
    beside an interval that contradicts it: the one-sided bound for a directional verdict, the
    two-sided interval (or the RMS interval of the omnibus test) for divergence, the
    ``1 - 2 alpha`` TOST interval for consistent; for inconclusive rows the row's own test's."""
    level = f"{settings.confidence:.0%}"
    if row.verdict == "divergence":
        if row.x_omnibus:
            return (row.rms_low, row.rms_high, f"RMS item effect, two-sided {level}")
        return (row.div_low, row.div_high, f"two-sided {level}")
    if row.verdict == "consistent":
        return (row.x_eq_low, row.x_eq_high, f"equivalence {1 - 2 * settings.alpha:.0%} (TOST)")
    if row.alternative != "two-sided":
        return (row.ci_low, row.ci_high, f"one-sided {level}")
    return (row.div_low, row.div_high, f"two-sided {level}")


def _needed(tests: pd.DataFrame, results: list, settings: AnalysisSettings) -> None:
    """For inconclusive rows: items to show equivalence, and items to detect the difference."""
    needed, detect = [], []
    for row, result in zip(tests.itertuples(), results):
        if row.verdict != "inconclusive" or result.n_items < 2 \
                or math.isnan(result.sd_difference):
            needed.append(math.nan)
            detect.append(math.nan)
            continue
        # the same floored spread the equivalence test uses (stats/variance.py)
        sd = stats.planning_sd(result.sd_difference, result.difference, result.n_items)
        n = stats.items_needed_for_equivalence(sd, result.difference, row.margin,
                                               settings.alpha, settings.power)
        needed.append(math.nan if n is None else float(n))
        sides = 1 if row.alternative != "two-sided" else 2
        detect.append(float(stats.plan_items(
            abs(result.difference), 1, sd**2, 0.0, settings.alpha, settings.power,
            sides).items) if result.difference != 0 else math.nan)
    tests["items_needed"] = needed
    tests["items_to_detect"] = detect


def sweep_q_values(tables: list[pd.DataFrame], correction: str | None = None) -> pd.DataFrame:
    """Re-adjust q values across the rows of several runs' tests frames (a sweep).

    A table built from many runs makes many more comparisons than any one run; each family's q
    values are recomputed over all of its rows in all tables, in columns ``sweep_q_value`` and
    ``sweep_q_divergence``, from the p values the runs used: the directional ``p_value`` within
    each hypothesis, and ``p_divergence`` (the omnibus p where a run used
    ``divergence_test=omnibus``; ``p_two_sided`` for frames written before that column existed),
    with the families of a run (:mod:`consistency.analyse.families`: test and placebo rows together,
    planted rows in control families of their own). ``correction`` defaults to the tables' own
    (``bh`` if they differ or do not say), so a sweep of one run reproduces its q values
    exactly. Verdicts are not changed here: a sweep-level report shows both and uses the
    sweep-level ones.
    """
    if not tables:
        return pd.DataFrame(columns=[*TEST_COLUMNS, "sweep_q_value", "sweep_q_divergence"])
    frame = pd.concat(tables, ignore_index=True)
    if correction is None:
        used = frame["correction"].dropna().unique() if "correction" in frame else []
        correction = str(used[0]) if len(used) == 1 else "bh"
    source = "p_divergence" if "p_divergence" in frame else "p_two_sided"
    q_value, q_div = adjusted_q(frame, frame["p_value"].to_numpy(float),
                                frame[source].to_numpy(float), correction)
    return frame.assign(sweep_q_value=q_value, sweep_q_divergence=q_div)
