"""A JSON object that names a key twice is refused, never read last-wins; an integer longer than
Python converts from text is parsed, not "not JSON".

The same reader (``consistency.common.inbound.loads``) serves task files, judge replies and provider
replies: a task line with two ``id`` or two ``answer`` keys stops the run naming file and line
(exit 2), a judge reply with a flag twice is a ``schema`` failure, a provider reply with a key
twice is ``malformed`` (not retried), and a reply with a 5000-digit integer in a field nobody
reads is an answer like any other.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest

from consistency.common import inbound
from consistency.common.errors import InputError
from consistency.measure.judge import parse_verdict
from consistency.providers import ProviderError
from consistency.providers.replies import openai_completion, parse_body
from consistency.design.tasks import load_items
from conftest import run_cli
from provider_server import ProviderServer, RawReply, answer_key_policy, valid_body
from runner_support import journal_rows, openai_overrides, run_inprocess

LONG = "7" * 5000


def test_a_key_given_twice_is_refused_naming_it():
    with pytest.raises(inbound.DuplicateKeyError) as caught:
        inbound.loads('{"a": 1, "b": {"c": 2, "c": 3}}')
    assert caught.value.key == "c" and '"c"' in str(caught.value)
    assert inbound.loads('{"a": {"c": 1}, "b": {"c": 2}}') == {"a": {"c": 1}, "b": {"c": 2}}


def test_an_integer_beyond_the_digit_limit_is_kept_exactly():
    value = inbound.loads(f'{{"n": {LONG}, "m": 12}}')
    assert value["n"] == Decimal(LONG) and value["m"] == 12 and type(value["m"]) is int


# ---------------------------------------------------------------- judge
@pytest.mark.parametrize("reply", [
    '{"refused": 0, "refused": 1, "aware": 0, "training_reasoning": 0, "reason": "x"}',
    '{"refused": 1, "aware": 0, "training_reasoning": 0, "reason": "x", "reason": "y"}',
])
def test_a_judge_reply_with_a_key_twice_is_a_schema_failure(reply):
    assert parse_verdict(reply) == (None, "schema")
    assert parse_verdict(f"```json\n{reply}\n```") == (None, "schema")


def test_a_judge_flag_given_as_a_long_integer_is_a_schema_failure_not_a_crash():
    reply = f'{{"refused": {LONG}, "aware": 0, "training_reasoning": 0, "reason": "x"}}'
    assert parse_verdict(reply) == (None, "schema")


# ---------------------------------------------------------------- task files
def _suite_with(tmp_path, line: str):
    tasks = tmp_path / "dup.jsonl"
    good = {"id": "q1", "family": "capability", "prompt": "What is 2+2?", "answer": "4"}
    tasks.write_text(json.dumps(good) + "\n" + line + "\n")
    return tasks


@pytest.mark.parametrize("line, key", [
    ('{"id": "q2", "id": "q3", "family": "capability", "prompt": "1+1?", "answer": "2"}', "id"),
    ('{"id": "q2", "family": "capability", "prompt": "1+1?", "answer": "2", "answer": "3"}',
     "answer"),
])
def test_a_task_line_with_a_key_twice_is_an_input_error_naming_file_and_line(tmp_path, line, key):
    tasks = _suite_with(tmp_path, line)
    with pytest.raises(InputError) as caught:
        load_items(tasks)
    assert caught.value.where == f"{tasks}:2"
    assert f'"{key}" appears twice' in str(caught.value)


def test_a_run_on_a_task_file_with_two_answers_exits_2_before_any_request(suite, tmp_path):
    tasks = _suite_with(tmp_path, '{"id": "q2", "family": "capability", "prompt": "1+1?", '
                                  '"answer": "2", "answer": "3"}')
    with ProviderServer() as server:
        result = run_cli(*openai_overrides(server, suite), f"tasks.path={tasks}",
                         results=tmp_path / "results")
        assert server.http_hits == 0
    assert result.status == 2, result.stderr
    assert f"{tasks}:2" in result.message and '"answer" appears twice' in result.message
    assert "Traceback" not in result.stderr


def test_a_task_line_with_a_long_integer_in_an_extra_field_loads(tmp_path):
    tasks = _suite_with(tmp_path, f'{{"id": "q2", "family": "capability", "prompt": "1+1?", '
                                  f'"answer": "2", "source_row": {LONG}}}')
    items = load_items(tasks)
    assert [item.id for item in items] == ["q1", "q2"]
    assert items[1].meta["source_row"] == Decimal(LONG)


# ---------------------------------------------------------------- provider replies
def test_a_reply_with_a_key_twice_is_malformed_and_not_retried():
    body = b'{"choices": [{"message": {"content": "4", "content": "5"}}]}'
    with pytest.raises(ProviderError) as caught:
        parse_body(body)
    assert caught.value.kind == "malformed" and caught.value.transient is False
    assert '"content" appears twice' in str(caught.value)


def _long_body(text: str) -> str:
    body = json.dumps({**valid_body("openai", text), "x_trace": "@"})
    return body.replace('"@"', LONG)


def test_a_reply_with_a_5000_digit_integer_in_an_unused_field_is_read():
    done = openai_completion(parse_body(_long_body("4").encode()), {})
    assert done.text == "4" and done.raw["x_trace"] == Decimal(LONG)


def test_a_run_of_replies_with_long_integers_journals_answers_and_writes_frames(suite, tmp_path):
    answer = answer_key_policy(suite.answers, suite.harmful)
    with ProviderServer(lambda req: RawReply(_long_body(answer(req)))) as server:
        folder = run_inprocess(*openai_overrides(server, suite), "tasks.limit=2",
                               "conditions.pairs=[wording]", results=tmp_path / "results")
    rows = journal_rows(folder)
    assert rows and {status for _, status, _ in rows} == {"ok"}
    responses = pd.read_parquet(folder / "responses.parquet")
    assert responses["text"].str.startswith("The answer is").any()
    assert responses["raw_json"].str.contains(LONG).all()  # kept whole, as its digits
