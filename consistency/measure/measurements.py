"""Measurements beside the task metrics, wired into a run in one place.

The pipeline calls these at four points, so that its own flow stays config -> plan -> requests
-> responses -> scores -> tests -> report:

- :func:`request_params`: ``model.thinking_budget`` (Anthropic extended thinking) joins the
  sampling parameters of every request (so it is part of the request hash);
- :func:`plan_with_checks`: the manipulation-check cells (``checks.manipulation``,
  :mod:`consistency.measure.checks`);
- :func:`score_all`: reasoning traces read from the raw replies
  (:mod:`consistency.providers.reasoning`), the task metrics (with ``aware`` and
  ``training_reasoning``, :mod:`consistency.measure.scoring.awareness`) and ``perceived_evaluation``
  on check cells;
- :func:`situation_view`: after the battery has run on the task rows only, the per-pair
  perception table, ``aware_gap``, the ``cue not perceived`` notes and the belief split
  (:mod:`consistency.analyse.situation`), with their summary sections, report lines and files.

Check cells never reach the battery: :func:`consistency.measure.checks.task_rows` is what the analysis,
the response counts and the severity breakdown read, so every task row is the same with checks
on or off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from consistency.measure.checks import check_rows, score_checks, with_check_cells
from consistency.design.config import AnthropicModel, ChecksSettings, ModelSettings
from consistency.providers.reasoning import add_reasoning
from consistency.measure.scoring import METRICS, known_family, metrics_for_family, score_frame
from consistency.design.settings import AnalysisSettings
from consistency.analyse.situation import (belief_split, checks_summary, perception_markdown,
                                   perception_table, with_aware_gap, with_cue_notes)
from consistency.design.tasks import Item


def request_params(model: ModelSettings) -> dict[str, Any]:
    """Parameters beside the sampling ones: ``thinking_budget`` for an Anthropic model that sets
    it (its range was checked by :class:`consistency.design.config.AnthropicModel`)."""
    budget = getattr(model, "thinking_budget", None)
    if isinstance(model, AnthropicModel) and budget is not None:
        return {"thinking_budget": int(budget)}
    return {}


def plan_with_checks(plan: pd.DataFrame, checks: ChecksSettings) -> pd.DataFrame:
    """The plan with its ``purpose`` column and, when ``checks.manipulation``, the check cells."""
    return with_check_cells(plan, checks.manipulation, checks.limit)


def score_all(responses: pd.DataFrame, items: list[Item], protocol: str
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(responses, scores)``: responses with the reasoning columns, and their scores (task
    metrics on task cells, ``perceived_evaluation`` on check cells)."""
    responses = add_reasoning(responses, protocol)
    scores = score_frame(responses, {item.id: item for item in items})
    return responses, score_checks(scores, list(METRICS))


@dataclass
class Situation:
    """What :func:`situation_view` adds to a run's outputs."""

    tests: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    markdown: list[str] = field(default_factory=list)
    perception: pd.DataFrame = field(default_factory=pd.DataFrame)
    beliefs: pd.DataFrame = field(default_factory=pd.DataFrame)

    def write(self, folder: Path) -> None:
        """``checks.csv`` (perception per pair) and ``beliefs.csv``, when checks were run."""
        if self.summary.get("manipulation_check", {}).get("enabled"):
            self.perception.to_csv(folder / "checks.csv", index=False)
            self.beliefs.to_csv(folder / "beliefs.csv", index=False)


def situation_view(tests: pd.DataFrame, tasks: pd.DataFrame, scores: pd.DataFrame,
                   settings: AnalysisSettings) -> Situation:
    """The battery's rows with ``aware_gap`` and ``note``, plus the manipulation-check read-outs
    (``summary.json`` ``pairs`` and ``manipulation_check``; report sections)."""
    checks = check_rows(scores)
    perception = perception_table(checks, settings)
    families = {family: list(metrics_for_family(family))
                for family in tasks["family"].dropna().unique() if known_family(family)}
    beliefs = belief_split(tasks, checks, families)
    pairs = [{key: _plain(value) for key, value in row.items()}
             for row in perception.to_dict(orient="records")]
    section = ({"enabled": True, **checks_summary(perception, checks)} if len(checks)
               else {"enabled": False})
    rows = with_cue_notes(with_aware_gap(tests), perception)
    return Situation(rows, {"pairs": pairs, "manipulation_check": section},
                     perception_markdown(perception, beliefs), perception, beliefs)


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (NaN -> None, numpy -> Python)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
