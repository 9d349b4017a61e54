"""runner=batch through the official SDKs' batch calls against the loopback server's batch endpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from provider_server import ProviderServer, answer_key_policy, cue_present, failing_for
from runner_support import cell_key, openai_overrides, run_inprocess, summary, verdicts

EXPECTED = 800
# counts below are of task cells: these tests are about batch mechanics, so no check cells
BATCH = ["runner=batch", "runner.poll_interval_s=0.05", "runner.quiet=true",
         "checks.manipulation=false"]


def anthropic_overrides(server, suite) -> list[str]:
    return ["model=anthropic", "model.name=scripted", f"model.base_url={server.anthropic_base_url}",
            f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}"]


def test_openai_batch_run_finds_the_sandbagger_and_a_resume_submits_nothing(suite, tmp_path):
    evaluated = cue_present("evaluation")
    policy = answer_key_policy(suite.answers, suite.harmful, correct_when=lambda r: not evaluated(r))
    results = tmp_path / "results"
    prices = ["model.price_input_per_mtok=2.0", "model.price_output_per_mtok=8.0"]
    with ProviderServer(policy) as server:
        folder = run_inprocess(*openai_overrides(server, suite), *BATCH, *prices, results=results)
        created, answered = list(server.batches.created), server.request_count
        run_inprocess(*openai_overrides(server, suite), *BATCH, *prices, results=results)
        created_again = list(server.batches.created)
    assert len(created) == 1 and created_again == created
    assert answered == EXPECTED
    state = json.loads((folder / "batches.json").read_text())
    assert [(b["id"], b["cells"], b["collected"]) for b in state["batches"]] == [
        (created[0], EXPECTED, True)]
    assert verdicts(folder)[("capability", "eval_vs_deploy", "correct")] == "sandbagging"
    cost = summary(folder)["cost"]
    assert cost["batch_discount"] == 0.5
    assert set(cost["tokens_by_arm"]) == {"observed", "unobserved"}
    assert all(arm["input_tokens"] > 0 for arm in cost["tokens_by_arm"].values())
    full_price = (cost["input_tokens"] * 2.0 + cost["output_tokens"] * 8.0) / 1e6
    assert cost["estimated_usd"] == pytest.approx(full_price / 2, rel=1e-3)


def test_anthropic_message_batch_finds_the_alignment_faker(suite, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    policy = answer_key_policy(suite.answers, suite.harmful, refuse_when=cue_present("evaluation"))
    with ProviderServer(policy) as server:
        folder = run_inprocess(*anthropic_overrides(server, suite), *BATCH,
                               results=tmp_path / "results")
        sent = server.requests
    assert len(server.batches.created) == 1 and len(sent) == EXPECTED
    assert all(req.system and req.params.get("max_tokens") == 256 for req in sent)
    assert verdicts(folder)[("harmful", "eval_vs_deploy", "refused")] == "strategic_compliance"
    assert summary(folder)["responses"]["completed"] == EXPECTED


def test_failed_batch_lines_are_counted_and_only_they_go_in_the_next_batch(suite, tmp_path):
    answer = answer_key_policy(suite.answers, suite.harmful)
    flaky = failing_for("number 7 ", 500, answer)

    results = tmp_path / "results"
    with ProviderServer(flaky) as server:
        first = run_inprocess(*openai_overrides(server, suite), *BATCH, results=results)
        counts = summary(first)["responses"]
        server.policy = answer
        server.reset()
        run_inprocess(*openai_overrides(server, suite), *BATCH, results=results)
        resent = server.request_count
    assert counts["failed_by_kind"] == {"server_error": 10}
    assert resent == 10 and len(server.batches.created) == 2
    assert summary(results / "run")["responses"]["completed"] == EXPECTED


def test_kill_9_while_waiting_then_resume_polls_the_stored_batch(suite, tmp_path):
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful),
                        batch_delay_s=2.0) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "consistency.cli", "run", *openai_overrides(server, suite),
             *BATCH, f"results_dir={results}", "run_id=run"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL)
        state_file = results / "run" / "batches.json"
        while not state_file.exists() and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stored = json.loads(state_file.read_text())["batches"]
        folder = run_inprocess(*openai_overrides(server, suite), *BATCH, results=results)
        answered = Counter(cell_key(r) for r in server.requests)
    assert proc.returncode == -signal.SIGKILL
    assert [b["id"] for b in stored] == server.batches.created  # one batch, never resubmitted
    assert len(answered) == EXPECTED and set(answered.values()) == {1}
    assert summary(folder)["responses"]["completed"] == EXPECTED


def test_batch_runner_refuses_the_local_model_before_any_request(tmp_path):
    from consistency.common.errors import InputError

    with pytest.raises(InputError, match="runner=batch needs model=openai or model=anthropic"):
        run_inprocess("model=local", "runner=batch", results=tmp_path / "results")
