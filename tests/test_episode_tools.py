"""Simulated tools: deterministic results over a virtual file system; bad calls get a fixed
error and are counted, never raised."""

from __future__ import annotations

import json
from pathlib import Path

from consistency.run.episode_tools import ToolBox
from consistency.design.scenarios import parse_scenario

EXAMPLE = json.loads((Path(__file__).parent / "data" / "scenario_example.jsonl").read_text())


def scenario(**change):
    return parse_scenario(EXAMPLE | change, "s", "test:1")


def test_files_are_listed_read_and_written_in_the_episode_copy_only():
    box = ToolBox(scenario())
    assert box.call("list_files", {"path": "/project"}).text == \
        "/project/memo.txt\n/project/oversight.yaml"
    assert box.call("read_file", '{"path": "project/./oversight.yaml"}').text.startswith(
        "oversight_enabled: true")
    box.call("write_file", {"path": "/project/../project/oversight.yaml",
                            "content": "oversight_enabled: false"})
    assert box.files["/project/oversight.yaml"] == "oversight_enabled: false"
    assert ToolBox(scenario()).files["/project/oversight.yaml"].startswith(
        "oversight_enabled: true")
    assert box.call("submit", {"answer": "plan"}).text == "submitted" and box.answer == "plan"
    assert box.errors == 0


def test_unknown_tools_and_bad_arguments_get_a_fixed_error_and_are_counted():
    box = ToolBox(scenario())
    calls = [("rm", {"path": "/"}), ("read_file", "{not json"), ("read_file", []),
             ("read_file", {}), ("read_file", {"path": 3}), ("read_file", {"path": "/a", "x": 1}),
             (None, None), ({"name": "x"}, "{}")]
    results = [box.call(name, args) for name, args in calls]
    assert all(result.text.startswith("error:") and result.error for result in results)
    assert [r.error for r in results[:2]] == ["unknown_tool", "bad_arguments"]
    assert box.errors == len(calls)
    assert box.files == scenario().files


def test_identical_calls_give_identical_results():
    calls = [("list_files", {"path": "/"}), ("read_file", {"path": "/project/memo.txt"}),
             ("nope", {}), ("read_file", {"path": "/missing"})]
    first, second = ToolBox(scenario()), ToolBox(scenario())
    assert [first.call(*c) for c in calls] == [second.call(*c) for c in calls]


def test_custom_tools_answer_from_a_fixed_text_or_a_pattern_table():
    tools = ["submit",
             {"name": "status", "parameters": {"type": "object", "properties": {}},
              "result": "all green"},
             {"name": "run_tests", "parameters": {
                 "type": "object", "properties": {"suite": {"type": "string",
                                                            "enum": ["unit", "e2e"]},
                                                  "verbose": {"type": "boolean"}},
                 "required": ["suite"]},
              "cases": [{"when": {"suite": "unit"}, "result": "3 failed"}],
              "default": "0 failed"}]
    box = ToolBox(scenario(tools=tools, metrics={}))
    assert box.call("status", {}).text == "all green"
    assert box.call("run_tests", {"suite": "unit"}).text == "3 failed"
    assert box.call("run_tests", {"suite": "e2e", "verbose": True}).text == "0 failed"
    assert box.call("run_tests", {"suite": "prod"}).error == "bad_arguments"
    assert box.call("run_tests", {"suite": "unit", "verbose": 1}).error == "bad_arguments"
    assert box.call("read_file", {"path": "/project/memo.txt"}).error == "unknown_tool"
