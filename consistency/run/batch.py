"""``runner=batch``: submit the missing cells through a provider's batch API, poll, and journal the
results; about half the price of online requests, in exchange for waiting (up to 24 hours).

OpenAI: the cells become a JSONL file uploaded with purpose ``batch`` and a batch on
``/v1/chat/completions``; results come back as output and error files. Anthropic: the cells go
in one Message Batch; results are streamed back as JSONL. Both through the official SDKs.

Never pay twice: the batch id is written to ``batches.json`` in the run folder the moment the
provider returns it, before any waiting. Resuming the run (same ``run_id``) polls every batch
listed there that has not been collected yet instead of submitting again; only cells still
without a response after that (failed lines) go into a new batch. Each cell travels under a
``custom_id`` derived from its cell id, so results map back to cells whatever their order.

``batches.json``: ``{"batches": [{"id", "provider", "cells", "submitted_at", "status",
"collected"}]}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pandas as pd

from consistency.common import inbound
from consistency.design.config import RunConfig, RunnerSettings
from consistency.common.errors import InputError
from consistency.providers import ProviderError, make_provider
from consistency.providers.hosted import classify
from consistency.run.runner import WITHHELD_STOPS, RunStats
from consistency.common.sanitise import for_terminal, redact
from consistency.run.folder import config_yaml, make_run_folder
from consistency.run.store import Journal, ResponseRecord, run_lock

STATE_FILE = "batches.json"
#: Both providers price batch requests at half the online price.
#: What the batch runner calls with the finished journal (see :func:`execute_batch`).
Finish = Callable[..., None]
BATCH_DISCOUNT = 0.5
_ENDED = {"openai": {"completed", "failed", "expired", "cancelled"}, "anthropic": {"ended"}}


def custom_id(cell_id: str) -> str:
    """A batch-safe id for a cell (both APIs take at most 64 of ``[A-Za-z0-9_-]``)."""
    return "c" + hashlib.sha256(cell_id.encode("utf-8")).hexdigest()[:40]


def execute_batch(config: RunConfig, design: Any, finish: Finish) -> Path:
    """Run (or resume) the design through the provider's batch API; returns the run folder.

    ``finish`` scores, analyses and writes the outputs once every result is in
    (:func:`consistency.pipeline.finish`); it is passed in because those stages come after
    this one and the runner must not import them.
    """

    kind = config.model.provider
    if kind not in _ENDED:
        raise InputError(f"runner=batch needs model=openai or model=anthropic, not {kind!r}; "
                         "the embedded model has no batch API (use the default runner)",
                         where="runner")
    provider = make_provider(config.model)  # checks key and reachability before any request
    make_run_folder(design.folder)
    with run_lock(design.folder):  # one process per run folder (see store.run_lock)
        with Journal(design.folder / "journal.sqlite") as journal:
            journal.bind(design.fingerprint)
            (design.folder / "config.yaml").write_text(config_yaml(config))
            try:
                stats = asyncio.run(_drive(kind, provider, design, journal, config.runner))
            except KeyboardInterrupt:
                from consistency.design.sweep_ids import resume_hint

                raise _aborted(f"interrupted while waiting; every batch id is kept in "
                               f"{design.folder / STATE_FILE}. To poll it, "
                               f"{resume_hint(design.run_id)} (nothing is submitted "
                               "twice)") from None
            responses = journal.frame()
        runner = {"mode": "batch", "requests_sent": stats.requested, "received": stats.received,
                  "failed_by_kind": dict(stats.failed), "already_done": stats.skipped_done,
                  "seconds": round(stats.seconds, 3)}
        finish(config, design, responses, runner, batch_discount=BATCH_DISCOUNT)
    return design.folder


async def _drive(kind: str, provider: Any, design: Any, journal: Journal,
                 settings: RunnerSettings) -> RunStats:
    started = time.perf_counter()
    state = _load_state(design.folder)
    stats = RunStats()
    cells = design.plan.set_index(design.plan["cell_id"].map(custom_id))
    try:
        for entry in state["batches"]:
            if not entry["collected"]:  # a batch submitted by an earlier (killed) invocation
                await _wait_and_collect(kind, provider, entry, cells, journal, settings, stats,
                                        design.folder, state)
        todo = design.plan[~design.plan["cell_id"].isin(journal.done_cells())]
        stats.skipped_done = len(design.plan) - len(todo)
        if len(todo):
            batch_id = await _submit(kind, provider, todo)
            entry = {"id": batch_id, "provider": kind, "cells": int(len(todo)),
                     "submitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "status": "submitted", "collected": False}
            state["batches"].append(entry)
            _save_state(design.folder, state)  # before any waiting: a resume finds it here
            stats.requested += len(todo)
            await _wait_and_collect(kind, provider, entry, cells, journal, settings, stats,
                                    design.folder, state)
    finally:
        await provider.aclose()
    stats.seconds = time.perf_counter() - started
    return stats


async def _submit(kind: str, provider: Any, todo: pd.DataFrame) -> str:
    requests = [(custom_id(cell), json.loads(body)) for cell, body in
                zip(todo["cell_id"], todo["request_json"])]
    try:
        if kind == "openai":
            lines = [json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                                 "body": {"model": provider.name, "messages": req["messages"],
                                          **provider.prepare(req["params"])}})
                     for cid, req in requests]
            upload = await provider.client.files.create(
                file=("requests.jsonl", "\n".join(lines).encode("utf-8")), purpose="batch")
            batch = await provider.client.batches.create(
                input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
            return batch.id
        entries = [{"custom_id": cid, "params": {"model": provider.name,
                                                 **provider.prepare(req["messages"],
                                                                    req["params"])[0]}}
                   for cid, req in requests]
        batch = await provider.client.messages.batches.create(requests=entries)
        return batch.id
    except Exception as exc:  # noqa: BLE001 - nothing was submitted; say why and stop
        raise _aborted(f"could not submit the batch ({classify(exc).kind}): {exc}; nothing was "
                       "submitted. Fix the cause and run again with the same run_id") from exc


async def _wait_and_collect(kind: str, provider: Any, entry: dict, cells: pd.DataFrame,
                            journal: Journal, settings: RunnerSettings, stats: RunStats,
                            folder: Path, state: dict) -> None:
    interval = settings.poll_interval_s
    while True:
        status = await _status(kind, provider, entry["id"])
        if entry["status"] != status:
            entry["status"] = status
            _save_state(folder, state)
            if not settings.quiet:
                print(for_terminal(f"batch {entry['id']} ({entry['cells']} cells): {status}"),
                      flush=True)
        if status in _ENDED[kind]:
            break
        await asyncio.sleep(interval)
    try:
        records = [rec async for rec in _results(kind, provider, entry["id"], cells)]
    except Exception as exc:  # noqa: BLE001 - the batch stays uncollected: a resume reads it again
        raise _aborted(f"could not read the results of batch {entry['id']} "
                       f"({classify(exc).kind}): {exc}; its id is kept in {STATE_FILE}, so "
                       "resuming with the same run_id reads them again (nothing is submitted "
                       "twice)") from exc
    journal.record_many(records)
    for rec in records:
        if rec.status == "error":
            stats.failed[rec.error_kind] += 1
        else:
            stats.received += 1
    entry["collected"] = True
    _save_state(folder, state)


async def _status(kind: str, provider: Any, batch_id: str) -> str:
    try:
        if kind == "openai":
            return (await provider.client.batches.retrieve(batch_id)).status
        return (await provider.client.messages.batches.retrieve(batch_id)).processing_status
    except Exception as exc:  # noqa: BLE001
        raise _aborted(f"could not poll batch {batch_id}: {classify(exc)}") from exc


async def _results(kind: str, provider: Any, batch_id: str, cells: pd.DataFrame):
    """Journal records for every result line of a finished batch."""
    if kind == "openai":
        batch = await provider.client.batches.retrieve(batch_id)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await provider.client.files.content(file_id)
            for line in content.text.splitlines():
                record = _openai_line(cells, line, provider.to_completion)
                if record is not None:
                    yield record
        return
    async for row in await provider.client.messages.batches.results(batch_id):
        if row.custom_id not in cells.index:
            continue  # not one of ours: nothing to journal it under
        result = row.result
        if result.type == "succeeded":
            # the SDK builds the message without validating it; dump it as received (an odd
            # shape is for to_completion to judge, not a warning for the console)
            yield _record(cells, row.custom_id, provider.to_completion)(
                result.message.model_dump(mode="json", warnings=False))
        else:
            detail = getattr(getattr(result, "error", None), "error", None)
            yield _failure(cells, row.custom_id, _anthropic_kind(result.type, detail),
                           str(getattr(detail, "message", result.type)))


def _openai_line(cells: pd.DataFrame, line: str, convert: Any) -> ResponseRecord | None:
    """The record for one line of an OpenAI batch output or error file; None for a line that
    names no cell of this run (blank, not JSON, an unknown ``custom_id``): such a cell stays
    without a response and goes into the next batch."""
    try:
        row = inbound.loads(line)
    except (ValueError, RecursionError):
        return None
    cid = row.get("custom_id") if isinstance(row, dict) else None
    if not isinstance(cid, str) or cid not in cells.index:
        return None
    response = row.get("response")
    response = response if isinstance(response, dict) else {}
    if response.get("status_code") == 200:
        return _record(cells, cid, convert)(response.get("body"))
    error = row.get("error")
    error = error if isinstance(error, dict) else {}
    return _failure(cells, cid, _openai_kind(response, error),
                    str(error.get("message") or response or "no response"))


def _record(cells: pd.DataFrame, cid: str, convert: Any):
    cell = cells.loc[cid]

    def build(reply: Any) -> ResponseRecord:
        params = json.loads(cell["request_json"])["params"]
        try:
            done = convert(reply, params)
        except ProviderError as exc:  # a result line that is not a reply: retried on resume
            return _failure(cells, cid, exc.kind, str(exc), raw=exc.raw)
        withheld = done.finish_reason in WITHHELD_STOPS
        status = "error" if withheld else ("ok" if done.text.strip() else "empty")
        return ResponseRecord(
            cell["cell_id"], cell["request_hash"], status, text=done.text,
            finish_reason=done.finish_reason, error_kind="content_filter" if withheld else None,
            model_reported=done.model_reported, input_tokens=done.input_tokens,
            output_tokens=done.output_tokens, raw=done.raw, accepted_params=done.accepted_params)

    return build


def _failure(cells: pd.DataFrame, cid: str, kind: str, message: str,
             raw: Any = None) -> ResponseRecord:
    cell = cells.loc[cid]
    return ResponseRecord(cell["cell_id"], cell["request_hash"], "error", error_kind=kind,
                          error_message=message, raw={} if raw is None else raw)


def _openai_kind(response: dict, error: dict) -> str:
    code = str(error.get("code") or response.get("status_code") or "")
    if code.isdigit():
        return classify(_Status(int(code))).kind
    return {"rate_limit_exceeded": "rate_limit", "batch_expired": "expired"}.get(code, "other")


def _anthropic_kind(result_type: str, detail: Any) -> str:
    if result_type in ("expired", "canceled"):
        return result_type
    return {"rate_limit_error": "rate_limit", "overloaded_error": "server_error",
            "api_error": "server_error", "invalid_request_error": "bad_request"}.get(
        getattr(detail, "type", ""), "other")


class _Status(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def _aborted(message: str) -> Exception:
    from consistency.run.runner import RunAborted

    return RunAborted(message)


def _load_state(folder: Path) -> dict:
    path = folder / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {"batches": []}


def _save_state(folder: Path, state: dict) -> None:
    tmp = folder / f".{STATE_FILE}.tmp"
    tmp.write_text(redact(json.dumps(state, indent=2)) + "\n")
    tmp.replace(folder / STATE_FILE)
