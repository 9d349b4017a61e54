"""Agentic episodes (run stage): a multi-turn tool loop per cell, every paid step journalled.

An episode cell's ``request_json`` holds the first request (framing and scenario system text,
the framed first turn, sampling params) and, under ``episode``, the scenario's source and the
tool protocol, so its hash covers everything that changes the episode. Playing it:

1. The model is sent the conversation with the scenario's tools: OpenAI ``tools`` (with
   ``parallel_tool_calls: false``), Anthropic ``tools`` (with ``disable_parallel_tool_use``).
   Under the ``text`` protocol (models without native tool calls, such as the embedded one) no
   tools are sent; the system text describes them and how to write a call instead.
2. The reply's first call is run by :class:`consistency.run.episode_tools.ToolBox` and its result
   sent back (OpenAI ``role: tool``, Anthropic ``tool_result`` blocks; a call written as text
   gets its result as a user message). A native reply without ``tool_calls`` is still read for a
   call written as text (a fenced ```json {"name": ..., "arguments": {...}}``` block or
   ``<tool_call>{...}</tool_call>``): the ``channel`` (``native``, ``text`` or ``none``) is
   recorded per step. Further calls of the same reply are dropped and counted.
   A pair may place its cue in the scenario's ``cue_file`` or before the first tool result;
   the trace's ``cue`` says where, and whether it reached the model (``exposed``).
3. A turn ends at ``submit`` or a reply without a call; the next scripted turn follows. The loop
   stops after ``max_steps`` requests in all. Then each follow-up turn is asked (tools declared,
   ``tool_choice`` none) and its reply kept for scoring.

Every reply is committed to the journal's ``episode_steps`` table before the next request is
sent; a resumed episode replays the stored replies through the same (deterministic) loop and
sends only what is missing, so a kill costs at most the steps in flight. The finished episode is
one ``responses`` row: ``text`` is the submitted answer (else the last reply), ``finish_reason``
how it ended (``submitted``, ``no_call``, ``max_steps``) and ``raw_json`` ``{"episode": trace}``
(steps, follow-up answers, final files), which :mod:`consistency.measure.episode_metrics` scores.
"""

from __future__ import annotations

import json
import re
from typing import Any

from consistency.run.episode_tools import ARG_LIMIT, ToolBox, ToolResult, tool_specs
from consistency.providers import Completion, ProviderError
from consistency.providers.base import ToolCall
from consistency.providers.ratelimit import estimate_tokens
from consistency.run.runner import WITHHELD_STOPS, _serve, send_with_retries
from consistency.common.sanitise import redact
from consistency.common.tag_calls import tag_calls
from consistency.design.scenarios import Scenario, normalise_path, parse_scenario
from consistency.run.store import RAW_LIMIT, Journal, ResponseRecord, raw_json_text

PROTOCOLS = ("native", "text")
#: Characters of a reply's text kept in a step of the trace (the journal keeps the whole reply).
TRACE_TEXT = 2000
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL | re.IGNORECASE)
_BARE = re.compile(r"\A(\{.*\})\Z", re.DOTALL)


def text_protocol_prompt(scenario: Scenario) -> str:
    """What a model without native tool calls is told (appended to the system text)."""
    lines = ["You can use tools. To call one, reply with exactly one block of this form and "
             "nothing after it:", "```json", '{"name": "<tool name>", "arguments": {...}}', "```",
             "The result comes back in the next message. Call one tool per reply. Tools:"]
    for spec in tool_specs(scenario):
        lines.append(f"- {spec['name']}: {spec['description']} Arguments (JSON schema): "
                     f"{json.dumps(spec['parameters'], sort_keys=True)}")
    return "\n".join(lines)


def parse_text_call(text: str) -> ToolCall | None:
    """The first call written as text: the earliest fenced JSON block or ``<tool_call>`` element
    holding an object with a string ``name`` (``arguments``, or ``parameters``, its arguments);
    without either, the object a reply starts with (the first, when several follow).
    A block that mentions ``"name"`` but cannot be read is a call without a name (answered with
    an error, so the model may write it again); text without such a block is no call."""
    blocks = sorted([*_FENCE.finditer(text), *_TAG.finditer(text)], key=lambda m: m.start())
    if not blocks and text.lstrip().startswith("{"):
        # a reply that starts with the call's object, without the fence (small models such as
        # the embedded Qwen2.5-Coder-0.5B write it so, at times several objects one per line):
        # the first object is the call, as the first block would be
        try:
            value, _ = json.JSONDecoder().raw_decode(text.lstrip())
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return ToolCall("", value["name"], value.get("arguments", value.get("parameters", {})))
        blocks = list(_BARE.finditer(text.strip()))
    attempted = False
    for block in blocks:
        body = block.group(1).strip()
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            attempted = attempted or '"name"' in body
            continue
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            args = value.get("arguments", value.get("parameters", {}))
            return ToolCall("", value["name"], args)
        attempted = attempted or (isinstance(value, dict) and "name" in value)
    return ToolCall("", None, None) if attempted else None


