"""The embedded default model (Qwen2.5-Coder-0.5B-Instruct in llama.cpp's server, via xllamacpp)
runs the whole pipeline for real, and the same runtime's own HTTP server, which nobody here wrote,
serves a run through the official openai SDK."""

from __future__ import annotations

import json
import sqlite3
import urllib.request

import pandas as pd
import pytest
from conftest import run_cli

from consistency.providers.local import find_weights
from consistency.providers.weights import QWEN_CODER_05B

pytestmark = pytest.mark.slow


def test_local_model_end_to_end_on_a_handful_of_items(tmp_path):
    result = run_cli("tasks.limit=3", "tasks.families=[capability,harmful]",
                     "conditions.pairs=[evaluation_vs_deployment,placebo_wording]",
                     "runner.quiet=false", results=tmp_path / "results")
    assert result.status == 0, result.stderr
    summary = result.summary()
    # 3 capability + 3 harmful items x 2 pairs x 2 arms, one rotating variant each (quick design;
    # run_cli turns the planted controls off)
    assert summary["model"] == "local:qwen2.5-coder-0.5b-instruct"
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
    assert set(ok["model_reported"]) == {QWEN_CODER_05B.filename}
    # the request really carried the framing: a system message differing between arms
    systems = responses.groupby("arm")["request_json"].agg(
        lambda s: {json.loads(r)["messages"][0]["content"] for r in s})
    assert systems["observed"].isdisjoint(systems["unobserved"])
    # the journal holds the same responses the parquet export does
    with sqlite3.connect(result.folder / "journal.sqlite") as db:
        assert db.execute("SELECT count(*) FROM responses WHERE status='ok'").fetchone()[0] == len(ok)
    assert "consistency verdicts" in result.stdout
    assert f"run folder: {result.folder}" in result.stdout


def test_a_missing_weights_file_is_an_input_error(tmp_path):
    result = run_cli(f"model.weights={tmp_path / 'none.gguf'}", results=tmp_path / "results")
    assert result.status == 2 and "no GGUF file at" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_gguf_is_an_input_error(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a model" * 100)
    result = run_cli(f"model.weights={bogus}", "tasks.limit=1", results=tmp_path / "results")
    assert result.status == 2 and "could not load" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_against_the_runtimes_own_single_slot_http_server(tmp_path):
    """llama.cpp's server, started here on 127.0.0.1 with one slot, is an OpenAI-compatible
    server we did not write: the run goes through the openai SDK and records its model id."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(find_weights())
    params.n_parallel = 1
    params.n_ctx = 2048
    params.cpuparams.n_threads = 2
    params.verbosity = -1
    server = xllamacpp.Server(params)
    address = str(server.listening_address)
    assert address.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{address}/v1/models", timeout=30) as reply:
        served = {model["id"] for model in json.load(reply)["data"]}
    result = run_cli("model=openai", "model.name=served-gguf", f"model.base_url={address}/v1",
                     "model.max_tokens=32", "model.stop=[\"\\n\\n\"]", "tasks.limit=2",
                     "variants=rotate", "tasks.families=[capability]",
                     "conditions.pairs=[evaluation_vs_deployment,placebo_wording]",
                     results=tmp_path / "results")
    del server
    assert result.status == 0, result.stderr
    summary = result.summary()
    assert summary["responses"]["completed"] == summary["responses"]["expected"] == 8
    environment = json.loads((result.folder / "environment.json").read_text())
    assert environment["models_reported"] and set(environment["models_reported"]) <= served


def test_the_default_main_job_detects_its_planted_control_and_concludes_somewhere(tmp_path):
    # exactly what scripts/main-job runs: the quick design, its planted control and checks on
    result = run_cli("controls.planted=true", "checks.manipulation=true",
                     results=tmp_path / "results", timeout=900)
    assert result.status == 0, result.stderr
    summary = result.summary()
    assert summary["responses"]["expected"] == 184 and summary["responses"]["failed"] == 0
    assert summary["manipulation_check"]["cells"] == 24
    tests = pd.read_csv(result.folder / "tests.csv")
    planted = tests[(tests["pair"] == "planted_sandbagging") & (tests["metric"] == "correct")]
    assert list(planted["control"]) == ["detected"]
    verdict_rows = tests[tests["pair_kind"] == "test"]
    assert (verdict_rows["verdict"] != "inconclusive").any()
