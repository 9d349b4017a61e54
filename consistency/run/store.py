"""The run journal: every response made durable the moment it arrives (SQLite, WAL).

One SQLite file per run folder (``journal.sqlite``). A response is committed before the runner
moves on, so a killed run keeps everything it had received; resuming reads which cells already hold
a response and requests only the rest. Cells whose last attempt failed are requested again on resume
(a failure is not a response); their error is kept until a response replaces it. The one exception is
a reply the provider itself withheld (``content_filter``: OpenAI's ``content_filter`` finish reason,
Anthropic's ``refusal`` stop reason): asking again would get the same answer and pay again, so such a
cell counts as done and is reported as a failure of that kind.

Several processes may write one journal at once (SQLite serialises writers; the busy timeout makes
them wait rather than fail), and since a stored response is never overwritten, a cell answered by two
of them still holds exactly one row.

``responses`` table / frame (one row per cell that was attempted):

=================  =======  ==============================================================
column             type     meaning
=================  =======  ==============================================================
cell_id            str      plan cell id (primary key)
request_hash       str      sha256 of the canonical request
status             str      ``ok`` (text received), ``empty`` (blank text), ``error``
text               str      the assistant text ("" for errors)
finish_reason      str      provider stop reason (``stop``, ``length``, ``end_turn``, ...)
error_kind         str      for errors: ``rate_limit``, ``timeout``, ``connection``, ...
error_message      str      for errors: the provider's message (at most 2,000 characters)
model_reported     str      model id the provider says answered
input_tokens       int      prompt tokens reported by the provider
output_tokens      int      completion tokens reported by the provider
latency_s          float    wall time of the successful call, seconds
attempts           int      how many times this cell was sent (across resumes)
raw_json           str      the provider's raw response body as JSON (reasoning fields included;
                            for a ``malformed`` failure, the body that could not be read)
accepted_params    str      JSON of the sampling params the provider was sent
received_at        str      UTC ISO timestamp of the last update
cached             int      1 when the response came from the shared cache, not the provider
=================  =======  ==============================================================

Every string column is redacted (API keys, URL credentials: :mod:`consistency.common.sanitise`) and
valid UTF-8; ``text`` and ``raw_json`` are capped at :data:`RAW_LIMIT` characters (a larger raw
body is stored as ``{"truncated": true, "chars": n, "head": ...}``), so writing a row never fails
whatever the provider sent.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from consistency.common.errors import InputError
from consistency.common.inbound import clean_text
from consistency.common.sanitise import redact, secrets_in_use

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    cell_id TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'empty', 'error')),
    text TEXT NOT NULL DEFAULT '',
    finish_reason TEXT,
    error_kind TEXT,
    error_message TEXT,
    model_reported TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    latency_s REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    raw_json TEXT,
    accepted_params TEXT,
    received_at TEXT NOT NULL,
    cached INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS episode_steps (
    cell_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    request_hash TEXT NOT NULL,
    reply_json TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (cell_id, step)
);
"""

#: Characters kept of a raw body (and of a reply's text); larger ones are stored truncated.
RAW_LIMIT = 1_000_000
#: Characters kept of an error message.
MESSAGE_LIMIT = 2000
#: How a fingerprint difference is named to the user.
_FINGERPRINT_PARTS = {
    "model": "model", "params": "sampling parameters (model.*)", "epochs": "epochs",
    "variants": "variants", "plan_sha256": "requests (items, prompts, pairs, framings)",
    "items_sha256": "items' family or answer", "pairs_sha256": "pairs' kind or overseer_prefers",
}

#: Failures that are final: the provider answered and withheld the content; never re-requested.
TERMINAL_KINDS = ("content_filter",)

RESPONSE_COLUMNS = [
    "cell_id", "request_hash", "status", "text", "finish_reason", "error_kind", "error_message",
    "model_reported", "input_tokens", "output_tokens", "latency_s", "attempts", "raw_json",
    "accepted_params", "received_at", "cached",
]


