"""Hydra -m sweeps run one complete run per combination, each in its own run folder."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pandas as pd

from provider_server import ProviderServer, answer_key_policy


def test_multirun_sweep_writes_one_run_per_job(suite, tmp_path):
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "consistency.cli", "run", "-m", "model=openai",
             f"model.base_url={server.openai_base_url}", "model.name=scripted",
             f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}",
             "conditions.pairs=[wording]", f"results_dir={results}", "runner.quiet=true",
             "model.temperature=0.0,0.7"],
            capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    summaries = sorted(results.glob("*/summary.json"))
    assert len(summaries) == 2
    temperatures = set()
    for path in summaries:
        config = (path.parent / "config.yaml").read_text()
        temperatures.add(next(line for line in config.splitlines() if "temperature" in line))
        assert json.loads(path.read_text())["responses"]["failed"] == 0
    assert temperatures == {"  temperature: 0.0", "  temperature: 0.7"}


def test_joblib_launcher_runs_jobs_in_parallel_processes_without_corruption(suite, tmp_path):
    """The sweep the issue names: ``hydra/launcher=joblib`` runs the jobs in two worker processes
    at once, both writing one results folder and one shared cache."""
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful), latency_s=0.01) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "consistency.cli", "run", "-m", "hydra/launcher=joblib",
             "hydra.launcher.n_jobs=2", "model=openai", f"model.base_url={server.openai_base_url}",
             "model.name=scripted", f"tasks.path={suite.tasks}",
             f"conditions.path={suite.conditions}", f"results_dir={results}", "runner.quiet=true",
             "runner.cache=true", "runner.max_connections=4", "model.temperature=0.0,0.7",
                 "controls.planted=false"],
            capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
        order = [req.params["temperature"] for req in server.requests]
    assert proc.returncode == 0, proc.stderr
    # both jobs were sending at the same time: the temperatures alternate many times
    switches = sum(a != b for a, b in zip(order, order[1:]))
    assert set(order) == {0.0, 0.7} and switches > 20, switches
    folders = sorted(path.parent for path in results.glob("*/summary.json"))
    assert len(folders) == 2
    for folder in folders:
        with sqlite3.connect(folder / "journal.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        frame = pd.read_parquet(folder / "responses.parquet")
        assert frame["cell_id"].is_unique and (frame["status"] == "ok").all()
        assert json.loads((folder / "summary.json").read_text())["responses"]["failed"] == 0
    with sqlite3.connect(results / "cache.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        cached = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert cached == len(order) == 2 * len(frame)  # two temperatures: no request is shared
