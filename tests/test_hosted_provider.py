"""The hosted adapters over real loopback HTTP, through the official SDKs' generic ``post``.

Why: the adapters skip the SDKs' typed ``create`` methods (see the module docstring of
``consistency.providers.hosted``), so these tests check what ``create`` would otherwise have
guaranteed: the body the server sees, the parsed reply, the raw body kept for the journal, the SDK's
error classes and retries, and a clear ``malformed`` kind for a 200 that is not a reply.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from omegaconf import OmegaConf

from consistency.providers import Completion, ProviderError, make_provider
from consistency.providers.ratelimit import RateLimiter
from provider_server import ChatRequest, PolicyFault, ProviderServer

MESSAGES = [{"role": "system", "content": "This is an evaluation."},
            {"role": "user", "content": "What is 2+2?"}]
PARAMS = {"temperature": 0.7, "top_p": 0.9, "max_tokens": 32, "seed": 7, "stop": ["\n\n"]}


def complete(server: ProviderServer, provider: str, max_retries: int = 0,
             params: dict[str, Any] | None = None, *, limiter: RateLimiter | None = None,
             timeout_s: float = 5) -> Completion:
    base = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    cfg = OmegaConf.create({"provider": provider, "name": "m-test", "base_url": base,
                            "api_key_env": "CONSISTENCY_TEST_KEY", "timeout_s": timeout_s,
                            "max_retries": max_retries, "max_concurrency": 4})

    async def go() -> Completion:
        adapter = make_provider(cfg, limiter, 4)
        try:
            return await adapter.complete(MESSAGES, dict(params or PARAMS))
        finally:
            await adapter.aclose()

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSISTENCY_TEST_KEY", "test-key")


def test_openai_body_reply_and_raw_body() -> None:
    with ProviderServer(lambda req: "The answer is 4.") as server:
        done = complete(server, "openai")
        (req,) = server.requests
    assert req.model == "m-test" and req.system == "This is an evaluation."
    assert req.messages == [{"role": "user", "content": "What is 2+2?"}]
    assert req.params == PARAMS
    assert done.text == "The answer is 4." and done.finish_reason == "stop"
    assert done.model_reported == "m-test"
    assert (done.input_tokens, done.output_tokens) == (
        done.raw["usage"]["prompt_tokens"], done.raw["usage"]["completion_tokens"])
    assert done.raw["object"] == "chat.completion" and done.raw["system_fingerprint"] == "fp_test"
    assert done.accepted_params == PARAMS


def test_anthropic_body_reply_and_raw_body() -> None:
    with ProviderServer(lambda req: "The answer is 4.") as server:
        done = complete(server, "anthropic")
        (req,) = server.requests
    assert req.protocol == "anthropic" and req.system == "This is an evaluation."
    # the messages API names stop differently and has no seed
    assert req.params == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 32,
                          "stop_sequences": ["\n\n"]}
    assert done.text == "The answer is 4." and done.finish_reason == "end_turn"
    assert done.raw["type"] == "message" and done.output_tokens == done.raw["usage"]["output_tokens"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("body", ['{"id": "broken", "choices": [', '{"unexpected": true}',
                                  '[1, 2]', '{"choices": []}', '{"content": 5}'])
def test_a_200_that_is_not_a_reply_is_malformed(provider: str, body: str) -> None:
    def policy(req: ChatRequest) -> str:
        raise PolicyFault(200, body=body)

    with ProviderServer(policy) as server:
        with pytest.raises(ProviderError) as caught:
            complete(server, provider)
    assert caught.value.kind == "malformed" and not caught.value.fatal


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_sdk_retries_still_apply(provider: str) -> None:
    calls = []

    def policy(req: ChatRequest) -> str:
        calls.append(req)
        if len(calls) < 3:
            raise PolicyFault(503, headers={"retry-after-ms": "10"})
        return "fine"

    with ProviderServer(policy) as server:
        assert complete(server, provider, max_retries=2).text == "fine"
    assert len(calls) == 3


def _watched() -> tuple[RateLimiter, list[str]]:
    limiter, heard = RateLimiter(), []
    limiter.watchers.append(heard.append)
    return limiter, heard


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_timeout_the_sdk_retries_reaches_the_limiters_watchers(provider: str) -> None:
    calls = []

    async def stalls_once(req: ChatRequest) -> str:
        calls.append(req)
        if len(calls) == 1:
            await asyncio.sleep(1.0)  # past the client's timeout: the SDK sends it again
        return "fine"

    limiter, heard = _watched()
    with ProviderServer(stalls_once) as server:
        done = complete(server, provider, max_retries=1, limiter=limiter, timeout_s=0.3)
    assert done.text == "fine" and len(calls) == 2
    assert heard == ["timeout"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_dropped_connection_the_sdk_retries_reaches_the_limiters_watchers(provider: str) -> None:
    limiter, heard = _watched()
    with ProviderServer(fault_rate=1.0, fault_kinds=("reset",)) as server:
        with pytest.raises(ProviderError) as caught:
            complete(server, provider, max_retries=1, limiter=limiter)
        assert server.faults == ["reset", "reset"]
    assert caught.value.kind == "connection"
    assert heard == ["connection", "connection"]  # the retried attempt and the final one


@pytest.mark.parametrize(("status", "kind", "fatal"), [(500, "server_error", False),
                                                        (429, "rate_limit", False),
                                                        (400, "bad_request", False),
                                                        (401, "auth", True), (404, "not_found", True)])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_http_errors_keep_their_kinds(provider: str, status: int, kind: str, fatal: bool) -> None:
    def policy(req: ChatRequest) -> str:
        raise PolicyFault(status, headers={"retry-after-ms": "1"})

    with ProviderServer(policy) as server:
        with pytest.raises(ProviderError) as caught:
            complete(server, provider)
    assert (caught.value.kind, caught.value.fatal) == (kind, fatal)


def test_openai_refusal_field_is_the_reply_text() -> None:
    body = ('{"id": "c1", "object": "chat.completion", "model": "m-test", "choices": [{"index": 0,'
            ' "message": {"role": "assistant", "content": null, "refusal": "I cannot help."},'
            ' "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}')

    def policy(req: ChatRequest) -> str:
        raise PolicyFault(200, body=body)

    with ProviderServer(policy) as server:
        done = complete(server, "openai")
    assert done.text == "I cannot help." and done.output_tokens == 3
