"""One run, end to end: config -> plan -> requests -> responses -> scores -> tests -> report.

Inputs are all validated (files, keys, reachability) before the first request, so a bad input costs
nothing. The run folder is ``results_dir/run_id``; an existing folder is resumed, never overwritten.

Run folder contents:

=====================  =================================================================
file                   what
=====================  =================================================================
config.yaml            the resolved config (keys are never in it: only env var names)
environment.json       package versions, Python, provider-reported model ids
journal.sqlite         every attempt, committed as it arrives (see :mod:`consistency.store`)
responses.parquet      plan x journal: ids, request, response text, status, tokens
scores.parquet         responses plus metric columns (see :mod:`consistency.scoring`)
tests.csv              one row per family x pair x metric (see :mod:`consistency.analysis`)
summary.json           machine-readable counts and test rows (schema version 1)
report.md              the human report
.lock                  held by the process running the run (see :func:`consistency.store.run_lock`)
=====================  =================================================================
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import platform
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from consistency.cache import ResponseCache
from consistency.checks import check_rows, score_checks, task_rows, with_check_cells
from consistency.errors import InputError
from consistency.framing import Pair, load_pairs
from consistency.judge import JUDGE_METRICS
from consistency.judge_stage import judge_settings, run_judge
from consistency.plan import build_plan
from consistency.providers import make_provider
from consistency.providers.reasoning import add_reasoning
from consistency.ratelimit import RateLimiter
from consistency.report import (_plain, build_summary, print_table, response_counts,
                                write_outputs)
from consistency.runner import RunAborted, RunStats, run_cells
from consistency.scoring import METRICS, known_family, metrics_for_family, score_frame
from consistency.settings import AnalysisSettings, analysis_settings
from consistency.situation import (belief_split, checks_summary, perception_markdown,
                                   perception_table, with_aware_gap, with_cue_notes)
from consistency.store import Journal, run_lock
from consistency.tasks import Item, builtin_items, load_items

SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Design:
    """Everything a run needs before any request: inputs validated, cells laid out."""

    run_id: str
    folder: Path
    items: list[Item]
    pairs: list[Pair]
    plan: pd.DataFrame
    model_id: str
    fingerprint: dict[str, Any]
    settings: AnalysisSettings


def load_design(cfg: DictConfig) -> Design:
    """Validate inputs and build the plan; sends nothing, creates nothing."""
    items = _load_items(cfg.tasks)
    settings = analysis_settings(OmegaConf.to_container(cfg.analysis, resolve=True))
    pairs = load_pairs(cfg.conditions.get("path"), _names(cfg.conditions.get("pairs")))
    model = OmegaConf.to_container(cfg.model, resolve=True)
    params = {key: model.get(key) for key in SAMPLING_KEYS if model.get(key) is not None}
    params |= _reasoning_params(model)
    model_id = f"{cfg.model.provider}:{cfg.model.name}"
    epochs = cfg.epochs
    plan = build_plan(items, pairs, model=model_id, params=params, epochs=epochs,
                      variants=cfg.variants)
    plan = with_check_cells(plan, measurement_options(cfg)["manipulation"])
    run_id = cfg.run_id or _fresh_run_id()
    if not _RUN_ID.match(str(run_id)):
        raise InputError(f"run_id {run_id!r} must be letters, digits, '.', '_' or '-' "
                         "(it names a folder)", where="run_id")
    fingerprint = {
        "model": model_id, "params": params, "epochs": epochs, "variants": cfg.variants,
        "plan_sha256": hashlib.sha256("".join(plan["cell_id"] + plan["request_hash"]).encode())
        .hexdigest(),
    }
    folder = Path(cfg.results_dir) / str(run_id)
    judge_settings(cfg)  # a bad judge config must cost no request of the main run either
    return Design(str(run_id), folder, items, pairs, plan, model_id, fingerprint, settings)


def _reasoning_params(model: dict[str, Any]) -> dict[str, Any]:
    """``model.thinking_budget`` (Anthropic extended thinking) as a request parameter, checked
    against what the messages API accepts so a bad value costs no request."""
    budget = model.get("thinking_budget")
    if budget is None:
        return {}
    where = "model.thinking_budget"
    if model.get("provider") != "anthropic":
        raise InputError("thinking_budget applies to model=anthropic only; OpenAI-compatible "
                         "servers return reasoning without being asked", where=where)
    max_tokens = model.get("max_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024 or (
            isinstance(max_tokens, int) and budget >= max_tokens):
        raise InputError(f"thinking_budget must be a whole number >= 1024 and below "
                         f"model.max_tokens ({max_tokens}), got {budget!r}", where=where)
    if model.get("temperature") not in (None, 1, 1.0) or model.get("top_p") is not None:
        raise InputError("extended thinking takes temperature 1 (or null) and no top_p; set "
                         "model.temperature=1 model.top_p=null", where=where)
    return {"thinking_budget": budget}


def execute(cfg: DictConfig) -> Path:
    """Run (or resume) the configured evaluation; returns the run folder."""
    design = load_design(cfg)
    if cfg.runner.get("mode", "online") == "batch":
        from consistency.batch import execute_batch

        return execute_batch(cfg, design)
    limiter = RateLimiter(_rate(cfg.runner, "requests_per_minute"),
                          _rate(cfg.runner, "tokens_per_minute"))
    # checks key and reachability before any request
    provider = make_provider(cfg.model, limiter, int(cfg.runner.max_connections))
    design.folder.mkdir(parents=True, exist_ok=True)
    with run_lock(design.folder):  # one process per run folder: never pay twice for a cell
        _run_online(cfg, design, provider, limiter)
    return design.folder


def _run_online(cfg: DictConfig, design: Design, provider: Any, limiter: RateLimiter) -> None:
    """Journal, requests, then every output file (the online runner)."""
    cache = _open_cache(cfg)
    try:
        with Journal(design.folder / "journal.sqlite") as journal:
            resumed = not journal.bind(design.fingerprint)
            if not cfg.runner.quiet:
                print(_plan_line(cfg, design, len(journal.done_cells()), resumed))
            _write_atomic(design.folder / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
            try:
                stats = asyncio.run(_run(provider, design, journal, cfg.runner, limiter, cache))
            except (RunAborted, KeyboardInterrupt) as exc:
                reason = str(exc) or "interrupted"
                raise RunAborted(f"{reason}. Every response received so far is kept in "
                                 f"{design.folder}; resume with run_id={design.run_id}") from None
            responses = journal.frame()
    finally:
        if cache is not None:
            cache.close()
    finish(cfg, design, responses, _runner_section(stats, limiter))


async def _run(provider: Any, design: Design, journal: Journal, runner: DictConfig,
               limiter: RateLimiter, cache: ResponseCache | None) -> RunStats:
    try:
        return await run_cells(provider, design.plan, journal,
                               max_connections=runner.max_connections,
                               error_budget=runner.error_budget, retries=runner.retries,
                               retry_delay_s=runner.retry_delay_s, limiter=limiter, cache=cache,
                               quiet=runner.quiet)
    finally:
        await provider.aclose()  # on the loop that opened its connections


def _rate(runner: DictConfig, key: str) -> float | None:
    value = runner.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"runner.{key} must be a positive number or null (no limit), got "
                         f"{value!r}", where=f"runner.{key}")
    return float(value)


def _open_cache(cfg: DictConfig) -> ResponseCache | None:
    """The shared cache named by ``runner.cache``: null/false = off, true = the default file under
    ``results_dir``, a string = that file."""
    setting = cfg.runner.get("cache")
    if setting in (None, False):
        return None
    path = Path(cfg.results_dir) / "cache.sqlite" if setting is True else Path(str(setting))
    return ResponseCache(path.expanduser())


def _runner_section(stats: RunStats, limiter: RateLimiter) -> dict[str, Any]:
    """What this invocation of the runner did (a resumed run reports only its own part)."""
    return {"requests_sent": stats.requested, "received": stats.received,
            "failed_by_kind": dict(stats.failed), "retried_by_kind": dict(stats.retried),
            "served_from_cache": stats.cache_hits, "already_done": stats.skipped_done,
            "rate_limit_pauses": limiter.pauses, "seconds": round(stats.seconds, 3),
            "cpu_seconds": round(stats.cpu_seconds, 3)}


def finish(cfg: DictConfig, design: Design, journal_rows: pd.DataFrame,
           runner: dict[str, Any], batch_discount: float | None = None) -> None:
    """Score, analyse and write every output file of the run folder."""
    responses = design.plan.merge(journal_rows.drop(columns="request_hash"), on="cell_id",
                                  how="inner")
    responses = add_reasoning(responses, design.model_id.split(":", 1)[0])
    _to_parquet_atomic(responses, design.folder / "responses.parquet")
    scores = score_checks(score_frame(responses, {item.id: item for item in design.items}),
                          list(METRICS))
    scores, judge_section, judge_lines = run_judge(cfg, design, scores)
    _to_parquet_atomic(scores.drop(columns=["raw_json", "request_json"]),
                       design.folder / "scores.parquet")
    from consistency.analysis import analyse  # scipy: imported only once the responses are in

    settings = design.settings
    tasks, checks = task_rows(scores), check_rows(scores)
    extras = JUDGE_METRICS if judge_section["enabled"] else None
    tests = with_aware_gap(analyse(tasks, settings, extra_metrics=extras))
    situation = _situation(tasks, checks, settings)
    tests = with_cue_notes(tests, situation["perception"])
    counts = response_counts(task_rows(design.plan), journal_rows)
    extra = {"cost": cost_section(responses, cfg.model, batch_discount), "runner": runner,
             **situation["summary"], "judge": judge_section}
    summary = build_summary(design.run_id, design.model_id, counts, tests, extra=extra)
    context = {"design": _describe(cfg, design), "alpha": settings.alpha,
               "margin": settings.equivalence_margin, "sections": situation["markdown"] + judge_lines}
    if len(checks):
        situation["perception"].to_csv(design.folder / "checks.csv", index=False)
        situation["beliefs"].to_csv(design.folder / "beliefs.csv", index=False)
    write_outputs(design.folder, summary, tests, context)
    _write_environment(design.folder, responses)
    if not cfg.runner.quiet:
        print_table(tests)


def _situation(tasks: pd.DataFrame, checks: pd.DataFrame,
               settings: AnalysisSettings) -> dict[str, Any]:
    """The manipulation check's tables, summary sections and report lines (empty when off)."""
    perception = perception_table(checks, settings)
    families = {f: list(metrics_for_family(f)) for f in tasks["family"].dropna().unique()
                if known_family(f)}
    beliefs = belief_split(tasks, checks, families)
    pairs = [{key: _plain(value) for key, value in row.items()}
             for row in perception.to_dict(orient="records")]
    section = ({"enabled": True, **checks_summary(perception, checks)} if len(checks)
               else {"enabled": False})
    return {"perception": perception, "beliefs": beliefs,
            "summary": {"pairs": pairs, "manipulation_check": section},
            "markdown": perception_markdown(perception, beliefs)}


