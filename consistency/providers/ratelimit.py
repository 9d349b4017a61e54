"""Client-side pacing: requests and tokens per minute, and a shared pause after a 429.

The official SDKs already retry a rate-limited request after the server's ``retry-after``; that
helps the one request, while every other worker keeps sending into the same limit. The
:class:`RateLimiter` closes that gap: an HTTP response hook installed on the SDK's own HTTP client
(:func:`response_hook`) sees every 429, retried or not, and pauses *all* workers until the time the
server asked for. Without a ``retry-after`` header the pause doubles with each 429 in a row
(adaptive back-off) and resets after a success.

Pacing is a "next free slot" schedule rather than a bucket refilled by a timer: each acquisition
books the earliest instant that keeps the rate, so no background task is needed and waiting
workers wake in order.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

#: Pause used for a 429 without ``retry-after``, doubled per 429 in a row, capped below.
BASE_PAUSE_S = 0.5
MAX_PAUSE_S = 60.0


class RateLimiter:
    """Pace requests to ``rpm`` requests and ``tpm`` tokens per minute (None = unlimited).

    Args:
        rpm: requests per minute at most (``None`` or 0: no request pacing).
        tpm: tokens per minute at most, counting the estimate given to :meth:`acquire`
            (``None`` or 0: no token pacing).
        clock: monotonic clock in seconds (injected for tests).
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._request_gap = 60.0 / rpm if rpm else 0.0
        self._token_gap = 60.0 / tpm if tpm else 0.0
        self._clock = clock
        self._next_request = 0.0
        self._next_token = 0.0
        self._paused_until = 0.0
        self._strikes = 0
        self.pauses = 0
        self.paused_s = 0.0
        #: told the kind of each overload the SDK saw, retried or not: 429 and 5xx responses,
        #: timeouts and dropped connections (the adaptive concurrency gate of
        #: :mod:`consistency.run.concurrency` listens here)
        self.watchers: list[Callable[[str], None]] = []

    @property
    def active(self) -> bool:
        return bool(self._request_gap or self._token_gap)

    def reserve(self, tokens: int = 0) -> float:
        """Book a slot for one request of ``tokens`` tokens; returns seconds to wait before it."""
        now = self._clock()
        start = max(now, self._paused_until, self._next_request, self._next_token)
        self._next_request = start + self._request_gap
        # Tokens are paid after the slot: a large request delays the next one, not itself.
        self._next_token = start + tokens * self._token_gap
        return start - now

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request of about ``tokens`` tokens may be sent."""
        delay = self.reserve(tokens)
        if delay > 0:
            await asyncio.sleep(delay)
        # A 429 that arrived while we slept moves the pause further out.
        while (left := self._paused_until - self._clock()) > 0:
            await asyncio.sleep(left)

    def on_rate_limited(self, retry_after_s: float | None) -> float:
        """Pause every worker after a 429; returns the pause length in seconds."""
        self._strikes += 1
        if retry_after_s is None or not math.isfinite(retry_after_s):
            pause = min(MAX_PAUSE_S, BASE_PAUSE_S * 2 ** (self._strikes - 1))
        else:
            pause = min(MAX_PAUSE_S, max(0.0, retry_after_s))
        until = self._clock() + pause
        if until > self._paused_until:
            self.paused_s += until - max(self._paused_until, self._clock())
            self._paused_until = until
        self.pauses += 1
        return pause

    def on_success(self) -> None:
        self._strikes = 0

    def overloaded(self, kind: str) -> None:
        """Tell every watcher of trouble the SDK saw: a response (``rate_limit``, ``overloaded``,
        ``server_error``, see :func:`response_hook`) or an attempt that got none (``timeout``,
        ``connection``)."""
        for watcher in list(self.watchers):
            watcher(kind)


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


#: 5xx statuses that say the provider is full rather than broken: unavailable, gateway timeout,
#: Anthropic's overloaded. Watchers hear them as ``overloaded``, other 5xx as ``server_error``.
OVERLOAD_STATUSES = frozenset({503, 504, 529})


def response_hook(limiter: RateLimiter) -> Callable[[Any], Any]:
    """An async httpx-style response hook that reports every 429 to ``limiter`` (which pauses)
    and every 429 or 5xx to its watchers: the SDK may retry them, hiding them from the runner.
    Kinds: ``rate_limit`` (429), ``overloaded`` (:data:`OVERLOAD_STATUSES`), ``server_error``
    (any other 5xx)."""

    async def hook(response: Any) -> None:
        status = response.status_code
        if status == 429:
            limiter.on_rate_limited(retry_after_seconds(response.headers))
            limiter.overloaded("rate_limit")
        elif status in OVERLOAD_STATUSES:
            limiter.overloaded("overloaded")
        elif status >= 500:
            limiter.overloaded("server_error")

    return hook


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int | None) -> int:
    """A cheap upper-ish estimate of a request's tokens (4 characters a token, plus the reply cap),
    used for pacing before the provider reports real usage."""
    chars = sum(len(m.get("content") or "") for m in messages)
    return chars // 4 + 1 + int(max_tokens or 0)
