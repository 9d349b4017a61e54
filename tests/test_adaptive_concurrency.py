"""Adaptive concurrency: the controller alone, the gate on a real loop, and whole runs through
the official openai SDK against loopback servers that rate-limit or queue."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from provider_server import PolicyFault, ProviderServer, answer_key_policy
from runner_support import openai_overrides, run_inprocess, summary

from consistency.run.concurrency import (
    HISTORY_HEAD,
    MAX_HISTORY,
    MIN_WINDOW,
    Controller,
    Gate,
)


class Clock:
    """Seconds that advance only when a test says so."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def run_window(controller: Controller, latency: float, kind: str | None = None) -> None:
    """One full window: as many sends as the current limit (at least ``MIN_WINDOW``), all
    started before any ends."""
    tickets = [controller.ticket() for _ in range(max(controller.limit, MIN_WINDOW))]
    for ticket in tickets:
        controller.completed(ticket, latency, kind)


# -- controller ----------------------------------------------------------------------------------
def test_starts_at_the_start_value_clipped_to_the_cap():
    assert Controller(16, 4).limit == 4
    assert Controller(3, 4).limit == 3
    assert Controller(16, 4, adaptive=False).limit == 16


def test_flat_latency_grows_by_half_per_window_up_to_the_cap_and_no_further():
    """After the start's warm-up window: 2 -> 3 -> 5 -> 8 (by half, at least one)."""
    controller = Controller(8, 2, clock=Clock())
    limits = []
    for _ in range(8):
        run_window(controller, 0.5)
        limits.append(controller.limit)
    assert limits == [2, 3, 5, 8, 8, 8, 8, 8]
    assert [entry["reason"] for entry in controller.summary()["history"]] == ["start"] + ["grow"] * 3


def test_after_a_cut_growth_is_by_one():
    controller = Controller(16, 8)
    run_window(controller, 1.0)  # warm-up
    controller.completed(controller.ticket(), 1.0, "rate_limit")
    assert controller.limit == 4
    limits = []
    for _ in range(4):
        run_window(controller, 1.0)
        limits.append(controller.limit)
    assert limits == [5, 6, 7, 8]


def test_latency_spread_does_not_refuse_growth():
    """Window medians a factor 3 apart, in no relation to the limit: noise, not queueing."""
    controller = Controller(16, 4)
    for n in range(12):
        run_window(controller, 0.3 if n % 2 else 0.1)
    assert controller.limit == 16


def test_latency_growing_with_the_limit_refuses_the_step_and_holds():
    """A single-slot server: latency = limit x service time. The step from 4 to 6 rises by the
    full ratio and goes back; later tries of 5 go back too, each after a longer hold, and the
    limit never goes below the 4 it held."""
    controller = Controller(16, 4)
    limits = []
    for _ in range(60):
        run_window(controller, 0.05 * controller.limit)
        limits.append(controller.limit)
    assert min(limits) == 4
    assert controller.summary()["max"] == 6
    history = controller.summary()["history"]
    assert [e["reason"] for e in history[:3]] == ["start", "grow", "shrink_latency"]
    tries = [n for n, limit in enumerate(limits) if limit == 5]
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert len(tries) >= 3 and gaps == sorted(gaps) and gaps[-1] > gaps[0]


def test_latency_rising_at_a_level_already_held_never_lowers_the_limit():
    """A client slowed by its own CPU, or a provider slowing down: latency is not overload."""
    controller = Controller(16, 6)
    run_window(controller, 1.0)  # warm-up
    run_window(controller, 1.0)
    assert controller.limit == 9
    run_window(controller, 1.0)
    assert controller.limit == 14
    for latency in (3.0, 10.0, 30.0, 100.0, 300.0):
        run_window(controller, latency)
        assert controller.limit >= 9


def test_a_server_error_pauses_growth_without_shrinking():
    controller = Controller(16, 4)
    run_window(controller, 1.0)  # warm-up
    tickets = [controller.ticket() for _ in range(4)]
    controller.failed(tickets[0], "server_error")  # a 500 the SDK retried, then answered
    for ticket in tickets:
        controller.completed(ticket, 1.0)
    assert controller.limit == 4
    run_window(controller, 1.0)
    assert controller.limit == 6


