"""A response cache shared across runs, keyed by the hash of the canonical request.

Off by default (``runner.cache=null``): a scheduled run must ask the model again, or a nightly job
would only ever re-read its first night. When a path is given, every successful response is stored
under its request hash, and a later run whose plan holds the same canonical request (same model,
messages and sampling params, hence the same hash) takes the stored response instead of sending a
request. Only ``ok`` and ``empty`` responses are cached; failures never are.

The cache is one SQLite file in WAL mode, so several processes (the jobs of one Hydra sweep) may
read and write it at once; ``INSERT OR IGNORE`` keeps the first response stored for a hash.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from consistency.store import ResponseRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cached (
    request_hash TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    model_reported TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    raw_json TEXT,
    accepted_params TEXT
);
"""
_FIELDS = ("status", "text", "finish_reason", "model_reported", "input_tokens", "output_tokens",
           "raw_json", "accepted_params")


class ResponseCache:
    """The shared cache file (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def lookup(self, cells: Iterable[tuple[str, str]]) -> Iterator[ResponseRecord]:
        """Records for the ``(cell_id, request_hash)`` pairs whose hash is cached."""
        cells = list(cells)
        for start in range(0, len(cells), 500):
            chunk = cells[start:start + 500]
            by_hash: dict[str, list[str]] = {}
            for cell_id, digest in chunk:
                by_hash.setdefault(digest, []).append(cell_id)
            marks = ",".join("?" * len(by_hash))
            rows = self._db.execute(
                f"SELECT request_hash, {', '.join(_FIELDS)} FROM cached "
                f"WHERE request_hash IN ({marks})", list(by_hash))
            for digest, status, text, finish, model, tin, tout, raw, params in rows:
                for cell_id in by_hash[digest]:
                    yield ResponseRecord(
                        cell_id, digest, status, text=text, finish_reason=finish,
                        model_reported=model, input_tokens=tin, output_tokens=tout,
                        raw=json.loads(raw or "{}"), accepted_params=json.loads(params or "{}"),
                        cached=True)

    def store(self, records: Iterable[ResponseRecord]) -> None:
        """Keep the received responses among ``records`` (first one wins for a hash)."""
        rows = [(rec.request_hash, rec.status, rec.text, rec.finish_reason, rec.model_reported,
                 rec.input_tokens, rec.output_tokens, rec.raw_text(), json.dumps(rec.accepted_params))
                for rec in records if rec.status in ("ok", "empty") and not rec.cached]
        if rows:
            with _transaction(self._db):
                self._db.executemany(
                    f"INSERT OR IGNORE INTO cached (request_hash, {', '.join(_FIELDS)}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
