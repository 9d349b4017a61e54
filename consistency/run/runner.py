"""Send the plan's missing cells to a provider, storing every response the moment it arrives.

A fixed pool of workers pulls cells from a queue (memory stays flat however large the plan), bounded
by ``max_connections`` and by what the provider can take. With ``adaptive`` on, every send also
passes a :class:`consistency.run.concurrency.Gate`, which lets only as many of those workers send at
once as the provider copes with (grown while no overload comes, halved on 429s, 503s and
timeouts; see :mod:`consistency.run.concurrency`). The plan is already ordered so that both
arms of each comparison travel together, so the arms are interleaved in time and a drift in the
provider (load, a model update mid-run) hits both alike.

Retries happen at two levels. The official SDKs retry 408/409/429/5xx, timeouts and dropped
connections with their own back-off, honouring ``retry-after`` (``model.max_retries``). What still
fails with a transient kind, or what the SDK does not retry at all (a 200 whose body is not valid
JSON), is sent again by the runner up to ``retries`` more times after a growing delay. A 200
reply of the wrong shape (see :mod:`consistency.providers.replies`) is a ``malformed`` failure
that is not sent again within the run: it would most likely come back the same, and each send is
paid. What fails for good is journaled with its kind and requested again on resume. A reply the
provider withheld (content filter / refusal stop reason) is stored as a ``content_filter``
failure and never re-sent.

A provider that keeps failing stops the run after ``error_budget`` failed attempts in a row (or at
once on a fatal error such as a rejected key), keeping everything received so far. Stopping is
immediate: the other workers are cancelled wherever they are (waiting at the gate, in the shared
429 pause, in a retry's delay, or in a send, whose request is abandoned with any retries the SDK
had left), and a worker woken in the same instant checks before it sends. So the provider
receives the budget's attempts and at most the requests already in flight; the cells not
received are requested again on resume (as after a kill, a request abandoned in flight may have
been paid for).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from consistency.run.cache import ResponseCache, sample_keys
from consistency.run.concurrency import DEFAULT_START, Controller, Gate
from consistency.run.progress import ProgressBar
from consistency.providers import Completion, Provider, ProviderError
from consistency.providers.ratelimit import RateLimiter, estimate_tokens
from consistency.run.store import Journal, ResponseRecord

#: Error kinds worth sending again: the same request may well succeed a moment later.
TRANSIENT_KINDS = frozenset({"rate_limit", "server_error", "timeout", "connection", "malformed"})
#: What a worker needs of a plan row.
CELL_COLUMNS = ["cell_id", "request_hash", "request_json"]
#: Stop reasons meaning the provider withheld the reply (OpenAI, Anthropic).
WITHHELD_STOPS = frozenset({"content_filter", "refusal"})


class RunAborted(Exception):
    """The provider failed too often (or fatally); received responses are kept and resumable."""


@dataclass
class RunStats:
    """What one call of :func:`run_cells` did (this invocation only, not earlier resumptions)."""

    requested: int = 0
    received: int = 0
    failed: Counter = field(default_factory=Counter)
    retried: Counter = field(default_factory=Counter)
    skipped_done: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    #: the concurrency record (:meth:`consistency.run.concurrency.Controller.summary` plus
    #: ``max_in_flight``); empty when nothing was sent
    concurrency: dict[str, Any] = field(default_factory=dict)


@dataclass
class _State:
    error_budget: int
    retries: int
    retry_delay_s: float
    gate: Gate
    consecutive_failures: int = 0
    abort_reason: str | None = None
    #: the worker tasks, cancelled when the run stops
    workers: list[asyncio.Task[None]] = field(default_factory=list)


async def run_cells(
    provider: Provider,
    plan: pd.DataFrame,
    journal: Journal,
    *,
    max_connections: int = 16,
    error_budget: int = 20,
    retries: int = 2,
    retry_delay_s: float = 1.0,
    limiter: RateLimiter | None = None,
    cache: ResponseCache | None = None,
    quiet: bool = False,
    adaptive: bool = False,
    start_connections: int = DEFAULT_START,
    serve: Any = None,
) -> RunStats:
    """Request every plan cell that has no stored response; return counts.

    Args:
        provider: adapter to call.
        plan: plan frame (see :mod:`consistency.design.plan`).
        journal: where each attempt is committed before the next one is counted.
        max_connections: requests in flight at most (also capped by the provider).
        error_budget: failed attempts in a row tolerated before the run stops.
        retries: extra sends of a cell whose failure is transient, after the SDK's own retries.
        retry_delay_s: delay before the first extra send; doubles with each further one.
        limiter: client-side pacing and the shared pause after a 429 (None: no pacing).
        cache: shared response cache, read before and written after requests (None: off).
        quiet: no progress bar (scheduled jobs).
        adaptive: let the adaptive controller decide how many of the workers send at once,
            starting at ``start_connections`` (False: all of them, always).
        start_connections: the adaptive controller's first limit (at most the worker count).
        serve: what turns one cell into its record (default: one request, with retries); the
            agentic episodes of :mod:`consistency.run.episodes` pass their own multi-step loop.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    if cache is not None:  # keys over the whole plan: the n-th sample of a request is stable
        plan = plan.assign(sample_key=sample_keys(plan))
    todo = _todo(provider, plan, journal)
    stats = RunStats(skipped_done=len(plan) - len(todo))
    if cache is not None and len(todo):
        todo = _serve_from_cache(cache, todo, journal, stats)
    if todo.empty:
        return stats
    # Workers share one iterator over the frame: a cell becomes a Python object only when a
    # worker takes it, so memory holds the plan once, not a second copy in a queue.
    pending = todo.itertuples(index=False, name="Cell")
    workers = max(1, min(int(max_connections), int(provider.max_concurrency), len(todo)))
    gate = Gate(Controller(workers, start_connections, adaptive=adaptive))
    state = _State(error_budget, max(0, int(retries)), float(retry_delay_s), gate)
    limiter = limiter or RateLimiter()
    # 429s, 5xx, timeouts and resets the SDK retries inside one send reach the controller too
    if adaptive:
        limiter.watchers.append(gate.signal)
    try:
        with ProgressBar(len(todo), quiet=quiet) as bar:
            state.workers = [asyncio.create_task(_worker(provider, pending, journal, stats, state,
                                                         bar, limiter, cache, serve or _serve))
                             for _ in range(workers)]
            await _join(state)
    finally:
        if gate.signal in limiter.watchers:
            limiter.watchers.remove(gate.signal)
        stats.concurrency = {**gate.controller.summary(), "max_in_flight": gate.max_in_flight}
    stats.seconds = time.perf_counter() - started
    stats.cpu_seconds = time.process_time() - cpu_started
    if state.abort_reason:
        raise RunAborted(state.abort_reason)
    return stats


