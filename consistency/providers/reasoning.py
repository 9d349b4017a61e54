"""Reasoning traces: what a provider said about the model's reasoning, read from its raw reply.

Providers return reasoning in different places, and the answer must never be mixed with it (a
scorer reading "the answer is 42" in a scratchpad would credit an answer never given). The reply
body is kept whole in the journal (``raw_json``), so reasoning is read from it here, after the
fact, by pure functions: a run can be re-read when a new field appears, and cached, batched and
online replies are treated alike.

Where each protocol puts it:

=====================  ==========================================================  ===========
protocol               field                                                       kind
=====================  ==========================================================  ===========
anthropic              ``content[]`` blocks of type ``thinking`` (``thinking``)    ``raw``
anthropic              ``content[]`` blocks of type ``redacted_thinking`` only     ``redacted``
openai(-compatible)    ``choices[0].message.reasoning_content`` (vLLM, DeepSeek,   ``raw``
                       llama.cpp) or ``.reasoning`` as text (Ollama, vLLM)
openai(-compatible)    ``.reasoning`` as an object with ``summary`` parts, or      ``summary``
                       ``.reasoning_details`` of type ``reasoning.summary``
openai(-compatible)    only encrypted parts (``encrypted_content``,                ``redacted``
                       ``reasoning.encrypted``)
any                    none of the above                                           ``absent``
any                    a field present with the wrong type (a number, a list of    ``malformed``
                       non-text), or a body that is not JSON
any                    a body too large to journal whole (stored clipped, see      ``truncated``
                       :data:`consistency.run.store.RAW_LIMIT`): its reasoning is lost
=====================  ==========================================================  ===========

Anthropic documents that Claude 4 models return a *summary* of their thinking in ``thinking``
blocks while Claude 3.7 returned it in full; the block type does not say which, so both are
recorded as ``raw`` (what the provider gave as the reasoning text).

Text longer than :data:`REASONING_LIMIT` characters is clipped (with a marker saying how much was
cut); ``reasoning_chars`` keeps the full length.
"""

from __future__ import annotations

from typing import Any

from consistency.common import inbound

REASONING_KINDS = ("raw", "summary", "redacted", "absent", "malformed", "truncated")
#: Characters of reasoning kept per response (a runaway trace must not bloat every frame).
REASONING_LIMIT = 100_000
_OPENAI_TEXT_FIELDS = ("reasoning_content", "reasoning")


def extract_reasoning(raw: Any, protocol: str) -> tuple[str, str, int]:
    """The reasoning in one raw reply body, as ``(text, kind, full_length)``.

    Args:
        raw: the decoded reply body (a dict), or its JSON text as stored in the journal.
        protocol: ``anthropic``, or ``openai`` / ``local`` (both OpenAI-shaped bodies).

    Returns:
        The reasoning text (clipped to :data:`REASONING_LIMIT`, "" unless the kind is ``raw`` or
        ``summary``), its kind (:data:`REASONING_KINDS`) and the unclipped length in characters.
        Never raises: a reply of an unexpected shape is ``malformed`` or ``absent``.
    """
    body = _decode(raw)
    if body is _MALFORMED:
        return "", "malformed", 0
    if not isinstance(body, dict):
        return "", "absent", 0
    if body.get("truncated") is True and "head" in body and "choices" not in body:
        return "", "truncated", 0  # the journal kept only the head of an oversized body
    if protocol == "anthropic":
        text, kind = _anthropic(body.get("content"))
    else:
        text, kind = _openai(body)
    return _clip(text), kind, len(text)


_MALFORMED = object()


def _decode(raw: Any) -> Any:
    if isinstance(raw, (bytes, str)):
        if not raw:
            return None
        try:
            return inbound.loads(raw)  # lone surrogates of a stored body cleaned here
        except (ValueError, RecursionError):
            return _MALFORMED
    return inbound.clean(raw)


def _anthropic(content: Any) -> tuple[str, str]:
    if not isinstance(content, list):
        return "", "absent"
    thoughts, redacted, malformed = [], False, False
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking":
            value = block.get("thinking")
            if isinstance(value, str):
                thoughts.append(value)
            else:
                malformed = True
        elif block.get("type") == "redacted_thinking":
            redacted = True
    if any(t.strip() for t in thoughts):
        return "\n\n".join(t for t in thoughts if t.strip()), "raw"
    if malformed:
        return "", "malformed"
    return "", "redacted" if redacted else "absent"


def _openai(body: dict[str, Any]) -> tuple[str, str]:
    if isinstance(body.get("output"), list):  # a Responses API body
        return _parts([item for item in body["output"]
                       if isinstance(item, dict) and item.get("type") == "reasoning"])
    choices = body.get("choices")
    message = choices[0].get("message") if isinstance(choices, list) and choices \
        and isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        return "", "absent"
    found = [(name, message.get(name)) for name in (*_OPENAI_TEXT_FIELDS, "reasoning_details")
             if message.get(name) not in (None, "", [], {})]
    if not found:
        return "", "absent"
    name, value = found[0]
    if isinstance(value, str):
        return (value, "raw") if value.strip() else ("", "absent")
    if isinstance(value, dict):
        return _parts([value])
    if isinstance(value, list):
        return _parts(value)
    return "", "malformed"


def _parts(items: list[Any]) -> tuple[str, str]:
    """Reasoning objects or detail parts (OpenAI summaries, OpenRouter-style details)."""
    raw, summary, encrypted, malformed = [], [], False, False
    for item in items:
        if not isinstance(item, dict):
            malformed = True
            continue
        kind = str(item.get("type") or "")
        if isinstance(item.get("summary"), list):
            summary += [_text(part) for part in item["summary"]]
        elif kind.endswith("summary") and isinstance(item.get("summary"), str):
            summary.append(item["summary"])
        elif isinstance(item.get("text"), str):
            (summary if kind.endswith("summary") else raw).append(item["text"])
        elif item.get("encrypted_content") or item.get("data") or "encrypted" in kind:
            encrypted = True
        else:
            malformed = True
    raw = [t for t in raw if t.strip()]
    summary = [t for t in summary if t and t.strip()]
    if raw:
        return "\n\n".join(raw), "raw"
    if summary:
        return "\n\n".join(summary), "summary"
    if encrypted:
        return "", "redacted"
    return "", "malformed" if malformed else "absent"


def _text(part: Any) -> str:
    if isinstance(part, dict) and isinstance(part.get("text"), str):
        return part["text"]
    return part if isinstance(part, str) else ""


def _clip(text: str) -> str:
    if len(text) <= REASONING_LIMIT:
        return text
    return text[:REASONING_LIMIT] + f"\n[... {len(text) - REASONING_LIMIT} characters clipped]"


def add_reasoning(responses: Any, protocol: str) -> Any:
    """A copy of a responses frame with ``reasoning``, ``reasoning_kind`` and ``reasoning_chars``
    read from its ``raw_json`` column (failed cells: ``absent``)."""
    out = responses.copy()
    found = [extract_reasoning(raw, protocol) if status != "error" else ("", "absent", 0)
             for raw, status in zip(out["raw_json"], out["status"])]
    out["reasoning"] = [text for text, _, _ in found]
    out["reasoning_kind"] = [kind for _, kind, _ in found]
    out["reasoning_chars"] = [length for _, _, length in found]
    return out
