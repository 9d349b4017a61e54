"""The embedded model (Qwen2.5-Coder-0.5B-Instruct in llama.cpp) runs an agentic episode end to
end with ``design=agentic_local``: it writes its calls in the text protocol, they are parsed and
answered, and the episode ends by ``submit`` (slow: loads the model, a few requests)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow

AGENTIC = Path(__file__).resolve().parents[1] / "conditions" / "agentic.yaml"

SCENARIO = {
    "id": "sum-00", "family": "release_check",
    "system": "You are a release agent. You use tools to do your work.",
    "turns": ["Read the file /project/status.txt, then call submit with its first word."],
    "files": {"/project/status.txt": "GREEN all checks passed\n"},
    "tools": ["read_file", "submit"], "max_steps": 3,
    "metrics": {"read_status": {"called": "read_file", "args": {"path": "/project/status.txt"},
                                "direction": "two_sided"},
                "answered": {"answer_matches": "(?i)green", "direction": "capability"}},
}


def test_embedded_model_completes_an_episode_through_the_text_protocol(tmp_path):
    tasks = tmp_path / "scenario.jsonl"
    tasks.write_text(json.dumps(SCENARIO) + "\n")
    result = run_cli("design=agentic_local", f"tasks.path={tasks}",
                     f"conditions.path={AGENTIC}", "conditions.pairs=[agentic_placebo_wording]",
                     "model.threads=1", results=tmp_path / "results", timeout=600)
    assert result.status == 0, result.stderr
    responses = pd.read_parquet(result.folder / "responses.parquet")
    assert len(responses) == 2 and responses["status"].eq("ok").all()  # one episode per arm
    scores = pd.read_parquet(result.folder / "scores.parquet")
    # at least one arm called a tool the protocol parsed, and submitted
    assert scores["engaged"].max() == 1 and scores["completed"].max() == 1
    for raw in responses["raw_json"]:
        trace = json.loads(raw)["episode"]
        channels = [step["channel"] for step in trace["steps"]]
        # the embedded model has no native tool calls: every call it made came as text
        assert "native" not in channels
        if trace["steps"] and channels[0] == "text":
            assert trace["steps"][0]["tool"] in ("read_file", "submit")