async def _join(state: _State) -> None:
    """Wait for every worker; those cancelled by a stop end quietly. A worker's own error (a
    bug) cancels the others and is raised."""
    try:
        done, pending = await asyncio.wait(state.workers,
                                           return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:  # the run itself was cancelled: take the workers with it
        for task in state.workers:
            task.cancel()
        raise
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()


def _todo(provider: Provider, plan: pd.DataFrame, journal: Journal) -> pd.DataFrame:
    """The cells without a stored response, in sending order, with only what a worker reads."""
    todo = plan[~plan["cell_id"].isin(journal.done_cells())]
    if getattr(provider, "groups_by_framing", False):
        # An in-process model reuses the evaluated prompt prefix of its previous request, so
        # requests sharing a framing go together, and an item's manipulation check (its task
        # request with a question appended) comes right after the task cell, whose prompt is
        # then all prefix; hosted providers keep the interleaved order.
        item_order = {item: index for index, item in enumerate(todo["item_id"].unique())}
        keys = todo.assign(
            _item=todo["item_id"].map(item_order),
            _check=todo["purpose"].eq("check") if "purpose" in todo else False)
        todo = todo.loc[keys.sort_values(["pair", "arm", "variant", "epoch", "_item", "_check"],
                                         kind="stable").index]
    return todo[[*CELL_COLUMNS, *(["sample_key"] if "sample_key" in todo else [])]]


def _serve_from_cache(cache: ResponseCache, todo: pd.DataFrame, journal: Journal,
                      stats: RunStats) -> pd.DataFrame:
    hits = list(cache.lookup(zip(todo["cell_id"], todo["request_hash"], todo["sample_key"])))
    journal.record_many(hits)
    stats.cache_hits = len(hits)
    served = {rec.cell_id for rec in hits}
    return todo[~todo["cell_id"].isin(served)]


async def _worker(provider: Provider, pending: Iterator[Any], journal: Journal, stats: RunStats,
                  state: _State, bar: ProgressBar, limiter: RateLimiter,
                  cache: ResponseCache | None, serve: Any) -> None:
    for cell in pending:
        if state.abort_reason is not None:
            return
        record = await serve(provider, cell, stats, state, limiter)
        if record is None:  # the run was stopped while this cell waited for a retry
            return
        journal.record(record)  # durable before this worker takes another cell
        if cache is not None:
            cache.store([(cell.sample_key, record)])
        if record.status == "error":
            stats.failed[record.error_kind] += 1
        else:
            stats.received += 1
        stats.input_tokens += record.input_tokens or 0
        stats.output_tokens += record.output_tokens or 0
        bar.advance(failed=record.status == "error",
                    tokens=(record.input_tokens or 0) + (record.output_tokens or 0))


async def _serve(provider: Provider, cell: Any, stats: RunStats, state: _State,
                 limiter: RateLimiter) -> ResponseRecord | None:
    """Send one cell (again, while its failure is transient and retries remain)."""
    request = json.loads(cell.request_json)
    messages, params = request["messages"], request["params"]
    tokens = estimate_tokens(messages, params.get("max_tokens")) if limiter.active else 0
    sent = await send_with_retries(provider, messages, params, stats, state, limiter, tokens)
    if sent is None:  # the run stopped before this send
        return None
    if isinstance(sent, ProviderError):
        return ResponseRecord(cell.cell_id, cell.request_hash, "error", error_kind=sent.kind,
                              error_message=str(sent),
                              raw=sent.raw if sent.raw is not None else {})
    return _record(cell, *sent)


async def send_with_retries(provider: Provider, messages: list[dict[str, Any]],
                            params: dict[str, Any], stats: RunStats, state: _State,
                            limiter: RateLimiter, tokens: int
                            ) -> tuple[Completion, float] | ProviderError | None:
    """One request through the gate, pacing, retries and error budget: the reply and its
    latency, the final failure, or None when the run stopped while it waited. A one-shot cell
    (:func:`_serve`) and an episode's step (:mod:`consistency.run.episodes`) both send this way."""
    for attempt in range(state.retries + 1):
        try:
            sent = await _send(provider, messages, params, stats, state, limiter, tokens)
        except ProviderError as exc:
            _count_failure(state, exc)
            if _transient(exc) and attempt < state.retries and not state.abort_reason:
                stats.retried[exc.kind] += 1
                await asyncio.sleep(state.retry_delay_s * 2 ** attempt)
                if state.abort_reason:
                    return None
                continue
            return exc
        if sent is None:
            return None
        state.consecutive_failures = 0
        limiter.on_success()
        return sent
    raise AssertionError("unreachable: the last attempt always returns")


async def _send(provider: Provider, messages: list[dict[str, str]], params: dict[str, Any],
                stats: RunStats, state: _State, limiter: RateLimiter,
                tokens: int) -> tuple[Completion, float] | None:
    """One send through the gate and the pacing; returns the reply and its latency in seconds,
    or None when the run stopped while it waited. The gate hears how it ended whatever happens
    (a cancelled send counts as no signal)."""
    gate = state.gate
    ticket = await gate.acquire()
    kind: str | None = "cancelled"
    started = time.perf_counter()
    try:
        await limiter.acquire(tokens)
        if state.abort_reason is not None:
            return None
        stats.requested += 1
        started = time.perf_counter()
        reply = await _complete(provider, messages, params)
        kind = None
        return reply, time.perf_counter() - started
    except ProviderError as exc:
        kind = exc.kind
        raise
    finally:
        gate.release(ticket, time.perf_counter() - started, kind)


async def _complete(provider: Provider, messages: list[dict[str, str]],
                    params: dict[str, Any]) -> Completion:
    """The provider's reply. An adapter's own bug (any exception but a ProviderError) becomes an
    ``other`` failure of this cell: one unreadable reply must not stop a paid-for run."""
    try:
        return await provider.complete(messages, params)
    except ProviderError:
        raise
    except Exception as exc:  # noqa: BLE001 - counted and journalled like any failure
        raise ProviderError("other", f"{type(exc).__name__}: {exc}", transient=False) from exc


def _record(cell: Any, reply: Completion, latency: float) -> ResponseRecord:
    if reply.finish_reason in WITHHELD_STOPS:
        status, kind = "error", "content_filter"
        message = f"the provider withheld the reply (stop reason {reply.finish_reason})"
    else:
        status, kind, message = ("ok" if reply.text.strip() else "empty"), None, None
    return ResponseRecord(
        cell.cell_id, cell.request_hash, status, text=reply.text, error_kind=kind,
        error_message=message, finish_reason=reply.finish_reason,
        model_reported=reply.model_reported, input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens, latency_s=latency, raw=reply.raw,
        accepted_params=reply.accepted_params)


def _transient(exc: ProviderError) -> bool:
    """Worth sending again? The adapter may know (a reply of the wrong shape will likely come
    back the same); otherwise the kind decides."""
    return exc.kind in TRANSIENT_KINDS if exc.transient is None else exc.transient


def _count_failure(state: _State, exc: ProviderError) -> None:
    state.consecutive_failures += 1
    if state.abort_reason:
        return
    if exc.fatal:
        state.abort_reason = f"the provider rejected the request ({exc.kind}): {exc}"
    elif state.consecutive_failures >= state.error_budget:
        state.abort_reason = (f"{state.consecutive_failures} attempts failed in a row, over the "
                              f"error budget (runner.error_budget={state.error_budget}; last: "
                              f"{exc.kind}: {str(exc)[:300]}); raise runner.error_budget or fix "
                              "the provider, then resume with the same run_id")
    else:
        return
    # Stop means stop: no other worker sends again, nor waits on (the one counting this failure
    # goes on to journal it and then returns).
    current = asyncio.current_task()
    for task in state.workers:
        if task is not current:
            task.cancel()
