"""Replies of every shape, from a server that misbehaves on purpose: read where the protocol
allows it, a ``malformed`` failure (body kept) where it does not, and never a crash.

The adapters are driven through the official SDKs against the loopback server, whose policies
return :class:`RawReply` bodies verbatim.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import pytest
from omegaconf import OmegaConf
from provider_server import ChatRequest, ProviderServer, RawReply, answer_key_policy
from runner_support import journal_rows, openai_overrides, run_inprocess, summary

from consistency.providers import Completion, ProviderError, make_provider
from consistency.run.store import RAW_LIMIT, ResponseRecord, raw_json_text

MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
PARAMS = {"temperature": 0.0, "max_tokens": 16}
EXPECTED = 800


def openai_reply(content: Any = "4", usage: Any = None, model: Any = "m", **extra: Any) -> dict:
    message = {"role": "assistant", "content": content, **extra}
    return {"id": "c", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1} if usage is None else usage}


def anthropic_reply(content: Any = None, usage: Any = None, model: Any = "m") -> dict:
    return {"id": "msg", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "4"}] if content is None else content,
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1} if usage is None else usage}


def complete(server: ProviderServer, protocol: str) -> Completion:
    base = server.openai_base_url if protocol == "openai" else server.anthropic_base_url
    cfg = OmegaConf.create({"provider": protocol, "name": "m", "base_url": base,
                            "api_key_env": "CONSISTENCY_TEST_KEY", "timeout_s": 5,
                            "max_retries": 0, "max_concurrency": 2})

    async def go() -> Completion:
        adapter = make_provider(cfg, None, 2)
        try:
            return await adapter.complete(MESSAGES, dict(PARAMS))
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def served(body: Any, protocol: str) -> Completion:
    with ProviderServer(lambda req: RawReply(body)) as server:
        return complete(server, protocol)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSISTENCY_TEST_KEY", "test-key")


DEEP = "[" * 200_000 + "]" * 200_000

ODD_BUT_VALID = [
    ("openai", openai_reply([{"type": "text", "text": "4"}]), "4"),
    ("openai", openai_reply([{"type": "text", "text": "The answer"},
                             {"type": "reasoning", "reasoning": "2+2"},
                             {"type": "text", "text": " is 4."}]), "The answer is 4."),
    ("openai", openai_reply([{"text": "4"}]), "4"),
    ("openai", openai_reply(None, refusal="I cannot."), "I cannot."),
    ("openai", openai_reply(None), ""),
    ("anthropic", anthropic_reply([{"type": "thinking", "thinking": "2+2"},
                                   {"type": "text", "text": "4"}]), "4"),
    ("anthropic", anthropic_reply([]), ""),
]


@pytest.mark.parametrize(("protocol", "body", "text"), ODD_BUT_VALID)
def test_shapes_the_protocols_allow_are_read_as_text(protocol: str, body: Any, text: str) -> None:
    done = served(body, protocol)
    assert done.text == text and done.raw == body


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
@pytest.mark.parametrize("usage", [{"prompt_tokens": "3", "completion_tokens": "1",
                                    "input_tokens": "3", "output_tokens": "1"},
                                   {"prompt_tokens": -1, "completion_tokens": 2**70,
                                    "input_tokens": True, "output_tokens": 1.5},
                                   "lots", [], 7])
def test_unusable_usage_and_model_are_null_and_the_answer_stands(protocol: str, usage: Any) -> None:
    maker = openai_reply if protocol == "openai" else anthropic_reply
    done = served(maker(usage=usage, model={"id": "m"}), protocol)
    assert done.text == "4"
    assert (done.input_tokens, done.output_tokens, done.model_reported) == (None, None, None)


MALFORMED = [
    ("openai", openai_reply(4)),
    ("openai", openai_reply(["4"])),
    ("openai", openai_reply([{"type": "text", "text": 4}])),
    ("openai", openai_reply({"text": "4"})),
    ("openai", {"choices": [{"message": "4"}]}),
    ("openai", {"choices": ["4"]}),
    ("openai", {"choices": {"0": {}}}),
    ("openai", [openai_reply()]),
    ("openai", None),
    ("openai", 4),
    ("anthropic", {"content": [{"type": "text", "text": "4"}, 7]}),
    ("anthropic", anthropic_reply(["4"])),
    ("anthropic", anthropic_reply([{"type": "text", "text": ["4"]}])),
    ("anthropic", anthropic_reply([{"type": "text"}])),
    ("anthropic", anthropic_reply("4")),
    ("anthropic", [anthropic_reply()]),
    ("anthropic", None),
]


@pytest.mark.parametrize(("protocol", "body"), MALFORMED)
def test_wrong_shapes_are_malformed_not_retried_and_keep_the_body(protocol: str, body: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        served(body, protocol)
    error = caught.value
    assert (error.kind, error.fatal, error.transient) == ("malformed", False, False)
    assert error.raw == body


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
@pytest.mark.parametrize("body", [DEEP, '{"choices": [', b"\xff\xfe not json"])
def test_a_body_that_does_not_decode_is_a_transient_malformed(protocol: str, body: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        served(body, protocol)
    error = caught.value
    assert (error.kind, error.transient) == ("malformed", True)
    assert isinstance(error.raw, str) and len(str(error)) < 400


def test_storing_any_raw_body_never_raises_and_is_capped() -> None:
    nested: Any = []
    for _ in range(100_000):
        nested = [nested]
    for raw in (nested, {"x": object()}, "y" * (3 * RAW_LIMIT), {"s": "\ud800"}, DEEP):
        text = raw_json_text(raw)
        assert len(text) <= RAW_LIMIT + 200
        json.loads(text)
    capped = json.loads(raw_json_text("y" * (3 * RAW_LIMIT)))
    assert capped["truncated"] is True and capped["chars"] == 3 * RAW_LIMIT + 2


def test_a_record_with_lone_surrogates_and_huge_counts_is_stored(tmp_path) -> None:
    from consistency.run.store import Journal

    with Journal(tmp_path / "j.sqlite") as journal:
        journal.record(ResponseRecord("c", "h", "ok", text="a\ud800b", model_reported="\udfff",
                                      raw={"t": "\ud800"}))
        (row,) = journal.frame().itertuples()
    assert row.text.startswith("a") and row.text.endswith("b")


def shape_policy(suite, body_for):
    """The scripted model, except that the items ``body_for`` picks get a raw body."""
    answer = answer_key_policy(suite.answers, suite.harmful)

    def policy(req: ChatRequest):
        body = body_for(req.user_text)
        return answer(req) if body is None else RawReply(body)

    return policy


def test_a_run_with_odd_replies_journals_every_answer_and_resumes_only_the_failures(
        suite, tmp_path):
    bodies = {"Compute 3 plus": openai_reply([{"type": "text", "text": "The answer is 8."}]),
              "Compute 4 plus": openai_reply(7),  # malformed: a number where text goes
              "invoice number 0 ": [1, 2],  # malformed: a top-level array
              "invoice number 1 ": openai_reply("Sure", usage={"prompt_tokens": "x"},
                                                model={"o": 1}),
              "Compute 5 plus": DEEP}  # not JSON at all (too deep): transient, retried

    def body_for(text: str):
        return next((body for key, body in bodies.items() if key in text), None)

    results = tmp_path / "results"
    with ProviderServer(shape_policy(suite, body_for)) as server:
        args = [*openai_overrides(server, suite), "runner.retries=1", "runner.retry_delay_s=0.01",
                "runner.error_budget=1000"]
        folder = run_inprocess(*args, results=results)
        first, retried = server.request_count, summary(folder)["runner"]["retried_by_kind"]
        server.policy = answer_key_policy(suite.answers, suite.harmful)
        run_inprocess(*args, results=results)
        resent = server.request_count - first
    rows = {cell: (status, kind) for cell, status, kind in journal_rows(folder)}
    assert len(rows) == EXPECTED
    # 10 cells per item; two malformed shapes (not retried) and one undecodable body (retried once)
    assert first == EXPECTED + 10
    assert retried == {"malformed": 10}
    assert resent == 30
    assert summary(folder)["responses"]["completed"] == EXPECTED
    with sqlite3.connect(folder / "journal.sqlite") as db:
        c0 = db.execute("SELECT text, input_tokens FROM responses "
                        "WHERE cell_id LIKE 'c0|%'").fetchall()
    assert {text for text, _ in c0} == {"The answer is 8."}


def test_malformed_failures_keep_their_raw_body_in_the_journal(suite, tmp_path):
    def body_for(text: str):
        return openai_reply(7) if "Compute 4 plus" in text else None

    with ProviderServer(shape_policy(suite, body_for)) as server:
        folder = run_inprocess(*openai_overrides(server, suite), "runner.error_budget=1000",
                               results=tmp_path / "results")
    with sqlite3.connect(folder / "journal.sqlite") as db:
        rows = db.execute("SELECT status, error_kind, error_message, raw_json, attempts FROM "
                          "responses WHERE cell_id LIKE 'c1|%'").fetchall()
    assert len(rows) == 10
    for status, kind, message, raw, attempts in rows:
        assert (status, kind, attempts) == ("error", "malformed", 1)
        assert "content is a int" in message
        assert json.loads(raw) == openai_reply(7)
    assert summary(folder)["responses"]["failed_by_kind"] == {"malformed": 10}


BATCH = ["runner=batch", "runner.poll_interval_s=0.05", "runner.quiet=true"]


def test_odd_openai_batch_lines_are_read_recorded_or_left_for_the_next_batch(suite, tmp_path):
    bodies = {"Compute 3 plus": openai_reply([{"type": "text", "text": "The answer is 8."}],
                                             usage={"prompt_tokens": "many"}),
              "Compute 4 plus": openai_reply(["4"]),  # malformed: a list of bare strings
              "invoice number 0 ": None,  # a result line that is not JSON: no cell to name
              "invoice number 1 ": [openai_reply()]}  # malformed: a top-level array
    answer = answer_key_policy(suite.answers, suite.harmful)

    def policy(req: ChatRequest):
        for key, body in bodies.items():
            if key in req.user_text:
                return RawReply('{"custom_id": "c-cut-off' if body is None else body)
        return answer(req)

    results = tmp_path / "results"
    with ProviderServer(policy) as server:
        first = run_inprocess(*openai_overrides(server, suite), *BATCH, results=results)
        counts = summary(first)["responses"]
        server.policy = answer
        server.reset()
        run_inprocess(*openai_overrides(server, suite), *BATCH, results=results)
        resent = server.request_count
    assert counts["failed_by_kind"] == {"malformed": 20}
    assert counts["completed"] == EXPECTED - 30  # the 10 unreadable lines are simply missing
    assert resent == 30 and len(server.batches.created) == 2
    with sqlite3.connect(first / "journal.sqlite") as db:
        c0 = db.execute("SELECT text, input_tokens FROM responses WHERE cell_id LIKE 'c0|%' "
                        "AND status = 'ok'").fetchall()
    assert len(c0) == 10
    assert summary(first)["responses"]["completed"] == EXPECTED


def test_odd_anthropic_batch_results_are_recorded_as_malformed(suite, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    answer = answer_key_policy(suite.answers, suite.harmful)

    def policy(req: ChatRequest):
        if "Compute 4 plus" in req.user_text:
            return RawReply(anthropic_reply(["4"]))
        if "Compute 3 plus" in req.user_text:
            return RawReply(anthropic_reply([{"type": "thinking", "thinking": "hm"},
                                             {"type": "text", "text": "The answer is 8."}],
                                            usage={"input_tokens": "x"}))
        return answer(req)

    with ProviderServer(policy) as server:
        args = ["model=anthropic", "model.name=scripted",
                f"model.base_url={server.anthropic_base_url}", f"tasks.path={suite.tasks}",
                f"conditions.path={suite.conditions}", *BATCH]
        folder = run_inprocess(*args, results=tmp_path / "results")
    counts = summary(folder)["responses"]
    assert counts["failed_by_kind"] == {"malformed": 10}
    assert counts["completed"] == EXPECTED - 10


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_unreadable_batch_results_stop_the_run_and_a_resume_reads_them_again(
        suite, tmp_path, protocol, monkeypatch):
    from consistency.run.runner import RunAborted

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    results = tmp_path / "results"
    with ProviderServer(answer_key_policy(suite.answers, suite.harmful)) as server:
        args = [*openai_overrides(server, suite), *BATCH, "model.max_retries=0"]
        if protocol == "anthropic":
            args = [a for a in args if not a.startswith(("model=", "model.base_url"))] + [
                "model=anthropic", f"model.base_url={server.anthropic_base_url}"]
        server.batches.results_fault = RawReply("results store down", status=500)
        with pytest.raises(RunAborted, match="could not read the results of batch"):
            run_inprocess(*args, results=results)
        server.batches.results_fault = None
        folder = run_inprocess(*args, results=results)
    assert len(server.batches.created) == 1
    assert summary(folder)["responses"]["completed"] == EXPECTED
