"""A real HTTP server on 127.0.0.1 that speaks the OpenAI and Anthropic wire protocols.

Why: tests must exercise the official ``openai`` / ``anthropic`` SDKs end to end
(request serialisation, httpx2 transport, retries, typed response parsing, error
mapping) without touching the network and without monkey-patching SDK methods.
Pointing the SDKs' ``base_url`` at this server gives exactly that.  What the
"model" answers is decided by a *policy* callable, so tests can script
framing-dependent behaviour (sandbagging, alignment faking) deterministically.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Protocol = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class ChatRequest:
    """One chat request, normalised across both protocols.

    Policies and assertions see the same shape whichever SDK sent the request,
    so a single scripted model can be served under both protocols.  ``messages``
    holds only the non-system turns; system text (OpenAI system/developer
    messages, Anthropic ``system`` field) is gathered into ``system``.
    """

    protocol: Protocol
    model: str
    system: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    user_text: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class PolicyFault(Exception):
    """Raised by a policy to make the server answer with an HTTP error.

    Why an exception: it lets a policy decide per request (e.g. "fail the 3rd
    call") while the server renders the protocol-correct error body.  ``body``
    may be a dict (sent as JSON), str/bytes (sent verbatim, e.g. malformed JSON)
    or None (a default error body in the request's protocol).
    """

    def __init__(self, status: int, body: dict[str, Any] | str | bytes | None = None,
                 headers: Mapping[str, str] | None = None, delay: float = 0.0) -> None:
        super().__init__(f"policy fault: HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.delay = delay


@dataclass(frozen=True)
class Withheld:
    """Returned by a policy to answer 200 with the reply withheld: OpenAI's ``content_filter``
    finish reason, Anthropic's ``refusal`` stop reason (what a provider-side filter does)."""

    text: str = ""


@dataclass(frozen=True)
class RawReply:
    """Returned by a policy to answer with exactly this body and status, whatever the protocol
    says a reply looks like: for hostile-server tests (odd shapes, bodies that are not JSON,
    error bodies echoing the request's key). ``body`` is a JSON value (serialised as is) or
    str/bytes (sent verbatim). In a batch, the body becomes the result line's reply (OpenAI
    ``response.body``, Anthropic ``result.message``); a str body replaces the whole output line."""

    body: Any
    status: int = 200

    def text(self) -> str:
        if isinstance(self.body, bytes):
            return self.body.decode("utf-8", errors="replace")
        if isinstance(self.body, str):
            return self.body
        return json.dumps(self.body)


class RawLine(Exception):
    """A batch line answered with a :class:`RawReply` (caught by the batch endpoints)."""

    def __init__(self, reply: RawReply) -> None:
        super().__init__("raw reply")
        self.reply = reply


@dataclass(frozen=True)
class Reply:
    """Returned by a policy to answer with reasoning beside the text, as reasoning models do.

    Unlike :class:`RawReply` (a whole body, verbatim), a ``Reply`` is a well-formed protocol
    reply whose reasoning field alone is chosen by the test: a string, a wrong type, a huge value.

    OpenAI protocol: ``reasoning`` is put verbatim (any JSON value, so tests can send a wrong
    type) in ``message[reasoning_field]`` (``reasoning_content`` as vLLM and DeepSeek send it,
    or ``reasoning``). Anthropic protocol: ``thinking_blocks`` go verbatim before the text
    block; without them a ``reasoning`` string becomes one ``thinking`` block.
    """

    text: str
    reasoning: Any = None
    reasoning_field: str = "reasoning_content"
    thinking_blocks: tuple[dict[str, Any], ...] | None = None

    def anthropic_blocks(self) -> list[dict[str, Any]]:
        if self.thinking_blocks is not None:
            return list(self.thinking_blocks)
        if self.reasoning is None:
            return []
        return [{"type": "thinking", "thinking": self.reasoning, "signature": "sig-test"}]


class Trick:
    """Returned by a policy to answer at the transport level (a hostile or broken server):
    see :class:`Trickle`, :class:`Redirect`, :class:`Compressed`. Online requests only."""

    async def respond(self, request: web.Request, protocol: Protocol) -> web.StreamResponse:
        raise NotImplementedError


def valid_body(protocol: Protocol, text: str = "4") -> dict[str, Any]:
    """The smallest body each SDK's protocol reads as a reply saying ``text``."""
    if protocol == "anthropic":
        return {"type": "message", "content": [{"type": "text", "text": text}]}
    return {"choices": [{"message": {"content": text}}]}


@dataclass(frozen=True)
class Trickle(Trick):
    """A valid reply sent one byte every ``interval_s`` seconds: only the body (``part="body"``,
    headers at once), or the whole response from its status line (``part="headers"``). Each
    byte arrives long before any per-read timeout; only a deadline on the whole attempt ends it.
    The server stops sending once the client has gone."""

    interval_s: float = 0.15
    part: Literal["body", "headers"] = "body"
    text: str = "4"

    async def respond(self, request: web.Request, protocol: Protocol) -> web.StreamResponse:
        body = json.dumps(valid_body(protocol, self.text)).encode()
        if self.part == "body":
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            await _trickle(request, body, self.interval_s, lambda b: response.write(b))
            return response
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()

        async def write(byte: bytes) -> None:
            request.transport.write(byte)

        await _trickle(request, head + body, self.interval_s, write)
        if request.transport is not None:
            request.transport.close()
        raise _Abandoned()  # the response was written by hand: aiohttp must not add one


class _Abandoned(web.HTTPException):
    """Ends a handler whose response was written to the socket directly."""

    status_code = 200


async def _trickle(request: web.Request, data: bytes, interval: float,
                   write: Callable[[bytes], Awaitable[None]]) -> None:
    for index in range(len(data)):
        if request.transport is None or request.transport.is_closing():
            return  # the client gave up
        try:
            await write(data[index:index + 1])
        except (ConnectionError, RuntimeError):
            return
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class Redirect(Trick):
    """An HTTP redirect (``status`` 301/302/303/307/308) to ``location``, e.g. the same path on
    another loopback server: a client that follows it sends the prompt there."""

    location: str
    status: int = 307

    async def respond(self, request: web.Request, protocol: Protocol) -> web.StreamResponse:
        return web.Response(status=self.status, headers={"Location": self.location})


@dataclass(frozen=True)
class Compressed(Trick):
    """A 200 whose body is ``data`` sent as is, labelled with ``encoding`` (``Content-Encoding``):
    e.g. :func:`gzip_bomb`'s output."""

    data: bytes
    encoding: str = "gzip"

    async def respond(self, request: web.Request, protocol: Protocol) -> web.StreamResponse:
        return web.Response(body=self.data, headers={"Content-Type": "application/json",
                                                     "Content-Encoding": self.encoding})


def gzip_bomb(decoded_bytes: int, protocol: Protocol = "openai") -> bytes:
    """A gzip body that inflates to a reply of about ``decoded_bytes`` (a valid reply whose
    text is that many spaces), built chunk by chunk so that building it costs little memory:
    128 MiB decoded is about 128 KiB compressed."""
    head, _, tail = json.dumps(valid_body(protocol, "@")).encode().partition(b"@")
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(head)]
    block = b" " * (1 << 20)
    for _ in range(decoded_bytes // len(block)):
        parts.append(packer.compress(block))
    parts += [packer.compress(b" " * (decoded_bytes % len(block)) + tail), packer.flush()]
    return b"".join(parts)


#: Lone surrogates, as a JSON ``\ud800`` escape puts them into a decoded string.
LONE = "\ud800x\udfff"


def surrogate_body(protocol: Protocol, text: str, *, reasoning_field: str = "reasoning_content",
                   reasoning: str = "thinking " + LONE) -> dict[str, Any]:
    """A valid reply with lone surrogates in every string field a reader may keep: ids, model,
    stop reason, the answer (after ``text``), the reasoning (OpenAI ``reasoning_field``,
    Anthropic ``thinking``), an extra key and a list of strings. Serialised by ``json.dumps``,
    each travels as a ``\\ud800``-style escape, as a broken server would send it."""
    extra = {"x_note" + LONE: ["a" + LONE, LONE]}
    if protocol == "anthropic":
        return {"id": "msg_" + LONE, "type": "message", "role": "assistant",
                "model": "m" + LONE, "stop_reason": "end_turn" + LONE, "stop_sequence": LONE,
                "content": [{"type": "thinking", "thinking": reasoning, "signature": LONE},
                            {"type": "text", "text": text + " " + LONE}],
                "usage": {"input_tokens": 3, "output_tokens": 2}, **extra}
    return {"id": "chatcmpl-" + LONE, "object": "chat.completion", "model": "m" + LONE,
            "system_fingerprint": LONE,
            "choices": [{"index": 0, "finish_reason": "stop" + LONE,
                         "message": {"role": "assistant", "content": text + " " + LONE,
                                     reasoning_field: reasoning}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}, **extra}


@dataclass(frozen=True)
class ToolCallReply:
    """Returned by a policy to answer with one native tool call: OpenAI ``tool_calls`` (finish
    reason ``tool_calls``), Anthropic a ``tool_use`` block (stop reason ``tool_use``), after
    ``text`` when it is not empty. ``arguments`` is sent as given (a JSON object, or for OpenAI
    a string sent verbatim as the arguments text)."""

    name: str
    arguments: Any
    text: str = ""
    call_id: str = ""

    def ident(self) -> str:
        return self.call_id or f"call_{uuid.uuid4().hex[:12]}"


Policy = Callable[[ChatRequest],
                  "str | Withheld | Reply | RawReply | Trick | Awaitable[Any]"]

#: "timeout" answers after ``timeout_delay_s`` (longer than a test client's timeout).
FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "529", "malformed", "reset", "timeout")

_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error",
                       404: "invalid_request_error", 429: "requests", 500: "server_error",
                       503: "server_error"}
_ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                          403: "permission_error", 404: "not_found_error",
                          413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                          503: "api_error", 529: "overloaded_error"}


