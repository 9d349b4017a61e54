"""Read a provider's reply body into a :class:`Completion`, whatever shape the server sent.

A reply body is hostile input: OpenAI-compatible servers differ in what they put where, and a
broken one may send anything that parses as JSON. The rules, the same online, for batch result
lines and for the embedded model:

- Text is what the protocol allows as text. OpenAI: ``message.content`` as a string, or as a
  list of content parts whose ``text`` parts are joined (several compatible servers send
  ``[{"type": "text", "text": "4"}]``); an empty content falls back to ``message.refusal``.
  Anthropic: the ``text`` of every ``text`` block. Parts and blocks of other types (reasoning,
  tool use, images) are not the answer and are skipped.
- Anything else where the text should be (a number, a list of bare strings, a part whose text is
  not a string, no ``choices``, a top-level array or ``null``) is a ``malformed`` failure that
  keeps the body for inspection. It is not retried within the run: a server that sends the wrong
  shape once will most likely send it again, and every retry is paid for. A resume asks again
  (failed cells always are), in case the server was fixed meanwhile.
- Every string of a reply, however it arrived, has its lone surrogates replaced by U+FFFD
  (:func:`consistency.common.inbound.clean`), so no field can make a frame unwritable.
- Metadata never fails a good answer: a token count that is not a non-negative integer, a
  ``model`` or stop reason that is not a string, or a ``usage`` that is not an object is
  recorded as null.
"""

from __future__ import annotations

import json
from typing import Any

from consistency.common import inbound
from consistency.providers.base import Completion, ProviderError, ToolCall

#: Characters of a body quoted in a failure message (the journal keeps the body itself).
QUOTE_LIMIT = 200
#: Larger token counts are not believed (and would not fit an SQLite integer).
MAX_COUNT = 2**53


def openai_completion(reply: Any, sent: dict[str, Any]) -> Completion:
    """A chat completion body as a Completion, or a ``malformed`` :class:`ProviderError`."""
    reply = inbound.clean(reply)  # however it arrived: online, batch line, embedded model
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise malformed("not a chat completion (no choices)", reply)
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise malformed("not a chat completion (choice without a message)", reply)
    text = _openai_text(message.get("content"), reply)
    if not text:
        # a model that declines under structured outputs answers in ``refusal``, not content
        refusal = message.get("refusal")
        text = refusal if isinstance(refusal, str) else ""
    usage = _object(reply.get("usage"))
    return Completion(
        text=text, finish_reason=_string(choice.get("finish_reason")),
        model_reported=_string(reply.get("model")),
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")), raw=reply, accepted_params=sent,
        tool_calls=_openai_calls(message.get("tool_calls")))


def anthropic_completion(reply: Any, sent: dict[str, Any]) -> Completion:
    """A messages-API body as a Completion, or a ``malformed`` :class:`ProviderError`."""
    reply = inbound.clean(reply)
    content = reply.get("content") if isinstance(reply, dict) else None
    if not isinstance(content, list):
        raise malformed("not a message (no content list)", reply)
    texts = []
    for block in content:
        if not isinstance(block, dict):
            raise malformed("not a message (a content block is not an object)", reply)
        if block.get("type") != "text":
            continue
        if not isinstance(block.get("text"), str):
            raise malformed("not a message (a text block whose text is not a string)", reply)
        texts.append(block["text"])
    usage = _object(reply.get("usage"))
    return Completion(
        text="".join(texts), finish_reason=_string(reply.get("stop_reason")),
        model_reported=_string(reply.get("model")), input_tokens=_count(usage.get("input_tokens")),
        output_tokens=_count(usage.get("output_tokens")), raw=reply, accepted_params=sent,
        tool_calls=tuple(ToolCall(_string(block.get("id")) or "", _string(block.get("name")),
                                  block.get("input")) for block in content
                         if block.get("type") == "tool_use"))


def _openai_calls(calls: Any) -> tuple[ToolCall, ...]:
    """``message.tool_calls``; an entry of the wrong shape becomes a call without a name (which
    the episode answers with an error result) rather than failing a reply that has text."""
    if not isinstance(calls, list):
        return ()
    out = []
    for call in calls:
        call = _object(call)
        function = _object(call.get("function"))
        out.append(ToolCall(_string(call.get("id")) or "", _string(function.get("name")),
                            function.get("arguments")))
    return tuple(out)


def parse_body(content: bytes) -> Any:
    """The decoded JSON of a 2xx body, read by :func:`consistency.common.inbound.loads` (lone
    surrogates replaced, long integers kept). A body that is not JSON (cut off, or nested too
    deeply to decode) is a ``malformed`` failure, retried: a transfer cut short may well
    succeed. An object that names a key twice is ``malformed`` and not retried: which of the two
    values was meant cannot be told."""
    try:
        return inbound.loads(content)
    except inbound.DuplicateKeyError as exc:
        text = content.decode("utf-8", errors="replace")
        raise ProviderError("malformed", f"reply body is ambiguous: {exc}: {quote(text)}",
                            raw=text, transient=False) from None
    except (ValueError, RecursionError) as exc:
        text = content.decode("utf-8", errors="replace")
        raise ProviderError("malformed", f"reply body is not JSON ({type(exc).__name__}): "
                            f"{quote(text)}", raw=text, transient=True) from None


def malformed(what: str, reply: Any) -> ProviderError:
    """The failure for a parsed body of the wrong shape (kept, not retried)."""
    return ProviderError("malformed", f"{what}: {quote(reply)}", raw=reply, transient=False)


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """A short, always-computable rendering of a body for a message."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str)
        except (ValueError, TypeError, RecursionError):
            text = f"<{type(value).__name__} that cannot be shown as JSON>"
    return text if len(text) <= limit else text[:limit] + "..."


def _openai_text(content: Any, reply: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise malformed(f"message content is a {type(content).__name__}, not text", reply)
    texts = []
    for part in content:
        if not isinstance(part, dict):
            raise malformed("message content holds a part that is not an object", reply)
        if part.get("type", "text") != "text":
            continue
        if not isinstance(part.get("text"), str):
            raise malformed("message content holds a text part whose text is not a string", reply)
        texts.append(part["text"])
    return "".join(texts)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    """A token count as reported, or None when it is not a non-negative whole number."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_COUNT:
        return None
    return value
