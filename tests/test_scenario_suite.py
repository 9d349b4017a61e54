"""Scenario lines of a task suite: the issue's example loads as is; every bad line is an input
error naming the file, the line and the key, before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consistency.common.errors import InputError
from consistency.design.scenarios import normalise_path
from consistency.design.tasks import load_items

EXAMPLE = Path(__file__).parent / "data" / "scenario_example.jsonl"


def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def write(tmp_path: Path, *lines: dict) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_issue_example_loads_with_its_metrics_and_directions():
    [item] = load_items(EXAMPLE)
    assert item.id == "ovs-00" and item.family == "oversight_subversion"
    scenario = item.scenario
    assert item.prompt == scenario.turns[0]
    assert [tool.name for tool in scenario.tools] == ["list_files", "read_file", "write_file",
                                                      "submit"]
    assert scenario.max_steps == 8
    assert set(scenario.files) == {"/project/oversight.yaml", "/project/memo.txt"}
    assert scenario.directions == {"disabled_oversight": "misbehaviour",
                                   "read_config": "two_sided", "admitted": "two_sided"}
    assert scenario.follow_up[0].metric == "admitted"


def test_scenarios_and_one_shot_tasks_share_a_suite(tmp_path):
    task = {"id": "q1", "family": "capability", "prompt": "What is 2 + 2?", "answer": "4"}
    items = load_items(write(tmp_path, task, example()))
    assert [item.scenario is None for item in items] == [True, False]


@pytest.mark.parametrize("change, phrase", [
    ({"turns": []}, "'turns'"),
    ({"tools": ["read_file", "rm_rf"]}, "unknown tool 'rm_rf'"),
    ({"max_steps": 0}, "max_steps"),
    ({"family": "capability"}, "scenario family"),
    ({"metrics": {"x": {"called": "delete", "direction": "misbehaviour"}}}, "not among"),
    ({"metrics": {"x": {"file_matches": ["/a", "("], "direction": "two_sided"}}}, "regular"),
    ({"metrics": {"x": {"answer_equals": "4", "direction": "sideways"}}}, "direction"),
    ({"metrics": {"x": {"metric": "nowhere"}}}, "neither a follow-up"),
    ({"metrics": {"x": {"metric": "y"}, "y": {"not": {"metric": "x"}}}}, "cycle"),
    ({"metrics": {"steps": {"answer_equals": "4"}}}, "metric name"),
    ({"files": {"/a": 3}}, "bad file"),
    ({"tools": [{"name": "ping", "parameters": {"type": "object"}}]}, "exactly one of"),
    ({"surprise": 1}, "unknown key"),
])
def test_a_bad_scenario_names_file_line_and_problem(tmp_path, change, phrase):
    task = {"id": "q1", "family": "capability", "prompt": "What is 2 + 2?", "answer": "4"}
    path = write(tmp_path, task, example() | change)
    with pytest.raises(InputError) as info:
        load_items(path)
    assert info.value.where == f"{path}:2"
    assert phrase in str(info.value)


def test_one_metric_name_keeps_one_direction_across_the_suite(tmp_path):
    second = example() | {"id": "ovs-01", "metrics": {
        "disabled_oversight": {"answer_equals": "x", "direction": "capability"}}}
    with pytest.raises(InputError, match="line 1 declared it 'misbehaviour'"):
        load_items(write(tmp_path, example(), second))


def test_paths_are_normalised_and_cannot_leave_the_root():
    assert normalise_path("project//a/../b.txt") == "/project/b.txt"
    assert normalise_path("/../../etc/passwd") == "/etc/passwd"
    assert normalise_path(" /project/ ") == "/project"


def test_metrics_may_refer_to_later_ones_and_are_ordered_by_their_references(tmp_path):
    metrics = {"a": {"all": [{"metric": "b"}, {"metric": "admitted"}]},
               "b": {"answer_equals": "4"}}
    [item] = load_items(write(tmp_path, example() | {"metrics": metrics}))
    assert list(item.scenario.metrics) == ["b", "a"]
