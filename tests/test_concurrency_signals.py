"""Which server signals move the adaptive limit, through the official openai SDK against the
loopback server: overload (503, and 529/504 alike) cuts it; another 5xx only pauses its growth."""

from __future__ import annotations

import asyncio

import pytest
from provider_server import PolicyFault, ProviderServer, answer_key_policy
from runner_support import openai_overrides, run_inprocess, summary


def _every_nth_fails(answer, status: int, every: int):
    """Answer ``status`` to every ``every``-th request (the SDK retries it and is answered)."""
    count = {"n": 0, "failed": 0}

    async def policy(req):
        count["n"] += 1
        await asyncio.sleep(0.01)
        if count["n"] % every == 0:
            count["failed"] += 1
            raise PolicyFault(status, headers={"retry-after-ms": "1"})
        return answer(req)

    return policy, count


def _full_above(answer, capacity: int, status: int):
    state = {"now": 0, "refused": 0}

    async def policy(req):
        state["now"] += 1
        try:
            if state["now"] > capacity:
                state["refused"] += 1
                raise PolicyFault(status, headers={"retry-after-ms": "5"})
            await asyncio.sleep(0.05)
            return answer(req)
        finally:
            state["now"] -= 1

    return policy, state


def _run(server, suite, tmp_path, *extra: str) -> dict:
    folder = run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                           "tasks.families=[capability]", "tasks.limit=20",
                           "runner.max_connections=16", "runner.start_connections=4",
                           "runner.retry_delay_s=0.01", "model.max_retries=4", *extra,
                           results=tmp_path / "results")
    return summary(folder)


def test_an_internal_server_error_pauses_growth_but_never_shrinks_the_limit(suite, tmp_path):
    """500s that say nothing of load (every 5th request, retried and answered): the limit
    must not fall below where it started; it used to halve at each."""
    policy, count = _every_nth_fails(answer_key_policy(suite.answers, suite.harmful), 500, 5)
    with ProviderServer(policy) as server:
        record = _run(server, suite, tmp_path)
    concurrency = record["runner"]["concurrency"]
    assert count["failed"] > 3
    assert record["responses"]["failed"] == 0
    assert concurrency["min"] == 4
    # (a growth step may still be refused for latency on a busy machine: that is not a 500)
    assert not [e for e in concurrency["history"] if e["reason"].startswith("shrink_error")]


@pytest.mark.parametrize("status", [503, 529])
def test_an_overloaded_server_cuts_the_limit(suite, tmp_path, status):
    policy, state = _full_above(answer_key_policy(suite.answers, suite.harmful), 2, status)
    with ProviderServer(policy) as server:
        record = _run(server, suite, tmp_path)
    concurrency = record["runner"]["concurrency"]
    assert state["refused"] > 0
    assert record["responses"]["failed"] == 0
    assert "shrink_error:overloaded" in [e["reason"] for e in concurrency["history"]]
    assert concurrency["final"] <= 3