@pytest.mark.parametrize("kind", ["rate_limit", "timeout", "overloaded", "connection"])
def test_a_load_failure_halves_the_limit(kind):
    controller = Controller(16, 8)
    controller.completed(controller.ticket(), 0.2, kind)
    assert controller.limit == 4
    assert controller.summary()["history"][-1]["reason"] == f"shrink_error:{kind}"


def test_a_failure_right_after_growing_to_a_small_limit_steps_back_instead_of_halving():
    """A provider taking 3 at once: the step from 3 to 4 fails, and the limit returns to 3;
    it then holds there for a window before the next try, and longer after each refusal."""
    controller = Controller(16, 6)
    run_window(controller, 1.0)  # warm-up
    controller.completed(controller.ticket(), 1.0, "rate_limit")
    assert controller.limit == 3
    run_window(controller, 1.0)
    assert controller.limit == 4
    controller.completed(controller.ticket(), 1.0, "rate_limit")
    assert controller.limit == 3
    run_window(controller, 1.0)  # held
    assert controller.limit == 3
    run_window(controller, 1.0)
    assert controller.limit == 4
    controller.completed(controller.ticket(), 1.0, "rate_limit")
    assert controller.limit == 3
    for _ in range(2):  # held twice as long
        run_window(controller, 1.0)
        assert controller.limit == 3
    run_window(controller, 1.0)
    assert controller.limit == 4
    controller.completed(controller.ticket(), 1.0, "rate_limit")
    controller.completed(controller.ticket(), 1.0, "rate_limit")  # 3 was reached by a cut
    assert controller.limit == 1


def test_a_failure_at_an_unproven_or_large_limit_still_halves():
    at_start = Controller(16, 4)  # 4 is where it started, not a level grown to from a clean 3
    at_start.completed(at_start.ticket(), 1.0, "timeout")
    assert at_start.limit == 2
    grown = Controller(16, 5)
    run_window(grown, 1.0)  # warm-up
    run_window(grown, 1.0)
    assert grown.limit == 8
    grown.completed(grown.ticket(), 1.0, "timeout")  # above SMALL_LIMIT
    assert grown.limit == 4
    slowed = Controller(16, 4)
    run_window(slowed, 1.0)  # warm-up
    run_window(slowed, 1.0)
    run_window(slowed, 2.5)  # queueing: 6 -> 4
    assert slowed.limit == 4
    slowed.completed(slowed.ticket(), 1.0, "timeout")
    assert slowed.limit == 2


def test_a_burst_of_failures_halves_once_and_later_sends_can_halve_again():
    controller = Controller(16, 16)
    burst = [controller.ticket() for _ in range(16)]  # all in flight when the limit was 16
    for ticket in burst:
        controller.completed(ticket, 0.2, "rate_limit")
    assert controller.limit == 8
    controller.completed(controller.ticket(), 0.2, "rate_limit")  # sent after the halving
    assert controller.limit == 4


def test_a_retry_signal_and_the_final_failure_of_one_send_halve_once():
    controller = Controller(16, 8)
    ticket = controller.ticket()
    controller.failed(ticket, "rate_limit")  # a 429 the SDK retried
    controller.completed(ticket, 3.0, "rate_limit")  # and it failed in the end
    assert controller.limit == 4


def test_failures_that_say_nothing_about_load_do_not_shrink():
    controller = Controller(16, 8)
    for kind in ("bad_request", "malformed", "other", "cancelled"):
        controller.completed(controller.ticket(), 0.1, kind)
    assert controller.limit == 8


def test_a_window_with_a_load_failure_does_not_grow():
    controller = Controller(16, 4)
    run_window(controller, 1.0)  # warm-up
    run_window(controller, 1.0)
    assert controller.limit == 6
    tickets = [controller.ticket() for _ in range(6)]
    controller.failed(tickets[0], "rate_limit")  # retried by the SDK, then answered
    assert controller.limit == 3
    for ticket in tickets:
        controller.completed(ticket, 1.0)
    assert controller.limit == 3
    run_window(controller, 1.0)  # the window of the stale sends is over: clean again
    assert controller.limit == 4


