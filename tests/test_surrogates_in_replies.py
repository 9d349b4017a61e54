"""Lone surrogates (a JSON ``\\ud800`` escape) in any field of a reply never stop a run.

UTF-8 cannot encode a lone surrogate, so one in a frame makes the Parquet write fail; since the
reply stays in the journal, every resume would fail the same way. Every JSON text from outside is
read by ``consistency.common.inbound.loads`` (and every stored string by ``clean_text``), which replaces
each lone surrogate by U+FFFD: tested here for each field that reaches a frame (answer, reasoning
in each protocol's place, model, stop reason, the judge's reason), online, on resume, and for a
journal that already holds such replies.
"""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest

from consistency.common import inbound
from consistency.measure.judge import parse_verdict
from consistency.providers.reasoning import extract_reasoning
from consistency.providers.replies import anthropic_completion, openai_completion, parse_body
from provider_server import LONE, PolicyFault, ProviderServer, RawReply, Reply, \
    answer_key_policy, error_body, surrogate_body
from runner_support import openai_overrides, run_inprocess

FFFD = "\ufffd"
#: What a judge model writes when it puts an escape into its reason: the six characters \ud800.
JUDGE_REPLY = ('{"refused": 0, "aware": 0, "training_reasoning": 0, '
               '"reason": "odd \\ud800 text \\udfff"}')


def _no_surrogates(value) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------- one reader
def test_every_string_of_a_decoded_body_is_cleaned_keys_and_lists_included():
    wire = json.dumps({"a" + LONE: ["x" + LONE, {"b": LONE}], "pair": "\U0001F600"})
    value = inbound.loads(wire.encode())
    assert _no_surrogates(value)
    assert value == {f"a{FFFD}x{FFFD}": [f"x{FFFD}x{FFFD}", {"b": f"{FFFD}x{FFFD}"}],
                     "pair": "\U0001F600"}  # a proper pair is one character and stays


@pytest.mark.parametrize("body", [
    b'{"a": "x\xed\xa0\x80y"}',  # a surrogate encoded as UTF-8 bytes (json lets it through)
    '{"a": "x\\ud800y"}'.encode("utf-16"),  # an escape in a UTF-16 body
    '{"a": "x\\ud800y"}',  # an escape in text
])
def test_a_surrogate_however_encoded_is_replaced(body):
    assert inbound.loads(body) == {"a": f"x{FFFD}y"}


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_reply_with_surrogates_everywhere_is_read_cleaned(protocol):
    body = json.dumps(surrogate_body(protocol, "The answer is 4.")).encode()
    read = openai_completion if protocol == "openai" else anthropic_completion
    done = read(parse_body(body), {})
    assert done.text == f"The answer is 4. {FFFD}x{FFFD}"
    assert FFFD in done.model_reported and FFFD in done.finish_reason
    assert _no_surrogates(done.raw)
    text, kind, _ = extract_reasoning(done.raw, protocol)
    assert kind == "raw" and text == f"thinking {FFFD}x{FFFD}"


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_decoded_reply_handed_over_as_is_is_cleaned_too(protocol):
    # what the Anthropic SDK's batch results and the embedded model hand over: no JSON text
    read = openai_completion if protocol == "openai" else anthropic_completion
    done = read(surrogate_body(protocol, "4"), {})
    assert done.text == f"4 {FFFD}x{FFFD}" and _no_surrogates(done.raw)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_read_back_from_a_stored_body_is_cleaned(field):
    # the journal keeps bodies as ASCII JSON: a surrogate is stored as its escape
    stored = json.dumps(surrogate_body("openai", "4", reasoning_field=field))
    assert "\\ud800" in stored
    text, kind, _ = extract_reasoning(stored, "openai")
    assert kind == "raw" and text == f"thinking {FFFD}x{FFFD}"


def test_a_judge_reason_with_an_escaped_surrogate_is_cleaned():
    verdict, failure = parse_verdict(JUDGE_REPLY)
    assert failure is None and verdict["reason"] == f"odd {FFFD} text {FFFD}"


# ---------------------------------------------------------------- whole runs
def _judge_args(server, suite) -> list[str]:
    return [*openai_overrides(server, suite), "tasks.limit=3", "conditions.pairs=[wording]",
            "judge=openai", "judge.name=grader", f"judge.base_url={server.openai_base_url}"]


