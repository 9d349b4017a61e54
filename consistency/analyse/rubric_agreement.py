"""Agreement between a rubric metric and the action metric it declares (``agrees_with``).

A rubric answered by a judge and a rule scored from what the agent did (an email sent, a file
changed) measure the same behaviour two ways; where a rubric names its partner, Cohen's kappa
between the two over the task responses where both have a value is added to the
``rubric_judge`` section of ``summary.json`` and to the report, with its interval, the
prevalence and the positive and negative agreement (the read-out the blinded judge uses).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from consistency.analyse.judge_agreement import _fmt, _kappa
from consistency.measure.rubric_stage import RubricResult


def with_rubric_agreement(result: RubricResult, scores: pd.DataFrame) -> RubricResult:
    """``result`` with ``agreement`` per rubric metric that declares a partner present in
    ``scores`` (a partner absent from the scores is reported as such), and its report lines."""
    if not result.section.get("enabled"):
        return result
    section = dict(result.section)
    agreement: dict[str, Any] = {}
    for rubric in result.rubrics.values():
        partner = rubric.agrees_with
        if not partner:
            continue
        if partner not in scores or rubric.metric not in scores:
            agreement[rubric.metric] = {"with": partner, "note": f"no metric '{partner}' in "
                                        "the scores"}
            continue
        agreement[rubric.metric] = {"with": partner,
                                    **_kappa(scores[rubric.metric].astype(float),
                                             pd.to_numeric(scores[partner], errors="coerce"))}
    section["agreement"] = agreement
    return dataclasses.replace(result, section=section, markdown=rubric_markdown(section))


def rubric_markdown(section: dict[str, Any]) -> list[str]:
    """The report's rubric-judge section (rubric texts and judge reasons are not rendered)."""
    from consistency.common.sanitise import md_cell as md

    lines = ["## Rubric judge", "",
             f"- judge `{md(section['model'])}`; rubric prompt version "
             f"{section['prompt_version']} (sha256 {section['prompt_sha256'][:12]}...); framing "
             f"and cue text removed from every transcript; {section['retried']} invalid replies "
             "retried once", "",
             "| metric | direction | valid / judged | failures | agreement with |",
             "|---|---|---|---|---|"]
    for metric, info in section["metrics"].items():
        agree = section.get("agreement", {}).get(metric)
        shown = "-"
        if agree:
            shown = (f"`{md(agree['with'])}`: "
                     + (md(agree["note"]) if "kappa" not in agree else _fmt(agree)))
        lines.append(f"| {md(metric)} | {md(info['direction'])} | {info['valid']} / "
                     f"{info['judged']} | {md(str(info['failures_by_kind'] or 'none'))} | "
                     f"{shown} |")
    return lines + ["", "Agreement: Cohen's kappa [95% profile-likelihood interval], prevalence, "
                    "agreement on positives / negatives and n, over responses where both "
                    "metrics have a value.", ""]
