"""A response cache shared across runs, keyed by the canonical request *and* the sample index.

Off by default (``runner.cache=null``): a scheduled run must ask the model again, or a nightly job
would only ever re-read its first night. When a path is given, every successful response is stored,
and a later run whose plan holds the same canonical request (same model, messages and sampling
params, hence the same request hash) takes the stored response instead of sending a request.
Only ``ok`` and ``empty`` responses are cached; failures never are.

Why the sample index: without a seed, the epochs of one cell send byte-identical requests, so a
cache keyed by the request alone would serve one reply to every epoch and silently make the
within-item variance zero. The key is ``sha256(request_hash:n)``, where ``n`` counts the cells of
the plan holding that request, in (epoch, cell id) order: in the usual design, ``n`` is the epoch.
A second run with ``epochs=3`` is therefore served the three replies the first run received, one
per epoch, and a run with more epochs than the cache holds samples requests the rest.

The cache is one SQLite file in WAL mode, so several processes (the jobs of one Hydra sweep) may
read and write it at once; ``INSERT OR IGNORE`` keeps the first response stored for a key.

Cache files written before the sample index existed (table ``cached``, one reply per request hash,
whatever epoch it came from) are migrated when opened: each old reply becomes sample 0 of its
request, so it serves one epoch only and the other epochs are requested.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from consistency.run.store import ResponseRecord

#: Format of the cache file (``meta`` table, key ``version``).
CACHE_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    sample_key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
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


def sample_key(request_hash: str, sample: int) -> str:
    """The cache key of the ``sample``-th reply to one canonical request."""
    return hashlib.sha256(f"{request_hash}:{int(sample)}".encode()).hexdigest()


def sample_keys(plan: pd.DataFrame) -> pd.Series:
    """The cache key of every plan cell (aligned with ``plan``'s index): cells sharing a request
    are numbered in (epoch, cell id) order, so each epoch has its own entry."""
    ordered = plan.sort_values(["epoch", "cell_id"], kind="stable")
    index = ordered.groupby("request_hash", sort=False).cumcount()
    keys = [sample_key(digest, n) for digest, n in zip(ordered["request_hash"], index)]
    return pd.Series(keys, index=ordered.index, dtype=object).reindex(plan.index)


class ResponseCache:
    """The shared cache file (created on first use, migrated when it predates sample keys)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        """Move a version-1 ``cached`` table (one reply per request) into ``samples`` as
        sample 0; inside one write transaction, so two processes opening it migrate it once."""
        with _transaction(self._db):
            old = self._db.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                                   "name='cached'").fetchone()
            if old is not None:
                rows = self._db.execute(f"SELECT request_hash, {', '.join(_FIELDS)} FROM cached")
                self._db.executemany(
                    f"INSERT OR IGNORE INTO samples (sample_key, request_hash, "
                    f"{', '.join(_FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(sample_key(row[0], 0), *row) for row in rows.fetchall()])
                self._db.execute("DROP TABLE cached")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)",
                             (str(CACHE_VERSION),))

    def lookup(self, cells: Iterable[tuple[str, str, str]]) -> Iterator[ResponseRecord]:
        """Records for the ``(cell_id, request_hash, sample_key)`` cells whose key is cached."""
        cells = list(cells)
        for start in range(0, len(cells), 500):
            by_key = {key: (cell_id, digest) for cell_id, digest, key in cells[start:start + 500]}
            marks = ",".join("?" * len(by_key))
            rows = self._db.execute(
                f"SELECT sample_key, {', '.join(_FIELDS)} FROM samples "
                f"WHERE sample_key IN ({marks})", list(by_key))
            for key, status, text, finish, model, tin, tout, raw, params in rows:
                cell_id, digest = by_key[key]
                yield ResponseRecord(
                    cell_id, digest, status, text=text, finish_reason=finish,
                    model_reported=model, input_tokens=tin, output_tokens=tout,
                    raw=json.loads(raw or "{}"), accepted_params=json.loads(params or "{}"),
                    cached=True)

    def store(self, entries: Iterable[tuple[str, ResponseRecord]]) -> None:
        """Keep the received responses among ``(sample_key, record)`` entries (first one wins
        for a key). What is stored is redacted and capped like the journal's rows."""
        rows = []
        for key, rec in entries:
            if rec.status not in ("ok", "empty") or rec.cached:
                continue
            row = rec.row()
            rows.append((key, rec.request_hash, row["status"], row["text"],
                         row["finish_reason"], row["model_reported"], row["input_tokens"],
                         row["output_tokens"], row["raw_json"], row["accepted_params"]))
        if rows:
            with _transaction(self._db):
                self._db.executemany(
                    f"INSERT OR IGNORE INTO samples (sample_key, request_hash, "
                    f"{', '.join(_FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


class _transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
