"""Providers (edge): each HTTP attempt held to one deadline, one size cap and its own origin.

Both SDKs' HTTP clients call ``send`` once per attempt, inside their retry loops; the hosted
adapters' client (see :func:`consistency.providers.hosted._http_client`) passes every attempt
through :func:`guarded_send`, which adds three rules the SDKs do not have:

- **A total deadline.** httpx's timeouts bound each network read, so a server that trickles a
  byte at a time holds a request indefinitely. Here the whole attempt (connection, headers and
  body) of a request for a reply must finish within ``model.timeout_s``, or it fails as an httpx
  ``ReadTimeout``: the SDK retries it like any timeout and the runner counts it as ``timeout``.
  (Batch and file requests keep the per-read timeouts: see :data:`REPLY_PATHS`.)
- **No redirects.** Redirects are not followed, so a prompt can only reach the configured
  ``base_url``. A 3xx reaches the SDK as an error status (see
  :func:`consistency.providers.hosted.classify`: kind ``redirect``, which stops the run, naming
  the origin the server pointed at).
- **A cap on the decoded body.** At most :data:`MAX_REPLY_BYTES` are read after decompression,
  decompressing chunk by chunk with a bounded output, so a small compressed body that inflates
  to gigabytes costs at most the cap in memory. ``gzip`` and ``deflate`` are accepted (the
  request says so); a body in another encoding, or larger than the cap, fails the attempt as
  :class:`ReplyUnreadable` (final kind ``malformed``, not retried by the runner).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx2

#: Bytes of a reply body kept after decoding; a larger reply fails. A chat reply with a long
#: reasoning trace is well under 1 MiB; the journal keeps at most 1,000,000 characters anyway.
MAX_REPLY_BYTES = 8 * 1024 * 1024
#: The same for every other request (batch results and files, which hold a whole batch).
MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024
#: Path endings of the requests that ask a model for a reply (OpenAI chat completions, Anthropic
#: messages): these get the deadline and :data:`MAX_REPLY_BYTES`. Batch and file requests keep
#: the SDK's per-read timeouts (a large results file may take minutes) and
#: :data:`MAX_DOWNLOAD_BYTES`.
REPLY_PATHS = ("/chat/completions", "/messages")
#: Content encodings asked for and decoded here (others are refused, not decoded).
ACCEPT_ENCODING = "gzip, deflate"
#: Bytes inflated per step: what one step may hold beyond the body kept so far.
_STEP = 1 << 20


class ReplyUnreadable(httpx2.DecodingError):
    """A body that is not read: larger than the cap once decoded, or in an encoding not asked
    for. An httpx decoding error, so each SDK handles it as it handles a broken transfer (its
    retries apply); :func:`consistency.providers.hosted.classify` finds it behind the SDK's
    error and reports it as ``malformed``."""


Send = Callable[..., Awaitable[httpx2.Response]]


def limits_for(request: httpx2.Request, deadline_s: float) -> tuple[float | None, int]:
    """``(deadline in seconds or None, decoded bytes allowed)`` for one request: see
    :data:`REPLY_PATHS`."""
    if request.url.path.endswith(REPLY_PATHS):
        return deadline_s, MAX_REPLY_BYTES
    return None, MAX_DOWNLOAD_BYTES


async def guarded_send(send: Send, request: httpx2.Request, *, deadline_s: float | None,
                       max_bytes: int = MAX_REPLY_BYTES, **kwargs: Any) -> httpx2.Response:
    """One attempt through ``send`` (an httpx client's own ``send``), its body read whole.

    Args:
        send: the client's ``send`` to call (with ``stream=True``, redirects off).
        request: the request of this attempt.
        deadline_s: seconds the whole attempt may take, from sending to the last body byte
            (None: only the client's own per-read timeouts).
        max_bytes: bytes of decoded body allowed.
        **kwargs: further arguments of ``send`` (``auth``); ``stream`` and
            ``follow_redirects`` are overridden.

    Returns:
        The response with its decoded body loaded (``response.content``), whatever ``stream``
        the caller asked for: the body is part of the attempt the deadline bounds.

    Raises:
        httpx2.ReadTimeout: the deadline passed first.
        ReplyUnreadable: the body is too large or in an encoding not asked for.
    """
    kwargs["stream"] = True
    kwargs["follow_redirects"] = False
    request.headers["Accept-Encoding"] = ACCEPT_ENCODING
    try:
        async with asyncio.timeout(deadline_s):
            response = await send(request, **kwargs)
            try:
                body = await _read_capped(response, max_bytes)
            finally:
                await response.aclose()
    except TimeoutError:
        if deadline_s is None:
            raise
        raise httpx2.ReadTimeout(
            f"no complete reply within model.timeout_s={deadline_s:g} s (the deadline covers the "
            "whole attempt: connection, headers and body)", request=request) from None
    # what ``aread`` itself does once it has the body: later reads return these bytes
    response.headers.pop("Content-Encoding", None)
    response._content = body
    return response


def location_origin(response: Any) -> str:
    """The origin (scheme://host:port) a redirect points at, or a note that it names none; the
    path and query are left out (they may carry tokens)."""
    headers = getattr(response, "headers", None) or {}
    location = str(headers.get("location") or "")
    if not location:
        return "no location"
    parts = urlsplit(location)
    if not parts.netloc:
        base = getattr(getattr(response, "request", None), "url", None)
        return f"{base.scheme}://{base.netloc.decode()}" if base is not None else "a relative path"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


async def _read_capped(response: httpx2.Response, max_bytes: int) -> bytes:
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    parts: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        for chunk in decoder(raw, max_bytes - size):
            size += len(chunk)
            if size > max_bytes:
                raise ReplyUnreadable(f"reply body larger than {max_bytes} bytes once decoded; "
                                      "not read further", request=response.request)
            parts.append(chunk)
    return b"".join(parts)


def _decoder(encoding: str) -> Callable[[bytes, int], list[bytes]]:
    """A function ``(raw chunk, bytes still allowed) -> decoded pieces`` for one encoding;
    a compressed chunk is inflated at most one byte past the allowance (enough to tell it
    overflowed), however far it would inflate."""
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return lambda raw, _room: [raw]
    if name not in ("gzip", "x-gzip", "deflate"):
        shown = "".join(c if c.isprintable() else "?" for c in encoding[:40])
        raise ReplyUnreadable(f"reply body in content encoding {shown!r}, which was not asked "
                              f"for (accepted: {ACCEPT_ENCODING})")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if "gzip" in name else zlib.MAX_WBITS)
    raw_deflate = name == "deflate"  # some servers send deflate without its zlib header

    def decode(raw: bytes, room: int) -> list[bytes]:
        nonlocal inflater, raw_deflate
        pieces: list[bytes] = []
        data = raw
        while data:
            try:
                piece = inflater.decompress(data, min(max(room, 0) + 1, _STEP))
            except zlib.error as exc:
                if raw_deflate:  # retry the first chunk as a bare deflate stream
                    raw_deflate = False
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise httpx2.DecodingError(f"compressed reply body is damaged ({exc})") from None
            raw_deflate = False
            pieces.append(piece)
            room -= len(piece)
            if room < 0:
                break  # the caller sees the overflow and stops
            data = inflater.unconsumed_tail
        return pieces

    return decode
