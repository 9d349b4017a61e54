"""Sweeps beyond one machine: Hydra's submitit launcher (``submitit_local`` here, the same code
path as ``submitit_slurm``) runs each job in its own process; a failed job keeps the others'
results, and re-running the sweep resumes every job by a run id derived from its overrides."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from consistency.design.sweep_ids import sweep_run_id
from provider_server import PolicyFault, ProviderServer
from publishing_support import honest, write_corpus

pytest.importorskip("hydra_plugins.hydra_submitit_launcher",
                    reason="hydra-submitit-launcher not installed (pip install -e .[slurm])")


def _design(server, corpus) -> list[str]:
    return ["model=openai", f"model.base_url={server.openai_base_url}",
            f"tasks.path={corpus.tasks}", f"conditions.path={corpus.conditions}",
            "model.max_retries=0", "checks.manipulation=false"]


def _sweep(server, corpus, results) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "consistency.cli", "run", "-m", "hydra/launcher=submitit_local",
         "hydra.launcher.timeout_min=10", *_design(server, corpus), f"results_dir={results}",
         "runner.quiet=true", "runner.error_budget=2", "runner.retries=0",
         "model.name=good-model,flaky-model"],
        capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)


def test_a_failed_job_keeps_the_others_and_a_rerun_resumes_each_job(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", n=6)
    results = tmp_path / "results"
    base = honest(corpus)
    outage = {"on": True}

    def policy(req):
        if req.model == "flaky-model" and outage["on"]:
            raise PolicyFault(503)
        return base(req)

    with ProviderServer(policy) as server:
        first = _sweep(server, corpus, results)
        assert first.returncode != 0            # the flaky job stopped (resumable)
        design = _design(server, corpus)
        good = results / sweep_run_id([*design, "model.name=good-model"])
        flaky = results / sweep_run_id([*design, "model.name=flaky-model"])
        assert json.loads((good / "summary.json").read_text())["responses"]["failed"] == 0
        assert (flaky / "journal.sqlite").is_file() and not (flaky / "summary.json").exists()
        sent_first = len(server.requests)

        outage["on"] = False
        second = _sweep(server, corpus, results)
        assert second.returncode == 0, second.stderr[-3000:]
        resent = server.requests[sent_first:]
    # the re-run found both folders: nothing for the finished job, only the flaky job's cells
    assert {req.model for req in resent} == {"flaky-model"}
    assert len(resent) == json.loads((flaky / "summary.json").read_text())["responses"]["expected"]
    assert sorted(p.name for p in results.iterdir() if p.name != "sweeps") == \
        sorted([good.name, flaky.name])


def test_sweep_run_ids_follow_the_design_overrides_only():
    a = sweep_run_id(["model.name=a", "epochs=2"])
    assert a == sweep_run_id(["epochs=2", "model.name=a", "results_dir=/x",
                              "hydra/launcher=submitit_slurm", "runner.max_connections=4"])
    assert a != sweep_run_id(["model.name=a", "epochs=3"])
    assert a.startswith("sweep-")
    digest = sweep_run_id(["model.name=a"]).removeprefix("sweep-")
    # a run_id given to a sweep becomes a folder-safe prefix of every job's id
    assert sweep_run_id(["model.name=a", "run_id=x"], prefix="nightly/../x") == \
        f"nightly-..-x-{digest}"