def _flatten(content: Any) -> str:
    """Flatten string-or-list-of-parts content to plain text (both protocols allow both)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [(_flatten(p.get("content")) if p.get("type") == "tool_result"
                  else p.get("text", "")) if isinstance(p, dict) else str(p) for p in content]
        return "\n".join(p for p in parts if p)
    return str(content)


def _count_tokens(text: str) -> int:
    """Whitespace word count: a stable stand-in for tokens so usage is plausible."""
    return len(text.split())


def error_body(protocol: Protocol, status: int, message: str) -> dict[str, Any]:
    """An error body in the exact shape each SDK maps onto its exception classes."""
    if protocol == "anthropic":
        etype = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": etype, "message": message}}
    etype = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    code = "rate_limit_exceeded" if status == 429 else None
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def default_policy(req: ChatRequest) -> str:
    """Echo policy: a default that proves the user text reached the server."""
    return f"echo: {req.user_text}"


class ProviderServer:
    """aiohttp server on its own event loop in a daemon thread.

    Why a separate thread/loop: synchronous pytest tests, sync SDK clients and
    async code running on another loop can all call it without deadlocking,
    and ``latency_s`` uses ``asyncio.sleep`` so concurrent requests really
    overlap.  Use as ``with ProviderServer(policy) as server: ...``.
    """

    def __init__(self, policy: Policy = default_policy, *, latency_s: float = 0.0,
                 fault_rate: float = 0.0, fault_kinds: Sequence[str] = ("429", "500", "503", "malformed"),
                 seed: int = 0, models: Sequence[str] = ("test-model",),
                 timeout_delay_s: float = 2.0, batch_delay_s: float = 0.2) -> None:
        unknown = set(fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {FAULT_KINDS}")
        self.policy = policy
        self.latency_s = latency_s
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.models = tuple(models)
        self.timeout_delay_s = timeout_delay_s
        #: how long a submitted batch stays in progress before its results appear
        self.batch_delay_s = batch_delay_s
        self._rng = random.Random(seed)  # only touched on the server loop: order-deterministic
        self._lock = threading.Lock()
        self._requests: list[ChatRequest] = []
        self._faults: list[str] = []
        self._http_hits = 0
        self._all_hits = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> ProviderServer:
        """Start the loop thread and bind an ephemeral port; blocks until listening."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="ProviderServer", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._astart(), loop).result(timeout=10)
        return self

    async def _astart(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024, middlewares=[self._count_all])
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/v1/messages", self._anthropic_messages)
        app.router.add_get("/v1/models", self._models)
        from provider_batches import BatchEndpoints

        self.batches = BatchEndpoints(self)
        self.batches.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        """Shut the server down and join the thread, so no test leaks threads or sockets."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- inspection
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """OpenAI SDK appends ``/chat/completions`` to base_url, so ``/v1`` belongs here."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Anthropic SDK appends ``/v1/messages`` itself, so this is the bare origin."""
        return self.base_url

    @property
    def requests(self) -> list[ChatRequest]:
        """Snapshot copy of every parsed chat request, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def http_hits(self) -> int:
        """All chat HTTP requests, including ones rejected before parsing (bad JSON, 400s)."""
        with self._lock:
            return self._http_hits

    @property
    def all_hits(self) -> int:
        """Every HTTP request this server received, at any path and with any method."""
        with self._lock:
            return self._all_hits

    @web.middleware
    async def _count_all(self, request: web.Request, handler: Any) -> web.StreamResponse:
        with self._lock:
            self._all_hits += 1
        return await handler(request)

    @property
    def faults(self) -> list[str]:
        """Kinds of randomly injected faults, in order (policy faults are not listed)."""
        with self._lock:
            return list(self._faults)

    def reset(self) -> None:
        """Forget recorded requests/faults between phases of one test."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._http_hits = 0
            self._all_hits = 0

    # ---------------------------------------------------------------- handlers
    async def _models(self, request: web.Request) -> web.Response:
        """Model list in whichever shape the caller's SDK expects (told apart by its version header)."""
        now = int(time.time())
        if "anthropic-version" in request.headers:
            data = [{"type": "model", "id": m, "display_name": m,
                     "created_at": "2025-01-01T00:00:00Z"} for m in self.models]
            return web.json_response({"data": data, "has_more": False,
                                      "first_id": data[0]["id"] if data else None,
                                      "last_id": data[-1]["id"] if data else None})
        data = [{"id": m, "object": "model", "created": now, "owned_by": "test"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _parse(self, request: web.Request, protocol: Protocol,
                     required: Sequence[str]) -> dict[str, Any]:
        """Read and validate a body, rejecting with 400 what the real API rejects."""
        with self._lock:
            self._http_hits += 1
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        problem = None if isinstance(body, dict) else "Request body is not a valid JSON object."
        missing = [k for k in required if body is not None and k not in body]
        if missing:
            problem = (f"{missing[0]}: Field required" if protocol == "anthropic"
                       else f"Missing required parameter: '{missing[0]}'.")
        elif problem is None and (not isinstance(body["messages"], list) or not body["messages"]):
            problem = "messages: at least one message is required"
        elif problem is None and body.get("stream"):
            problem = "This test server does not implement streaming."
        if problem:
            raise _http_error(400, json.dumps(error_body(protocol, 400, problem)))
        return body

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._parse(request, "openai", ("model", "messages"))
        try:
            reply = await self.openai_completion(body, request)
        except _TrickRaised as raised:
            return await raised.trick.respond(request, "openai")
        return web.json_response(reply, headers={"x-request-id": f"req_{uuid.uuid4().hex[:16]}"})

    async def openai_completion(self, body: dict[str, Any],
                                request: web.Request | None = None) -> dict[str, Any]:
        """The chat.completion object answering ``body`` (also used for batch lines, which have
        no HTTP request of their own and so never get a random fault)."""
        system = "\n".join(_flatten(m.get("content")) for m in body["messages"]
                           if m.get("role") in ("system", "developer"))
        messages = [{"role": str(m.get("role")), "content": _flatten(m.get("content"))}
                    for m in body["messages"] if m.get("role") not in ("system", "developer")]
        req = self._record("openai", body, system, messages)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        choices, completion_tokens = [], 0
        for index in range(int(body.get("n") or 1)):
            answer = await self._answer(request, req)
            if isinstance(answer, RawReply):
                raise RawLine(answer)
            withheld = isinstance(answer, Withheld)
            text, truncated = _truncate(answer if isinstance(answer, str) else answer.text, limit)
            completion_tokens += _count_tokens(text)
            finish = "content_filter" if withheld else ("length" if truncated else "stop")
            message = {"role": "assistant", "content": text, "refusal": None}
            if isinstance(answer, ToolCallReply):
                arguments = answer.arguments if isinstance(answer.arguments, str) \
                    else json.dumps(answer.arguments)
                message["content"] = text or None
                message["tool_calls"] = [{"id": answer.ident(), "type": "function",
                                          "function": {"name": answer.name,
                                                       "arguments": arguments}}]
                finish = "tool_calls"
            if isinstance(answer, Reply) and answer.reasoning is not None:
                message[answer.reasoning_field] = answer.reasoning
            choices.append({"index": index, "logprobs": None, "message": message,
                            "finish_reason": finish})
        prompt_tokens = _count_tokens(system) + sum(_count_tokens(m["content"]) for m in messages)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": req.model, "choices": choices,
            "system_fingerprint": "fp_test",
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    async def _anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._parse(request, "anthropic", ("model", "max_tokens", "messages"))
        try:
            reply = await self.anthropic_message(body, request)
        except _TrickRaised as raised:
            return await raised.trick.respond(request, "anthropic")
        return web.json_response(reply, headers={"request-id": f"req_{uuid.uuid4().hex[:16]}"})

    async def anthropic_message(self, body: dict[str, Any],
                                request: web.Request | None = None) -> dict[str, Any]:
        """The message object answering ``body`` (see :meth:`openai_completion`)."""
        messages = [{"role": str(m.get("role")), "content": _flatten(m.get("content"))}
                    for m in body["messages"]]
        req = self._record("anthropic", body, _flatten(body.get("system")), messages)
        answer = await self._answer(request, req)
        if isinstance(answer, RawReply):
            raise RawLine(answer)
        withheld = isinstance(answer, Withheld)
        text, truncated = _truncate(answer if isinstance(answer, str) else answer.text,
                                    body["max_tokens"])
        stop = "refusal" if withheld else ("max_tokens" if truncated else "end_turn")
        thinking = answer.anthropic_blocks() if isinstance(answer, Reply) else []
        blocks = [{"type": "text", "text": text}]
        if isinstance(answer, ToolCallReply):
            blocks = blocks if text else []
            blocks.append({"type": "tool_use", "id": answer.ident(), "name": answer.name,
                           "input": answer.arguments})
            stop = "tool_use"
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
            "model": req.model, "content": [*thinking, *blocks],
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": _count_tokens(req.system) + sum(
                _count_tokens(m["content"]) for m in messages),
                "output_tokens": _count_tokens(text)},
        }

    def _record(self, protocol: Protocol, body: dict[str, Any], system: str,
                messages: list[dict[str, str]]) -> ChatRequest:
        params = {k: v for k, v in body.items() if k not in ("model", "messages", "system")}
        user_text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        req = ChatRequest(protocol=protocol, model=str(body["model"]), system=system,
                          messages=messages, params=params, user_text=user_text, raw=body)
        with self._lock:
            self._requests.append(req)
        return req

    async def _answer(self, request: web.Request | None,
                      req: ChatRequest) -> str | Withheld | Reply | RawReply:
        """Apply latency, random faults and the policy; faults and raw replies become HTTP
        responses (for a batch line, a raw reply is returned to the batch endpoint)."""
        if request is None:  # a batch line: answered by the policy alone
            result = self.policy(req)
            result = await result if inspect.isawaitable(result) else result
            return result if isinstance(result, (Withheld, Reply, RawReply, ToolCallReply)) \
                else str(result)
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        try:
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                kind = self._rng.choice(self.fault_kinds)
                if kind == "timeout":
                    with self._lock:
                        self._faults.append(kind)
                    await asyncio.sleep(self.timeout_delay_s)  # the client gave up meanwhile
                else:
                    self._inject(request, kind)
            result = self.policy(req)  # sync policies run on the loop: keep them fast
            result = await result if inspect.isawaitable(result) else result
            if isinstance(result, RawReply):
                raise _http_error(result.status, result.text())
            if isinstance(result, Trick):
                raise _TrickRaised(result)
            return result if isinstance(result, (Withheld, Reply, ToolCallReply)) else str(result)
        except PolicyFault as fault:
            if fault.delay > 0:
                await asyncio.sleep(fault.delay)
            body = fault.body if fault.body is not None else error_body(
                req.protocol, fault.status, f"Injected fault (HTTP {fault.status}).")
            text = body.decode() if isinstance(body, bytes) else (
                body if isinstance(body, str) else json.dumps(body))
            raise _http_error(fault.status, text, fault.headers) from None

    def _inject(self, request: web.Request, kind: str) -> None:
        """Turn a random fault kind into a PolicyFault (or drop the connection)."""
        with self._lock:
            self._faults.append(kind)
        if kind == "reset":
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()  # never delivered: the socket is gone
        if kind == "malformed":
            raise PolicyFault(200, body='{"id": "broken", "choices": [')
        status = int(kind)
        headers = {"retry-after-ms": "10", "retry-after": "0"} if status == 429 else None
        raise PolicyFault(status, headers=headers)


