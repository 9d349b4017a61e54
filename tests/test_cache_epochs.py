"""The shared cache keeps repeated samples apart: each epoch is served its own stored reply."""

from __future__ import annotations

import itertools
import sqlite3
from collections import defaultdict

import pandas as pd
from provider_server import ChatRequest, ProviderServer
from runner_support import openai_overrides, run_inprocess, summary

from consistency.run.cache import ResponseCache, sample_key

DESIGN = ["model.temperature=0.7", "model.seed=null", "conditions.pairs=[wording]",
          "tasks.limit=3"]
SAMPLED = [*DESIGN, "epochs=3", "runner.cache=true"]


def sampling_model():
    """A server whose every reply is different, as a sampled model's would be."""
    counter = itertools.count()

    def policy(req: ChatRequest) -> str:
        return f"sample {next(counter)}"

    return policy


def texts_by_cell(folder) -> dict[str, list[str]]:
    frame = pd.read_parquet(folder / "responses.parquet")
    out: dict[str, list[str]] = defaultdict(list)
    for row in frame.sort_values("epoch").itertuples():
        out[f"{row.item_id}|{row.pair}|{row.arm}|{row.variant}"].append(row.text)
    return dict(out)


def test_a_cached_second_run_gets_every_epoch_its_own_reply(suite, tmp_path):
    results = tmp_path / "results"
    with ProviderServer(sampling_model()) as server:
        first = run_inprocess(*openai_overrides(server, suite), *SAMPLED, results=results,
                              run_id="first")
        sent = server.request_count
        second = run_inprocess(*openai_overrides(server, suite), *SAMPLED, results=results,
                               run_id="second")
        sent_again = server.request_count - sent
    assert sent_again == 0 and summary(second)["runner"]["served_from_cache"] == sent
    received, served = texts_by_cell(first), texts_by_cell(second)
    assert served == received
    assert all(len(texts) == 3 and len(set(texts)) == 3 for texts in served.values())


def test_more_epochs_than_the_cache_holds_requests_only_the_new_ones(suite, tmp_path):
    results = tmp_path / "results"
    with ProviderServer(sampling_model()) as server:
        run_inprocess(*openai_overrides(server, suite), *SAMPLED, results=results, run_id="a")
        sent = server.request_count
        more = run_inprocess(*openai_overrides(server, suite), *DESIGN, "epochs=5",
                             "runner.cache=true", results=results, run_id="b")
        sent_again = server.request_count - sent
    assert sent_again == sent * 2 // 3  # epochs 3 and 4 of every cell
    assert all(len(set(texts)) == 5 for texts in texts_by_cell(more).values())


def test_a_cache_file_from_before_sample_keys_serves_one_epoch_only(suite, tmp_path):
    """Old files keyed replies by request alone: each becomes sample 0 of its request."""
    results = tmp_path / "results"
    with ProviderServer(sampling_model()) as server:
        first = run_inprocess(*openai_overrides(server, suite), *SAMPLED, results=results,
                              run_id="first")
        sent = server.request_count
        frame = pd.read_parquet(first / "responses.parquet")
        old = results / "old-cache.sqlite"
        with sqlite3.connect(old) as db:
            db.execute("CREATE TABLE cached (request_hash TEXT PRIMARY KEY, status TEXT NOT NULL, "
                       "text TEXT NOT NULL, finish_reason TEXT, model_reported TEXT, "
                       "input_tokens INTEGER, output_tokens INTEGER, raw_json TEXT, "
                       "accepted_params TEXT)")
            # what the old cache kept: the first reply stored for each request hash
            for row in frame.sort_values("epoch", ascending=False).itertuples():
                db.execute("INSERT OR REPLACE INTO cached VALUES (?, 'ok', ?, 'stop', 'm', 1, 1, "
                           "'{}', '{}')", (row.request_hash, row.text))
        again = run_inprocess(*openai_overrides(server, suite), *DESIGN, "epochs=3",
                              f"runner.cache={old}", results=results, run_id="again")
        sent_again = server.request_count - sent
    assert summary(again)["runner"]["served_from_cache"] == sent // 3
    assert sent_again == sent * 2 // 3
    assert all(len(set(texts)) == 3 for texts in texts_by_cell(again).values())
    with sqlite3.connect(old) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        version = db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
    assert "cached" not in tables and version == ("2",)


def test_sample_keys_differ_by_sample(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    try:
        assert len({sample_key("h", n) for n in range(3)}) == 3
    finally:
        cache.close()
