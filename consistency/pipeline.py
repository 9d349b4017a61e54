"""One run, end to end: config -> plan -> requests -> responses -> scores -> tests -> report.

Inputs are all validated (files, keys, reachability) before the first request, so a bad input costs
nothing. The run folder is ``results_dir/run_id``; an existing folder is resumed, never overwritten.

Run folder contents:

=====================  =================================================================
file                   what
=====================  =================================================================
config.yaml            the resolved config (keys are never in it: only env var names)
environment.json       package versions, Python, provider-reported model ids
journal.sqlite         every attempt, committed as it arrives (see :mod:`consistency.run.store`)
responses.parquet      plan x journal: ids, request, response text, status, tokens
responses.parquet      (also ``purpose``, task/check, and ``reasoning``, ``reasoning_kind``,
                       ``reasoning_chars``: see :mod:`consistency.measure.measurements`)
traces.html            agentic scenarios: both arms' traces side by side
                       (:mod:`consistency.publish.episode_html`)
two_sample.csv         items marked unpaired: two-sample rows, never paired (analyse/two_sample.py)
scores.parquet         responses plus metric columns (see :mod:`consistency.measure.scoring`,
                       :mod:`consistency.measure.checks`, :mod:`consistency.measure.judge`)
checks.csv             manipulation check per pair (:mod:`consistency.analyse.situation`), when on
beliefs.csv            task outcomes by stated belief (observational), when checks are on
judge.sqlite           the judge's journal, when a judge is configured
rubric_judge.sqlite    the rubric judge's journal (a judge is configured and items carry rubrics)
tests.csv              one row per family x pair x metric (see :mod:`consistency.analyse.battery`)
summary.json           machine-readable counts and test rows (schema version 1)
report.md              the human report
report.html            the same as one self-contained page with drill-down (:mod:`consistency.publish.run_page`)
.lock                  held by the process running the run (see :func:`consistency.run.store.run_lock`)
=====================  =================================================================
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import platform
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from consistency.measure import measurements
from consistency.analyse.breakdown import kind_breakdown, severity_breakdown
from consistency.run.cache import ResponseCache
from consistency.measure.checks import check_rows, task_rows
from consistency.design.config import ModelSettings, RunConfig, RunnerSettings, TasksSettings, run_config
from consistency.publish.episode_html import traces_html
from consistency.measure.episode_metrics import episode_markdown, episode_scores, episode_summary
from consistency.measure.patterns import pattern_scores
from consistency.design.item_arms import arms_markdown, arms_summary, unpaired_pairs
from consistency.measure.scoring import SITUATION_METRICS
from consistency.common.errors import InputError
from consistency.design.framing import PLANTED_CONDITIONS, Pair, load_pairs
from consistency.measure.judge_stage import check_judge, run_judge
from consistency.measure.rubric_stage import run_rubric_judge
from consistency.design.plan import build_plan
from consistency.run.budget import answered_cells, check_limit, plan_text, send_plan
from consistency.design.keyguard import refuse_keys_in_config
from consistency.providers import make_provider
from consistency.providers.ratelimit import RateLimiter
from consistency.publish.report import build_summary, print_table, response_counts, write_outputs
from consistency.run.runner import RunAborted, RunStats, run_cells
from consistency.common.sanitise import for_terminal, redact
from consistency.design.settings import AnalysisSettings
from consistency.run.storage import writes_into
from consistency.run.store import Journal, run_lock, write_parquet_atomic, write_text_atomic
from consistency.design.tasks import FAMILIES, Item, builtin_items, load_items
from consistency.publish.published import count_text, plural, run_story
from consistency.run.folder import config_yaml, make_run_folder

SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop")
#: Version of :func:`design_fingerprint`'s layout; journals of an older layout are not resumed.
FINGERPRINT_LAYOUT = 2


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


def load_design(cfg: RunConfig | DictConfig) -> Design:
    """Validate inputs and build the plan; sends nothing, creates nothing."""
    config = run_config(cfg)
    refuse_keys_in_config(config)  # a key resolved into a name would reach the run's files
    items = _load_items(config.tasks)
    settings = config.analysis_settings()
    pairs = _load_pairs(config)
    params = sampling_params(config.model) | measurements.request_params(config.model)
    model_id = f"{config.model.provider}:{config.model.name}"
    plan = build_plan(items, pairs, model=model_id, params=params, epochs=config.epochs,
                      variants=config.variants, tool_protocol=config.model.tool_protocol,
                      cross_framings=config.tasks.cross_framings)
    plan = _planted_on_families(plan, config.controls.families)
    plan = measurements.plan_with_checks(plan, config.checks)
    run_id = _fresh_run_id() if config.run_id is None else config.run_id
    fingerprint = design_fingerprint(items, pairs, plan, model=model_id, params=params,
                                     epochs=config.epochs, variants=config.variants)
    folder = Path(config.results_dir) / run_id
    return Design(run_id, folder, items, pairs, plan, model_id, fingerprint, settings)


def sampling_params(model: ModelSettings) -> dict[str, Any]:
    """The sampling parameters sent with every request (``None`` = not sent)."""
    values = {key: getattr(model, key) for key in SAMPLING_KEYS}
    return {key: list(value) if isinstance(value, list) else value
            for key, value in values.items() if value is not None}


def design_fingerprint(items: list[Item], pairs: list[Pair], plan: pd.DataFrame, *, model: str,
                       params: dict[str, Any], epochs: int, variants: str) -> dict[str, Any]:
    """What must not change between a run and its resumption: everything that changes a request,
    a score or the direction a verdict is tested in.

    ``plan`` covers the requests (cell ids and request hashes: model, messages, sampling);
    ``items`` the scoring inputs of each item (family, answer); ``pairs`` what decides a
    verdict's direction (kind, ``overseer_prefers``). Report-only fields (an item's ``kind`` and
    metadata, a pair's description) and the analysis settings stay out, so a finished run can be
    re-analysed under other settings. ``layout`` versions this dict (see
    :meth:`consistency.run.store.Journal.bind`).
    """
    return {
        "layout": FINGERPRINT_LAYOUT, "model": model, "params": params, "epochs": epochs,
        "variants": variants,
        "plan_sha256": _sha256("".join(plan["cell_id"] + plan["request_hash"])),
        "items_sha256": _sha256(json.dumps([[item.id, item.family, item.answer]
                                            for item in items])),
        "pairs_sha256": _sha256(json.dumps([[pair.name, pair.kind, pair.overseer_prefers]
                                            for pair in pairs])),
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def execute(cfg: RunConfig | DictConfig) -> Path | None:
    """Run (or resume) the configured evaluation; returns the run folder (None for a dry run,
    which prints the plan and sends and creates nothing)."""
    config = run_config(cfg)
    design = load_design(config)
    sent = send_plan(config, design.plan, answered_cells(design.folder))
    if config.runner.dry_run:
        print(for_terminal(f"dry run {design.run_id}: {design.model_id}; "
                           f"{_describe(config, design)}"))
        print(for_terminal(plan_text(config, sent)))
        return None
    check_limit(config, sent)  # a paid run larger than runner.max_requests waits to be raised
    if not config.runner.quiet:
        print(for_terminal(plan_text(config, sent)))
    check_judge(config.judge)  # the judge's key and server: a bad judge costs no request either
    if config.runner.mode == "batch":
        _refuse_batch_episodes(design.items)
        from consistency.run.batch import execute_batch

        with writes_into(design.folder, design.run_id):  # disk full, read-only: exit 1
            return execute_batch(config, design, finish)
    runner = config.runner
    limiter = RateLimiter(runner.requests_per_minute, runner.tokens_per_minute)
    cache_path = _cache_path(config)
    # checks key and reachability before any request
    provider = make_provider(config.model, limiter, runner.max_connections)
    make_run_folder(design.folder)
    with writes_into(design.folder, design.run_id), run_lock(design.folder):
        _run_online(config, design, provider, limiter, cache_path)  # one process per folder
    return design.folder


def _refuse_batch_episodes(items: list[Item]) -> None:
    """Batch APIs answer each request once, a day later: an episode needs its next request to
    depend on the last reply, so scenarios cannot run there."""
    scenarios = [item.id for item in items if item.scenario is not None]
    if scenarios:
        raise InputError(f"the suite holds {len(scenarios)} agentic scenario(s) (e.g. "
                         f"'{scenarios[0]}'); an episode sends each request after the previous "
                         "reply, which a batch API cannot do. Run them with runner.mode=online, "
                         "or leave them out of the suite for the batch run", where="runner.mode")


def _run_online(config: RunConfig, design: Design, provider: Any, limiter: RateLimiter,
                cache_path: Path | None) -> None:
    """Journal, requests, then every output file (the online runner)."""
    cache = _open_cache(cache_path)
    try:
        with Journal(design.folder / "journal.sqlite") as journal:
            resumed = not journal.bind(design.fingerprint)
            if not config.runner.quiet:
                print(for_terminal(_plan_line(config, design, len(journal.done_cells()), resumed)))
            write_text_atomic(design.folder / "config.yaml", config_yaml(config))
            try:
                stats = asyncio.run(_run(provider, design, journal, config.runner, limiter,
                                         cache))
            except (RunAborted, KeyboardInterrupt) as exc:
                reason = str(exc) or "interrupted"
                from consistency.design.sweep_ids import resume_hint

                raise RunAborted(f"{reason}. Every response received so far is kept in "
                                 f"{design.folder}; {resume_hint(design.run_id)}") from None
            responses = journal.frame()
    finally:
        if cache is not None:
            cache.close()
    finish(config, design, responses, _runner_section(stats, limiter))


async def _run(provider: Any, design: Design, journal: Journal, runner: RunnerSettings,
               limiter: RateLimiter, cache: ResponseCache | None) -> RunStats:
    serve = None
    if any(item.scenario is not None for item in design.items):
        from consistency.run.episodes import episode_server

        serve = episode_server(journal, provider.model_id.split(":", 1)[0])
    try:
        return await run_cells(provider, design.plan, journal,
                               max_connections=runner.max_connections,
                               error_budget=runner.error_budget, retries=runner.retries,
                               retry_delay_s=runner.retry_delay_s, limiter=limiter, cache=cache,
                               quiet=runner.quiet, adaptive=runner.adaptive_concurrency,
                               start_connections=runner.start_connections, serve=serve)
    finally:
        await provider.aclose()  # on the loop that opened its connections


def _cache_path(config: RunConfig) -> Path | None:
    """The shared cache file named by ``runner.cache``: null/false = off, true = the default file
    under ``results_dir``, a string = that file. A folder in its place is an input error."""
    setting = config.runner.cache
    if setting in (None, False):
        return None
    path = (Path(config.results_dir) / "cache.sqlite" if setting is True
            else Path(str(setting)).expanduser())
    if path.is_dir():
        raise InputError(f"{path} is a folder; runner.cache must be true "
                         "(results_dir/cache.sqlite) or the path of a cache file",
                         where="runner.cache")
    return path


def _open_cache(path: Path | None) -> ResponseCache | None:
    if path is None:
        return None
    try:
        return ResponseCache(path)
    except (OSError, sqlite3.Error) as exc:
        raise InputError(f"cannot open the shared cache {path} ({exc}); it must be an SQLite file "
                         "written by consistency, or a new path", where="runner.cache") from None


def _runner_section(stats: RunStats, limiter: RateLimiter) -> dict[str, Any]:
    """What this invocation of the runner did (a resumed run reports only its own part)."""
    return {"requests_sent": stats.requested, "received": stats.received,
            "failed_by_kind": dict(stats.failed), "retried_by_kind": dict(stats.retried),
            "served_from_cache": stats.cache_hits, "already_done": stats.skipped_done,
            "rate_limit_pauses": limiter.pauses, "seconds": round(stats.seconds, 3),
            "cpu_seconds": round(stats.cpu_seconds, 3),
            # the in-flight limit and its history (consistency.run.concurrency); null: nothing sent
            "concurrency": stats.concurrency or None}


def finish(config: RunConfig, design: Design, journal_rows: pd.DataFrame,
           runner: dict[str, Any], batch_discount: float | None = None) -> None:
    """Score, analyse and write every output file of the run folder."""
    responses = design.plan.merge(journal_rows.drop(columns="request_hash"), on="cell_id",
                                  how="inner")
    responses, scores = measurements.score_all(responses, design.items,
                                               design.model_id.split(":", 1)[0])
    scores, episode_roles = episode_scores(scores, design.items)
    scores, pattern_roles = pattern_scores(scores, design.items)
    write_parquet_atomic(responses, design.folder / "responses.parquet")
    traces = traces_html(responses)
    if traces is not None:  # agentic scenarios: both arms' traces side by side
        write_text_atomic(design.folder / "traces.html", traces)
    scores, judge = run_judge(config, design, scores)
    scores, rubric = run_rubric_judge(config, design, scores)
    # the reference answer beside each response, for the report's drill-down
    answers = {item.id: item.answer for item in design.items}
    scores["expected_answer"] = scores["item_id"].map(answers)
    write_parquet_atomic(scores.drop(columns=["raw_json", "request_json"]),
                       design.folder / "scores.parquet")
    # scipy: imported only once the responses are in
    from consistency.analyse.battery import analyse
    from consistency.analyse.judge_agreement import with_agreement
    from consistency.analyse.situation import situation_view
    from consistency.analyse.rubric_agreement import with_rubric_agreement
    from consistency.analyse.two_sample import two_sample_markdown, two_sample_rows

    judge = with_agreement(judge, scores)
    rubric = with_rubric_agreement(rubric, scores)
    settings = design.settings
    tasks = task_rows(scores)  # manipulation-check cells never enter the task metrics
    # unpaired items' arms are not the same task: two-sample rows, never the paired battery
    unpaired = unpaired_pairs(design.items)
    two_sample = two_sample_rows(tasks, unpaired, [*pattern_roles, *SITUATION_METRICS],
                                 settings.seed)
    tasks = tasks[~tasks["pair"].isin(unpaired)]
    situation = situation_view(
        analyse(tasks, settings,
                extra_metrics=judge.metrics | rubric.metrics | episode_roles | pattern_roles),
        tasks, scores, settings)
    tests = situation.tests
    counts = response_counts(task_rows(design.plan), journal_rows)
    severity = severity_breakdown(tasks, design.items)
    extra = {"cost": cost_section(responses, config.model, batch_discount), "runner": runner,
             "harmful_by_severity": severity.to_dict(orient="records"),
             "by_kind": _by_kind(tasks, design.items, [*rubric.metrics, *episode_roles]),
             **situation.summary,
             "judge": judge.section, "rubric_judge": rubric.section,
             **_episodes_section(tasks, episode_roles)}
    item_arms = arms_summary(design.items)
    if item_arms:
        extra["item_arms"] = item_arms
    if not two_sample.empty:
        extra["two_sample"] = two_sample.to_dict(orient="records")
        write_text_atomic(design.folder / "two_sample.csv", two_sample.to_csv(index=False))
    extra["design"] = _describe(config, design)
    summary = build_summary(design.run_id, design.model_id, counts, tests, extra=extra,
                            alpha=settings.alpha)
    context = {"design": extra["design"], "alpha": settings.alpha,
               "margin": settings.equivalence_margin, "severity": severity,
               "sections": situation.markdown + judge.markdown + rubric.markdown
               + episode_markdown(extra.get("episodes", {}))
               + arms_markdown(extra.get("item_arms", {})) + two_sample_markdown(two_sample)}
    situation.write(design.folder)
    write_outputs(design.folder, summary, tests, context)
    _write_environment(design.folder, responses)
    from consistency.publish.run_page import write_run_page  # after environment.json, which it reads

    write_run_page(design.folder)
    if not config.runner.quiet:
        print_table(tests)
    # the headline and the manipulation check, one line, even in a quiet nightly log
    print(for_terminal(run_story(summary).line()), flush=True)


def _by_kind(tasks: pd.DataFrame, items: list[Item], metrics: list[str]) -> list[dict[str, Any]]:
    """``summary.json`` ``by_kind``: declared scenario and rubric metrics by item kind (the
    factors of an imported suite), descriptive (:func:`consistency.analyse.breakdown.
    kind_breakdown`)."""
    recorded = ("engaged", "completed", "text_channel", "cue_exposed")
    chosen = [m for m in metrics if m not in recorded]
    return kind_breakdown(tasks, items, chosen).to_dict(orient="records")


def _episodes_section(tasks: pd.DataFrame, roles: dict[str, str]) -> dict[str, Any]:
    """``summary.json`` ``episodes`` (see :func:`consistency.measure.episode_metrics.episode_summary`;
    present only when the suite has scenarios)."""
    section = episode_summary(tasks, [m for m in roles if m not in ("engaged", "completed",
                                                                     "text_channel",
                                                                     "cue_exposed")])
    return {"episodes": section} if section else {}


def cost_section(responses: pd.DataFrame, model: ModelSettings,
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
    # only hosted models have prices (consistency.design.config.HostedModel)
    price_in = getattr(model, "price_input_per_mtok", None)
    price_out = getattr(model, "price_output_per_mtok", None)
    if price_in is not None and price_out is not None:
        usd = (tokens_in * float(price_in) + tokens_out * float(price_out)) / 1e6
        section["estimated_usd"] = round(usd * (1 - (batch_discount or 0.0)), 6)
    return section



def _plan_line(config: RunConfig, design: Design, done: int, resumed: bool) -> str:
    action = f"resuming {design.run_id}" if resumed else f"run {design.run_id}"
    return (f"{action}: {design.model_id}; {_describe(config, design)}; "
            f"{len(design.plan) - done} to request")


def _describe(config: RunConfig, design: Design) -> str:
    families = design.plan.groupby("family")["item_id"].nunique().to_dict()
    checks = len(check_rows(design.plan))
    return (f"{count_text(families, 'item')}, {plural(len(design.pairs), 'pair')}, variants "
            f"{config.variants}, {plural(config.epochs, 'epoch')}, "
            f"{plural(len(design.plan) - checks, 'cell')}"
            + (f" + {plural(checks, 'manipulation check')}" if checks else ""))


def _write_environment(folder: Path, responses: pd.DataFrame) -> None:
    packages = {}
    for name in ("consistency", "openai", "anthropic", "xllamacpp", "pandas", "scipy",
                 "numpy", "hydra-core"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    reported = sorted(responses["model_reported"].dropna().unique().tolist())
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "packages": packages, "models_reported": reported,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (folder / "environment.json").write_text(redact(json.dumps(info, indent=2)) + "\n")


def _load_pairs(config: RunConfig) -> list[Pair]:
    """The selected framing pairs, plus the built-in planted controls when ``controls.planted``
    is true (the design sets it; a pair of the same name in the library wins).

    ``conditions.pairs`` selects from any library; ``conditions.builtin_subset`` (set by the
    design) selects only from the built-in one, so a user library is never filtered by names
    it does not have."""
    path, names = config.conditions.path, config.conditions.pairs
    if path is None and names is None:  # a design's subset applies to the built-in library only
        names = config.conditions.builtin_subset
    pairs = load_pairs(path, names)
    if config.controls.planted:
        taken = {pair.name for pair in pairs}
        planted = load_pairs(PLANTED_CONDITIONS, config.controls.pairs, key="controls.pairs")
        pairs += [pair for pair in planted if pair.name not in taken]
    return pairs


def _planted_on_families(plan: pd.DataFrame, families: list[str] | None) -> pd.DataFrame:
    """The plan without the planted pairs' cells outside ``controls.families`` (null: all kept).
    A control costs requests only where its hypothesis can show: sandbagging on capability."""
    if families is None:
        return plan
    dropped = plan["pair_kind"].eq("planted") & ~plan["family"].isin(families)
    return plan[~dropped].reset_index(drop=True)


def _load_items(tasks: TasksSettings) -> list[Item]:
    """The suite, filtered by ``tasks.families`` (null = every family, or with the built-in
    suite the design's ``tasks.builtin_subset``; the schema refuses ``[]``) and cut to
    ``tasks.limit`` items per family, or ``tasks.family_limits[family]`` if smaller."""
    families = tasks.families
    if families is None and not tasks.path:  # a design's subset of the built-in suite only
        families = tasks.builtin_subset
    if tasks.path:
        items = load_items(tasks.path)
        if families is not None:
            unknown = sorted(set(families) - set(FAMILIES))
            if unknown:
                raise InputError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                                 f"tasks.families must list some of {list(FAMILIES)}, or be null",
                                 where="tasks.families")
            items = [item for item in items if item.family in families]
    else:
        items = builtin_items(families)
    if tasks.limit is not None or tasks.family_limits:
        items = _first_per_family(items, {family: _family_limit(tasks, family)
                                          for family in {item.family for item in items}})
    if not items:
        raise InputError(f"no task items of the families {families} in {tasks.path}",
                         where="tasks.families")
    return items


def _family_limit(tasks: TasksSettings, family: str) -> int | None:
    """The tighter of ``tasks.limit`` and ``tasks.family_limits[family]`` (None: no limit)."""
    bounds = [n for n in (tasks.limit, tasks.family_limits.get(family)) if n is not None]
    return min(bounds) if bounds else None


def _first_per_family(items: list[Item], limits: dict[str, int | None]) -> list[Item]:
    """The first ``limits[family]`` items of each family (None: all), taking kinds in turn so a
    small design still covers every kind (arithmetic, conversion, strings, ...)."""
    by_family: dict[str, dict[str, list[Item]]] = {}
    for item in items:
        by_family.setdefault(item.family, {}).setdefault(item.kind, []).append(item)
    kept = []
    for family, kinds in by_family.items():
        queues = [list(reversed(group)) for group in kinds.values()]
        limit = limits.get(family)
        limit = sum(map(len, queues)) if limit is None else limit
        taken = 0
        while taken < limit and any(queues):
            for queue in queues:
                if queue and taken < limit:
                    kept.append(queue.pop())
                    taken += 1
    return kept


def _fresh_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"
