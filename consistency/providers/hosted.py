"""Adapters for hosted APIs through the official SDKs: OpenAI chat completions (also any
OpenAI-compatible server via ``base_url``) and Anthropic messages.

Every sampling parameter is sent explicitly and recorded with the response, because defaults differ
between providers and servers; a comparison table must be able to say what each run really asked for.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai

from consistency.providers.base import Completion, ProviderError, check_reachable, require_key
from consistency.ratelimit import RateLimiter, response_hook


def classify(exc: Exception) -> ProviderError:
    """Map an SDK exception (either SDK: they share a hierarchy) to a counted error kind."""
    if isinstance(exc, ProviderError):
        return exc
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    message = str(exc) or name
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

    def __init__(self, cfg: Any, limiter: RateLimiter | None = None,
                 max_connections: int | None = None) -> None:
        self.model_id = f"openai:{cfg.name}"
        self.name = cfg.name
        self.max_concurrency = int(cfg.get("max_concurrency") or 64)
        self.max_tokens_param = cfg.get("max_tokens_param") or "max_tokens"
        if cfg.get("base_url"):
            check_reachable(cfg.base_url)
            # A self-hosted server usually takes any key; a real one in the environment still wins.
            key = _optional_key(cfg.api_key_env) or "not-needed"
        else:
            key = require_key(cfg.api_key_env, "openai")
        http = openai.DefaultAsyncHttpxClient(**_http_options(self, limiter, max_connections))
        self.client = openai.AsyncOpenAI(api_key=key, base_url=cfg.get("base_url") or None,
                                         timeout=float(cfg.timeout_s), max_retries=int(cfg.max_retries),
                                         http_client=http)

    def prepare(self, params: dict[str, Any]) -> dict[str, Any]:
        """Sampling params as this server takes them (some models name max_tokens differently)."""
        sent = dict(params)
        if "max_tokens" in sent and self.max_tokens_param != "max_tokens":
            sent[self.max_tokens_param] = sent.pop("max_tokens")
        return sent

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        sent = self.prepare(params)
        try:
            reply = await self.client.chat.completions.create(model=self.name, messages=messages, **sent)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes a counted error kind
            raise classify(exc) from exc
        return self.to_completion(reply, sent)

    @staticmethod
    def to_completion(reply: Any, sent: dict[str, Any]) -> Completion:
        """A parsed ``ChatCompletion`` (online or from a batch result line) as a Completion."""
        if not reply.choices:
            raise ProviderError("malformed", "response has no choices")
        choice = reply.choices[0]
        usage = reply.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            model_reported=reply.model,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            raw=reply.model_dump(mode="json"),
            accepted_params=sent,
        )

    async def aclose(self) -> None:
        await self.client.close()


class AnthropicProvider:
    """Anthropic messages API. System text goes in the top-level ``system`` field."""

    def __init__(self, cfg: Any, limiter: RateLimiter | None = None,
                 max_connections: int | None = None) -> None:
        self.model_id = f"anthropic:{cfg.name}"
        self.name = cfg.name
        self.max_concurrency = int(cfg.get("max_concurrency") or 64)
        if cfg.get("base_url"):
            check_reachable(cfg.base_url)
        key = require_key(cfg.api_key_env, "anthropic")
        import anthropic  # imported here: it adds about a second to every start-up otherwise

        http = anthropic.DefaultAsyncHttpxClient(**_http_options(self, limiter, max_connections))
        self.client = anthropic.AsyncAnthropic(api_key=key, base_url=cfg.get("base_url") or None,
                                               timeout=float(cfg.timeout_s),
                                               max_retries=int(cfg.max_retries), http_client=http)

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
        if system:
            fields["system"] = system
        return fields | sent, sent

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        fields, sent = self.prepare(messages, params)
        # Current SDK releases take no sampling arguments; the API still reads them from the body.
        body = {key: fields.pop(key) for key in ("temperature", "top_p", "top_k") if key in fields}
        try:
            reply = await self.client.messages.create(model=self.name, extra_body=body or None,
                                                      **fields)
        except Exception as exc:  # noqa: BLE001
            raise classify(exc) from exc
        return self.to_completion(reply, sent)

    @staticmethod
    def to_completion(reply: Any, sent: dict[str, Any]) -> Completion:
        """A parsed ``Message`` (online or from a batch result) as a Completion."""
        text = "".join(getattr(block, "text", "") for block in reply.content
                       if getattr(block, "type", "") == "text")
        return Completion(
            text=text,
            finish_reason=reply.stop_reason,
            model_reported=reply.model,
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
            raw=reply.model_dump(mode="json"),
            accepted_params=sent,
        )

    async def aclose(self) -> None:
        await self.client.close()


def _http_options(provider: Any, limiter: RateLimiter | None,
                  max_connections: int | None) -> dict[str, Any]:
    """Options for the SDK's own HTTP client: the pool sized to the runner's connection bound
    (keeping every connection alive between requests), and the 429 hook that lets one rate-limited
    request pause all workers (see :mod:`consistency.ratelimit`)."""
    size = max(1, min(int(max_connections or provider.max_concurrency), provider.max_concurrency))
    options: dict[str, Any] = {"limits": httpx2.Limits(max_connections=size,
                                                       max_keepalive_connections=size)}
    if limiter is not None:
        options["event_hooks"] = {"response": [response_hook(limiter)]}
    return options


def _optional_key(env_var: str) -> str | None:
    import os

    return os.environ.get(env_var, "").strip() or None
