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
    result = cohens_kappa(first.to_numpy(float), second.to_numpy(float))
    clean = (lambda x: None if x is None or math.isnan(x) else round(float(x), 4))
    return {"kappa": clean(result.kappa), "agreement": clean(result.observed), "n": result.n}


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
             "| metric | kappa between judge samples (n) | kappa with the rule scorer (n) |",
             "|---|---|---|"]
    for metric in JUDGE_METRICS:
        between = section["kappa_between_samples"].get(metric, {})
        rules = section["agreement_with_rules"].get(metric, {})
        lines.append(f"| {metric} | {_fmt(between)} | {_fmt(rules)} |")
    return lines + ["", "Kappa is NaN (shown -) when a rater gave one constant rating.", ""]


def _fmt(kappa: dict[str, Any]) -> str:
    if not kappa:
        return "-"
    value = "-" if kappa["kappa"] is None else f"{kappa['kappa']:.2f}"
    return f"{value} ({kappa['n']})"