class Episode:
    """One episode as a state machine: :meth:`next_request` then :meth:`take` its reply, until
    :meth:`next_request` returns None. Pure given the replies, so replaying stored replies
    rebuilds the same state."""

    def __init__(self, request: dict[str, Any], dialect: str) -> None:
        spec = request["episode"]
        self.scenario = parse_scenario(spec["scenario"], str(spec["scenario"].get("id")), "plan")
        self.protocol = spec["protocol"]
        native = self.protocol == "native" and dialect in ("openai", "anthropic")
        self.dialect = dialect if native else "text"
        self.params = dict(request["params"])
        self.box = ToolBox(self.scenario)
        self.cue = spec.get("cue")
        self.cue_exposed = False
        if self.cue and self.cue["placement"] == "file":
            before = self.box.files.get(self.cue["path"], "")
            self.box.files[self.cue["path"]] = f"{before}\n{self.cue['text']}\n" if before \
                else f"{self.cue['text']}\n"
        self.messages: list[dict[str, Any]] = [dict(m) for m in request["messages"]]
        if self.dialect == "text":
            self._append_system(text_protocol_prompt(self.scenario))
        self.turn, self.steps, self.follow = 0, 0, 0
        self.phase = "loop"
        self.ended = ""
        self.trace: list[dict[str, Any]] = []
        self.answers: list[dict[str, str]] = []
        self.last_text = ""

    def _append_system(self, text: str) -> None:
        if self.messages and self.messages[0]["role"] == "system":
            self.messages[0]["content"] += "\n\n" + text
        else:
            self.messages.insert(0, {"role": "system", "content": text})

    # -- requests --------------------------------------------------------------------------
    def next_request(self) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
        if self.phase == "done":
            return None
        return render(self.messages, self.dialect), self._params()

    def _params(self) -> dict[str, Any]:
        if self.dialect == "text":
            return dict(self.params)
        specs = tool_specs(self.scenario)
        follow = self.phase == "follow_up"
        if self.dialect == "anthropic":
            choice = {"type": "none"} if follow else {"type": "auto",
                                                      "disable_parallel_tool_use": True}
            tools = [{"name": s["name"], "description": s["description"],
                      "input_schema": s["parameters"]} for s in specs]
            return self.params | {"tools": tools, "tool_choice": choice}
        tools = [{"type": "function", "function": s} for s in specs]
        extra = {"tool_choice": "none"} if follow else {"parallel_tool_calls": False}
        return self.params | {"tools": tools} | extra

    # -- replies ---------------------------------------------------------------------------
    def take(self, reply: Completion) -> None:
        self.last_text = reply.text
        if self.phase == "follow_up":
            question = self.scenario.follow_up[self.follow]
            self.answers.append({"metric": question.metric, "answer": reply.text})
            self.messages.append({"role": "assistant", "content": reply.text})
            self.follow += 1
            self._next_follow_up()
            return
        self.steps += 1
        call, channel = self._call(reply)
        step = {"step": self.steps, "turn": self.turn, "channel": channel,
                "text": reply.text[:TRACE_TEXT], "dropped_calls": max(0, len(reply.tool_calls)
                                                                      - 1)}
        tags = tag_calls(reply.text)
        if tags:  # <tool_use:NAME> blocks: scored as text-protocol calls, never executed
            step["tags"] = tags
        if call is None:
            self.messages.append({"role": "assistant", "content": reply.text})
            self.trace.append(step | {"tool": None})
            return self._end_turn("no_call")
        result = self._expose(call, self.box.call(call.name, call.arguments))
        self.trace.append(step | {"tool": call.name if isinstance(call.name, str) else None,
                                  "arguments": result.arguments or _clip(call.arguments),
                                  "result": result.text, "error": result.error})
        call_id = call.id or f"call_{self.steps}"
        # a name that is no declared tool goes back as a fixed one: APIs check names in history
        name = call.name if result.error != "unknown_tool" else "invalid_tool"
        self.messages.append({"role": "assistant", "content": reply.text, "channel": channel,
                              "call": {"id": call_id, "name": name,
                                       "arguments": result.arguments}})
        self.messages.append({"role": "tool", "id": call_id, "name": name, "channel": channel,
                              "content": result.text})
        if call.name == "submit" and result.error is None:
            return self._end_turn("submitted")
        if self.steps >= self.scenario.max_steps:
            return self._end_turn("max_steps")

    def _expose(self, call: ToolCall, result: ToolResult) -> ToolResult:
        """Place a ``result`` cue before the first valid call's result; note whether the cue
        reached the model (its file read, or its result returned)."""
        if not self.cue or result.error is not None or self.cue_exposed:
            return result
        if self.cue["placement"] == "result":
            self.cue_exposed = True
            return ToolResult(f"{self.cue['text']}\n\n{result.text}", None, result.arguments)
        path = result.arguments.get("path")
        if call.name == "read_file" and isinstance(path, str) \
                and normalise_path(path) == self.cue["path"]:
            self.cue_exposed = True
        return result

    def _call(self, reply: Completion) -> tuple[ToolCall | None, str]:
        if self.dialect != "text" and reply.tool_calls:
            return reply.tool_calls[0], "native"
        call = parse_text_call(reply.text)
        return (call, "text") if call is not None else (None, "none")

    def _end_turn(self, reason: str) -> None:
        self.ended = reason
        self.turn += 1
        if self.turn < len(self.scenario.turns) and self.steps < self.scenario.max_steps:
            self.messages.append({"role": "user", "content": self.scenario.turns[self.turn]})
            return
        if self.steps >= self.scenario.max_steps and reason != "submitted":
            self.ended = "max_steps"
        self.phase = "follow_up"
        self._next_follow_up()

    def _next_follow_up(self) -> None:
        if self.follow >= len(self.scenario.follow_up):
            self.phase = "done"
            return
        self.messages.append({"role": "user", "content": self.scenario.follow_up[self.follow].turn})

    def result(self) -> dict[str, Any]:
        """The trace kept in the journal and scored by :mod:`consistency.measure.episode_metrics`."""
        return {"protocol": self.protocol, "steps": self.trace, "follow_ups": self.answers,
                "files": self.box.files, "answer": self.box.answer, "ended": self.ended,
                "tool_errors": self.box.errors, "n_steps": self.steps,
                "cue": ({"placement": self.cue["placement"], "exposed": self.cue_exposed}
                        if self.cue else None)}


