"""Send the plan's missing cells to a provider, storing every response the moment it arrives.

A fixed pool of workers pulls cells from a queue (memory stays flat however large the plan), bounded
by ``max_connections`` and by what the provider can take. The plan is already ordered so that both
arms of each comparison travel together. Retries of transient errors happen inside the official SDKs
(``max_retries``); what still fails is journaled as a failure with its kind, and requested again on
resume. A provider that keeps failing stops the run after ``error_budget`` consecutive failures (or
at once on a fatal error such as a rejected key), keeping everything received so far.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from consistency.providers import Provider, ProviderError
from consistency.store import Journal, ResponseRecord


class RunAborted(Exception):
    """The provider failed too often (or fatally); received responses are kept and resumable."""


@dataclass
class RunStats:
    """What one call of :func:`run_cells` did."""

    requested: int = 0
    received: int = 0
    failed: Counter = field(default_factory=Counter)
    skipped_done: int = 0


async def run_cells(
    provider: Provider,
    plan: pd.DataFrame,
    journal: Journal,
    *,
    max_connections: int = 16,
    error_budget: int = 20,
    quiet: bool = False,
) -> RunStats:
    """Request every plan cell that has no stored response; return counts.

    Args:
        provider: adapter to call.
        plan: plan frame (see :mod:`consistency.plan`).
        journal: where each attempt is committed before the next one is counted.
        max_connections: requests in flight at most (also capped by the provider).
        error_budget: consecutive failures tolerated before the run stops.
        quiet: no progress bar (scheduled jobs).
    """
    done = journal.done_cells()
    todo = plan[~plan["cell_id"].isin(done)]
    if getattr(provider, "groups_by_framing", False):
        # An in-process model reuses the evaluated prompt prefix of its previous request, so
        # requests sharing a framing go together; hosted providers keep the interleaved order.
        todo = todo.sort_values(["pair", "arm", "variant", "epoch"], kind="stable")
    stats = RunStats(skipped_done=len(plan) - len(todo))
    if todo.empty:
        return stats
    queue: asyncio.Queue = asyncio.Queue()
    for cell in todo[["cell_id", "request_hash", "request_json"]].itertuples(index=False):
        queue.put_nowait(cell)
    state = _State(error_budget=error_budget)
    workers = max(1, min(int(max_connections), int(provider.max_concurrency), len(todo)))
    with _Bar(quiet, len(todo)) as bar:
        tasks = [asyncio.create_task(_worker(provider, queue, journal, stats, state, bar))
                 for _ in range(workers)]
        await asyncio.gather(*tasks)
    if state.abort_reason:
        raise RunAborted(state.abort_reason)
    return stats


@dataclass
class _State:
    error_budget: int
    consecutive_failures: int = 0
    abort_reason: str | None = None


async def _worker(provider: Provider, queue: asyncio.Queue, journal: Journal, stats: RunStats,
                  state: _State, bar: "_Bar") -> None:
    while not queue.empty() and state.abort_reason is None:
        cell = queue.get_nowait()
        request = json.loads(cell.request_json)
        stats.requested += 1
        started = time.perf_counter()
        try:
            reply = await provider.complete(request["messages"], request["params"])
        except ProviderError as exc:
            journal.record(ResponseRecord(cell.cell_id, cell.request_hash, "error",
                                          error_kind=exc.kind, error_message=str(exc)[:2000]))
            stats.failed[exc.kind] += 1
            _count_failure(state, exc)
            bar.advance(failed=True)
            continue
        state.consecutive_failures = 0
        status = "ok" if reply.text.strip() else "empty"
        journal.record(ResponseRecord(
            cell.cell_id, cell.request_hash, status, text=reply.text,
            finish_reason=reply.finish_reason, model_reported=reply.model_reported,
            input_tokens=reply.input_tokens, output_tokens=reply.output_tokens,
            latency_s=time.perf_counter() - started, raw=reply.raw,
            accepted_params=reply.accepted_params))
        stats.received += 1
        bar.advance(failed=False)


def _count_failure(state: _State, exc: ProviderError) -> None:
    state.consecutive_failures += 1
    if exc.fatal:
        state.abort_reason = f"the provider rejected the request ({exc.kind}): {exc}"
    elif state.consecutive_failures >= state.error_budget:
        state.abort_reason = (f"{state.consecutive_failures} requests failed in a row (last: "
                              f"{exc.kind}: {str(exc)[:300]}); raise runner.error_budget or fix the "
                              "provider, then resume with the same run_id")


class _Bar:
    """A rich progress bar with a failure count, or nothing at all in quiet mode."""

    def __init__(self, quiet: bool, total: int) -> None:
        self.failures = 0
        self._progress = None if quiet else Progress(
            TextColumn("[bold]requests"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"), TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), transient=False)
        self._task: Any = None
        self._total = total
        self._started = time.perf_counter()

    def __enter__(self) -> "_Bar":
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("run", total=self._total, failed=0, rate="-")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, *, failed: bool) -> None:
        self.failures += failed
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        rate = (task.completed + 1) / max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(self._task, advance=1, failed=self.failures, rate=f"{rate:.1f}")