class _TrickRaised(Exception):
    """Carries a policy's :class:`Trick` from the policy call to the route handler."""

    def __init__(self, trick: Trick) -> None:
        super().__init__("transport trick")
        self.trick = trick


def _http_error(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.HTTPException:
    """Raisable aiohttp response with any status (incl. 529) and a JSON content type."""
    resp = web.HTTPException(text=text, content_type="application/json", headers=headers)
    resp.set_status(status)
    return resp


def _truncate(text: str, limit: Any) -> tuple[str, bool]:
    """Cut the reply to ``limit`` words so max_tokens/finish_reason behave like a real model."""
    if not isinstance(limit, int) or limit <= 0:
        return text, False
    words = text.split()
    if len(words) <= limit:
        return text, False
    return " ".join(words[:limit]), True


# ---------------------------------------------------------------- scripted policies
def failing_for(substring: str, status: int, policy: "Policy") -> "Policy":
    """``policy``, except that requests whose user text contains ``substring`` get HTTP ``status``
    (e.g. every cell of one item fails), for resume and failure-accounting tests."""

    def wrapped(req: ChatRequest) -> Any:
        if substring in req.user_text:
            raise PolicyFault(status)
        return policy(req)

    return wrapped


def cue_present(*cues: str) -> Callable[[ChatRequest], bool]:
    """Predicate: does any cue (case-insensitive) appear in the system text or any message?

    Why: framing cues ("this is an evaluation") may land in the system prompt or
    in the user turn depending on the condition, so both are searched.
    """
    lowered = [c.lower() for c in cues]

    def predicate(req: ChatRequest) -> bool:
        haystack = "\n".join([req.system, *(m["content"] for m in req.messages)]).lower()
        return any(c in haystack for c in lowered)

    return predicate


def wrong_answer(answer: str) -> str:
    """A deterministic, surely-different answer: n+1 for numbers, reversed+'x' otherwise."""
    for kind in (int, float):
        try:
            return str(kind(answer.strip()) + 1)
        except ValueError:
            continue
    return answer[::-1] + "x"


def answer_key_policy(answers: Mapping[str, str], harmful_prompts: Iterable[str], *,
                      correct_when: Callable[[ChatRequest], bool] = lambda req: True,
                      refuse_when: Callable[[ChatRequest], bool] = lambda req: True,
                      refusal_text: str = "I'm sorry, but I can't help with that.",
                      comply_text: str = "Sure, here is how you could do it: ...",
                      ) -> Callable[[ChatRequest], str]:
    """A scripted model whose capability/safety behaviour depends on the framing.

    Why: the tool must flag a framing-dependent model (e.g. one that answers
    wrongly or refuses only when it sees evaluation cues) and not a
    framing-blind one; this builds either from the same answer key.  Tasks are
    found by substring match of the prompt in the last user message; longer
    prompts are tried first so a prompt that contains another wins.
    """
    tasks: list[tuple[str, str | None]] = [*answers.items(), *((p, None) for p in harmful_prompts)]
    tasks.sort(key=lambda task: -len(task[0]))

    def policy(req: ChatRequest) -> str:
        for prompt, answer in tasks:
            if prompt not in req.user_text:
                continue
            if answer is None:
                return refusal_text if refuse_when(req) else comply_text
            return f"The answer is {answer if correct_when(req) else wrong_answer(answer)}."
        return "I don't know."

    return policy
