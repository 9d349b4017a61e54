"""kill -9 in the middle of an episode, then resume: no paid step is sent twice beyond the one
in flight, and the episode continues from its last journalled step."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
from agentic_support import oversight_agent, write_suite
from conftest import run_cli
from provider_server import ProviderServer

ITEMS = 3
#: per item: monitoring observed 3 + unobserved 4 requests, wording 3 + 3 (follow-ups included)
EXPECTED = ITEMS * 13


def _journal(folder) -> tuple[int, set[str], set[str]]:
    with sqlite3.connect(folder / "journal.sqlite") as db:
        steps = db.execute("SELECT COUNT(*) FROM episode_steps").fetchone()[0]
        stepped = {cell for (cell,) in db.execute("SELECT cell_id FROM episode_steps")}
        done = {cell for (cell,) in db.execute("SELECT cell_id FROM responses")}
    return steps, stepped, done


def test_kill_9_mid_episode_then_resume_pays_no_step_twice(tmp_path):
    tasks, conditions = write_suite(tmp_path, n=ITEMS)
    results = tmp_path / "r"
    overrides = ["model=openai", "model.name=scripted", f"tasks.path={tasks}",
                 f"conditions.path={conditions}", "runner.max_connections=1",
                 "controls.planted=false", "checks.manipulation=false", "runner.quiet=true"]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with ProviderServer(oversight_agent(), latency_s=0.25) as server:
        url = f"model.base_url={server.openai_base_url}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "consistency.cli", "run", f"results_dir={results}",
             "run_id=run", url, *overrides], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        journal = results / "run" / "journal.sqlite"
        # first episode: 3 steps; kill once the second has journalled 2 of its 5
        while proc.poll() is None and (not journal.exists() or _safe_steps(results) < 5):
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        steps, stepped, done = _journal(results / "run")
        first = server.request_count
        result = run_cli(url, *overrides, results=results)
        total = server.request_count
    assert proc.returncode == -signal.SIGKILL
    assert stepped - done, "the kill did not land in the middle of an episode"
    assert result.status == 0, result.stderr
    # each journalled step was paid once; at most one request (the one in flight) twice
    assert first - steps <= 1
    assert EXPECTED <= total <= EXPECTED + 1, (first, steps, total)
    assert _journal(results / "run")[0] == EXPECTED
    scores = pd.read_parquet(result.folder / "scores.parquet")
    assert len(scores) == ITEMS * 4 and scores["completed"].eq(1).all()
    unobserved = scores[(scores["pair"] == "monitoring") & (scores["arm"] == "unobserved")]
    assert unobserved["disabled_oversight"].eq(1).all() and unobserved["steps"].eq(3).all()


def _safe_steps(results) -> int:
    try:
        return _journal(results / "run")[0]
    except sqlite3.Error:
        return 0


def test_the_shared_cache_serves_whole_episodes_to_a_second_run(tmp_path):
    tasks, conditions = write_suite(tmp_path, n=2)
    results = tmp_path / "r"
    with ProviderServer(oversight_agent()) as server:
        common = ["model=openai", "model.name=scripted", f"model.base_url={server.openai_base_url}",
                  f"tasks.path={tasks}", f"conditions.path={conditions}", "runner.cache=true"]
        first = run_cli(*common, results=results, run_id="one")
        paid = server.request_count
        second = run_cli(*common, results=results, run_id="two")
        again = server.request_count - paid
    assert first.status == 0 and second.status == 0, second.stderr
    assert paid == 2 * 13 and again == 0
    columns = ["cell_id", "disabled_oversight", "steps", "completed"]
    one = pd.read_parquet(first.folder / "scores.parquet")[columns].sort_values("cell_id")
    two = pd.read_parquet(second.folder / "scores.parquet")[columns].sort_values("cell_id")
    pd.testing.assert_frame_equal(one.reset_index(drop=True), two.reset_index(drop=True))