def render(messages: list[dict[str, Any]], dialect: str) -> list[dict[str, Any]]:
    """The neutral conversation as one protocol's messages. Calls written as text (and every
    call under the text protocol) travel as text: the reply as it was, the result as a user
    message."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role, native = message["role"], message.get("channel") == "native" and dialect != "text"
        if role == "tool" and not native:
            out.append({"role": "user", "content": f"Result of {message['name']}:\n"
                                                   f"{message['content']}"})
        elif role == "tool" and dialect == "anthropic":
            out.append({"role": "user", "content": [{"type": "tool_result",
                                                     "tool_use_id": message["id"],
                                                     "content": message["content"]}]})
        elif role == "tool":
            out.append({"role": "tool", "tool_call_id": message["id"],
                        "content": message["content"]})
        elif role == "assistant" and native:
            out.append(_native_assistant(message, dialect))
        else:
            out.append({"role": role, "content": message["content"] or "(no reply)"})
        if dialect == "anthropic" and len(out) > 1 and out[-1]["role"] == out[-2]["role"] == "user":
            last = out.pop()  # the messages API wants turns to alternate: one user turn
            out[-1] = {"role": "user", "content": _blocks(out[-1]) + _blocks(last)}
    return out


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return list(content) if isinstance(content, list) else [{"type": "text", "text": content}]


def _native_assistant(message: dict[str, Any], dialect: str) -> dict[str, Any]:
    call = message["call"]
    if dialect == "anthropic":
        blocks: list[dict[str, Any]] = ([{"type": "text", "text": message["content"]}]
                                        if message["content"].strip() else [])
        blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"],
                       "input": call["arguments"]})
        return {"role": "assistant", "content": blocks}
    return {"role": "assistant", "content": message["content"] or None,
            "tool_calls": [{"id": call["id"], "type": "function",
                            "function": {"name": call["name"],
                                         "arguments": json.dumps(call["arguments"])}}]}


def _clip(value: Any) -> Any:
    """A refused call's arguments as kept in the trace: short values as they are, else text."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:TRACE_TEXT]
    return value if len(text) <= TRACE_TEXT else text[:TRACE_TEXT]