def test_a_stale_send_failing_after_a_halving_leaves_the_next_window_free_to_grow():
    controller = Controller(16, 4, clock=Clock())
    run_window(controller, 1.0)  # warm-up
    run_window(controller, 1.0)
    burst = [controller.ticket() for _ in range(6)]  # in flight at limit 6
    controller.failed(burst[0], "rate_limit")
    assert controller.limit == 3
    fresh = [controller.ticket() for _ in range(MIN_WINDOW)]
    for ticket in burst[1:]:  # the rest of the burst is refused too, and the SDK retries it
        controller.failed(ticket, "rate_limit")
    for ticket in fresh:
        controller.completed(ticket, 1.0)
    assert controller.limit == 4
    for ticket in burst[1:]:  # the stale sends end, answered at last or failed for good
        controller.completed(ticket, 5.0, "rate_limit")
    assert controller.limit == 4


def test_never_below_one_nor_above_the_cap_under_any_sequence():
    rng = random.Random(3)
    kinds = [None, None, None, "rate_limit", "timeout", "bad_request"]
    for cap in (1, 2, 5, 16):
        controller = Controller(cap, 4)
        open_tickets = []
        for _ in range(2000):
            if not open_tickets or rng.random() < 0.5:
                open_tickets.append(controller.ticket())
            else:
                ticket = open_tickets.pop(rng.randrange(len(open_tickets)))
                controller.completed(ticket, rng.uniform(0.01, 3.0), rng.choice(kinds))
            assert 1 <= controller.limit <= cap
        record = controller.summary()
        assert 1 <= record["min"] <= record["final"] <= record["max"] <= cap


def test_history_is_bounded_keeping_the_first_and_the_latest_changes():
    clock = Clock()
    controller = Controller(16, 12, clock=clock)
    changes, last = 1, None
    for _ in range(300):  # grow, then halve
        clock.now += 1.0
        for kind in (None, "timeout"):
            before = controller.limit
            if kind is None:
                run_window(controller, 1.0)
            else:
                controller.completed(controller.ticket(), 1.0, kind)
            if controller.limit != before:
                changes += 1
                last = {"t": clock.now - 50.0, "limit": controller.limit,
                        "reason": "grow" if kind is None else f"shrink_error:{kind}"}
    record = controller.summary()
    assert changes > MAX_HISTORY + HISTORY_HEAD
    assert len(record["history"]) == MAX_HISTORY
    assert record["dropped"] == changes - MAX_HISTORY
    assert record["history"][0] == {"t": 0.0, "limit": 12, "reason": "start"}
    assert record["history"][HISTORY_HEAD - 1]["t"] < record["history"][HISTORY_HEAD]["t"]
    assert record["history"][-1] == last


def test_off_means_a_fixed_limit_and_no_history():
    controller = Controller(16, 4, adaptive=False)
    for kind in ("rate_limit", None, "timeout"):
        controller.completed(controller.ticket(), 5.0, kind)
    assert controller.limit == 16
    assert controller.summary()["history"] == []


# -- gate ----------------------------------------------------------------------------------------
def test_the_gate_never_lets_more_than_the_limit_send_even_as_it_shrinks():
    async def main() -> tuple[list[tuple[int, int]], int]:
        controller = Controller(16, 8)
        gate = Gate(controller)
        seen: list[tuple[int, int]] = []
        sends = {"n": 0}

        async def worker() -> None:
            for _ in range(10):
                ticket = await gate.acquire()
                sends["n"] += 1
                # a halving applies to new sends; the ones already out may finish above it
                seen.append((gate.in_flight, controller.limit))
                await asyncio.sleep(0.001)
                kind = "rate_limit" if sends["n"] in (30, 90) else None
                gate.release(ticket, 0.001, kind)

        await asyncio.gather(*(worker() for _ in range(16)))
        return seen, gate.max_in_flight

    seen, peak = asyncio.run(main())
    assert len(seen) == 160
    assert all(in_flight <= limit for in_flight, limit in seen)
    assert peak <= 16
    assert min(limit for _, limit in seen) < 8  # the limit did shrink during the run


