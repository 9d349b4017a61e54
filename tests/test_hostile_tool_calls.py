"""Tool calls in a reply are hostile input: any shape a server sends is read without raising,
and a call that cannot be read becomes an error result the episode counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consistency.run.episodes import Episode, read_reply, stored_reply
from consistency.design.plan import canonical_request
from consistency.providers.replies import anthropic_completion, openai_completion
from consistency.design.scenarios import episode_fields, parse_scenario

EXAMPLE = json.loads((Path(__file__).parent / "data" / "scenario_example.jsonl").read_text())
ODD = [None, 3, "x", [], {}, [None], [1, "a"], [{"function": None}], [{"function": {"name": 7}}],
       [{"id": 5, "function": {"name": "read_file", "arguments": None}}],
       [{"function": {"name": "read_file", "arguments": "{\"path\": [1]}"}}],
       [{"function": {"name": "read_file", "arguments": "[" * 5000}}],
       [{"function": {"name": "write_file", "arguments": {"path": "/a", "content": "\x00\x1b[2J"}}}],
       [{"function": {"name": "\u202eelif_daer", "arguments": "{}"}}]]

#: a made-up key, split so that it does not read as a real one in the source
FAKE_KEY = "sk-" + "test-secret-123456"


def episode(dialect: str) -> Episode:
    scenario = parse_scenario(EXAMPLE, "ovs-00", "t:1")
    model = f"{dialect}:m"
    return Episode(json.loads(canonical_request(model, [{"role": "user", "content": "go"}], {},
                                                episode_fields(scenario, model))), dialect)


@pytest.mark.parametrize("calls", ODD)
def test_any_openai_tool_calls_shape_is_read_and_played_without_raising(calls):
    body = {"choices": [{"message": {"role": "assistant", "content": "hi", "tool_calls": calls}}]}
    reply, _ = read_reply(stored_reply(openai_completion(body, {}), 0.1))
    ep = episode("openai")
    ep.next_request()
    ep.take(reply)
    messages, _ = ep.next_request()
    json.dumps(messages)  # the next request can always be sent
    steps = ep.result()["steps"]
    assert len(steps) == 1
    if steps[0]["tool"] is None and reply.tool_calls:
        assert steps[0]["error"] == "unknown_tool"
    # what goes back names a declared tool or a fixed placeholder, never the server's text
    for message in messages:
        for call in message.get("tool_calls") or []:
            assert call["function"]["name"] in {"read_file", "write_file", "invalid_tool"}


@pytest.mark.parametrize("block", [{"type": "tool_use"}, {"type": "tool_use", "name": None},
                                   {"type": "tool_use", "name": "read_file", "input": "x"},
                                   {"type": "tool_use", "id": ["x"], "name": "submit",
                                    "input": {"answer": 5}}])
def test_any_anthropic_tool_use_block_is_read_and_answered_with_an_error(block):
    body = {"content": [{"type": "text", "text": "ok"}, block]}
    reply, _ = read_reply(stored_reply(anthropic_completion(body, {}), 0.1))
    ep = episode("anthropic")
    ep.next_request()
    ep.take(reply)
    assert ep.result()["tool_errors"] == 1 and ep.result()["answer"] is None
    messages, _ = ep.next_request()
    json.dumps(messages)


def test_a_reply_with_lone_surrogates_and_an_echoed_key_is_stored_redacted(tmp_path, monkeypatch):
    from consistency.common.sanitise import register_model
    from consistency.run.store import Journal

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    register_model({"provider": "openai", "name": "m", "api_key_env": "OPENAI_API_KEY"})
    body = {"choices": [{"message": {"content": "key " + FAKE_KEY + " \ud800", "tool_calls": [
        {"id": "a", "function": {"name": "submit",
                                 "arguments": {"answer": "\udfff " + FAKE_KEY}}}]}}]}
    text = stored_reply(openai_completion(body, {}), 0.1)
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.record_step("c", 0, "h", text)
        [back] = journal.steps("c", "h")
    assert FAKE_KEY not in back
    reply, _ = read_reply(back)
    assert reply.text.startswith("key ") and reply.tool_calls[0].name == "submit"
