"""Adaptive against fixed concurrency, end to end, against loopback servers that cannot take a
fixed pool of 16. Run from the checkout:

    .venv/bin/python benchmarks/bench_concurrency.py            # 80 cells a run, ~30 s on 2 cores
    .venv/bin/python benchmarks/bench_concurrency.py --quick    # 40 cells a run, ~15 s

Each run is ``consistency run`` in this process (the tests' ``run_inprocess``: the real Hydra
config and pipeline) over 20 capability items x the placebo ``wording`` pair (2 paraphrases an
arm) = 80 cells, through the official openai SDK, against one of two OpenAI-compatible servers
(tests/provider_server.py, on 127.0.0.1 in a thread of this process):

1. single-slot: serves one request at a time (FIFO) for ``--service-ms`` (50 ms) each, so a
   request's latency grows with the requests in flight, as llama.cpp with one slot does. Like
   aiohttp by default it does not notice a client that gave up: an abandoned request still takes
   its turn.
2. 429 above N: answers 429 (``retry-after-ms: 20``) to a request arriving while ``--capacity``
   (3) are already in flight; the others take ``--work-ms`` (80 ms).

Each kind of server gets two runs (a fresh server each, so nothing queued carries over) with the
same settings (``runner.max_connections=16``, ``model.timeout_s=--timeout``, default 0.5 s = 10
single-slot service times, as 60 s is to a 6 s local reply; ``runner.retry_delay_s=0.05`` so a
runner retry costs little beside the service times; the SDK's own retries as configured,
``model.max_retries=4``) but for ``runner.adaptive_concurrency``: true (starting at 4) or false
(all 16 workers send at once). What each column measures:

- stage s: ``runner.seconds`` of summary.json, the request stage; run s: the whole run
  (plan, requests, scoring, tests, report). req/s: cells answered per second of the stage.
- answered: cells with a response; http: chat requests the server received (SDK and runner
  retries included).
- peak: most requests in flight at the server, queued ones included (the 429 server: the 3 at
  work plus the one being refused); gate: the client's ``runner.concurrency.max_in_flight``.
- 429s: answered by the server (the SDK retries them after ``retry-after``, the controller hears
  each one). late: replies the server finished after the client's timeout, i.e. attempts the
  client had abandoned, yet the server still spent its slot on; each one is a timeout, whether
  the SDK retried it (not in the runner's counts, though an adaptive controller hears of it)
  or the runner counted it.
- srv p50/p95: server time of each answered request (queueing included); client p50/p95: the
  journal's ``latency_s`` of each cell's successful send (SDK retries and back-off included).
- failed: cells without a response (``responses.failed``, by kind); timeouts: the runner's count
  of ``timeout`` failures and retries (``failed_by_kind`` + ``retried_by_kind``).
- limit: the adaptive limit's start/final/min/max (``runner.concurrency``).

Below the table: the adaptive runs' in-flight limit history (``runner.concurrency.history``,
``t`` in seconds since the stage started) and the fixed/adaptive ratios of stage time.
Figures from one run on a shared machine are noisy; compare rows of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import CONDITIONS  # noqa: E402
from provider_server import PolicyFault, ProviderServer, answer_key_policy  # noqa: E402
from runner_support import run_inprocess  # noqa: E402

from consistency.run.runner import RunAborted  # noqa: E402


@dataclass
class Meter:
    """What the server saw (touched only on the server's loop; read after it stops)."""

    now: int = 0
    peak: int = 0
    limited: int = 0
    latencies: list[float] = field(default_factory=list)

    def enter(self) -> float:
        self.now += 1
        self.peak = max(self.peak, self.now)
        return time.perf_counter()

    def leave(self, started: float, answered: bool) -> None:
        self.now -= 1
        if answered:
            self.latencies.append(time.perf_counter() - started)


def single_slot(answer: Callable, meter: Meter, service_s: float) -> Callable:
    """One request at a time, each ``service_s``; the rest queue in arrival order."""
    lock = asyncio.Lock()

    async def policy(req):
        started = meter.enter()
        try:
            async with lock:
                await asyncio.sleep(service_s)
                reply = answer(req)
        except BaseException:
            meter.leave(started, answered=False)
            raise
        meter.leave(started, answered=True)
        return reply

    return policy


def capacity_limited(answer: Callable, meter: Meter, capacity: int, work_s: float) -> Callable:
    """429 to a request arriving while ``capacity`` are in flight; the rest take ``work_s``."""
    state = {"working": 0}

    async def policy(req):
        started = meter.enter()
        if state["working"] >= capacity:
            meter.limited += 1
            meter.leave(started, answered=False)
            raise PolicyFault(429, headers={"retry-after-ms": "20"})
        state["working"] += 1
        try:
            await asyncio.sleep(work_s)
            reply = answer(req)
        finally:
            state["working"] -= 1
        meter.leave(started, answered=True)
        return reply

    return policy


def write_suite(folder: Path, items: int) -> tuple[Path, Path, dict[str, str]]:
    """``items`` capability items with known answers, and the tests' conditions file."""
    tasks, answers = folder / "tasks.jsonl", {}
    with tasks.open("w") as out:
        for n in range(items):
            prompt = f"Compute {n + 3} plus {2 * n + 5}. Answer with just the number."
            answers[prompt] = str(3 * n + 8)
            out.write(json.dumps({"id": f"c{n}", "family": "capability", "prompt": prompt,
                                  "answer": answers[prompt]}) + "\n")
    conditions = folder / "conditions.yaml"
    conditions.write_text(CONDITIONS)
    return tasks, conditions, answers


def percentile(values: list[float], q: int) -> float | None:
    """The ``q``-th percentile (inclusive method), None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def journal_latencies(folder: Path) -> list[float]:
    with sqlite3.connect(folder / "journal.sqlite") as db:
        rows = db.execute("SELECT latency_s FROM responses WHERE status != 'error' "
                          "AND latency_s IS NOT NULL").fetchall()
    return [row[0] for row in rows]


def journal_failed(folder: Path) -> int:
    with sqlite3.connect(folder / "journal.sqlite") as db:
        return db.execute("SELECT count(*) FROM responses WHERE status = 'error'").fetchone()[0]


def one_run(server_name: str, adaptive: bool, args: argparse.Namespace, folder: Path) -> dict:
    """One ``consistency run`` against a fresh server of kind ``server_name``; its figures."""
    tasks, conditions, answers = write_suite(folder, args.items)
    answer, meter = answer_key_policy(answers, []), Meter()
    policy = (single_slot(answer, meter, args.service_ms / 1000) if server_name == "single-slot"
              else capacity_limited(answer, meter, args.capacity, args.work_ms / 1000))
    run_id = f"{server_name}-{'adaptive' if adaptive else 'fixed'}"
    overrides = ["model=openai", "model.name=bench", f"tasks.path={tasks}",
                 f"conditions.path={conditions}", "conditions.pairs=[wording]",
                 "tasks.families=[capability]", f"tasks.limit={args.items}", "runner.quiet=true",
                 "runner.max_connections=16",
                 f"runner.adaptive_concurrency={str(adaptive).lower()}",
                 f"model.timeout_s={args.timeout}", "runner.retry_delay_s=0.05",
                 "analysis.n_resamples=999"]
    aborted = None
    with ProviderServer(policy) as server:
        wall = time.perf_counter()
        try:
            run_inprocess(*overrides, f"model.base_url={server.openai_base_url}",
                          results=folder / "results", run_id=run_id)
        except RunAborted as exc:
            aborted = str(exc).split(". Every response")[0]
        seconds = time.perf_counter() - wall
        http = server.request_count
    return figures(folder / "results" / run_id, meter, http, seconds, aborted, args.timeout) | {
        "server": server_name, "adaptive": adaptive}


def figures(run: Path, meter: Meter, http: int, seconds: float, aborted: str | None,
            timeout_s: float) -> dict:
    """The row of one run: from summary.json if it was written, else the journal alone."""
    summary_file = run / "summary.json"
    record = json.loads(summary_file.read_text()) if summary_file.exists() else None
    runner = record["runner"] if record else {}
    client = journal_latencies(run)
    late = sum(latency > timeout_s for latency in meter.latencies)
    kinds = [runner.get("failed_by_kind", {}), runner.get("retried_by_kind", {})]
    return {"run_s": seconds, "stage_s": runner.get("seconds"), "received": len(client),
            "failed": record["responses"]["failed"] if record else journal_failed(run),
            "failed_kinds": runner.get("failed_by_kind", {}),
            "timeouts": sum(k.get("timeout", 0) for k in kinds) if record else None,
            "http": http, "peak": meter.peak, "limited": meter.limited, "late": late,
            "srv_p50": percentile(meter.latencies, 50), "srv_p95": percentile(meter.latencies, 95),
            "cli_p50": percentile(client, 50), "cli_p95": percentile(client, 95),
            "concurrency": runner.get("concurrency") or {}, "aborted": aborted}


def ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


def failed(r: dict) -> str:
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(r["failed_kinds"].items()))
    return f"{r['failed']} ({kinds})" if kinds else str(r["failed"])


def row(r: dict) -> str:
    conc = r["concurrency"]
    stage = r["stage_s"]
    rate = f"{r['received'] / stage:.1f}" if stage else "-"
    limits = (f"{conc['start']}/{conc['final']}/{conc['min']}/{conc['max']}"
              if conc.get("adaptive") else "16 fixed")
    return (f"| {r['server']} | {'adaptive' if r['adaptive'] else 'fixed'} | "
            f"{'aborted' if stage is None else f'{stage:.2f}'} | {r['run_s']:.1f} | {rate} | "
            f"{r['received']} | {r['peak']} | {conc.get('max_in_flight', '-')} | {r['http']} | "
            f"{r['limited']} | {r['late']} | {ms(r['srv_p50'])} / {ms(r['srv_p95'])} | "
            f"{ms(r['cli_p50'])} / {ms(r['cli_p95'])} | {failed(r)} | "
            f"{'-' if r['timeouts'] is None else r['timeouts']} | {limits} |")


def history(conc: dict, limit: int = 40) -> str:
    """``t=0.00 4 start; t=0.41 5 grow; ...`` (the first and last entries when it is long)."""
    entries = [f"t={e['t']:.2f} {e['limit']} {e['reason']}" for e in conc.get("history", [])]
    if len(entries) > limit:
        entries = [*entries[:limit // 2], f"... {len(entries) - limit} more ...",
                   *entries[-limit // 2:]]
    dropped = f" (+{conc['dropped']} dropped by the record)" if conc.get("dropped") else ""
    return "; ".join(entries) + dropped


def report(rows: list[dict], args: argparse.Namespace) -> None:
    cells = rows[0]["received"] + rows[0]["failed"]
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {cells} cells a "
          f"run, runner.max_connections=16, model.timeout_s={args.timeout}; single-slot "
          f"{args.service_ms:.0f} ms a request; 429 above {args.capacity} in flight, "
          f"{args.work_ms:.0f} ms a request\n")
    print("| server | concurrency | stage s | run s | req/s | answered | peak | gate | http "
          "| 429s | late | srv p50/p95 ms | client p50/p95 ms | failed | timeouts "
          "| limit start/final/min/max |")
    print("|" + "---|" * 16)
    for r in rows:
        print(row(r))
    for r in rows:
        if r["aborted"]:
            print(f"\n{r['server']} {'adaptive' if r['adaptive'] else 'fixed'}: the run stopped: "
                  f"{r['aborted']}")
    for server in dict.fromkeys(r["server"] for r in rows):
        adaptive, fixed = (next(r for r in rows if r["server"] == server and r["adaptive"] is a)
                           for a in (True, False))
        print(f"\n{server}, adaptive limit history: {history(adaptive['concurrency'])}")
        if adaptive["stage_s"] and fixed["stage_s"]:
            stage, run = fixed["stage_s"] / adaptive["stage_s"], fixed["run_s"] / adaptive["run_s"]
            rate = ((adaptive["received"] / adaptive["stage_s"])
                    / (fixed["received"] / fixed["stage_s"]))
            print(f"{server}: fixed/adaptive stage time {stage:.2f}, whole run {run:.2f}; "
                  f"adaptive/fixed req/s {rate:.2f} (> 1: adaptive faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20, help="capability items (4 cells each)")
    parser.add_argument("--timeout", type=float, default=0.5, help="model.timeout_s, seconds")
    parser.add_argument("--service-ms", type=float, default=50.0, help="single-slot service time")
    parser.add_argument("--capacity", type=int, default=3, help="in flight before a 429")
    parser.add_argument("--work-ms", type=float, default=80.0, help="429 server's request time")
    parser.add_argument("--quick", action="store_true", help="10 items (40 cells a run)")
    args = parser.parse_args()
    os.environ.pop("OPENAI_API_KEY", None)  # loopback servers only: never send a real key
    if args.quick:
        args.items = 10
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for server in ("single-slot", "429-above-n"):
            for adaptive in (True, False):
                folder = Path(tmp) / f"{server}-{adaptive}"
                folder.mkdir()
                rows.append(one_run(server, adaptive, args, folder))
    report(rows, args)


if __name__ == "__main__":
    main()
