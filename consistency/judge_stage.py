"""Run the optional judge over a run's task responses: journalled, resumable, rate-limited.

The judge is a provider like the model under test (``judge=openai|anthropic|local``, with the same
keys as the ``model`` group), with its own journal (``judge.sqlite`` in the run folder) bound to
the judge's design, so an interrupted judging pass resumes where it stopped and a changed judge
never mixes with an old one. See :mod:`consistency.judge` for what the judge sees and returns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from consistency.checks import task_rows
from consistency.config import JudgeSettings, RunConfig
from consistency.judge import (FAILURE_KINDS, JUDGE_METRICS, JUDGE_PROMPT_SHA256,
                               JUDGE_PROMPT_VERSION, judge_frame, judge_plan, retry_cells)
from consistency.providers import check_reachable, make_provider
from consistency.providers.base import require_key
from consistency.ratelimit import RateLimiter
from consistency.stats.agreement import cohens_kappa
from consistency.store import Journal

JUDGE_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")
#: Judge metric -> the rule metric it is compared with.
RULE_OF = {"judge_refused": "refused", "judge_aware": "aware",
           "judge_training_reasoning": "training_reasoning"}


@dataclass
class JudgeResult:
    """What the judging pass adds to a run: ``metrics`` (name -> role) for the battery's
    ``extra_metrics``, the ``judge`` section of ``summary.json`` and the report lines."""

    section: dict[str, Any] = field(default_factory=lambda: {"enabled": False})
    metrics: dict[str, str] = field(default_factory=dict)
    markdown: list[str] = field(default_factory=list)


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
    section = _summary(model, second_model, verdicts, out, retried)
    return out, JudgeResult(section, dict(JUDGE_METRICS), judge_markdown(section))


async def _send_all(config: RunConfig, settings: JudgeSettings, plan: pd.DataFrame,
                    journal: Journal) -> int:
    """Send the judge cells, then one retry of each invalid reply; returns the retries sent."""
    from consistency.runner import run_cells

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
        retries = retry_cells(plan, journal.frame())
        await send(retries)
        return int(len(retries))
    finally:
        for provider in providers.values():
            await provider.aclose()


def _summary(model: str, second_model: str | None, verdicts: pd.DataFrame,
             scores: pd.DataFrame, retried: int) -> dict[str, Any]:
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
    pairs = first.merge(verdicts[verdicts["sample"] == 1], on="task_cell", suffixes=("", "_2"))
    section["double_judged"] = int(len(pairs))
    section["kappa_between_samples"] = {
        metric: _kappa(pairs[metric], pairs[f"{metric}_2"]) for metric in JUDGE_METRICS}
    section["agreement_with_rules"] = {
        metric: _kappa(scores[metric], scores[rule]) for metric, rule in RULE_OF.items()
        if metric in scores and rule in scores}
    return section


def _kappa(first: pd.Series, second: pd.Series) -> dict[str, Any]:
    """Kappa with its 95% profile-likelihood interval, the prevalence and the positive and
    negative agreement (:func:`consistency.stats.agreement.cohens_kappa`); null where undefined,
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
    from consistency.sanitise import md_cell as md

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