# -- journal form of a reply ----------------------------------------------------------------
def stored_reply(reply: Completion, latency: float) -> str:
    """A reply as the journal keeps it: what the loop reads, clipped so it always stores and
    always reads back the same (the live loop reads it back too, so a replay cannot differ).
    ASCII JSON (a lone surrogate from a ``\ud800`` escape stays an escape SQLite can store),
    with secrets redacted."""
    calls = [{"id": call.id[:200], "name": None if call.name is None else call.name[:200],
              "arguments": _stored_arguments(call.arguments)} for call in reply.tool_calls[:8]]
    core = {"text": reply.text[:RAW_LIMIT], "tool_calls": calls,
            "finish_reason": reply.finish_reason, "model_reported": reply.model_reported,
            "input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
            "latency_s": latency, "raw": raw_json_text(reply.raw)}
    return redact(json.dumps(core))


def _stored_arguments(value: Any) -> Any:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:ARG_LIMIT]
    return value if len(text) <= 2 * ARG_LIMIT else text[:2 * ARG_LIMIT]


def read_reply(text: str) -> tuple[Completion, float]:
    core = json.loads(text)
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in core["tool_calls"])
    return Completion(core["text"], core["finish_reason"], core["model_reported"],
                      core["input_tokens"], core["output_tokens"], raw={},
                      tool_calls=calls), float(core["latency_s"] or 0.0)


# -- the runner's serve function ------------------------------------------------------------
def episode_server(journal: Journal, dialect: str) -> Any:
    """A ``serve`` function for :func:`consistency.run.runner.run_cells` that plays episode cells
    and sends other cells as the runner does (``dialect``: the provider's protocol, ``openai``
    or ``anthropic``; anything else, such as the embedded model, uses the text protocol)."""

    async def serve(provider: Any, cell: Any, stats: Any, state: Any,
                    limiter: Any) -> ResponseRecord | None:
        request = json.loads(cell.request_json)
        if "episode" not in request:  # a one-shot task (or a check) of the same suite
            return await _serve(provider, cell, stats, state, limiter)
        episode = Episode(request, dialect)
        stored = journal.steps(cell.cell_id, cell.request_hash)
        totals = {"input_tokens": 0, "output_tokens": 0, "latency_s": 0.0}
        index = 0
        while (step := episode.next_request()) is not None:
            if index < len(stored):
                text = stored[index]
            else:
                sent = await _send_step(provider, step, stats, state, limiter)
                if isinstance(sent, ProviderError):
                    return ResponseRecord(cell.cell_id, cell.request_hash, "error",
                                          error_kind=sent.kind, error_message=str(sent),
                                          raw=sent.raw if sent.raw is not None else {})
                if sent is None:
                    return None
                text = stored_reply(*sent)
                journal.record_step(cell.cell_id, index, cell.request_hash, text)
            reply, latency = read_reply(text)
            _add(totals, reply, latency)
            if reply.finish_reason in WITHHELD_STOPS:
                return ResponseRecord(cell.cell_id, cell.request_hash, "error",
                                      error_kind="content_filter",
                                      error_message="the provider withheld a reply in the "
                                      f"episode (stop reason {reply.finish_reason})")
            try:
                episode.take(reply)
            except Exception as exc:  # noqa: BLE001 - one unreadable episode must not stop a run
                return ResponseRecord(cell.cell_id, cell.request_hash, "error", error_kind="other",
                                      error_message=f"episode step {index} could not be played "
                                      f"({type(exc).__name__}: {exc})")
            index += 1
        answer = episode.box.answer if episode.box.answer is not None else episode.last_text
        return ResponseRecord(cell.cell_id, cell.request_hash,
                              "ok" if answer.strip() else "empty", text=answer,
                              finish_reason=episode.ended, raw={"episode": episode.result()},
                              **totals)

    return serve


def _add(totals: dict[str, Any], reply: Completion, latency: float) -> None:
    totals["input_tokens"] += reply.input_tokens or 0
    totals["output_tokens"] += reply.output_tokens or 0
    totals["latency_s"] += latency


async def _send_step(provider: Any, step: tuple[list[dict[str, Any]], dict[str, Any]],
                     stats: Any, state: Any, limiter: Any
                     ) -> tuple[Completion, float] | ProviderError | None:
    """One step through the runner's gate, pacing, retries and error budget: the reply, the
    final failure, or None when the run was stopped while it waited."""
    messages, params = step
    # block lists and tool calls counted as their JSON text (the estimate reads text content)
    tokens = (estimate_tokens([{"content": json.dumps(messages)}], params.get("max_tokens"))
              if limiter.active else 0)
    return await send_with_retries(provider, messages, params, stats, state, limiter, tokens)
