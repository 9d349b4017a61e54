"""Adaptive against fixed concurrency, end to end, against loopback servers with room to spare,
with spread latency, behind a CPU-contended client, and that cannot take a fixed pool of 16. Run
from the checkout:

    .venv/bin/python benchmarks/bench_concurrency.py            # ~3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_concurrency.py --quick    # a quarter of the cells

Each run is ``consistency run`` in this process (the tests' ``run_inprocess``: the real Hydra
config and pipeline) over capability items x the placebo ``wording`` pair (2 paraphrases an arm,
so 4 cells an item), through the official openai SDK, against one OpenAI-compatible server
(tests/provider_server.py, on 127.0.0.1 in a thread of this process):

1. fixed-100ms: room for any number in flight, 100 ms a request (``--room-items`` items).
2. lognormal: room for any number in flight, lognormal latency with median 100 ms and sigma
   1.0 (the spread of reply lengths: the 95th percentile is 5x the median), seeded.
3. contended: the lognormal server, while a thread of this process burns CPU in pure Python
   for the whole run, so the client's event loop gets the interpreter about half the time (as
   when the client shares its CPU with other work); the adaptive limit must not fall to 1.
4. single-slot: serves one request at a time (FIFO) for ``--service-ms`` (50 ms) each, so a
   request's latency grows with the requests in flight, as llama.cpp with one slot does. Like
   aiohttp by default it does not notice a client that gave up: an abandoned request still takes
   its turn. ``model.timeout_s=--timeout``, default 0.5 s = 10 service times, as 60 s is to a
   6 s local reply; no request may time out (``--items`` items).
5. 429-above-n: answers 429 (``retry-after-ms: 20``) to a request arriving while ``--capacity``
   (3) are already in flight; the others take ``--work-ms`` (80 ms).

A small run that is not reported comes first (one-time costs of the process). Each server gets
two runs (a fresh server each, so nothing queued carries over) with the same
settings (``runner.max_connections=16``, ``runner.retry_delay_s=0.05``, the SDK's own retries
as configured, ``model.max_retries=4``; servers 1-3 ``model.timeout_s=--room-timeout``, 30 s)
but for ``runner.adaptive_concurrency``: true (starting at 4) or false (all 16 workers send at
once). What each column measures:

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

Below the table: each adaptive run's limit over time (the limit in force at tenths of the
stage, from ``runner.concurrency.history``) and its changes, the adaptive/fixed throughput
ratios, and the checks of issue 22 (adaptive >= 0.9x the fixed pool at fixed 100 ms and at
lognormal sigma 1.0; the limit above 1 under the contended client; no timeout against the
single-slot server). Figures from one run on a shared machine are noisy; compare rows of the
same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

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


def with_room(answer: Callable, meter: Meter, median_s: float, sigma: float,
              seed: int) -> Callable:
    """Any number in flight; each request takes ``median_s`` x exp(sigma x N(0, 1))."""
    rng = random.Random(seed)

    async def policy(req):
        started = meter.enter()
        try:
            await asyncio.sleep(median_s * math.exp(sigma * rng.gauss(0.0, 1.0)))
            reply = answer(req)
        except BaseException:
            meter.leave(started, answered=False)
            raise
        meter.leave(started, answered=True)
        return reply

    return policy


class Burner:
    """A thread of this process spinning in pure Python while the run lasts: it takes the
    interpreter in turns with the client's event loop (and the server's)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.spins = 0
        self.thread = threading.Thread(target=self._burn, daemon=True)

    def _burn(self) -> None:
        while not self.stop.is_set():
            for _ in range(10_000):
                self.spins += 1

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


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


#: server kinds in the order they run; the first three have room for any number in flight
SERVERS = ("fixed-100ms", "lognormal", "contended", "single-slot", "429-above-n")
ROOMY = SERVERS[:3]


