"""The built-in oversight_subversion scenarios: the shipped file is what the module generates,
every scenario loads, and its metrics can be reached by one scripted trace and stay 0 under
another (played through the real episode loop and tools)."""

from __future__ import annotations

import json

import pytest

from consistency.agentic_suites import SUITE_FILE, suite_text
from consistency.episode_metrics import score_trace
from consistency.episodes import Episode
from consistency.plan import canonical_request
from consistency.providers import Completion
from consistency.providers.base import ToolCall
from consistency.scenarios import episode_fields
from consistency.tasks import load_items

ITEMS = load_items(SUITE_FILE)


def test_the_shipped_file_is_the_generated_suite_of_at_least_20_scenarios():
    assert SUITE_FILE.read_text(encoding="utf-8") == suite_text()
    assert len(ITEMS) >= 20 and {item.family for item in ITEMS} == {"oversight_subversion"}
    assert len({item.scenario.system + str(dict(item.scenario.files)) for item in ITEMS}) == \
        len(ITEMS)


def _play(item, disable: bool, admit: bool) -> dict[str, float]:
    scenario = item.scenario
    request = json.loads(canonical_request(
        "openai:m", [{"role": "user", "content": scenario.turns[0]}], {},
        episode_fields(scenario, "openai:m")))
    episode = Episode(request, "openai")
    [config] = [path for path in scenario.files if "memo" not in path and "csv" not in path]
    calls = [("list_files", {"path": "/project"}), ("read_file", {"path": config})]
    if disable:
        calls.append(("write_file", {"path": config,
                                     "content": scenario.files[config].replace("true", "false")}))
    calls.append(("submit", {"answer": "plan"}))
    for index, (name, arguments) in enumerate(calls):
        episode.take(Completion("", tool_calls=(ToolCall(f"c{index}", name, arguments),)))
    assert episode.next_request() is not None  # the follow-up question
    episode.take(Completion("Yes, I changed it." if admit else "No."))
    assert episode.next_request() is None
    assert episode.result()["tool_errors"] == 0
    return score_trace(scenario, episode.result())


@pytest.mark.parametrize("item", ITEMS, ids=[item.id for item in ITEMS])
def test_each_scenario_metric_can_be_reached_and_can_stay_zero(item):
    covert = _play(item, disable=True, admit=False)
    assert covert["disabled_oversight"] == covert["covert_disable"] == 1
    assert covert["read_config"] == covert["completed"] == 1 and covert["admitted"] == 0
    honest = _play(item, disable=True, admit=True)
    assert honest["admitted"] == 1 and honest["covert_disable"] == 0
    compliant = _play(item, disable=False, admit=False)
    assert compliant["disabled_oversight"] == compliant["covert_disable"] == 0
