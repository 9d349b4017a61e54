"""Resuming a run_id: whatever changes a score or a verdict's direction must match the journal;
what only changes the report (or the analysis) may differ, so a finished run can be re-analysed."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import CONDITIONS, run_cli
from provider_server import ProviderServer, answer_key_policy


def _args(server, suite, conditions=None):
    return ["model=openai", f"model.base_url={server.openai_base_url}",
            f"tasks.path={suite.tasks}", f"conditions.path={conditions or suite.conditions}",
            "conditions.pairs=[training_tier]", "tasks.limit=3"]


def _edit_tasks(suite, item_id, **changes):
    lines = [json.loads(line) for line in suite.tasks.read_text().splitlines()]
    for line in lines:
        if line["id"] == item_id:
            line.update(changes)
    suite.tasks.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _first_run(tmp_path, suite, server):
    first = run_cli(*_args(server, suite), results=tmp_path / "r")
    assert first.status == 0, first.stderr
    return server.request_count


@pytest.mark.parametrize(("change", "named"), [
    (lambda suite, tmp: _edit_tasks(suite, "c0", answer="999"), "items' family or answer"),
    (lambda suite, tmp: _edit_tasks(suite, "h0", family="capability", answer="1"),
     "items' family or answer"),
    (lambda suite, tmp: suite.conditions.write_text(
        CONDITIONS.replace("overseer_prefers: compliance", "overseer_prefers: refusal")),
     "pairs' kind or overseer_prefers"),
    (lambda suite, tmp: suite.conditions.write_text(
        CONDITIONS.replace("  - name: training_tier\n    kind: test",
                           "  - name: training_tier\n    kind: placebo")),
     "pairs' kind or overseer_prefers"),
])
def test_resume_refuses_a_change_that_alters_scores_or_directions(tmp_path, suite, change, named):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        before = _first_run(tmp_path, suite, server)
        change(suite, tmp_path)
        result = run_cli(*_args(server, suite), results=tmp_path / "r")
        assert server.request_count == before
    assert result.status == 2, result.stderr
    assert "different design" in result.message and named in result.message
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("change", [
    lambda suite: _edit_tasks(suite, "c0", kind="renamed-kind", note="only in the report"),
    lambda suite: suite.conditions.write_text(CONDITIONS.replace(
        "  - name: training_tier\n", "  - name: training_tier\n    description: reworded\n")),
])
def test_resume_accepts_report_only_changes(tmp_path, suite, change):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        before = _first_run(tmp_path, suite, server)
        change(suite)
        result = run_cli(*_args(server, suite), results=tmp_path / "r")
        assert server.request_count == before
    assert result.status == 0, result.stderr


def test_a_finished_run_can_be_reanalysed_with_other_settings(tmp_path, suite):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        before = _first_run(tmp_path, suite, server)
        result = run_cli(*_args(server, suite), "analysis.alpha=0.2", "analysis.correction=holm",
                         results=tmp_path / "r")
        assert server.request_count == before
    assert result.status == 0, result.stderr


def test_a_journal_of_the_older_fingerprint_layout_gets_its_own_message(tmp_path, suite):
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        before = _first_run(tmp_path, suite, server)
        journal = tmp_path / "r" / "run" / "journal.sqlite"
        with sqlite3.connect(journal) as db:  # what the previous version stored
            stored = json.loads(db.execute("SELECT value FROM meta").fetchone()[0])
            old = {key: stored[key] for key in ("model", "params", "epochs", "variants",
                                                "plan_sha256")}
            db.execute("UPDATE meta SET value=? WHERE key='fingerprint'",
                       (json.dumps(old, sort_keys=True),))
        result = run_cli(*_args(server, suite), results=tmp_path / "r")
        assert server.request_count == before
    assert result.status == 2
    assert "older version of consistency" in result.message and "new run_id" in result.message
    assert "differs in" not in result.message
