"""Bad configuration: a misspelt key, a wrong type, an empty selection, a results folder that is a
file, a damaged journal... Each stops the run with exit status 2 and one paragraph naming the key or
path, before any request reaches the (loopback) provider. Exit 1 stays reserved for a stopped,
resumable run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import run_cli
from provider_server import ProviderServer, answer_key_policy


def _run(tmp_path, suite, *overrides, server=None, run_id="run"):
    with (server or ProviderServer()) as live:
        result = run_cli("model=openai", f"model.base_url={live.openai_base_url}",
                         f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}",
                         *overrides, results=tmp_path / "r", run_id=run_id)
        sent = live.request_count
    return result, sent


@pytest.mark.parametrize(("override", "expected"), [
    # a misspelt key in every group names the nearest valid one
    ("model.temprature=0.7", "model.temprature: unknown key; did you mean model.temperature?"),
    ("runner.max_conections=8", "did you mean runner.max_connections?"),
    ("analysis.alpah=0.1", "did you mean analysis.alpha?"),
    ("tasks.limt=3", "did you mean tasks.limit?"),
    ("conditions.pair=[wording]", "did you mean conditions.pairs?"),
    ("epocs=2", "epocs: unknown key; did you mean epochs?"),
    ("+model.foo=1", "model.foo: unknown key"),
    ("model.weights=x.gguf", "model.weights: unknown key; it is a key of model=local only."),
    ("model=opanai", "model=opanai: no such option; did you mean model=openai?"),
    ("design=quik", "did you mean design=quick?"),
    # wrong types: before any request, not at the first failure after paying
    ("runner.max_connections=lots", "runner.max_connections: Value 'lots'"),
    ("runner.retries=often", "runner.retries: Value 'often'"),
    ("runner.error_budget=many", "runner.error_budget: Value 'many'"),
    ("model.timeout_s=soon", "model.timeout_s: Value 'soon'"),
    ("epochs=true", "epochs: Value 'True' of type 'bool'"),
    ("conditions.pairs=wording", "conditions.pairs: Invalid value assigned"),
    # values out of range
    ("runner.max_connections=0", "runner.max_connections: expected a whole number >= 1"),
    ("runner.error_budget=0", "runner.error_budget: expected a whole number >= 1"),
    ("model.timeout_s=0", "model.timeout_s: expected a number of seconds > 0"),
    ("runner.requests_per_minute=-5", "runner.requests_per_minute: expected a number > 0"),
    ("epochs=0", "epochs: expected a whole number >= 1"),
    ("variants=some", "variants: expected one of ['all', 'rotate']"),
    # empty selections are errors, not "everything"
    ("conditions.pairs=[]", "conditions.pairs: expected one or more pair names, or null"),
    ("tasks.families=[]", "tasks.families: expected one or more of"),
    ("tasks.families=[poetry]", "unknown family ['poetry']"),
    # the sizing keys of the designs
    ("+tasks.family_limits.capabilty=3", "tasks.family_limits: expected family names among"),
    ("controls.families=[]", "controls.families: expected one or more of"),
    ("controls.pairs=[planted_typo]", "controls.pairs names ['planted_typo'] not in the library"),
    ("checks.limit=0", "checks.limit: expected a whole number >= 1 or null"),
])
def test_bad_config_exits_2_naming_the_key_before_any_request(tmp_path, suite, override, expected):
    result, sent = _run(tmp_path, suite, override)
    assert sent == 0
    assert result.status == 2, result.stderr
    assert expected in result.message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_empty_family_selection_is_an_error_with_the_builtin_suite_too(tmp_path):
    result = run_cli("tasks.families=[]", results=tmp_path / "r")
    assert result.status == 2 and "tasks.families" in result.message


@pytest.mark.parametrize("run_id", ["0", "1_000", "007", "1e3", "1.50"])
def test_run_ids_are_strings_kept_as_typed(tmp_path, suite, run_id):
    policy = answer_key_policy(suite.answers, suite.harmful)
    result, sent = _run(tmp_path, suite, "conditions.pairs=[wording]", "tasks.limit=2",
                        server=ProviderServer(policy), run_id=run_id)
    assert result.status == 0, result.stderr
    assert sent > 0
    assert (tmp_path / "r" / run_id / "summary.json").is_file()
    assert [path.name for path in (tmp_path / "r").iterdir()] == [run_id]
    again, sent_again = _run(tmp_path, suite, "conditions.pairs=[wording]", "tasks.limit=2",
                             server=ProviderServer(policy), run_id=run_id)
    assert again.status == 0 and sent_again == 0  # the same folder: resumed, nothing to send


def test_results_dir_that_is_a_file(tmp_path, suite):
    (tmp_path / "r").write_text("not a folder")
    with ProviderServer() as server:
        result = run_cli("model=openai", f"model.base_url={server.openai_base_url}",
                         f"tasks.path={suite.tasks}", results=tmp_path / "r")
        assert server.request_count == 0
    assert result.status == 2 and "results_dir" in result.message and "is a file" in result.message
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc (never writable)")
def test_results_dir_that_cannot_be_written(tmp_path, suite):
    with ProviderServer() as server:
        result = run_cli("model=openai", f"model.base_url={server.openai_base_url}",
                         f"tasks.path={suite.tasks}", "results_dir=/proc/self/no-results",
                         results=tmp_path / "r")
        assert server.request_count == 0
    assert result.status == 2 and "results_dir" in result.message
    assert "/proc/self/no-results" in result.message and "Traceback" not in result.stderr


def test_cache_that_is_a_folder(tmp_path, suite):
    (tmp_path / "cachedir").mkdir()
    result, sent = _run(tmp_path, suite, f"runner.cache={tmp_path / 'cachedir'}")
    assert sent == 0
    assert result.status == 2 and "runner.cache" in result.message and "folder" in result.message
    assert "Traceback" not in result.stderr


def test_cache_that_is_not_sqlite(tmp_path, suite):
    (tmp_path / "cache.sqlite").write_bytes(b"this is not a database file at all" * 50)
    result, sent = _run(tmp_path, suite, f"runner.cache={tmp_path / 'cache.sqlite'}")
    assert sent == 0
    assert result.status == 2 and "runner.cache" in result.message
    assert "Traceback" not in result.stderr


def test_damaged_journal_is_named_and_left_alone(tmp_path, suite):
    folder = tmp_path / "r" / "run"
    folder.mkdir(parents=True)
    garbage = b"definitely not SQLite " * 100
    (folder / "journal.sqlite").write_bytes(garbage)
    result, sent = _run(tmp_path, suite)
    assert sent == 0
    assert result.status == 2, result.stderr
    assert "journal.sqlite" in result.message and "cannot be read" in result.message
    assert "Traceback" not in result.stderr
    assert (folder / "journal.sqlite").read_bytes() == garbage


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "consistency.cli", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_cfg_job_prints_the_typed_config():
    proc = _cli("run", "--cfg", "job", "model=anthropic", "run_id=1_000")
    assert proc.returncode == 0, proc.stderr
    assert "provider: anthropic" in proc.stdout and "api_key_env: ANTHROPIC_API_KEY" in proc.stdout
    assert "run_id: '1_000'" in proc.stdout
    assert "variants: all" in proc.stdout  # the full design follows a hosted model


@pytest.mark.parametrize(("overrides", "variants", "limit"), [
    ([], "rotate", "40"), (["model=openai"], "all", "null"), (["model=anthropic"], "all", "null"),
    (["design=full"], "all", "null"), (["model=openai", "design=quick"], "rotate", "40"),
])
def test_design_follows_the_model_unless_chosen(overrides, variants, limit):
    proc = _cli("run", "--cfg", "job", *overrides)
    assert proc.returncode == 0, proc.stderr
    assert f"variants: {variants}" in proc.stdout and f"  limit: {limit}" in proc.stdout


def test_monitor_on_a_broken_run_folder_exits_2_not_its_alarm_status(tmp_path):
    folder = tmp_path / "night-1"
    folder.mkdir()
    (folder / "summary.json").write_text("{ truncated")
    (folder / "scores.parquet").write_bytes(b"PAR1 not really")
    proc = _cli("monitor", str(folder))
    assert proc.returncode == 2, proc.stderr
    assert "summary.json" in proc.stderr and "Traceback" not in proc.stderr
    (folder / "summary.json").write_text('{"model": "openai:m"}')
    # a readable tests.csv (monitor reads it first), so the damaged scores.parquet is reached
    (folder / "tests.csv").write_text(
        "family,pair,pair_kind,metric,hypothesis,alternative,difference,ci_low,ci_high,"
        "p_value,p_two_sided,verdict\ncapability,eval,test,correct,sandbagging,less,0.0,-0.1,"
        "0.1,0.5,1.0,inconclusive\n")
    proc = _cli("monitor", str(folder))
    assert proc.returncode == 2 and "scores.parquet" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["--mde", "5"], "use --mde 0.05"),
    (["--items", "50", "--within-var", "4"], "--within-var"),
])
def test_plan_refuses_effects_on_the_wrong_scale(args, expected):
    proc = _cli("plan", *args)
    assert proc.returncode == 2 and expected in proc.stderr
