"""Past the error budget the runner stops sending: through the official openai SDK against the
loopback server, a provider that only answers 429 gets the budget's attempts and those already
in flight, not every cell (let alone every cell again)."""

from __future__ import annotations

import asyncio

import pytest
from provider_server import PolicyFault, ProviderServer
from runner_support import openai_overrides, run_inprocess

from consistency.run.runner import RunAborted

#: the budget, and the adaptive gate's first limit: at most this many requests are in flight
#: (the workers number 12, one a cell, so most of them wait at the gate with their cell)
BUDGET, IN_FLIGHT = 3, 4


def _always(status: int, retry_after_ms: str | None, delay_s: float = 0.02):
    headers = {"retry-after-ms": retry_after_ms} if retry_after_ms else {}

    async def policy(req):
        await asyncio.sleep(delay_s)
        raise PolicyFault(status, headers=headers)

    return policy


def _run(server, suite, tmp_path, *extra: str) -> None:
    with pytest.raises(RunAborted, match="error budget"):
        run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                      "tasks.families=[capability]", "tasks.limit=3",  # 12 cells
                      f"runner.error_budget={BUDGET}", "runner.max_connections=16",
                      f"runner.start_connections={IN_FLIGHT}", "runner.retry_delay_s=0.01",
                      *extra, results=tmp_path / "results")


def test_a_server_answering_only_429_gets_the_budget_and_what_was_in_flight(suite, tmp_path):
    """No SDK retries: each runner attempt is one request. The third failure in a row spends
    the budget; at that moment at most IN_FLIGHT - 1 other requests are on the wire. Workers
    waiting at the gate or in the shared 429 pause must not send after it (they used to send
    every cell: 12 requests)."""
    with ProviderServer(_always(429, "30")) as server:
        _run(server, suite, tmp_path, "model.max_retries=0")
        count = server.request_count
    assert BUDGET <= count <= BUDGET + IN_FLIGHT - 1


def test_the_sdk_retries_of_sends_in_flight_stop_with_the_run(suite, tmp_path):
    """With the SDK retrying each 429 twice (three requests an attempt) and no retry-after (the
    shared pause doubles from 0.5 s), the budget is spent after three attempts; what else was
    in flight is abandoned rather than retried on, so the server sees at most three requests for
    each of the budget's attempts and of the ones in flight (it used to see every cell's three,
    36, over minutes of doubling pauses)."""
    with ProviderServer(_always(429, None)) as server:
        _run(server, suite, tmp_path, "model.max_retries=2")
        count = server.request_count
    assert count <= 3 * (BUDGET + IN_FLIGHT - 1)


def test_a_stopped_run_resumes_every_cell_it_did_not_receive(suite, tmp_path):
    """What the stop abandoned is not lost: the same run_id later requests every cell."""
    with ProviderServer(_always(429, "30")) as server:
        _run(server, suite, tmp_path, "model.max_retries=0")
    with ProviderServer() as server:
        folder = run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                               "tasks.families=[capability]", "tasks.limit=3",
                               results=tmp_path / "results")
        assert server.request_count == 12
    assert (folder / "summary.json").exists()


def test_a_worker_bug_stops_the_run_instead_of_waiting_for_every_cell(suite, tmp_path,
                                                                      monkeypatch):
    """A bug in a worker (not a provider failure) ends the run with that error, and the other
    workers are cancelled rather than left to send the rest of the plan."""
    import consistency.run.runner as runner

    calls = {"n": 0}
    real = runner._record

    def broken(cell, reply, latency):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("a bug while recording")
        return real(cell, reply, latency)

    monkeypatch.setattr(runner, "_record", broken)
    with ProviderServer() as server:
        with pytest.raises(RuntimeError, match="a bug while recording"):
            run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                          "tasks.families=[capability]", "tasks.limit=20",
                          "runner.max_connections=4", "runner.adaptive_concurrency=false",
                          results=tmp_path / "results")
        assert server.request_count < 20