@dataclass(frozen=True)
class ResponseRecord:
    """What one attempt at one cell produced."""

    cell_id: str
    request_hash: str
    status: str
    text: str = ""
    finish_reason: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    model_reported: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float | None = None
    raw: Any = field(default_factory=dict)
    accepted_params: dict[str, Any] = field(default_factory=dict)
    cached: bool = False

    def raw_text(self) -> str:
        """The raw body as stored: JSON, redacted, at most about :data:`RAW_LIMIT` characters."""
        return raw_json_text(self.raw)

    def row(self) -> dict[str, Any]:
        """The storable fields, each safe to write: redacted, valid UTF-8, size-capped."""
        keys = secrets_in_use()
        return {"cell_id": self.cell_id, "request_hash": self.request_hash, "status": self.status,
                "text": safe_text(self.text, RAW_LIMIT, keys) or "",
                "finish_reason": safe_text(self.finish_reason, 200, keys),
                "error_kind": self.error_kind,
                "error_message": safe_text(self.error_message, MESSAGE_LIMIT, keys),
                "model_reported": safe_text(self.model_reported, 500, keys),
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "latency_s": self.latency_s, "raw_json": raw_json_text(self.raw, keys),
                "accepted_params": json.dumps(self.accepted_params, default=str),
                "cached": int(self.cached)}


