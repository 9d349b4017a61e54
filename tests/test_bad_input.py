"""Bad input: one paragraph naming the file/line/key, exit status 2, and no model request sent."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import run_cli
from provider_server import ProviderServer


def write_tasks(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                            for line in lines))
    return path


GOOD = {"id": "a", "family": "capability", "prompt": "1+1?", "answer": "2"}


@pytest.mark.parametrize(("lines", "expected"), [
    ([GOOD, "{not json"], "tasks.jsonl:2"),
    ([GOOD, GOOD], "used twice (lines 1 and 2)"),
    ([GOOD, {"id": "b", "family": "poetry", "prompt": "x"}], "poetry"),
    ([{"id": "b", "family": "capability", "prompt": "x"}], "answer"),
    ([{"id": "b", "family": "harmful"}], "prompt"),
    ([GOOD, {"id": "a\x1b[2Jb", "family": "harmful", "prompt": "x"}], "tasks.jsonl:2"),
    ([{"id": "a\u202eb", "family": "harmful", "prompt": "x"}], "U+202E"),
])
def test_malformed_tasks_file(tmp_path, suite, lines, expected):
    tasks = write_tasks(tmp_path / "tasks.jsonl", lines)
    with ProviderServer() as server:
        result = run_cli("model=openai", f"model.base_url={server.openai_base_url}",
                         f"tasks.path={tasks}", results=tmp_path / "r")
        assert server.request_count == 0
    assert result.status == 2
    assert expected in result.message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_missing_tasks_file(tmp_path):
    result = run_cli(f"tasks.path={tmp_path / 'nope.jsonl'}", results=tmp_path / "r")
    assert result.status == 2 and "nope.jsonl" in result.message and "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("pairs:\n  - name: x\n    kind: sometimes\n    observed: [{system: a}]\n    unobserved: [{system: b}]\n",
     "conditions.yaml:2"),
    ("pairs: [", "not valid YAML"),
    ("nothing: here\n", "pairs:"),
    ("pairs:\n  - name: x\n    kind: test\n    observed: [{system: a}]\n    unobserved: [{system: b}]\n"
     "  - name: Eval-Pair\n    kind: test\n    observed: [{system: a}]\n    unobserved: [{system: b}]\n",
     "conditions.yaml:6"),
    ("pairs:\n  - name: same\n    kind: test\n    observed: [{system: a}, {system: b}]\n"
     "    unobserved: [{system: b}, {system: a}]\n", "same variants in both arms"),
])
def test_malformed_conditions_file(tmp_path, suite, text, expected):
    conditions = tmp_path / "conditions.yaml"
    conditions.write_text(text)
    with ProviderServer() as server:
        result = run_cli("model=openai", f"model.base_url={server.openai_base_url}",
                         f"tasks.path={suite.tasks}", f"conditions.path={conditions}",
                         results=tmp_path / "r")
        assert server.request_count == 0
    assert result.status == 2 and expected in result.message


@pytest.mark.parametrize(("provider", "variable"), [("openai", "OPENAI_API_KEY"),
                                                    ("anthropic", "ANTHROPIC_API_KEY")])
def test_missing_api_key_names_the_variable(tmp_path, suite, provider, variable):
    result = run_cli(f"model={provider}", f"tasks.path={suite.tasks}", results=tmp_path / "r")
    assert result.status == 2
    assert variable in result.message and "Traceback" not in result.stderr


def test_unreachable_base_url(tmp_path, suite):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli("model=openai", f"model.base_url=http://127.0.0.1:{port}/v1",
                     f"tasks.path={suite.tasks}", results=tmp_path / "r")
    assert result.status == 2
    assert "model.base_url" in result.message and f"127.0.0.1:{port}" in result.message


def test_resuming_with_a_different_design_is_refused(tmp_path, suite):
    from provider_server import answer_key_policy

    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        args = ["model=openai", f"model.base_url={server.openai_base_url}",
                f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}",
                "conditions.pairs=[wording]"]
        assert run_cli(*args, results=tmp_path / "r").status == 0
        before = server.request_count
        result = run_cli(*args, "epochs=2", results=tmp_path / "r")
        assert server.request_count == before
    assert result.status == 2 and "different design" in result.message


def test_unknown_command_exits_2():
    from consistency.cli import main

    assert main(["frobnicate"]) == 2


@pytest.mark.parametrize(("override", "expected"), [
    ("analysis.correction=bonferroni", "analysis.correction must be one of"),
    ("analysis.alpha=1.5", "analysis.alpha must be a number strictly between 0 and 1"),
    ("analysis.alpha=often", "analysis.alpha: Value 'often'"),
    ("analysis.equivalence_margin=0", "analysis.equivalence_margin must be above 0"),
    ("analysis.n_resamples=0", "analysis.n_resamples must be a whole number >= 1"),
    ("+analysis.alpah=0.01", "analysis.alpah: unknown key; did you mean analysis.alpha?"),
    ("analysis.alpah=0.01", "analysis.alpah: unknown key; did you mean analysis.alpha?"),
])
def test_bad_analysis_settings_stop_the_run_before_any_request(tmp_path, suite, override, expected):
    with ProviderServer() as server:
        result = run_cli("model=openai", f"model.base_url={server.openai_base_url}",
                         f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}",
                         override, results=tmp_path / "r")
        assert server.request_count == 0
    assert result.status == 2 and expected in result.message and "Traceback" not in result.stderr
