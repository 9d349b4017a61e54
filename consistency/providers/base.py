"""The one small protocol every provider adapter implements.

A provider turns provider-neutral chat messages plus sampling params into a :class:`Completion`, or
raises :class:`ProviderError` with a ``kind`` the runner can count and report. Adapters never retry
on their own beyond what the official SDKs already do (``max_retries``), and never read secrets from
anywhere but the environment.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

from consistency.common.errors import InputError


@dataclass(frozen=True)
class ToolCall:
    """A tool call as the reply stated it (hostile: ``name`` may be None, ``arguments`` any JSON
    value or text; :mod:`consistency.run.episode_tools` checks both before anything runs)."""

    id: str
    name: str | None
    arguments: Any


@dataclass(frozen=True)
class Completion:
    """One successful model reply, with what the provider reported about it."""

    text: str
    finish_reason: str | None = None
    model_reported: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: the reply body as received (any JSON value; see :mod:`consistency.providers.replies`)
    raw: Any = field(default_factory=dict)
    accepted_params: dict[str, Any] = field(default_factory=dict)
    #: native tool calls (OpenAI ``tool_calls``, Anthropic ``tool_use`` blocks), in reply order
    tool_calls: tuple[ToolCall, ...] = ()


class ProviderError(Exception):
    """A failed request. ``kind`` is one of :data:`ERROR_KINDS`; ``fatal`` stops the run (e.g. a bad
    key fails every request, so spending the rest of the plan on it helps nobody).

    ``transient`` says whether sending the same request again may help; None leaves it to the
    kind (the runner's ``TRANSIENT_KINDS``). ``raw`` is the body that could not be read as a reply,
    kept in the journal so a malformed answer can be inspected (and, with a fixed reader,
    recovered) without paying for it again.
    """

    def __init__(self, kind: str, message: str, *, fatal: bool = False,
                 transient: bool | None = None, raw: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.fatal = fatal
        self.transient = transient
        self.raw = raw


ERROR_KINDS = (
    "rate_limit", "server_error", "timeout", "connection", "bad_request", "auth", "not_found",
    "content_filter", "malformed", "expired", "canceled", "redirect", "other",
)


class Provider(Protocol):
    """What the runner needs from an adapter."""

    #: Identity recorded in every canonical request, e.g. ``openai:gpt-4o-mini``.
    model_id: str
    #: Upper bound on requests in flight that this provider can usefully take.
    max_concurrency: int

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        ...

    async def aclose(self) -> None:
        ...


def check_reachable(base_url: str, *, timeout: float = 3.0, key: str = "model.base_url") -> None:
    """Fail early, before any model request, if nothing listens at ``base_url``.

    Only a TCP connection is opened: no HTTP request is sent, so nothing is billed or logged.
    """
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"{base_url!r} is not an http(s) URL; expected e.g. "
                         "http://127.0.0.1:8000/v1", where=key)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot reach {base_url} ({exc.strerror or exc}); start the server or fix the URL. "
            "No model request was sent", where=key) from None


def require_key(env_var: str, provider: str) -> str:
    """Read an API key from the environment only; never from config files."""
    import os

    value = os.environ.get(env_var, "").strip()
    if not value:
        raise InputError(
            f"the {provider} provider needs an API key in the environment variable {env_var}; "
            f"export {env_var}=... (keys are read from the environment only and never written to "
            "the run folder). No model request was sent", where="model.api_key_env")
    return value
