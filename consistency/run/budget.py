"""What a run is about to send, said before it sends it, and a ceiling on it.

The default design on a hosted model is about 83,000 requests an epoch (task cells plus their
manipulation checks). Before the first request the runner prints the plan: requests to send,
estimated input tokens, the most output tokens the reply caps allow and, when the model config
has prices, the most it can cost. ``consistency run --dry-run`` (``runner.dry_run=true``) prints
it and exits 0 without creating the run folder, reading a key or sending anything. A plan with
more requests to send than ``runner.max_requests`` (20,000 by default; ``null``: no ceiling) is
refused with exit 2 until the ceiling is raised. The embedded model (``model=local``) costs
nothing and is not held to the ceiling.

Token figures are estimates: input at 4 characters a token over every message of every request
(the same rule as the client-side pacing, :func:`consistency.providers.ratelimit.estimate_tokens`), output
at most each request's ``max_tokens``. Retries of failed requests are not counted.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from consistency.common.errors import InputError

#: Characters a token, for the estimate (as in :mod:`consistency.providers.ratelimit`).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class SendPlan:
    """What this invocation would send (cells already answered in the journal are left out)."""

    requests: int
    tasks: int
    checks: int
    already_done: int
    input_tokens: int
    #: the most output tokens (every request's max_tokens); None when some request has no cap
    output_tokens_max: int | None
    #: the most it can cost in USD at the model's prices; None without prices
    usd_max: float | None
    #: judge requests to expect after the run (one per received task response, more for the
    #: double-judged share); 0 without a judge
    judge_requests_max: int


def send_plan(config: Any, plan: pd.DataFrame, done: set[str] | frozenset[str] = frozenset()
              ) -> SendPlan:
    """The :class:`SendPlan` of ``plan`` (a design's plan frame) under ``config``."""
    todo = plan[~plan["cell_id"].isin(done)] if done else plan
    checks = int(todo["purpose"].eq("check").sum()) if "purpose" in todo else 0
    chars, capped, output = 0, True, 0
    for text in todo["request_json"]:
        request = json.loads(text)
        chars += sum(len(str(m.get("content") or "")) for m in request.get("messages", []))
        cap = (request.get("params") or {}).get("max_tokens")
        if cap is None:
            capped = False
        else:
            output += int(cap)
    input_tokens = chars // CHARS_PER_TOKEN + len(todo)
    usd = _usd(config, input_tokens, output) if capped else None
    judge = config.judge
    judge_max = 0
    if judge.provider is not None:
        judge_max = int(round((len(todo) - checks) * (1 + float(judge.double))))
    return SendPlan(int(len(todo)), int(len(todo)) - checks, checks,
                    int(len(plan) - len(todo)), int(input_tokens),
                    output if capped else None, usd, judge_max)


def _usd(config: Any, input_tokens: int, output_tokens: int) -> float | None:
    price_in = getattr(config.model, "price_input_per_mtok", None)
    price_out = getattr(config.model, "price_output_per_mtok", None)
    if price_in is None or price_out is None:
        return None
    usd = (input_tokens * float(price_in) + output_tokens * float(price_out)) / 1e6
    if config.runner.mode == "batch":
        from consistency.run.batch import BATCH_DISCOUNT

        usd *= 1 - BATCH_DISCOUNT
    return usd


def plan_text(config: Any, sent: SendPlan, *, with_limit: bool = True) -> str:
    """The plan in one line, as printed before the first request and by ``--dry-run``."""
    parts = [f"{sent.requests:,} requests to send ({sent.tasks:,} task cells"
             + (f" + {sent.checks:,} manipulation checks" if sent.checks else "") + ")"]
    if sent.already_done:
        parts.append(f"{sent.already_done:,} already answered in the journal")
    output = ("output unbounded (model.max_tokens is null)" if sent.output_tokens_max is None
              else f"at most {sent.output_tokens_max:,} output")
    parts.append(f"~{sent.input_tokens:,} input tokens, {output} tokens")
    if sent.usd_max is not None:
        batch = " at the batch discount" if config.runner.mode == "batch" else ""
        parts.append(f"at most ${sent.usd_max:,.2f}{batch} (model.price_*_per_mtok)")
    elif config.model.provider != "local":
        parts.append("cost unknown (set model.price_input_per_mtok and "
                     "model.price_output_per_mtok)")
    if sent.judge_requests_max:
        parts.append(f"then up to {sent.judge_requests_max:,} judge requests")
    limit = limit_of(config)
    if limit is not None and with_limit:
        parts.append(f"runner.max_requests={limit:,}"
                     + (" (EXCEEDED: the run would be refused)" if sent.requests > limit else ""))
    return "plan: " + "; ".join(parts)


def limit_of(config: Any) -> int | None:
    """The ceiling that applies to this run: ``runner.max_requests``, none for the embedded
    model."""
    if config.model.provider == "local":
        return None
    return config.runner.max_requests


def check_limit(config: Any, sent: SendPlan) -> None:
    """Refuse (exit 2) a plan with more requests to send than ``runner.max_requests``."""
    limit = limit_of(config)
    if limit is None or sent.requests <= limit:
        return
    raise InputError(
        f"this run would send {sent.requests:,} requests, above runner.max_requests={limit:,} "
        f"(the guard against an unplanned paid run). {plan_text(config, sent, with_limit=False)}. "
        f"Nothing was sent. Check the plan with consistency run --dry-run, then raise the ceiling (e.g. "
        f"runner.max_requests={_rounded_up(sent.requests)}) or choose a smaller design "
        "(design=quick, tasks.limit=N, checks.manipulation=false)", where="runner.max_requests")


def _rounded_up(n: int) -> int:
    step = 1000 if n >= 1000 else 100
    return -(-n // step) * step


def answered_cells(folder: Path) -> set[str]:
    """Cells the run folder's journal already holds a response for (read only; empty when
    there is no journal or it cannot be read: the run itself then reports the problem)."""
    path = folder / "journal.sqlite"
    if not path.is_file():
        return set()
    from consistency.run.store import TERMINAL_KINDS

    marks = ",".join("?" * len(TERMINAL_KINDS))
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                                timeout=5)) as db:
            rows = db.execute("SELECT cell_id FROM responses WHERE status != 'error' OR "
                              f"error_kind IN ({marks})", TERMINAL_KINDS).fetchall()
    except sqlite3.Error:
        return set()
    return {cell for (cell,) in rows}
