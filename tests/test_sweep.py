"""Hydra -m sweeps run one complete run per combination, each in its own run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
