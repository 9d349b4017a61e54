"""Never lose, never double-pay: kill -9 and resume, two processes at once, the shared cache."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pandas as pd
from provider_server import ProviderServer, answer_key_policy
from runner_support import cell_key, openai_overrides, run_inprocess, summary, verdicts

EXPECTED = 800
CONNECTIONS = 4


def _cli(server, suite, results, run_id, *extra):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.Popen(
        [sys.executable, "-m", "consistency.cli", "run", *openai_overrides(server, suite),
         f"results_dir={results}", f"run_id={run_id}", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        stdin=subprocess.DEVNULL)


def _keys_of(frame: pd.DataFrame, cells) -> set[tuple[str, str]]:
    """Server-side identity (system text, user text) of the given plan cells."""
    keys = set()
    for request_json in frame.set_index("cell_id").loc[sorted(cells), "request_json"]:
        messages = json.loads(request_json)["messages"]
        system = "\n".join(m["content"] for m in messages if m["role"] == "system")
        keys.add((system, messages[-1]["content"]))
    return keys


def test_kill_9_mid_run_then_resume_requests_only_the_missing_cells(suite, tmp_path):
    seed = random.SystemRandom().randrange(10**6)
    kill_after = random.Random(seed).randrange(40, 700)
    results = tmp_path / "results"
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful), latency_s=0.02) as server:
        proc = _cli(server, suite, results, "run", f"runner.max_connections={CONNECTIONS}")
        while server.request_count < kill_after and proc.poll() is None:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        first_phase = [cell_key(r) for r in server.requests]
        with sqlite3.connect(results / "run" / "journal.sqlite") as db:
            kept = {cell for (cell,) in db.execute("SELECT cell_id FROM responses")}
        server.reset()
        folder = run_inprocess(*openai_overrides(server, suite), results=results)
        second_phase = [cell_key(r) for r in server.requests]
    note = f"seed {seed}, killed after {kill_after} requests"
    assert proc.returncode == -signal.SIGKILL, note
    assert 0 < len(kept) < EXPECTED, note
    frame = pd.read_parquet(folder / "responses.parquet")
    # No gaps and no duplicates in the final data.
    assert frame["cell_id"].is_unique and len(frame) == EXPECTED, note
    assert (frame["status"] == "ok").all(), note
    # The resume asked for exactly the cells the killed run had not stored, each once.
    missing = set(frame["cell_id"]) - kept
    assert Counter(second_phase) == Counter(_keys_of(frame, missing)), note
    # Paid twice: only requests that were in flight when the process died.
    twice = set(first_phase) & set(second_phase)
    assert len(twice) <= CONNECTIONS, note
    assert summary(folder)["responses"]["completed"] == EXPECTED


def test_two_sweep_processes_sharing_a_results_dir_and_cache_corrupt_nothing(suite, tmp_path):
    results = tmp_path / "results"
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful), latency_s=0.002) as server:
        procs = [_cli(server, suite, results, f"job{n}", "runner.cache=true",
                      "runner.max_connections=8") for n in range(2)]
        outcomes = [proc.communicate(timeout=300) for proc in procs]
        sent = server.request_count
    for proc, (_, err) in zip(procs, outcomes):
        assert proc.returncode == 0, err
    for name in ("job0/journal.sqlite", "job1/journal.sqlite", "cache.sqlite"):
        with sqlite3.connect(results / name) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",), name
    for job in ("job0", "job1"):
        frame = pd.read_parquet(results / job / "responses.parquet")
        assert frame["cell_id"].is_unique and len(frame) == EXPECTED
        assert summary(results / job)["responses"]["failed"] == 0
    with sqlite3.connect(results / "cache.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone() == (EXPECTED,)
    # The cache is read before requests start, so a job that started second may still overlap.
    assert EXPECTED <= sent <= 2 * EXPECTED
    assert verdicts(results / "job0") == verdicts(results / "job1")



def test_a_second_process_on_the_same_run_id_stops_instead_of_paying_twice(suite, tmp_path):
    results = tmp_path / "results"
    # 50 ms a request at 4 in flight: the first run lasts about 10 s, well past the second's start
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful), latency_s=0.05) as server:
        first = _cli(server, suite, results, "shared", f"runner.max_connections={CONNECTIONS}")
        while server.request_count < 20 and first.poll() is None:
            time.sleep(0.005)
        second = _cli(server, suite, results, "shared")
        _, err = second.communicate(timeout=120)
        assert first.poll() is None, "the first run ended before the second was refused"
        _, first_err = first.communicate(timeout=300)
        sent = [cell_key(r) for r in server.requests]
        # the lock ends with its process: the same run_id now resumes (nothing left to send)
        folder = run_inprocess(*openai_overrides(server, suite), results=results, run_id="shared")
    assert second.returncode == 2, err
    assert "run_id: run shared is being run by process" in " ".join(err.split())
    assert f"process {first.pid}" in err and "Traceback" not in err
    assert first.returncode == 0, first_err
    # every cell was paid for once: the refused process sent nothing
    assert len(sent) == len(set(sent)) == EXPECTED
    assert summary(folder)["runner"]["requests_sent"] == 0

def test_with_the_shared_cache_on_a_second_identical_run_sends_nothing(suite, tmp_path):
    results = tmp_path / "results"
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        args = [*openai_overrides(server, suite), "runner.cache=true"]
        first = run_inprocess(*args, results=results, run_id="first")
        sent_first = server.request_count
        second = run_inprocess(*args, results=results, run_id="second")
        sent_second = server.request_count - sent_first
        run_inprocess(*openai_overrides(server, suite), results=results, run_id="uncached")
        sent_uncached = server.request_count - sent_first - sent_second
    assert (sent_first, sent_second, sent_uncached) == (EXPECTED, 0, EXPECTED)
    assert summary(second)["runner"]["served_from_cache"] == EXPECTED
    assert summary(second)["cost"]["responses_from_cache"] == EXPECTED
    assert summary(second)["cost"]["input_tokens"] == 0
    assert summary(first)["cost"]["input_tokens"] > 0
    assert verdicts(first) == verdicts(second)


def test_connections_are_bounded_and_arms_interleaved(suite, tmp_path):
    answer = answer_key_policy(suite.answers, suite.harmful)
    in_flight = {"now": 0, "peak": 0}
    arms: list[str] = []

    async def counting(req):
        in_flight["now"] += 1
        in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        arms.append("observed" if _observed(req.system) else "unobserved")
        await asyncio.sleep(0.01)
        in_flight["now"] -= 1
        return answer(req)

    with ProviderServer(counting) as server:
        run_inprocess(*openai_overrides(server, suite), "runner.max_connections=5",
                      results=tmp_path / "results")
    assert in_flight["peak"] == 5
    balance = 0
    for arm in arms:  # never more than a few requests of one arm ahead of the other
        balance += 1 if arm == "observed" else -1
        assert abs(balance) <= 5


def _observed(system: str) -> bool:
    return any(cue in system for cue in ("evaluation", "Free tier", "You are a helpful assistant",
                                         "who helps people"))
