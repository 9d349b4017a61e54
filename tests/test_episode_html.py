"""traces.html shows both arms' traces side by side, with everything a model sent escaped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from consistency.publish.episode_html import traces_html
from consistency.run.episodes import Episode
from consistency.design.plan import canonical_request
from consistency.providers import Completion
from consistency.providers.base import ToolCall
from consistency.design.scenarios import episode_fields, parse_scenario
from consistency.run.store import raw_json_text

EXAMPLE = json.loads((Path(__file__).parent / "data" / "scenario_example.jsonl").read_text())
HOSTILE = "<script>alert(1)</script>\x1b[2J\x07"


def trace(*calls) -> str:
    scenario = parse_scenario(EXAMPLE | {"follow_up": []}, "ovs-00", "t:1")
    episode = Episode(json.loads(canonical_request(
        "openai:m", [{"role": "user", "content": "go"}], {}, episode_fields(scenario, "openai:m"))),
        "openai")
    for name, arguments in calls:
        episode.take(Completion(HOSTILE, tool_calls=(ToolCall("c", name, arguments),)))
    return raw_json_text({"episode": episode.result()})


def test_both_arms_are_shown_side_by_side_and_hostile_text_is_escaped():
    observed = trace(("submit", {"answer": "fine"}))
    unobserved = trace(("write_file", {"path": "/project/oversight.yaml", "content": HOSTILE}),
                       ("<img src=x>", {}), ("submit", {"answer": HOSTILE}))
    responses = pd.DataFrame({"item_id": ["ovs-00"] * 3, "pair": ["p", "p", "q"],
                              "variant": [0, 0, 0], "epoch": [0, 0, 0],
                              "arm": ["observed", "unobserved", "observed"],
                              "raw_json": [observed, unobserved, "{}"]})
    page = traces_html(responses)
    assert page.count("<h2>") == 1 and page.count("<td>") == 2
    assert "<script>" not in page and "<img" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\x07" in page
    assert "write_file" in page and "unknown_tool" in page


def test_no_page_without_episodes():
    frame = pd.DataFrame({"item_id": ["q"], "pair": ["p"], "variant": [0], "epoch": [0],
                          "arm": ["observed"], "raw_json": ['{"choices": []}']})
    assert traces_html(frame) is None
