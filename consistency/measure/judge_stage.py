"""Run the optional judge over a run's task responses: journalled, resumable, rate-limited.

The judge is a provider like the model under test (``judge=openai|anthropic|local``, with the same
keys as the ``model`` group), with its own journal (``judge.sqlite`` in the run folder) bound to
the judge's design, so an interrupted judging pass resumes where it stopped and a changed judge
never mixes with an old one. See :mod:`consistency.measure.judge` for what the judge sees and returns.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from consistency.measure.checks import task_rows
from consistency.design.config import JudgeSettings, RunConfig
from consistency.measure.judge import (FAILURE_KINDS, JUDGE_METRICS, JUDGE_PROMPT_SHA256,
                               JUDGE_PROMPT_VERSION, judge_frame, judge_plan, retry_cells)
from consistency.providers import check_reachable, make_provider
from consistency.providers.base import require_key
from consistency.providers.ratelimit import RateLimiter
from consistency.run.store import Journal

JUDGE_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")
#: Judge metric -> the rule metric it is compared with.
RULE_OF = {"judge_refused": "refused", "judge_aware": "aware",
           "judge_training_reasoning": "training_reasoning"}


@dataclass
class JudgeResult:
    """What the judging pass adds to a run: ``metrics`` (name -> role) for the battery's
    ``extra_metrics``, the ``judge`` section of ``summary.json`` (counts here; the agreement
    read-outs are added by :func:`consistency.analyse.judge_agreement.with_agreement`), the
    report lines, and every judge verdict (``sample`` 0 and, when double-judged, 1)."""

    section: dict[str, Any] = field(default_factory=lambda: {"enabled": False})
    metrics: dict[str, str] = field(default_factory=dict)
    markdown: list[str] = field(default_factory=list)
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)


def enabled(judge: JudgeSettings) -> bool:
    """Whether a judge is configured (``judge=none`` has no provider)."""
    return judge.provider is not None


def check_judge(judge: JudgeSettings) -> None:
    """The judge's key and server, checked before any request of the run (the local judge's
    weights are found when it is built); nothing for ``judge=none``."""
    if not enabled(judge) or judge.provider == "local":
        return
    base_url = getattr(judge, "base_url", None)
    if base_url:
        check_reachable(base_url, key="judge.base_url")
    if judge.provider == "anthropic" or not base_url:
        require_key(judge.api_key_env, f"{judge.provider} judge")


def run_judge(config: RunConfig, design: Any, scores: pd.DataFrame
              ) -> tuple[pd.DataFrame, JudgeResult]:
    """Judge every received task response; return scores with the judge columns and the
    :class:`JudgeResult` (an empty one when no judge is configured)."""
    settings = config.judge
    if not enabled(settings):
        return scores, JudgeResult()
    model = f"{settings.provider}:{settings.name}"
    second = settings.second_name
    second_model = f"{settings.provider}:{second}" if second else None
    params = {k: getattr(settings, k) for k in JUDGE_SAMPLING if getattr(settings, k) is not None}
    plan = judge_plan(task_rows(scores), {item.id: item.prompt for item in design.items},
                      model=model, params=params, double=float(settings.double),
                      second_model=second_model)
    fingerprint = {"judge": model, "second": second_model, "params": params,
                   "prompt_sha256": JUDGE_PROMPT_SHA256, "double": settings.double}
    with Journal(design.folder / "judge.sqlite") as journal:
        journal.bind(fingerprint)
        retried = asyncio.run(_send_all(config, settings, plan, journal))
        replies = journal.frame()
    verdicts = judge_frame(plan, replies)
    first = verdicts[verdicts["sample"] == 0].drop(columns="sample")
    out = scores.merge(first.rename(columns={"task_cell": "cell_id"}), on="cell_id", how="left")
    section = _summary(model, second_model, verdicts, retried)
    return out, JudgeResult(section, dict(JUDGE_METRICS), verdicts=verdicts)


async def _send_all(config: RunConfig, settings: JudgeSettings, plan: pd.DataFrame,
                    journal: Journal, retry: Any = retry_cells) -> int:
    """Send the judge cells, then one retry of each invalid reply (the cells ``retry(plan,
    replies)`` returns); returns the retries sent. The rubric judge passes its own ``retry``."""
    from consistency.run.runner import run_cells

    limiter = RateLimiter(settings.requests_per_minute, settings.tokens_per_minute)
    connections = settings.max_connections
    second = settings.second_name
    providers = {0: make_provider(settings, limiter, connections)}
    if second:
        providers[1] = make_provider(dataclasses.replace(settings, name=second), limiter,
                                     connections)
    runner = config.runner
    try:
        async def send(cells: pd.DataFrame) -> None:
            for sample, provider in providers.items():
                mine = cells[cells["sample"] == sample] if second else cells
                if len(mine):
                    await run_cells(provider, mine, journal, max_connections=connections,
                                    error_budget=runner.error_budget, retries=runner.retries,
                                    retry_delay_s=runner.retry_delay_s, limiter=limiter,
                                    quiet=runner.quiet, adaptive=runner.adaptive_concurrency,
                                    start_connections=runner.start_connections)

        await send(plan)
        retries = retry(plan, journal.frame())
        await send(retries)
        return int(len(retries))
    finally:
        for provider in providers.values():
            await provider.aclose()


def _summary(model: str, second_model: str | None, verdicts: pd.DataFrame,
             retried: int) -> dict[str, Any]:
    first = verdicts[verdicts["sample"] == 0]
    failures = first["judge_failure"][first["judge_failure"] != ""].value_counts()
    section: dict[str, Any] = {
        "enabled": True, "model": model, "second_model": second_model,
        "prompt_version": JUDGE_PROMPT_VERSION, "prompt_sha256": JUDGE_PROMPT_SHA256,
        "judged": int(len(first)), "valid": int((first["judge_failure"] == "").sum()),
        "retried": retried,
        "failures_by_kind": {kind: int(failures.get(kind, 0)) for kind in FAILURE_KINDS
                             if failures.get(kind, 0)},
    }
    return section
