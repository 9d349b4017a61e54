"""Sweeps a user can follow: each job's header names its overrides, Ctrl-C says how to resume a
sweep (the same command, not ``run_id=``), speed-only settings keep a job's run id, and a report
over the sweep's folder names the runs it had to leave out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import run_cli
from provider_server import ProviderServer, answer_key_policy

from consistency.publish.skipped_runs import skipped_runs
from consistency.design.sweep_ids import sweep_run_id


def sweep(server, suite, results, *extra: str, **popen) -> list[str]:
    return [sys.executable, "-m", "consistency.cli", "run", "-m", "model=openai",
            f"model.base_url={server.openai_base_url}", "model.name=scripted",
            f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}",
            "conditions.pairs=[wording]", f"results_dir={results}", "controls.planted=false",
            "checks.manipulation=false", *extra]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}


def test_each_sweep_job_header_names_its_overrides(suite, tmp_path):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        proc = subprocess.run(sweep(server, suite, tmp_path / "r", "runner.quiet=true",
                                    "tasks.limit=5", "model.temperature=0.0,0.7"),
                              capture_output=True, text=True, env=_env(), timeout=300,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    headers = [line for line in proc.stdout.splitlines() if line.startswith("sweep job ")]
    assert len(headers) == 2
    assert "model.temperature=0.0" in headers[0] and "model.temperature=0.7" in headers[1]
    assert all("tasks.limit=5" in h and "(run sweep-" in h for h in headers)


def test_speed_only_settings_do_not_change_a_jobs_run_id():
    design = ["model=local", "model.temperature=0.7"]
    base = sweep_run_id(design)
    for speed in ("model.threads=1", "model.threads=8", "model.slots=2", "model.timeout_s=300",
                  "runner.max_connections=2", "runner=batch"):
        assert sweep_run_id([*design, speed]) == base, speed
    # what is asked still changes it
    assert sweep_run_id([*design, "model.max_tokens=64"]) != base


def test_ctrl_c_in_a_sweep_says_to_rerun_the_same_command(suite, tmp_path):
    results = tmp_path / "r"
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful), latency_s=0.05) as server:
        proc = subprocess.Popen(sweep(server, suite, results, "runner.quiet=true",
                                      "runner.max_connections=1", "runner.adaptive_concurrency=false",
                                      "model.temperature=0.0,0.7"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env(), stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while server.request_count < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        done = run_cli(f"model.base_url={server.openai_base_url}", "model=openai",
                       "model.name=scripted", f"tasks.path={suite.tasks}",
                       f"conditions.path={suite.conditions}", "conditions.pairs=[wording]",
                       "tasks.limit=5", results=results, run_id="finished")
    message = " ".join(stderr.split())
    assert proc.returncode != 0
    assert "re-running the same sweep command" in message, message
    assert "run_id=" not in message
    # the report over the sweep folder names the unfinished job and why it left it out
    assert done.status == 0, done.stderr
    skipped = skipped_runs([results])
    assert len(skipped) == 1 and skipped[0][0].name.startswith("sweep-")
    assert skipped[0][1].startswith("unfinished:")
    report = subprocess.run([sys.executable, "-m", "consistency.cli", "report", str(results),
                             "--out", str(tmp_path / "out"), "--format", "md"],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    line = next(line for line in report.stderr.splitlines() if line.startswith("skipped "))
    assert str(skipped[0][0]) in line and "unfinished" in line
