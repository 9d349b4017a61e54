"""Run the rubric judge over a run's task responses: journalled, resumable, rate-limited.

It runs when a judge is configured (``judge=openai|anthropic|local``) and some item carries
``rubrics``; it uses the judge's provider, pacing and runner settings, with its own journal
(``rubric_judge.sqlite`` in the run folder) bound to the judge, the rubric prompt and the texts
removed, so an interrupted pass resumes and a reply already paid for is never asked for again.
What the judge sees and answers: :mod:`consistency.measure.rubric_judge`.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from consistency.design.config import RunConfig
from consistency.design.rubrics import Rubric
from consistency.design.scenarios import metric_roles
from consistency.measure.checks import task_rows
from consistency.measure.judge_stage import JUDGE_SAMPLING, _send_all, enabled
from consistency.measure.rubric_judge import (FAILURE_KINDS, RUBRIC_PROMPT_SHA256,
                                              RUBRIC_PROMPT_VERSION, cue_texts, retry_cells,
                                              rubric_frame, rubric_plan)
from consistency.run.store import Journal



@dataclass
class RubricResult:
    """What the rubric pass adds: ``metrics`` (column -> role) for the battery, the
    ``rubric_judge`` section of ``summary.json`` (counts; agreement is added by
    :func:`consistency.analyse.rubric_agreement.with_rubric_agreement`), the rubrics by name and
    which metric each is compared with."""

    section: dict[str, Any] = field(default_factory=lambda: {"enabled": False})
    metrics: dict[str, str] = field(default_factory=dict)
    rubrics: dict[str, Rubric] = field(default_factory=dict)
    markdown: list[str] = field(default_factory=list)


def suite_rubrics(items: list[Any]) -> dict[str, Rubric]:
    """Every rubric of the suite by name (the first item's, when items repeat one name)."""
    out: dict[str, Rubric] = {}
    for item in items:
        for name, rubric in (getattr(item, "meta", {}).get("rubrics") or {}).items():
            out.setdefault(name, rubric)
    return out


def run_rubric_judge(config: RunConfig, design: Any, scores: pd.DataFrame
                     ) -> tuple[pd.DataFrame, RubricResult]:
    """Judge every received task response of an item with rubrics; return the scores with the
    ``rubric_*`` columns and the :class:`RubricResult` (empty when off or without rubrics)."""
    settings = config.judge
    rubrics = suite_rubrics(design.items)
    if not enabled(settings) or not rubrics:
        return scores, RubricResult()
    model = f"{settings.provider}:{settings.name}"
    params = {k: getattr(settings, k) for k in JUDGE_SAMPLING if getattr(settings, k) is not None}
    framings = [f for pair in design.pairs for arm in ("observed", "unobserved")
                for f in getattr(pair, arm)]
    cues = cue_texts(framings, design.items)
    plan = rubric_plan(task_rows(scores), design.items, cues, model=model, params=params)
    answers = {}
    by_item = {item.id: item for item in design.items}
    task_items = dict(zip(scores["cell_id"], scores["item_id"]))
    for cell in plan.itertuples(index=False):
        answers[cell.cell_id] = by_item[task_items[cell.task_cell]].meta["rubrics"][
            cell.rubric].answers
    fingerprint = {"rubric_judge": model, "params": params,
                   "prompt_sha256": RUBRIC_PROMPT_SHA256}
    with Journal(design.folder / "rubric_judge.sqlite") as journal:
        journal.bind(fingerprint)
        retry = functools.partial(_retry, answers=answers)
        retried = asyncio.run(_send_all(config, settings, plan, journal, retry)) if len(plan) \
            else 0
        replies = journal.frame()
    frame = rubric_frame(plan, replies if len(replies) else
                         pd.DataFrame(columns=["cell_id", "status", "text"]), rubrics)
    out = scores.merge(frame.rename(columns={"task_cell": "cell_id"}), on="cell_id", how="left")
    for rubric in rubrics.values():
        out[f"{rubric.metric}_failure"] = out[f"{rubric.metric}_failure"].fillna("")
    metrics = metric_roles({r.metric: r.direction for r in rubrics.values()})
    section = _summary(model, rubrics, frame, retried)
    return out, RubricResult(section, metrics, rubrics)


def _retry(plan: pd.DataFrame, replies: pd.DataFrame, *, answers: dict[str, Any]
           ) -> pd.DataFrame:
    return retry_cells(plan, replies, answers)


def _summary(model: str, rubrics: dict[str, Rubric], frame: pd.DataFrame,
             retried: int) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for name, rubric in rubrics.items():
        failures = frame[f"{rubric.metric}_failure"] if len(frame) else pd.Series(dtype=str)
        judged = frame[rubric.metric].notna() | failures.ne("")
        counts = failures[failures != ""].value_counts()
        per[rubric.metric] = {
            "rubric": name, "direction": rubric.direction, "behaviour": rubric.behaviour,
            "answers": list(rubric.answers), "source": rubric.source,
            "agrees_with": rubric.agrees_with or None, "judged": int(judged.sum()),
            "valid": int(frame[rubric.metric].notna().sum()) if len(frame) else 0,
            "failures_by_kind": {k: int(counts.get(k, 0)) for k in FAILURE_KINDS
                                 if counts.get(k, 0)}}
    return {"enabled": True, "model": model, "prompt_version": RUBRIC_PROMPT_VERSION,
            "prompt_sha256": RUBRIC_PROMPT_SHA256, "retried": retried, "metrics": per}
