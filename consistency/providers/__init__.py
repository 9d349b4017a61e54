"""Provider adapters behind one protocol, addressable by name from the ``model`` config group."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from consistency.design.config import MODELS, ModelSettings
from consistency.common.errors import InputError
from consistency.providers.base import Completion, Provider, ProviderError, check_reachable
from consistency.common.sanitise import register_model

PROVIDERS = ("local", "openai", "anthropic")


def make_provider(cfg: Any, limiter: Any = None, max_connections: int | None = None) -> Provider:
    """Build the adapter named by ``cfg.provider``; checks keys and reachability, sends nothing.

    ``cfg`` is a :class:`consistency.design.config.ModelSettings` (what the pipeline passes), or a
    mapping of the same keys, which is checked against the provider's schema (missing keys take
    the schema's defaults). ``limiter`` (a :class:`consistency.providers.ratelimit.RateLimiter`) hears every
    HTTP 429 a hosted provider receives; ``max_connections`` sizes its connection pool.
    """
    settings = model_settings(cfg)
    # from here on, the key and any URL credentials are redacted from everything written
    register_model(settings)
    if settings.provider == "openai":
        from consistency.providers.hosted import OpenAIProvider

        return OpenAIProvider(settings, limiter, max_connections)
    if settings.provider == "anthropic":
        from consistency.providers.hosted import AnthropicProvider

        return AnthropicProvider(settings, limiter, max_connections)
    from consistency.providers.local import LocalProvider

    return LocalProvider(settings)


def model_settings(cfg: Any) -> ModelSettings:
    """``cfg`` as the typed settings of its provider (an :class:`InputError` for an unknown
    provider or a key that provider does not take)."""
    if isinstance(cfg, ModelSettings):
        return cfg
    values = dict(OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg)
    schema = MODELS.get(values.get("provider"))
    if schema is None:
        raise InputError(f"unknown provider {values.get('provider')!r}; choose model=local, "
                         "model=openai or model=anthropic", where="model.provider")
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))
    except (OmegaConfBaseException, ValueError) as exc:
        raise InputError(str(exc).splitlines()[0], where="model") from None


__all__ = ["Completion", "Provider", "ProviderError", "PROVIDERS", "check_reachable", "make_provider"]
