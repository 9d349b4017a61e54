"""Client-side pacing and the shared pause after a 429, on an injected clock (no waiting)."""

from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timezone

import pytest
from provider_server import ProviderServer, answer_key_policy
from runner_support import openai_overrides, run_inprocess

from consistency.common.errors import InputError
from consistency.providers.ratelimit import MAX_PAUSE_S, RateLimiter, estimate_tokens, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_spaces_requests_evenly():
    clock = Clock()
    limiter = RateLimiter(rpm=120, clock=clock)
    delays = [limiter.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])


def test_tokens_per_minute_delays_the_request_after_a_large_one():
    clock = Clock()
    limiter = RateLimiter(tpm=6000, clock=clock)  # 100 tokens a second
    assert limiter.reserve(300) == 0.0
    assert limiter.reserve(10) == pytest.approx(3.0)
    clock.now += 10  # idle time is not banked beyond the schedule
    assert limiter.reserve(10) == 0.0


def test_no_limits_means_no_waiting():
    limiter = RateLimiter(clock=Clock())
    assert not limiter.active
    assert [limiter.reserve(10_000) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_429_pauses_everyone_for_retry_after_and_backs_off_without_one():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert limiter.on_rate_limited(2.0) == 2.0
    assert limiter.reserve() == pytest.approx(2.0)
    clock.now += 5
    # No retry-after: 0.5 s, doubling with each 429 in a row, capped; a success resets it.
    limiter.on_success()
    pauses = [limiter.on_rate_limited(None) for _ in range(10)]
    assert pauses[:3] == [0.5, 1.0, 2.0] and pauses[-1] == MAX_PAUSE_S
    limiter.on_success()
    assert limiter.on_rate_limited(None) == 0.5


@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after": "3"}, 3.0),
    ({"retry-after-ms": "x", "retry-after": "1.5"}, 1.5),
    ({}, None),
    ({"retry-after": "soon"}, None),
])
def test_retry_after_headers_in_every_form(headers, seconds):
    assert retry_after_seconds(headers) == seconds


def test_retry_after_as_an_http_date():
    when = datetime(2030, 1, 1, 0, 0, 10, tzinfo=timezone.utc)
    now = datetime(2030, 1, 1, 0, 0, 0, tzinfo=timezone.utc).timestamp()
    assert retry_after_seconds({"retry-after": format_datetime(when, usegmt=True)},
                               now=now) == pytest.approx(10.0)


def test_token_estimate_counts_prompt_characters_and_the_reply_cap():
    messages = [{"role": "system", "content": "x" * 40}, {"role": "user", "content": "y" * 40}]
    assert estimate_tokens(messages, 256) == 20 + 1 + 256


def test_requests_per_minute_paces_a_real_run(suite, tmp_path):
    arrivals = []
    answer = answer_key_policy(suite.answers, suite.harmful)

    def timed(req):
        import time

        arrivals.append(time.monotonic())
        return answer(req)

    with ProviderServer(timed) as server:
        run_inprocess(*openai_overrides(server, suite), "tasks.families=[capability]",
                      "conditions.pairs=[training_tier]", "runner.requests_per_minute=3000",
                      "runner.max_connections=16", results=tmp_path / "results")
    # 80 requests at 50 a second: the schedule cannot fit them in less than 79 gaps of 20 ms.
    assert len(arrivals) == 80
    assert arrivals[-1] - arrivals[0] >= 79 * 0.02 * 0.95


def test_a_bad_rate_setting_is_an_input_error(suite, tmp_path):
    with ProviderServer() as server:
        with pytest.raises(InputError, match="runner.requests_per_minute"):
            run_inprocess(*openai_overrides(server, suite), "runner.requests_per_minute=-5",
                          results=tmp_path / "results")
        assert server.request_count == 0
