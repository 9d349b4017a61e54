"""Provider adapters behind one protocol, addressable by name from the ``model`` config group."""

from __future__ import annotations

from typing import Any

from consistency.errors import InputError
from consistency.providers.base import Completion, Provider, ProviderError, check_reachable
from consistency.sanitise import register_model

PROVIDERS = ("local", "openai", "anthropic")


def make_provider(cfg: Any, limiter: Any = None, max_connections: int | None = None) -> Provider:
    """Build the adapter named by ``cfg.provider``; checks keys and reachability, sends nothing.

    ``limiter`` (a :class:`consistency.ratelimit.RateLimiter`) hears every HTTP 429 a hosted
    provider receives; ``max_connections`` sizes its connection pool.
    """
    kind = cfg.get("provider")
    # from here on, the key and any URL credentials are redacted from everything written
    register_model(cfg)
    if kind == "openai":
        from consistency.providers.hosted import OpenAIProvider

        return OpenAIProvider(cfg, limiter, max_connections)
    if kind == "anthropic":
        from consistency.providers.hosted import AnthropicProvider

        return AnthropicProvider(cfg, limiter, max_connections)
    if kind == "local":
        from consistency.providers.local import LocalProvider

        return LocalProvider(cfg)
    raise InputError(f"unknown provider {kind!r}; choose model=local, model=openai or model=anthropic",
                     where="model.provider")


__all__ = ["Completion", "Provider", "ProviderError", "PROVIDERS", "check_reachable", "make_provider"]
