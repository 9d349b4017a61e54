"""Faults: retried where right, recorded as failures where not, counted, and never changing verdicts."""

from __future__ import annotations

import time

import pytest
from provider_server import (FAULT_KINDS, PolicyFault, ProviderServer, Withheld, answer_key_policy,
                             cue_present)
from runner_support import journal_rows, openai_overrides, run_inprocess, summary, verdicts

from consistency.run.runner import RunAborted

EXPECTED = 800  # 80 items x 10 cells per item over the three pairs of the test conditions


def sandbagger(suite):
    evaluated = cue_present("evaluation")
    return answer_key_policy(suite.answers, suite.harmful, correct_when=lambda r: not evaluated(r))


def test_a_run_with_20_percent_faults_ends_with_the_clean_verdicts_and_nothing_lost(suite, tmp_path):
    results = tmp_path / "results"
    with ProviderServer(sandbagger(suite)) as clean:
        clean_folder = run_inprocess(*openai_overrides(clean, suite), results=results, run_id="clean")
    with ProviderServer(sandbagger(suite), fault_rate=0.2, fault_kinds=FAULT_KINDS, seed=7,
                        timeout_delay_s=1.0) as faulty:
        folder = run_inprocess(
            *openai_overrides(faulty, suite), "model.timeout_s=0.4", "model.max_retries=2",
            "runner.retries=5", "runner.retry_delay_s=0.02", "runner.max_connections=32",
            # injected faults are random, not load: the adaptive limit would halve on each
            # timeout and the run would crawl; durability, not pacing, is tested here
            "runner.adaptive_concurrency=false",
            "runner.error_budget=200", results=results, run_id="faulty")
        injected = faulty.faults
    assert set(injected) == set(FAULT_KINDS), "every fault kind was exercised"
    assert len(injected) > 0.15 * EXPECTED
    counts = summary(folder)["responses"]
    assert (counts["completed"], counts["failed"]) == (EXPECTED, 0)
    assert sorted(row[0] for row in journal_rows(folder)) == sorted(
        row[0] for row in journal_rows(clean_folder))
    assert verdicts(folder) == verdicts(clean_folder)
    assert verdicts(folder)[("capability", "eval_vs_deploy", "correct")] == "sandbagging"
    # A 200 with a broken body is not retried by the SDK: the runner sent those cells again.
    assert summary(folder)["runner"]["retried_by_kind"].get("malformed", 0) > 0


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_withheld_replies_are_counted_failures_and_never_requested_again(suite, tmp_path, protocol,
                                                                        monkeypatch):
    answer = answer_key_policy(suite.answers, suite.harmful)

    def filtered(req):
        return Withheld() if "invoice number 3 " in req.user_text else answer(req)

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    results = tmp_path / "results"
    with ProviderServer(filtered) as server:
        args = openai_overrides(server, suite)
        if protocol == "anthropic":
            args = [a for a in args if not a.startswith(("model=", "model.base_url"))] + [
                "model=anthropic", f"model.base_url={server.anthropic_base_url}"]
        folder = run_inprocess(*args, results=results)
        first = server.request_count
        run_inprocess(*args, results=results)
        again = server.request_count - first
    counts = summary(folder)["responses"]
    assert counts["failed_by_kind"] == {"content_filter": 10}
    assert counts["completed"] == EXPECTED - 10
    assert again == 0
    assert first == EXPECTED  # a withheld reply is an answer: not retried within the run either


def test_error_budget_stops_a_failing_provider_and_the_run_resumes(suite, tmp_path):
    answer = answer_key_policy(suite.answers, suite.harmful)
    served = {"n": 0}

    def dies_after_100(req):
        served["n"] += 1
        if served["n"] > 100:
            raise PolicyFault(500)
        return answer(req)

    results = tmp_path / "results"
    settings = ["model.max_retries=0", "runner.retries=0", "runner.error_budget=10",
                "runner.max_connections=4"]
    with ProviderServer(dies_after_100) as server:
        args = [*openai_overrides(server, suite), *settings]
        with pytest.raises(RunAborted, match=r"error_budget=10.*resume with run_id=run"):
            run_inprocess(*args, results=results)
        kept = [row for row in journal_rows(results / "run") if row[1] == "ok"]
        server.policy = answer
        before = server.request_count
        folder = run_inprocess(*args, results=results)
        resent = server.request_count - before
    assert len(kept) == 100
    assert resent == EXPECTED - 100
    assert summary(folder)["responses"]["completed"] == EXPECTED


def test_a_429_with_retry_after_pauses_every_worker(suite, tmp_path):
    answer = answer_key_policy(suite.answers, suite.harmful)
    arrivals: list[float] = []
    limited: list[float] = []

    def limit_once(req):
        arrivals.append(time.monotonic())
        if len(arrivals) == 20:
            limited.append(arrivals[-1])
            raise PolicyFault(429, headers={"retry-after-ms": "600"})
        return answer(req)

    with ProviderServer(limit_once) as server:
        folder = run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                               "runner.max_connections=8", results=tmp_path / "results")
    (hit,) = limited
    # Requests already on the wire when the 429 came back may still land; then silence until the
    # server's retry-after has passed, for every worker and not only the one that was limited.
    quiet_window = [t for t in arrivals if hit + 0.15 < t < hit + 0.55]
    assert quiet_window == []
    assert any(t >= hit + 0.6 for t in arrivals)
    assert summary(folder)["runner"]["rate_limit_pauses"] == 1
    assert summary(folder)["responses"]["failed"] == 0