def _policy(suite, protocol: str, field: str):
    answer = answer_key_policy(suite.answers, suite.harmful)

    def policy(req):
        if req.system.startswith("You grade one response"):
            return JUDGE_REPLY
        return RawReply(surrogate_body(protocol, answer(req), reasoning_field=field))

    return policy


def _check_frames(folder) -> None:
    responses = pd.read_parquet(folder / "responses.parquet")
    assert len(responses) and responses["status"].eq("ok").all()
    assert responses["text"].str.contains(FFFD).all()
    assert responses["reasoning"].eq(f"thinking {FFFD}x{FFFD}").all()
    assert responses["model_reported"].str.contains(FFFD).all()
    scores = pd.read_parquet(folder / "scores.parquet")
    tasks = scores[scores["purpose"] == "task"]
    assert tasks["judge_reason"].eq(f"odd {FFFD} text {FFFD}").all()
    assert (folder / "summary.json").exists() and (folder / "report.md").exists()


@pytest.mark.parametrize("protocol, field", [("openai", "reasoning_content"),
                                             ("openai", "reasoning"),
                                             ("anthropic", "thinking")])
def test_a_run_of_surrogate_replies_writes_its_frames_and_resumes(suite, tmp_path, monkeypatch,
                                                                 protocol, field):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with ProviderServer(_policy(suite, protocol, field)) as server:
        args = _judge_args(server, suite)
        if protocol == "anthropic":
            args = [{"model=openai": "model=anthropic",
                     f"model.base_url={server.openai_base_url}":
                         f"model.base_url={server.anthropic_base_url}"}.get(a, a) for a in args]
        folder = run_inprocess(*args, results=tmp_path / "results")
        _check_frames(folder)
        asked = server.request_count
        again = run_inprocess(*args, results=tmp_path / "results")
        assert server.request_count == asked  # the resume re-reads the journal, asks nothing
    _check_frames(again)


def test_an_error_body_with_surrogates_is_journalled_cleaned_and_the_run_finishes(suite,
                                                                                  tmp_path):
    answer = answer_key_policy(suite.answers, suite.harmful)
    first = next(iter(suite.answers))

    def policy(req):
        if first in req.user_text:
            raise PolicyFault(400, error_body("openai", 400, "bad request " + LONE))
        return RawReply(surrogate_body("openai", answer(req)))

    with ProviderServer(policy) as server:
        folder = run_inprocess(*openai_overrides(server, suite), "tasks.limit=3",
                               "conditions.pairs=[wording]", results=tmp_path / "results")
    responses = pd.read_parquet(folder / "responses.parquet")
    failed = responses[responses["status"] == "error"]
    assert len(failed) and failed["error_message"].str.contains(f"bad request {FFFD}x{FFFD}").all()
    assert responses.loc[responses["status"] == "ok", "reasoning"].str.contains(FFFD).all()


def test_a_journal_already_holding_surrogate_replies_now_resumes(suite, tmp_path):
    """Replies journalled by a version that let them through (as their escapes, the way the
    journal stores bodies) and a run that never got to write its frames: the resume finishes."""
    answer = answer_key_policy(suite.answers, suite.harmful)

    def policy(req):
        if req.system.startswith("You grade one response"):
            return JUDGE_REPLY.replace("\\ud800", "plain").replace("\\udfff", "plain")
        return Reply(answer(req), reasoning="thinking PLAIN")

    with ProviderServer(policy) as server:
        args = _judge_args(server, suite)
        folder = run_inprocess(*args, results=tmp_path / "results")
        changed = 0
        for journal, column, plain, escaped in [("journal", "raw_json", "PLAIN", "\\ud800x\\udfff"),
                                                ("judge", "text", "plain", "\\ud800")]:
            with sqlite3.connect(folder / f"{journal}.sqlite") as db:
                changed += db.execute(f"UPDATE responses SET {column} = "
                                      f"replace({column}, ?, ?)", (plain, escaped)).rowcount
        assert changed > 0
        for name in ("responses.parquet", "scores.parquet", "summary.json"):
            (folder / name).unlink()
        asked = server.request_count
        again = run_inprocess(*args, results=tmp_path / "results")
        assert server.request_count == asked
    responses = pd.read_parquet(again / "responses.parquet")
    assert responses["reasoning"].eq(f"thinking {FFFD}x{FFFD}").all()
    scores = pd.read_parquet(again / "scores.parquet")
    reasons = scores.loc[scores["purpose"] == "task", "judge_reason"]
    assert reasons.eq(f"odd {FFFD} text {FFFD}").all()
    assert json.loads((again / "summary.json").read_text())["tests"]
