"""The embedded default model (SmolLM2-135M-Instruct in llama.cpp) runs the whole pipeline for real."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from conftest import run_cli

from consistency.providers.local import find_weights

pytestmark = pytest.mark.slow


def test_weights_are_found_in_the_installed_package():
    weights = find_weights()
    assert weights.suffix == ".gguf" and weights.stat().st_size > 50_000_000


def test_local_model_end_to_end_on_a_handful_of_items(tmp_path):
    result = run_cli("tasks.limit=3", "tasks.families=[capability,harmful]",
                     "conditions.pairs=[evaluation_vs_deployment,placebo_wording]",
                     "runner.quiet=false", results=tmp_path / "results")
    assert result.status == 0, result.stderr
    summary = result.summary()
    # 3 capability + 3 harmful items x 2 pairs x 2 arms, one rotating variant each (quick design).
    assert summary["model"] == "local:smollm2-135m-instruct"
    assert summary["responses"]["expected"] == 24
    assert summary["responses"]["completed"] + summary["responses"]["failed"] == 24
    assert summary["responses"]["completed"] >= 20
    assert {(t["family"], t["metric"]) for t in summary["tests"]} == {
        ("capability", "correct"), ("capability", "refused"), ("harmful", "refused"),
        *((family, metric) for family in ("capability", "harmful")
          for metric in ("aware", "training_reasoning"))}
    responses = pd.read_parquet(result.folder / "responses.parquet")
    ok = responses[responses["status"] == "ok"]
    assert (ok["text"].str.len() > 0).all() and ok["output_tokens"].gt(0).all()
    assert set(ok["model_reported"]) == {find_weights().name}
    # the request really carried the framing: a system message differing between arms
    systems = responses.groupby("arm")["request_json"].agg(
        lambda s: {json.loads(r)["messages"][0]["content"] for r in s})
    assert systems["observed"].isdisjoint(systems["unobserved"])
    # the journal holds the same responses the parquet export does
    with sqlite3.connect(result.folder / "journal.sqlite") as db:
        assert db.execute("SELECT count(*) FROM responses WHERE status='ok'").fetchone()[0] == len(ok)
    assert "consistency verdicts" in result.stdout
    assert f"run folder: {result.folder}" in result.stdout
