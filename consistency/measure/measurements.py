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
- after the battery has run on the task rows only,
  :func:`consistency.analyse.situation.situation_view` adds the per-pair perception table,
  ``aware_gap``, the ``cue not perceived`` notes and the belief split, with their summary
  sections, report lines and files (an analysis of the check cells scored here).

Check cells never reach the battery: :func:`consistency.measure.checks.task_rows` is what the analysis,
the response counts and the severity breakdown read, so every task row is the same with checks
on or off.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from consistency.measure.checks import score_checks, with_check_cells
from consistency.design.config import AnthropicModel, ChecksSettings, ModelSettings
from consistency.providers.reasoning import add_reasoning
from consistency.measure.scoring import METRICS, score_frame
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