def measurement_options(cfg: DictConfig) -> dict[str, Any]:
    """The measurement settings (``checks.*``), read in this one place and checked before any
    request."""
    checks = cfg.get("checks") or {}
    manipulation = checks.get("manipulation", True)
    if not isinstance(manipulation, bool):
        raise InputError(f"checks.manipulation must be true or false, got {manipulation!r}",
                         where="checks.manipulation")
    return {"manipulation": manipulation}


def cost_section(responses: pd.DataFrame, model: DictConfig,
                 batch_discount: float | None = None) -> dict[str, Any]:
    """Tokens by arm as the provider reported them, and a price estimate when the model config
    gives prices (``price_input_per_mtok`` / ``price_output_per_mtok``, USD per million tokens).
    Responses served from the shared cache cost nothing in this run and are counted apart."""
    paid = responses[responses["cached"].fillna(0) != 1]
    by_arm = {}
    for arm, group in paid.groupby("arm"):
        by_arm[str(arm)] = {"input_tokens": int(group["input_tokens"].fillna(0).sum()),
                            "output_tokens": int(group["output_tokens"].fillna(0).sum()),
                            "responses": int(len(group))}
    tokens_in = sum(arm["input_tokens"] for arm in by_arm.values())
    tokens_out = sum(arm["output_tokens"] for arm in by_arm.values())
    section: dict[str, Any] = {"tokens_by_arm": by_arm, "input_tokens": tokens_in,
                               "output_tokens": tokens_out,
                               "responses_from_cache": int(len(responses) - len(paid)),
                               "batch_discount": batch_discount}
    price_in, price_out = model.get("price_input_per_mtok"), model.get("price_output_per_mtok")
    if price_in is not None and price_out is not None:
        usd = (tokens_in * float(price_in) + tokens_out * float(price_out)) / 1e6
        section["estimated_usd"] = round(usd * (1 - (batch_discount or 0.0)), 6)
    return section