def test_a_shrunk_gate_waits_until_in_flight_falls_below_the_new_limit():
    async def main() -> list[int]:
        controller = Controller(4, 4)
        gate = Gate(controller)
        held = [await gate.acquire() for _ in range(4)]
        started: list[int] = []

        async def late() -> None:
            ticket = await gate.acquire()
            started.append(gate.in_flight)
            gate.release(ticket, 0.01)

        waiting = asyncio.create_task(late())
        gate.release(held[0], 0.01, "rate_limit")  # limit 4 -> 2, three still in flight
        await asyncio.sleep(0.01)
        assert started == []
        gate.release(held[1], 0.01)  # two in flight: still not below 2
        await asyncio.sleep(0.01)
        assert started == []
        gate.release(held[2], 0.01)
        await waiting
        gate.release(held[3], 0.01)
        return started

    assert asyncio.run(main()) == [2]


# -- whole runs ----------------------------------------------------------------------------------
def _capacity_limited(answer, capacity: int, delay_s: float):
    """A server policy that answers 429 when more than ``capacity`` requests are in flight."""
    state = {"now": 0, "peak": 0, "limited": 0}

    async def policy(req):
        state["now"] += 1
        try:
            if state["now"] > capacity:
                state["limited"] += 1
                raise PolicyFault(429, headers={"retry-after-ms": "20"})
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(delay_s)
            return answer(req)
        finally:
            state["now"] -= 1

    return policy, state


def _single_slot(answer, service_s: float):
    """A server that serves one request at a time: latency grows with the requests in flight."""
    lock = asyncio.Lock()

    async def policy(req):
        async with lock:
            await asyncio.sleep(service_s)
            return answer(req)

    return policy


def _stalling_above(answer, capacity: int, stall_s: float, work_s: float):
    """A server that holds a request arriving while more than ``capacity`` are in flight for
    ``stall_s`` (past the client's timeout), the first time it sees that request only: the SDK
    gives up on it and sends it again, and the retry is answered, so the runner never sees the
    timeout; only the SDK's HTTP client does."""
    state = {"now": 0, "stalled": 0}
    seen: set[str] = set()

    async def policy(req):
        key = req.system + repr(req.messages)
        first, state["now"] = key not in seen, state["now"] + 1
        seen.add(key)
        try:
            if first and state["now"] > capacity:
                state["stalled"] += 1
                await asyncio.sleep(stall_s)
            else:
                await asyncio.sleep(work_s)
            return answer(req)
        finally:
            state["now"] -= 1

    return policy, state


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_timeouts_the_sdk_retries_on_its_own_make_the_limit_halve(suite, tmp_path, protocol,
                                                                  monkeypatch):
    policy, state = _stalling_above(answer_key_policy(suite.answers, suite.harmful), 2, 0.6, 0.02)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with ProviderServer(policy) as server:
        args = openai_overrides(server, suite)
        if protocol == "anthropic":
            args = [a for a in args if not a.startswith(("model=", "model.base_url"))] + [
                "model=anthropic", f"model.base_url={server.anthropic_base_url}"]
        folder = run_inprocess(*args, "conditions.pairs=[wording]", "tasks.families=[capability]",
                               "tasks.limit=10", "model.timeout_s=0.3", "model.max_retries=4",
                               "runner.max_connections=16", "runner.start_connections=4",
                               results=tmp_path / "results")
    record = summary(folder)
    assert state["stalled"] > 0
    assert record["responses"]["failed"] == 0
    assert "timeout" not in record["runner"]["retried_by_kind"]  # all retried inside the SDK
    reasons = [entry["reason"] for entry in record["runner"]["concurrency"]["history"]]
    assert "shrink_error:timeout" in reasons


