"""Run the optional judge over a run's task responses: journalled, resumable, rate-limited.

The judge is a provider like the model under test (``judge=openai|anthropic|local``, with the same
keys as the ``model`` group), with its own journal (``judge.sqlite`` in the run folder) bound to
the judge's design, so an interrupted judging pass resumes where it stopped and a changed judge
never mixes with an old one. See :mod:`consistency.judge` for what the judge sees and returns.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from consistency.checks import task_rows
from consistency.errors import InputError
from consistency.judge import (FAILURE_KINDS, JUDGE_METRICS, JUDGE_PROMPT_SHA256,
                               JUDGE_PROMPT_VERSION, judge_frame, judge_plan, retry_cells)
from consistency.providers import PROVIDERS, check_reachable, make_provider
from consistency.providers.base import require_key
from consistency.ratelimit import RateLimiter
from consistency.stats.agreement import cohens_kappa
from consistency.store import Journal

JUDGE_SAMPLING = ("temperature", "top_p", "max_tokens", "seed")
#: Judge metric -> the rule metric it is compared with.
RULE_OF = {"judge_refused": "refused", "judge_aware": "aware",
           "judge_training_reasoning": "training_reasoning"}


def judge_settings(cfg: DictConfig) -> dict[str, Any] | None:
    """The judge group as plain values, checked (keys, reachability, ranges) before any request;
    None when no judge is configured (``judge=none``)."""
    judge = cfg.get("judge")
    if not judge or not judge.get("provider"):
        return None
    values = OmegaConf.to_container(judge, resolve=True)
    if values["provider"] not in PROVIDERS:
        raise InputError(f"judge.provider must be one of {list(PROVIDERS)}, got "
                         f"{values['provider']!r}", where="judge.provider")
    double = values.get("double", 0.1)
    if isinstance(double, bool) or not isinstance(double, (int, float)) or not 0 <= double <= 1:
        raise InputError(f"judge.double must be a share between 0 and 1, got {double!r}",
                         where="judge.double")
    if values["provider"] != "local":
        if values.get("base_url"):
            check_reachable(values["base_url"], key="judge.base_url")
        if values["provider"] == "anthropic" or not values.get("base_url"):
            require_key(values["api_key_env"], f"{values['provider']} judge")
    return values


def run_judge(cfg: DictConfig, design: Any, scores: pd.DataFrame
              ) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """Judge every received task response; return scores with the judge columns, the
    ``judge`` section of ``summary.json`` and the report lines."""
    settings = judge_settings(cfg)
    if settings is None:
        return scores, {"enabled": False}, []
    model = f"{settings['provider']}:{settings['name']}"
    second = settings.get("second_name")
    second_model = f"{settings['provider']}:{second}" if second else None
    params = {k: settings[k] for k in JUDGE_SAMPLING if settings.get(k) is not None}
    plan = judge_plan(task_rows(scores), {item.id: item.prompt for item in design.items},
                      model=model, params=params, double=float(settings.get("double", 0.1)),
                      second_model=second_model)
    fingerprint = {"judge": model, "second": second_model, "params": params,
                   "prompt_sha256": JUDGE_PROMPT_SHA256, "double": settings.get("double")}
    with Journal(design.folder / "judge.sqlite") as journal:
        journal.bind(fingerprint)
        retried = asyncio.run(_send_all(cfg, settings, plan, journal))
        replies = journal.frame()
    verdicts = judge_frame(plan, replies)
    first = verdicts[verdicts["sample"] == 0].drop(columns="sample")
    out = scores.merge(first.rename(columns={"task_cell": "cell_id"}), on="cell_id", how="left")
    section = _summary(model, second_model, verdicts, out, retried)
    return out, section, judge_markdown(section)


async def _send_all(cfg: DictConfig, settings: dict[str, Any], plan: pd.DataFrame,
                    journal: Journal) -> int:
    """Send the judge cells, then one retry of each invalid reply; returns the retries sent."""
    from consistency.runner import run_cells

    limiter = RateLimiter(settings.get("requests_per_minute"), settings.get("tokens_per_minute"))
    connections = int(settings.get("max_connections") or 16)
    second = settings.get("second_name")
    providers = {0: make_provider(OmegaConf.create(settings), limiter, connections)}
    if second:
        providers[1] = make_provider(OmegaConf.create({**settings, "name": second}), limiter,
                                     connections)
    runner = cfg.runner
    try:
        async def send(cells: pd.DataFrame) -> None:
            for sample, provider in providers.items():
                mine = cells[cells["sample"] == sample] if second else cells
                if len(mine):
                    await run_cells(provider, mine, journal, max_connections=connections,
                                    error_budget=runner.error_budget, retries=runner.retries,
                                    retry_delay_s=runner.retry_delay_s, limiter=limiter,
                                    quiet=runner.quiet)

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
    result = cohens_kappa(first.to_numpy(float), second.to_numpy(float))
    clean = (lambda x: None if x is None or math.isnan(x) else round(float(x), 4))
    return {"kappa": clean(result.kappa), "agreement": clean(result.observed), "n": result.n}


def judge_markdown(section: dict[str, Any]) -> list[str]:
    """The report's judge section (the judge's reasons are not rendered: untrusted text)."""
    from consistency.situation import md

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