def _to_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write then rename, so a reader (or a second process of a sweep) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _plan_line(cfg: DictConfig, design: Design, done: int, resumed: bool) -> str:
    action = f"resuming {design.run_id}" if resumed else f"run {design.run_id}"
    return (f"{action}: {design.model_id}; {_describe(cfg, design)}; "
            f"{len(design.plan) - done} to request")


def _describe(cfg: DictConfig, design: Design) -> str:
    families = design.plan.groupby("family")["item_id"].nunique().to_dict()
    checks = len(check_rows(design.plan))
    return (f"{len(design.items)} items {families}, {len(design.pairs)} pairs, variants "
            f"{cfg.variants}, {cfg.epochs} epoch(s), {len(design.plan) - checks} cells"
            + (f" + {checks} manipulation checks" if checks else ""))


def _write_environment(folder: Path, responses: pd.DataFrame) -> None:
    packages = {}
    for name in ("consistency", "openai", "anthropic", "llama_cpp_python", "pandas", "scipy",
                 "numpy", "hydra-core"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    reported = sorted(responses["model_reported"].dropna().unique().tolist())
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "packages": packages, "models_reported": reported,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (folder / "environment.json").write_text(json.dumps(info, indent=2) + "\n")


def _load_items(tasks: DictConfig) -> list[Item]:
    families = _names(tasks.get("families"))
    if tasks.get("path"):
        items = load_items(tasks.path)
        if families:
            items = [item for item in items if item.family in families]
    else:
        items = builtin_items(families)
    limit = tasks.get("limit")
    if limit is not None:
        if not isinstance(limit, int) or limit < 1:
            raise InputError(f"tasks.limit must be a whole number >= 1 or null, got {limit!r}",
                             where="tasks.limit")
        items = _first_per_family(items, limit)
    if not items:
        raise InputError("no task items left after filtering by tasks.families", where="tasks")
    return items


def _first_per_family(items: list[Item], limit: int) -> list[Item]:
    """The first ``limit`` items of each family, taking kinds in turn so a small design still
    covers every kind (arithmetic, conversion, strings, ...)."""
    by_family: dict[str, dict[str, list[Item]]] = {}
    for item in items:
        by_family.setdefault(item.family, {}).setdefault(item.kind, []).append(item)
    kept = []
    for kinds in by_family.values():
        queues = [list(reversed(group)) for group in kinds.values()]
        taken = 0
        while taken < limit and any(queues):
            for queue in queues:
                if queue and taken < limit:
                    kept.append(queue.pop())
                    taken += 1
    return kept


def _names(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _fresh_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"