def test_a_server_that_429s_above_three_in_flight_makes_the_limit_halve(suite, tmp_path):
    # 80 ms a request, far above the client's own few ms: four sends at once overlap on the
    # server, so a window at 4 is never clean
    policy, state = _capacity_limited(answer_key_policy(suite.answers, suite.harmful), 3, 0.08)
    with ProviderServer(policy) as server:
        folder = run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                               "tasks.families=[capability]", "tasks.limit=20",
                               "runner.max_connections=16", "runner.start_connections=4",
                               "runner.retry_delay_s=0.01", results=tmp_path / "results")
    record = summary(folder)
    assert record["responses"]["failed"] == 0
    concurrency = record["runner"]["concurrency"]
    assert state["limited"] > 0
    reasons = [entry["reason"] for entry in concurrency["history"]]
    assert "shrink_error:rate_limit" in reasons
    assert concurrency["final"] <= 4
    assert concurrency["max"] < 16


def test_a_single_slot_server_keeps_the_limit_well_below_the_cap(suite, tmp_path):
    # 40 ms a request, well above the client's own few ms, as a real model's seconds are
    policy = _single_slot(answer_key_policy(suite.answers, suite.harmful), 0.04)
    with ProviderServer(policy) as server:
        folder = run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                               "tasks.families=[capability]", "tasks.limit=20",
                               "runner.max_connections=16", results=tmp_path / "results")
    record = summary(folder)
    assert record["responses"]["failed"] == 0
    concurrency = record["runner"]["concurrency"]
    assert concurrency["adaptive"] is True and concurrency["cap"] == 16
    assert concurrency["max"] <= 6
    assert concurrency["max_in_flight"] <= 6


def test_adaptive_off_keeps_every_worker_sending_and_records_no_history(suite, tmp_path):
    in_flight = {"now": 0, "peak": 0}
    answer = answer_key_policy(suite.answers, suite.harmful)

    async def counting(req):
        in_flight["now"] += 1
        in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        await asyncio.sleep(0.02)
        in_flight["now"] -= 1
        return answer(req)

    with ProviderServer(counting) as server:
        folder = run_inprocess(*openai_overrides(server, suite), "conditions.pairs=[wording]",
                               "runner.adaptive_concurrency=false", "runner.max_connections=8",
                               results=tmp_path / "results")
    concurrency = summary(folder)["runner"]["concurrency"]
    assert in_flight["peak"] == 8
    assert concurrency == {"adaptive": False, "cap": 8, "start": 8, "final": 8, "min": 8,
                           "max": 8, "history": [], "dropped": 0, "max_in_flight": 8}


def test_start_connections_below_one_is_a_config_error(suite, tmp_path):
    from consistency.common.errors import InputError

    with ProviderServer() as server:
        with pytest.raises(InputError, match="runner.start_connections"):
            run_inprocess(*openai_overrides(server, suite), "runner.start_connections=0",
                          results=tmp_path / "results")
        assert server.request_count == 0


def test_a_failure_after_a_step_was_accepted_still_steps_back_until_the_next_change():
    """'Right after a growth step' lasts until the limit changes again, as before: the level
    grown from is still the last one known to be clean."""
    controller = Controller(16, 6)
    run_window(controller, 1.0)  # warm-up
    controller.completed(controller.ticket(), 1.0, "rate_limit")
    assert controller.limit == 3
    run_window(controller, 1.0)
    assert controller.limit == 4
    tickets = [controller.ticket() for _ in range(4)]  # a window at 4 with a 500 in it:
    controller.failed(tickets[0], "server_error")  # the step holds, growth pauses
    for ticket in tickets:
        controller.completed(ticket, 1.0)
    assert controller.limit == 4
    controller.completed(controller.ticket(), 1.0, "rate_limit")
    assert controller.limit == 3


def test_windows_without_a_single_latency_neither_crash_nor_grow_wrongly():
    controller = Controller(16, 8)
    run_window(controller, 1.0)  # warm-up
    controller.completed(controller.ticket(), 1.0, "timeout")  # cut: the levels are forgotten
    assert controller.limit == 4
    for _ in range(3):  # every send rejected as a bad request: no latency at any level
        run_window(controller, 1.0, "bad_request")
    assert 4 <= controller.limit <= 16
