"""Adapters for hosted APIs through the official SDKs: OpenAI chat completions (also any
OpenAI-compatible server via ``base_url``) and Anthropic messages.

Every sampling parameter is sent explicitly and recorded with the response, because defaults differ
between providers and servers; a comparison table must be able to say what each run really asked for.

Requests go through each SDK's generic ``post`` rather than ``chat.completions.create`` /
``messages.create``. The client, its auth headers, retries with back-off, ``retry-after``, timeouts
and error classes are the same; what is skipped is the typed-parameter transform on the way out and
the pydantic model on the way back. Those cost about a third of the client CPU per request
(``benchmarks/bench_runner.py``: 1.5 ms instead of 2.3 ms), and we want the provider's raw JSON body
in the journal anyway, not a re-serialised model. The body is a plain chat request, so the
transform would have nothing to convert.

Each SDK retries 429s, 5xx, timeouts and dropped connections inside one ``post``. So that the
runner's pacing and adaptive concurrency still hear of them, the SDK's HTTP client reports every
429 and 5xx response (a response hook) and every timeout and dropped connection (its ``send``,
see :func:`_reporting`) to the limiter's watchers, leaving the SDK's retries as they are. The same
``send`` holds each attempt to ``model.timeout_s`` in total, follows no redirect and caps the
decoded body (:mod:`consistency.providers.transport`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import httpx2
import openai

from consistency.providers import replies
from consistency.design.config import AnthropicModel, OpenAIModel
from consistency.providers.base import Completion, ProviderError, check_reachable, require_key
from consistency.providers.transport import (ReplyUnreadable, guarded_send, limits_for,
                                             location_origin)
from consistency.providers.ratelimit import RateLimiter, response_hook


def classify(exc: Exception) -> ProviderError:
    """Map an SDK exception (either SDK: they share a hierarchy) to a counted error kind."""
    if isinstance(exc, ProviderError):
        return exc
    unreadable = _cause(exc, ReplyUnreadable)
    if unreadable is not None:  # the SDK wrapped it as a connection error; it is the body's
        return ProviderError("malformed", str(unreadable), transient=False)
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    message = str(exc) or name
    if status is not None and 300 <= status < 400:
        origin = location_origin(getattr(exc, "response", None))
        return ProviderError(
            "redirect", f"the server answered HTTP {status}, a redirect to {origin}; redirects "
            "are not followed (a prompt goes only to the configured base_url), so set base_url "
            "to the address that answers", fatal=True)
    if "Timeout" in name:
        return ProviderError("timeout", message)
    if status is None and "Connection" in name:
        return ProviderError("connection", message)
    if status == 429:
        return ProviderError("rate_limit", message)
    if status in (401, 403):
        return ProviderError("auth", message, fatal=True)
    if status == 404:
        return ProviderError("not_found", message, fatal=True)
    if status is not None and status >= 500:
        return ProviderError("server_error", message)
    if status is not None:
        return ProviderError("bad_request", message)
    if isinstance(exc, (json.JSONDecodeError, ValueError)) or "Validation" in name:
        return ProviderError("malformed", message)
    return ProviderError("other", f"{name}: {message}")


class OpenAIProvider:
    """OpenAI chat completions, or any server that speaks that protocol (vLLM, llama.cpp, Ollama)."""

    def __init__(self, cfg: OpenAIModel, limiter: RateLimiter | None = None,
                 max_connections: int | None = None) -> None:
        self.model_id = f"openai:{cfg.name}"
        self.name = cfg.name
        self.max_concurrency = cfg.max_concurrency
        self.max_tokens_param = cfg.max_tokens_param
        if cfg.base_url:
            check_reachable(cfg.base_url)
            # A self-hosted server usually takes any key; a real one in the environment still wins.
            key = _optional_key(cfg.api_key_env) or "not-needed"
        else:
            key = require_key(cfg.api_key_env, "openai")
        http = _http_client(openai.DefaultAsyncHttpxClient, self, limiter, max_connections,
                            cfg.timeout_s)
        self.client = openai.AsyncOpenAI(api_key=key, base_url=cfg.base_url or None,
                                         timeout=cfg.timeout_s, max_retries=cfg.max_retries,
                                         http_client=http)

    def prepare(self, params: dict[str, Any]) -> dict[str, Any]:
        """Sampling params as this server takes them (some models name max_tokens differently)."""
        sent = dict(params)
        sent.pop("thinking_budget", None)  # an Anthropic setting; chat completions has none
        if "max_tokens" in sent and self.max_tokens_param != "max_tokens":
            sent[self.max_tokens_param] = sent.pop("max_tokens")
        return sent

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        sent = self.prepare(params)
        body = {"model": self.name, "messages": messages, **sent}
        try:
            response = await self.client.post("/chat/completions", body=body,
                                              cast_to=httpx2.Response)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a counted error kind
            raise classify(exc) from exc
        return self.to_completion(_json_body(response), sent)

    @staticmethod
    def to_completion(reply: Any, sent: dict[str, Any]) -> Completion:
        """A chat completion body (online, or a batch result line's ``body``) as a Completion;
        any other shape is a ``malformed`` failure (see :mod:`consistency.providers.replies`)."""
        return replies.openai_completion(reply, sent)

    async def aclose(self) -> None:
        await self.client.close()


class AnthropicProvider:
    """Anthropic messages API. System text goes in the top-level ``system`` field."""

    def __init__(self, cfg: AnthropicModel, limiter: RateLimiter | None = None,
                 max_connections: int | None = None) -> None:
        self.model_id = f"anthropic:{cfg.name}"
        self.name = cfg.name
        self.max_concurrency = cfg.max_concurrency
        if cfg.base_url:
            check_reachable(cfg.base_url)
        key = require_key(cfg.api_key_env, "anthropic")
        import anthropic  # imported here: it adds about a second to every start-up otherwise

        http = _http_client(anthropic.DefaultAsyncHttpxClient, self, limiter, max_connections,
                            cfg.timeout_s)
        self.client = anthropic.AsyncAnthropic(api_key=key, base_url=cfg.base_url or None,
                                               timeout=cfg.timeout_s,
                                               max_retries=cfg.max_retries, http_client=http)

    @staticmethod
    def prepare(messages: list[dict[str, str]], params: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Request fields as the messages API takes them: system text apart, no seed, and
        ``stop_sequences``. Returns ``(fields, sent)``: every field, and the sampling params."""
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        fields: dict[str, Any] = {"messages": [m for m in messages if m["role"] != "system"]}
        sent = dict(params)
        sent.pop("seed", None)  # the messages API has no seed parameter
        if "stop" in sent:
            sent["stop_sequences"] = sent.pop("stop")
        budget = sent.pop("thinking_budget", None)
        if budget:  # extended thinking: the budget is part of max_tokens, as the API expects
            sent["thinking"] = {"type": "enabled", "budget_tokens": int(budget)}
        if system:
            fields["system"] = system
        return fields | sent, sent

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        fields, sent = self.prepare(messages, params)
        try:
            response = await self.client.post("/v1/messages", body={"model": self.name, **fields},
                                              cast_to=httpx2.Response)
        except Exception as exc:  # noqa: BLE001
            raise classify(exc) from exc
        return self.to_completion(_json_body(response), sent)

    @staticmethod
    def to_completion(reply: Any, sent: dict[str, Any]) -> Completion:
        """A message body (online, or a batch result's ``message``) as a Completion; any other
        shape is a ``malformed`` failure (see :mod:`consistency.providers.replies`)."""
        return replies.anthropic_completion(reply, sent)

    async def aclose(self) -> None:
        await self.client.close()


def _http_client(base: type[httpx2.AsyncClient], provider: Any, limiter: RateLimiter | None,
                 max_connections: int | None, deadline_s: float) -> httpx2.AsyncClient:
    """The SDK's own HTTP client (``base``, its default class) with the pool sized to the runner's
    connection bound (keeping every connection alive between requests), redirects off, each
    attempt held to ``deadline_s`` seconds and a capped body (see :func:`_reporting`) and, given a
    limiter, reporting every overload the SDK may retry: the 429 hook that lets one rate-limited
    request pause all workers (see :mod:`consistency.providers.ratelimit`), and timeouts and dropped
    connections."""
    size = max(1, min(int(max_connections or provider.max_concurrency), provider.max_concurrency))
    options: dict[str, Any] = {"limits": httpx2.Limits(max_connections=size,
                                                       max_keepalive_connections=size),
                               "follow_redirects": False}
    if limiter is not None:
        options["event_hooks"] = {"response": [response_hook(limiter)]}
    return _reporting(base)(limiter=limiter, deadline_s=deadline_s, **options)


@functools.cache
def _reporting(base: type[httpx2.AsyncClient]) -> type[httpx2.AsyncClient]:
    """``base`` whose ``send`` runs each attempt through
    :func:`consistency.providers.transport.guarded_send` (a total deadline, no redirects, a capped
    body) and tells the limiter's watchers, if any, of each timeout (``timeout``) or dropped
    connection (``connection``, the kind :func:`classify` gives it when final), re-raising it
    untouched.

    Why ``send``: both SDKs call their HTTP client's ``send`` once per attempt, inside their own
    retry loop, so an attempt that times out and is retried is seen there and nowhere else
    (httpx's event hooks see requests and responses, never the exception). Overriding ``send``
    rather than replacing the transport keeps the transport each SDK builds for itself
    (anthropic's sets TCP keep-alive options and the proxy mounts).
    """

    class Reporting(base):  # type: ignore[misc, valid-type]
        def __init__(self, *, limiter: RateLimiter | None, deadline_s: float,
                     **options: Any) -> None:
            super().__init__(**options)
            self._overload_limiter = limiter
            self._deadline_s = deadline_s

        async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
            try:
                deadline_s, max_bytes = limits_for(request, self._deadline_s)
                return await guarded_send(super().send, request, deadline_s=deadline_s,
                                          max_bytes=max_bytes, **kwargs)
            except httpx2.TimeoutException:
                if self._overload_limiter is not None:
                    self._overload_limiter.overloaded("timeout")
                raise
            except (httpx2.NetworkError, httpx2.RemoteProtocolError):
                if self._overload_limiter is not None:
                    self._overload_limiter.overloaded("connection")
                raise

    Reporting.__name__ = Reporting.__qualname__ = f"Reporting{base.__name__}"
    return Reporting


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the first exception of type ``kind`` in its chain of causes."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, kind):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _json_body(response: httpx2.Response) -> Any:
    """The decoded body of a 2xx reply (see :func:`consistency.providers.replies.parse_body`)."""
    return replies.parse_body(response.content)


def _optional_key(env_var: str) -> str | None:
    import os

    return os.environ.get(env_var, "").strip() or None