def raw_json_text(raw: Any, secrets: list[str] | None = None) -> str:
    """``raw`` as JSON text that can always be written. A value that cannot be serialised (too
    deeply nested, say) is kept as its clipped ``repr``; a body over :data:`RAW_LIMIT`
    characters keeps its first :data:`RAW_LIMIT` as ``{"truncated": true, "chars": n, "head":
    ...}``. Secrets are redacted (see :mod:`consistency.common.sanitise`)."""
    try:
        text = json.dumps(raw, default=str, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        text = json.dumps({"unserialisable": type(raw).__name__,
                           "repr": _safe_repr(raw)[:RAW_LIMIT]})
    if len(text) > RAW_LIMIT:
        text = json.dumps({"truncated": True, "chars": len(text), "head": text[:RAW_LIMIT]})
    return redact(text, secrets)


def safe_text(value: Any, limit: int, secrets: list[str] | None = None) -> str | None:
    """A string column's value: redacted, at most ``limit`` characters, valid UTF-8 (a lone
    surrogate from a JSON ``\ud800`` escape would make SQLite and Parquet refuse the row; see
    :func:`consistency.common.inbound.clean_text`)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return redact(clean_text(text), secrets)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to show>"


class Journal:
    """The SQLite journal of one run folder."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the journal; an unreadable or foreign file is an :class:`InputError`
        naming it, before any request (the file is left as it is: it may hold paid responses)."""
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            # WAL + synchronous=NORMAL: a committed row survives the process being killed.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
            if "cached" not in columns:  # a journal written before the shared cache existed
                self._db.execute("ALTER TABLE responses ADD COLUMN cached INTEGER NOT NULL "
                                 "DEFAULT 0")
            if not {"cell_id", "request_hash", "status"} <= columns | {"cached"}:
                raise sqlite3.DatabaseError("its responses table is not a journal's")
        except sqlite3.Error as exc:
            raise InputError(
                f"the run's journal cannot be read ({exc}); it is damaged or not a consistency "
                "journal. Move it (and journal.sqlite-wal, -shm) aside to start the run afresh, or "
                "choose a new run_id", where=str(self.path)) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- run identity -------------------------------------------------------------------------
    def bind(self, fingerprint: dict[str, Any]) -> bool:
        """Tie this journal to one design; refuse to resume under a different one.

        Returns True when the journal was new. The fingerprint holds what must not change between
        a run and its resumption (see :func:`consistency.pipeline.design_fingerprint`); a mismatch
        would silently mix two experiments in one table, or re-score old responses under new
        answers or directions, so it is an input error. A journal written with an older
        fingerprint layout (before ``layout`` existed, it did not record items' families and
        answers nor pairs' kinds) cannot be checked against the current design, so it is refused
        with its own message rather than resumed on trust.
        """
        wanted = json.dumps(fingerprint, sort_keys=True)
        # Insert-if-absent then read back: two processes opening one new journal agree on a winner.
        created = self._db.execute("INSERT OR IGNORE INTO meta VALUES ('fingerprint', ?)",
                                   (wanted,)).rowcount == 1
        if created:
            return True
        row = self._db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
        if row[0] == wanted:
            return False
        stored = json.loads(row[0])
        if stored.get("layout") != fingerprint.get("layout"):
            raise InputError(
                f"this run was written by an older version of consistency (fingerprint layout "
                f"{stored.get('layout', 1)}, now {fingerprint.get('layout')}) that did not record "
                "everything a score depends on, so resuming or re-analysing it here could mix two "
                "designs unseen; its files stay readable as they are. Choose a new run_id to run "
                "the design again, or use the older version to resume it",
                where=str(self.path.parent))
        diff = sorted(_FINGERPRINT_PARTS.get(key, key) for key in set(stored) | set(fingerprint)
                      if stored.get(key) != fingerprint.get(key))
        raise InputError(
            f"run_id already exists with a different design (differs in: {', '.join(diff)}); "
            "resume it with the same settings, or choose a new run_id",
            where=str(self.path.parent),
        )

    # -- responses ----------------------------------------------------------------------------
    def done_cells(self) -> set[str]:
        """Cells holding a response (``ok`` or ``empty``); failed cells are not done."""
        marks = ",".join("?" * len(TERMINAL_KINDS))
        rows = self._db.execute("SELECT cell_id FROM responses WHERE status != 'error' OR "
                                f"error_kind IN ({marks})", TERMINAL_KINDS)
        return {cell for (cell,) in rows}

    def record(self, rec: ResponseRecord) -> None:
        """Commit one attempt. A response is never overwritten by a later failure."""
        self.record_many([rec])

    def record_many(self, records: list[ResponseRecord]) -> None:
        """Commit several attempts in one transaction (all or none)."""
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        values = [tuple(row.get(column, now) for column in _WRITTEN)
                  for row in (rec.row() for rec in records)]
        if not values:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(_UPSERT, values)
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk): the first error is the one to see
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    # -- episode steps (see consistency.run.episodes) ---------------------------------------------
    def record_step(self, cell_id: str, step: int, request_hash: str, reply_json: str) -> None:
        """Commit one paid step of an agentic episode before the next is sent. A step already
        stored is kept as it is: the first reply paid for is the one the episode continues from."""
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        self._db.execute("INSERT OR IGNORE INTO episode_steps VALUES (?, ?, ?, ?, ?)",
                         (cell_id, int(step), request_hash, reply_json, now))

    def steps(self, cell_id: str, request_hash: str) -> list[str]:
        """The stored replies of one episode, in step order (``reply_json`` texts)."""
        rows = self._db.execute("SELECT reply_json FROM episode_steps WHERE cell_id = ? AND "
                                "request_hash = ? ORDER BY step", (cell_id, request_hash))
        return [text for (text,) in rows]

    def frame(self) -> pd.DataFrame:
        """All stored rows as a frame with :data:`RESPONSE_COLUMNS`."""
        return pd.read_sql_query(f"SELECT {', '.join(RESPONSE_COLUMNS)} FROM responses", self._db)


#: Columns written by :meth:`Journal.record_many`, in ``_UPSERT`` order (``received_at`` is now).
_WRITTEN = [c for c in RESPONSE_COLUMNS if c != "attempts"]
_UPSERT = """INSERT INTO responses (cell_id, request_hash, status, text, finish_reason,
                   error_kind, error_message, model_reported, input_tokens, output_tokens,
                   latency_s, raw_json, accepted_params, received_at, cached)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(cell_id) DO UPDATE SET
                   request_hash=excluded.request_hash, status=excluded.status, text=excluded.text,
                   finish_reason=excluded.finish_reason, error_kind=excluded.error_kind,
                   error_message=excluded.error_message, model_reported=excluded.model_reported,
                   input_tokens=excluded.input_tokens, output_tokens=excluded.output_tokens,
                   latency_s=excluded.latency_s, raw_json=excluded.raw_json,
                   accepted_params=excluded.accepted_params, received_at=excluded.received_at,
                   cached=excluded.cached, attempts=responses.attempts + 1
               WHERE responses.status = 'error'"""


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the run folder for this process: a second process given the same ``run_id`` while
    this one is running stops at once (:class:`InputError`) instead of paying a second time for
    every cell both would request. The lock is an OS file lock (``flock``) on ``folder/.lock``:
    it ends with the process, however it ends, so a killed run never leaves a stale lock behind.
    Different run folders (the jobs of a sweep) do not contend. Where ``fcntl`` does not exist
    (Windows) there is no lock and the journal alone keeps the data correct.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on the platforms we test
        yield
        return
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InputError(
                f"run {folder.name} is being run by {holder} right now; wait for it to finish "
                "(then the same command resumes or reports it), or choose another run_id",
                where="run_id") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # a folder turned read-only: the lock still ends
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write then rename, so a reader (or a second process of a sweep) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def write_text_atomic(path: Path, text: str) -> None:
    """Text (UTF-8) written the same way as :func:`write_parquet_atomic`."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
