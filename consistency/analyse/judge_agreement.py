"""How far the judge can be trusted: agreement between two judge samples and with the rule
scorers, added to the judge section of ``summary.json`` and to the report.

The judging pass itself (requests, journal, verdicts) is measurement
(:mod:`consistency.measure.judge_stage`); agreement is a statistic of those verdicts, so it
is computed here, after the battery, with :mod:`consistency.analyse.stats`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from consistency.analyse.stats.agreement import cohens_kappa
from consistency.measure.judge import JUDGE_METRICS
from consistency.measure.judge_stage import RULE_OF, JudgeResult


def with_agreement(result: JudgeResult, scores: pd.DataFrame) -> JudgeResult:
    """``result`` with kappa between the judge's two samples and with the rule scorers in its
    section, and the report's judge section built from it (no change when the judge was off).

    Args:
        result: what :func:`consistency.measure.judge_stage.run_judge` returned.
        scores: the scores frame with the judge columns merged in.
    """
    if not result.section.get("enabled"):
        return result
    section = dict(result.section)
    verdicts = result.verdicts
    first = verdicts[verdicts["sample"] == 0]
    pairs = first.merge(verdicts[verdicts["sample"] == 1], on="task_cell", suffixes=("", "_2"))
    section["double_judged"] = int(len(pairs))
    section["kappa_between_samples"] = {
        metric: _kappa(pairs[metric], pairs[f"{metric}_2"]) for metric in JUDGE_METRICS}
    section["agreement_with_rules"] = {
        metric: _kappa(scores[metric], scores[rule]) for metric, rule in RULE_OF.items()
        if metric in scores and rule in scores}
    return dataclasses.replace(result, section=section, markdown=judge_markdown(section))


def _kappa(first: pd.Series, second: pd.Series) -> dict[str, Any]:
    """Kappa with its 95% profile-likelihood interval, the prevalence and the positive and
    negative agreement (:func:`consistency.analyse.stats.agreement.cohens_kappa`); null where undefined,
    with ``note`` saying why."""
    result = cohens_kappa(first.to_numpy(float), second.to_numpy(float))
    clean = (lambda x: None if x is None or math.isnan(x) else round(float(x), 4))
    return {"kappa": clean(result.kappa), "ci_low": clean(result.ci_low),
            "ci_high": clean(result.ci_high), "confidence": result.confidence,
            "agreement": clean(result.observed), "prevalence": clean(result.prevalence),
            "positive_agreement": clean(result.positive_agreement),
            "negative_agreement": clean(result.negative_agreement), "n": result.n,
            "note": result.note}


def judge_markdown(section: dict[str, Any]) -> list[str]:
    """The report's judge section (the judge's reasons are not rendered: untrusted text)."""
    from consistency.common.sanitise import md_cell as md

    lines = ["## Judge", "",
             f"- judge `{md(section['model'])}`"
             + (f", second judge `{md(section['second_model'])}`" if section["second_model"]
                else "")
             + f"; prompt version {section['prompt_version']} (sha256 "
             f"{section['prompt_sha256'][:12]}...), blinded to framing and arm",
             f"- {section['valid']} of {section['judged']} responses judged validly "
             f"({section['retried']} invalid replies retried once); failures by kind: "
             f"{section['failures_by_kind'] or 'none'}",
             f"- double-judged subset: {section['double_judged']} responses", "",
             "| metric | between judge samples | with the rule scorer |",
             "|---|---|---|"]
    for metric in JUDGE_METRICS:
        between = section["kappa_between_samples"].get(metric, {})
        rules = section["agreement_with_rules"].get(metric, {})
        lines.append(f"| {metric} | {_fmt(between)} | {_fmt(rules)} |")
    return lines + ["", "Each cell: Cohen's kappa [95% profile-likelihood interval], the share "
                    "of positive ratings (prevalence), agreement on positives / negatives, and "
                    "n. At low prevalence kappa swings widely with few items; read it with the "
                    "interval and the two agreements. Kappa is undefined (said so) when both "
                    "raters gave one constant rating.", ""]


def _fmt(kappa: dict[str, Any]) -> str:
    if not kappa:
        return "-"
    shares = (f"prevalence {_share(kappa.get('prevalence'))}, positive "
              f"{_share(kappa.get('positive_agreement'))}, negative "
              f"{_share(kappa.get('negative_agreement'))}, n {kappa['n']}")
    if kappa["kappa"] is None:
        return f"undefined ({kappa.get('note') or 'no pairs'}); {shares}"
    interval = ("" if kappa.get("ci_low") is None
                else f" [{kappa['ci_low']:.2f}, {kappa['ci_high']:.2f}]")
    return f"{kappa['kappa']:.2f}{interval}; {shares}"


def _share(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"
