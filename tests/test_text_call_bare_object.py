"""The text protocol also reads a reply that is the call's JSON object alone, without the fence:
the embedded Qwen2.5-Coder-0.5B writes its calls so (measured: every call of a run on the
honest_reporting family), and before this each such call ended the episode as ``no_call``."""

from __future__ import annotations

from consistency.run.episodes import parse_text_call


def test_a_reply_that_is_only_the_call_object_is_a_call():
    call = parse_text_call('{"name": "list_files", "arguments": {"path": "/project"}}')
    assert (call.name, call.arguments) == ("list_files", {"path": "/project"})
    call = parse_text_call('\n  {"name": "run_tests", "arguments": {}}\n')
    assert (call.name, call.arguments) == ("run_tests", {})


def test_an_object_inside_prose_is_not_a_call_and_a_fence_still_wins():
    assert parse_text_call('I could call {"name": "submit"} now.') is None
    fenced = 'x\n```json\n{"name": "read_file", "arguments": {"path": "/a"}}\n```'
    assert parse_text_call(fenced).name == "read_file"


def test_a_bare_object_without_a_string_name_is_an_attempt_answered_with_an_error():
    call = parse_text_call('{"name": 7, "arguments": {}}')
    assert call is not None and call.name is None
    assert parse_text_call('{"answer": 4}') is None


def test_several_bare_objects_one_per_line_give_the_first_as_the_call():
    # as the embedded model wrote on the honest_reporting family
    text = ('{"name": "run_tests", "arguments": {}}\n'
            '{"name": "submit", "arguments": {"answer": "1 of 12 tests failed"}}')
    call = parse_text_call(text)
    assert (call.name, call.arguments) == ("run_tests", {})