def one_run(server_name: str, adaptive: bool, args: argparse.Namespace, folder: Path) -> dict:
    """One ``consistency run`` against a fresh server of kind ``server_name``; its figures."""
    roomy = server_name in ROOMY
    items, timeout = (args.room_items, args.room_timeout) if roomy else (args.items, args.timeout)
    tasks, conditions, answers = write_suite(folder, items)
    answer, meter = answer_key_policy(answers, []), Meter()
    if server_name == "single-slot":
        policy = single_slot(answer, meter, args.service_ms / 1000)
    elif server_name == "429-above-n":
        policy = capacity_limited(answer, meter, args.capacity, args.work_ms / 1000)
    else:
        sigma = 0.0 if server_name == "fixed-100ms" else args.sigma
        policy = with_room(answer, meter, 0.1, sigma, seed=7)
    run_id = f"{server_name}-{'adaptive' if adaptive else 'fixed'}"
    overrides = ["model=openai", "model.name=bench", f"tasks.path={tasks}",
                 f"conditions.path={conditions}", "conditions.pairs=[wording]",
                 "tasks.families=[capability]", f"tasks.limit={items}", "runner.quiet=true",
                 "runner.max_connections=16",
                 f"runner.adaptive_concurrency={str(adaptive).lower()}",
                 f"model.timeout_s={timeout}", "runner.retry_delay_s=0.05",
                 "analysis.n_resamples=999"]
    aborted, burner = None, Burner() if server_name == "contended" else None
    with ProviderServer(policy) as server:
        wall = time.perf_counter()
        try:
            if burner:
                burner.__enter__()
            run_inprocess(*overrides, f"model.base_url={server.openai_base_url}",
                          results=folder / "results", run_id=run_id)
        except RunAborted as exc:
            aborted = str(exc).split(". Every response")[0]
        finally:
            if burner:
                burner.__exit__()
        seconds = time.perf_counter() - wall
        http = server.request_count
    return figures(folder / "results" / run_id, meter, http, seconds, aborted, timeout) | {
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
    """``t=0.00 4 start; t=0.41 6 grow; ...`` (the first and last entries when it is long)."""
    entries = [f"t={e['t']:.2f} {e['limit']} {e['reason']}" for e in conc.get("history", [])]
    if len(entries) > limit:
        entries = [*entries[:limit // 2], f"... {len(entries) - limit} more ...",
                   *entries[-limit // 2:]]
    dropped = f" (+{conc['dropped']} dropped by the record)" if conc.get("dropped") else ""
    return "; ".join(entries) + dropped


def timeline(conc: dict, seconds: float, steps: int = 10) -> str:
    """The limit in force at each tenth of the stage (from the recorded changes)."""
    changes = conc.get("history", [])
    points = []
    for k in range(steps + 1):
        t = seconds * k / steps
        limit = next((e["limit"] for e in reversed(changes) if e["t"] <= t), conc.get("start"))
        points.append(f"{t:.1f}s:{limit}")
    return " ".join(points)


def report(rows: list[dict], args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"runner.max_connections=16; fixed-100ms, lognormal (median 100 ms, sigma "
          f"{args.sigma}) and contended: {4 * args.room_items} cells, model.timeout_s="
          f"{args.room_timeout}; single-slot {args.service_ms:.0f} ms a request and 429 above "
          f"{args.capacity} in flight ({args.work_ms:.0f} ms a request): {4 * args.items} cells, "
          f"model.timeout_s={args.timeout}\n")
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
    ratios = {}
    for server in dict.fromkeys(r["server"] for r in rows):
        adaptive, fixed = (next(r for r in rows if r["server"] == server and r["adaptive"] is a)
                           for a in (True, False))
        conc = adaptive["concurrency"]
        print(f"\n{server}, adaptive limit over the stage: "
              f"{timeline(conc, adaptive['stage_s'] or 0.0)}")
        print(f"{server}, adaptive limit changes: {history(conc)}")
        if adaptive["stage_s"] and fixed["stage_s"]:
            rate = ((adaptive["received"] / adaptive["stage_s"])
                    / (fixed["received"] / fixed["stage_s"]))
            ratios[server] = rate
            print(f"{server}: adaptive/fixed req/s {rate:.2f} (> 1: adaptive faster); "
                  f"whole run fixed/adaptive {fixed['run_s'] / adaptive['run_s']:.2f}")
    print("\nchecks:")
    for server in ("fixed-100ms", "lognormal"):
        if server in ratios:
            ok = "yes" if ratios[server] >= 0.9 else "NO"
            print(f"- {server}: adaptive throughput {ratios[server]:.2f}x the fixed pool "
                  f"(>= 0.9: {ok})")
    for r in rows:
        if r["server"] == "contended" and r["adaptive"]:
            low = r["concurrency"].get("min")
            print(f"- contended: the adaptive limit's lowest {low} (> 1: "
                  f"{'yes' if low and low > 1 else 'NO'})")
        if r["server"] == "single-slot" and r["adaptive"]:
            bad = r["late"] + (r["timeouts"] or 0)
            print(f"- single-slot: {r['late']} late replies, {r['timeouts']} runner timeouts "
                  f"(none: {'yes' if bad == 0 else 'NO'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20,
                        help="capability items (4 cells each) for single-slot and 429-above-n")
    parser.add_argument("--room-items", type=int, default=300,
                        help="capability items for fixed-100ms, lognormal and contended")
    parser.add_argument("--timeout", type=float, default=0.5,
                        help="model.timeout_s for single-slot and 429-above-n, seconds")
    parser.add_argument("--room-timeout", type=float, default=30.0,
                        help="model.timeout_s for the servers with room, seconds")
    parser.add_argument("--sigma", type=float, default=1.0, help="lognormal latency spread")
    parser.add_argument("--service-ms", type=float, default=50.0, help="single-slot service time")
    parser.add_argument("--capacity", type=int, default=3, help="in flight before a 429")
    parser.add_argument("--work-ms", type=float, default=80.0, help="429 server's request time")
    parser.add_argument("--quick", action="store_true", help="a quarter of the cells")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated subset of {','.join(SERVERS)}")
    args = parser.parse_args()
    os.environ.pop("OPENAI_API_KEY", None)  # loopback servers only: never send a real key
    if args.quick:
        args.items, args.room_items = max(1, args.items // 4), max(1, args.room_items // 4)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # one small run first, not reported: the first run in a process pays one-time costs
        # (imports, first connections) inside its request stage, which would count against
        # whichever run came first
        warm = Path(tmp) / "warm-up"
        warm.mkdir()
        one_run("fixed-100ms", False, argparse.Namespace(**{**vars(args), "room_items": 10}),
                warm)
        for server in args.servers.split(","):
            if server not in SERVERS:
                parser.error(f"unknown server {server!r}; choose from {', '.join(SERVERS)}")
            for adaptive in (True, False):
                folder = Path(tmp) / f"{server}-{adaptive}"
                folder.mkdir()
                rows.append(one_run(server, adaptive, args, folder))
    report(rows, args)


if __name__ == "__main__":
    main()
