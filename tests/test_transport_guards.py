"""Each HTTP attempt of the hosted adapters against a hostile server on 127.0.0.1: no redirect is
followed, ``model.timeout_s`` bounds the whole attempt, and a reply's decoded size is capped.

Through the official SDKs (their retries, their error classes), with the tricks played by the
loopback server of ``provider_server``: a second server stands for the host a redirect points at.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
from typing import Any

import httpx2
import pytest
from omegaconf import OmegaConf

from consistency.providers import ProviderError, make_provider
from consistency.providers.transport import MAX_DOWNLOAD_BYTES, MAX_REPLY_BYTES, limits_for
from consistency.providers.ratelimit import RateLimiter
from provider_server import (Compressed, ProviderServer, Redirect, Trickle, gzip_bomb,
                             valid_body)
from runner_support import journal_rows, openai_overrides, run_inprocess

MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
PARAMS = {"temperature": 0.0, "max_tokens": 32}
PROTOCOLS = ["openai", "anthropic"]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSISTENCY_TEST_KEY", "test-key")


def _base(server: ProviderServer, protocol: str) -> str:
    return server.openai_base_url if protocol == "openai" else server.anthropic_base_url


def attempt(server: ProviderServer, protocol: str, *, timeout_s: float = 5,
            max_retries: int = 0, limiter: RateLimiter | None = None,
            took: list[float] | None = None) -> Any:
    """One ``complete`` call: the Completion, or the ProviderError it raised; its duration in
    seconds (the call alone, not building the adapter) is appended to ``took``."""
    cfg = OmegaConf.create({"provider": protocol, "name": "m-test",
                            "base_url": _base(server, protocol),
                            "api_key_env": "CONSISTENCY_TEST_KEY", "timeout_s": timeout_s,
                            "max_retries": max_retries, "max_concurrency": 4})

    async def go() -> Any:
        adapter = make_provider(cfg, limiter, 4)
        start = time.monotonic()
        try:
            return await adapter.complete(MESSAGES, dict(PARAMS))
        except ProviderError as exc:
            return exc
        finally:
            (took if took is not None else []).append(time.monotonic() - start)
            await adapter.aclose()

    return asyncio.run(go())


# ---------------------------------------------------------------- redirects
@pytest.mark.parametrize("status", [307, 302])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_redirect_is_a_fatal_error_naming_its_origin_and_nothing_reaches_it(protocol, status):
    with ProviderServer(lambda req: "elsewhere: 4") as other:
        path = "/v1/chat/completions" if protocol == "openai" else "/v1/messages"
        target = f"{other.base_url}{path}?token=secret"
        with ProviderServer(lambda req: Redirect(target, status)) as server:
            result = attempt(server, protocol, max_retries=2)
            asked = server.request_count
        assert other.all_hits == 0  # not the POST (307), not a GET (302)
    assert isinstance(result, ProviderError), result
    assert result.kind == "redirect" and result.fatal
    assert f"HTTP {status}" in str(result) and other.base_url in str(result)
    assert "secret" not in str(result) and asked == 1  # not retried either


def test_a_run_against_a_redirecting_server_stops_and_journals_no_answer(suite, tmp_path):
    with ProviderServer(lambda req: "The answer is 4.") as other:
        target = other.openai_base_url + "/chat/completions"
        with ProviderServer(lambda req: Redirect(target, 307)) as server:
            with pytest.raises(Exception) as stopped:
                run_inprocess(*openai_overrides(server, suite), "tasks.limit=2",
                              "conditions.pairs=[wording]", results=tmp_path / "results")
        assert other.all_hits == 0
    assert "redirect" in str(stopped.value) and other.base_url in str(stopped.value)
    rows = journal_rows(tmp_path / "results" / "run")
    assert rows and {(status, kind) for _, status, kind in rows} == {("error", "redirect")}


# ---------------------------------------------------------------- total deadline
@pytest.mark.parametrize("part", ["body", "headers"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_trickled_reply_times_out_at_the_deadline(protocol, part):
    limiter, heard = RateLimiter(), []
    limiter.watchers.append(heard.append)
    took: list[float] = []
    with ProviderServer(lambda req: Trickle(0.15, part)) as server:
        result = attempt(server, protocol, timeout_s=2, limiter=limiter, took=took)
    assert isinstance(result, ProviderError) and result.kind == "timeout", result
    assert heard == ["timeout"]  # the limiter heard of it as a timeout, not a dropped connection
    assert took[0] < 6  # the 43-byte body alone takes 6.5 s at this pace; 75 more bytes of headers


@pytest.mark.parametrize("url, deadline, cap", [
    ("http://h/v1/chat/completions", 2.0, MAX_REPLY_BYTES),
    ("http://h/v1/messages", 2.0, MAX_REPLY_BYTES),
    ("http://h/v1/files/file-1/content", None, MAX_DOWNLOAD_BYTES),
    ("http://h/v1/messages/batches/b1/results", None, MAX_DOWNLOAD_BYTES),
])
def test_only_requests_for_a_reply_get_the_deadline_and_the_reply_cap(url, deadline, cap):
    # a batch's results file holds every reply of the batch and may take minutes to download
    assert limits_for(httpx2.Request("GET", url), 2.0) == (deadline, cap)


def test_each_retry_gets_its_own_deadline():
    with ProviderServer(lambda req: Trickle(0.15, "body")) as server:
        result = attempt(server, "openai", timeout_s=1, max_retries=1)
        sent = server.request_count
    assert isinstance(result, ProviderError) and result.kind == "timeout"
    assert sent == 2


def test_a_prompt_reply_within_the_deadline_is_read():
    with ProviderServer(lambda req: Trickle(0.01, "body", text="The answer is 4.")) as server:
        done = attempt(server, "openai", timeout_s=5)
    assert not isinstance(done, ProviderError) and done.text == "The answer is 4."


# ---------------------------------------------------------------- decoded size
BOMB = 128 * 1024 * 1024


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(BOMB)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_gzip_bomb_fails_as_too_large_in_bounded_memory(protocol, bomb):
    assert len(bomb) < 256 * 1024  # 128 MiB decoded travels as about 128 KiB
    replies = iter(["The answer is 4."])  # the first request warms the SDK up (its imports)
    with ProviderServer(lambda req: next(replies, None) or Compressed(bomb)) as server:
        tracemalloc.start()
        try:
            assert attempt(server, protocol).text == "The answer is 4."
            settled = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            result = attempt(server, protocol)
            grown = tracemalloc.get_traced_memory()[1] - settled
        finally:
            tracemalloc.stop()
    assert isinstance(result, ProviderError), result
    assert result.kind == "malformed" and result.transient is False
    assert f"larger than {MAX_REPLY_BYTES} bytes" in str(result)
    # a sanity bound, not a measurement: the cap plus one inflated step, far below 128 MiB
    assert grown < 2 * MAX_REPLY_BYTES, grown


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_compressed_reply_under_the_cap_is_read(protocol):
    data = gzip.compress(json.dumps(valid_body(protocol, "The answer is 4.")).encode())
    with ProviderServer(lambda req: Compressed(data)) as server:
        done = attempt(server, protocol)
    assert not isinstance(done, ProviderError) and done.text == "The answer is 4."


def test_a_body_in_an_encoding_not_asked_for_is_refused():
    with ProviderServer(lambda req: Compressed(b"\x00\x01binary", encoding="br")) as server:
        result = attempt(server, "openai")
        sent = server.requests
    assert isinstance(result, ProviderError) and result.kind == "malformed"
    assert "'br'" in str(result)
    assert sent[0].raw is not None  # the request was made; only the reply was refused


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unreadable_reply_is_retried_by_the_sdk_as_a_broken_transfer_then_malformed(protocol):
    with ProviderServer(lambda req: Compressed(b"\x00\x01binary", encoding="br")) as server:
        result = attempt(server, protocol, max_retries=1)
        sent = server.request_count
    assert isinstance(result, ProviderError) and result.kind == "malformed"
    assert result.transient is False and sent == 2
