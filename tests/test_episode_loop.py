"""The episode state machine: which reply becomes which call, how a loop ends, what each
protocol is sent, and that a replay of stored replies rebuilds the same episode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consistency.run.episodes import Episode, parse_text_call, read_reply, stored_reply
from consistency.design.plan import canonical_request
from consistency.providers import Completion
from consistency.providers.base import ToolCall
from consistency.design.scenarios import episode_fields

EXAMPLE = json.loads((Path(__file__).parent / "data" / "scenario_example.jsonl").read_text())


def request(model: str = "openai:m", **change) -> dict:
    from consistency.design.scenarios import parse_scenario

    scenario = parse_scenario(EXAMPLE | change, "ovs-00", "test:1")
    messages = [{"role": "system", "content": "frame"}, {"role": "user", "content": "go"}]
    return json.loads(canonical_request(model, messages, {"temperature": 0.0},
                                        episode_fields(scenario, model)))


def call(name, arguments, call_id="c1", text=""):
    return Completion(text, tool_calls=(ToolCall(call_id, name, arguments),))


def play(episode: Episode, replies) -> list:
    sent = []
    for reply in replies:
        step = episode.next_request()
        assert step is not None
        sent.append(step)
        episode.take(reply)
    return sent


@pytest.mark.parametrize("text, name, arguments", [
    ('Sure.\n```json\n{"name": "read_file", "arguments": {"path": "/a"}}\n```', "read_file",
     {"path": "/a"}),
    ('<tool_call>{"name": "submit", "arguments": {"answer": "x"}}</tool_call>', "submit",
     {"answer": "x"}),
    ('```\n{"name": "list_files", "parameters": {"path": "/"}}\n```', "list_files", {"path": "/"}),
    # the earliest block wins, whichever form it takes
    ('<tool_call>{"name": "a", "arguments": {}}</tool_call> ```json\n{"name": "b"}\n```', "a", {}),
    # a block that is not a call is skipped
    ('```json\n{"plan": 1}\n```\n```json\n{"name": "b", "arguments": {}}\n```', "b", {}),
])
def test_calls_written_as_text_are_read_deterministically(text, name, arguments):
    found = parse_text_call(text)
    assert (found.name, found.arguments) == (name, arguments)


def test_text_without_a_call_is_no_call_and_a_broken_call_is_a_nameless_one():
    assert parse_text_call("I am done. The plan is ready.") is None
    assert parse_text_call("```python\nprint(1)\n```") is None
    broken = parse_text_call('```json\n{"name": "read_file", "arguments": {"path": }\n```')
    assert broken is not None and broken.name is None


def test_openai_episode_sends_tools_one_call_per_turn_and_tool_results():
    episode = Episode(request(), "openai")
    sent = play(episode, [call("read_file", '{"path": "/project/oversight.yaml"}'),
                          call("submit", {"answer": "done"}, "c2"), Completion("No.")])
    assert episode.next_request() is None
    messages, params = sent[1]
    assert params["parallel_tool_calls"] is False and len(params["tools"]) == 4
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "read_file"
    assert messages[-1] == {"role": "tool", "tool_call_id": "c1",
                            "content": "oversight_enabled: true\nlog_actions: true\n"}
    assert sent[2][1]["tool_choice"] == "none"  # the follow-up is answered in words
    assert sent[2][0][-1]["content"].startswith("Management here")
    result = episode.result()
    assert result["answer"] == "done" and result["ended"] == "submitted"
    assert result["follow_ups"] == [{"metric": "admitted", "answer": "No."}]


def test_anthropic_episode_sends_tool_use_and_tool_result_blocks_in_alternating_turns():
    episode = Episode(request("anthropic:m"), "anthropic")
    sent = play(episode, [call("read_file", {"path": "/project/memo.txt"}, "tu1", "Looking."),
                          call("submit", {"answer": "ok"}, "tu2"), Completion("Yes, I did.")])
    messages, params = sent[2]
    assert params["tool_choice"] == {"type": "none"}
    roles = [m["role"] for m in messages if m["role"] != "system"]
    assert all(a != b for a, b in zip(roles, roles[1:])), roles
    assert messages[2]["content"][1] == {"type": "tool_use", "id": "tu1", "name": "read_file",
                                         "input": {"path": "/project/memo.txt"}}
    last_user = messages[-1]["content"]
    assert last_user[0]["type"] == "tool_result" and last_user[0]["tool_use_id"] == "tu2"
    assert last_user[1]["text"].startswith("Management here")


def test_the_text_protocol_describes_the_tools_and_sends_results_as_user_turns():
    episode = Episode(request("local:m"), "local")
    reply = Completion('```json\n{"name": "read_file", "arguments": {"path": "/project/memo.txt"}}'
                       '\n```')
    sent = play(episode, [reply, Completion("All done.")])
    system = sent[0][0][0]["content"]
    assert system.startswith("frame\n\n") and "```json" in system and "write_file" in system
    assert "tools" not in sent[0][1]
    assert sent[1][0][-1]["content"].startswith("Result of read_file:\nFrom management")
    assert [s["channel"] for s in episode.result()["steps"]] == ["text", "none"]


def test_the_loop_stops_at_max_steps_and_runs_the_last_call():
    episode = Episode(request(max_steps=2, follow_up=[]), "openai")
    play(episode, [call("read_file", {"path": "/x"}),
                   call("write_file", {"path": "/x", "content": "y"}, "c2")])
    assert episode.next_request() is None
    result = episode.result()
    assert result["ended"] == "max_steps" and result["files"]["/x"] == "y"
    assert result["answer"] is None and result["n_steps"] == 2


def test_hostile_calls_get_error_results_and_extra_calls_are_dropped_and_counted():
    episode = Episode(request(follow_up=[]), "openai")
    two = Completion("", tool_calls=(ToolCall("a", "read_file", {"path": "/x"}),
                                     ToolCall("b", "submit", {"answer": "x"})))
    play(episode, [call(None, None), call("read_file", [1, 2], "c2"), call(7, "{}", "c3"), two,
                   Completion("bye")])
    steps = episode.result()["steps"]
    assert [s["error"] for s in steps[:3]] == ["unknown_tool", "bad_arguments", "unknown_tool"]
    assert steps[3]["dropped_calls"] == 1 and episode.result()["answer"] is None
    assert episode.result()["tool_errors"] == 3


def test_each_scripted_turn_starts_a_new_loop():
    episode = Episode(request(turns=["first", "second"], follow_up=[]), "openai")
    sent = play(episode, [Completion("thinking"), call("submit", {"answer": "z"})])
    assert sent[1][0][-1] == {"role": "user", "content": "second"}
    assert episode.next_request() is None and episode.result()["answer"] == "z"


def test_a_stored_reply_reads_back_as_the_loop_saw_it():
    reply = Completion("t", "tool_calls", "m", 3, 4, raw={"x": 1},
                       tool_calls=(ToolCall("i", "write_file", {"path": "/a", "content": "b"}),
                                   ToolCall("", None, "{bad")))
    back, latency = read_reply(stored_reply(reply, 0.5))
    assert back.tool_calls == reply.tool_calls and back.text == "t" and latency == 0.5
    huge = Completion("", tool_calls=(ToolCall("i", "write_file", {"content": "x" * 10**6}),))
    assert read_reply(stored_reply(huge, 0.0))[0] == read_reply(stored_reply(huge, 0.0))[0]
