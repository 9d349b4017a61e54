"""A run folder that stops taking writes mid-run (disk full, read-only, permission).

The journal commits every response as it arrives, so when the disk fills up or the folder's
file system turns read-only during a run, everything committed before stays and a resume
requests only the rest. What the user needs then is a message, not a traceback:
:func:`storage_problem` recognises a write failure (an ``OSError`` such as ``ENOSPC``,
``EROFS``, ``EACCES``, ``EDQUOT``, ``EFBIG``, or SQLite's "database or disk is full" / "attempt
to write a readonly database" / "disk I/O error") and names its cause, probing the folder itself
because SQLite reports a read-only file system as a full disk. :func:`stopped_message` is the
paragraph ``consistency run`` prints before exiting 1 (resumable).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

#: errno -> what the user is told.
_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "a file grew past the size this process may write",
    errno.EIO: "an input/output error of the device",
}
#: SQLite's wording of a write that the storage refused.
_SQLITE_WRITE_FAILURES = ("database or disk is full", "attempt to write a readonly database",
                          "disk i/o error", "unable to open database file")
#: Bytes the probe writes: enough to need a fresh block on a full file system.
_PROBE_BYTES = 64 * 1024


def storage_problem(exc: BaseException, folder: Path) -> str | None:
    """What stopped writes into ``folder``, when ``exc`` is a refused write; else None."""
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        if not any(marker in text for marker in _SQLITE_WRITE_FAILURES):
            return None
        return _probe(folder) or f"SQLite: {exc}"
    if isinstance(exc, OSError):
        code = exc.errno if exc.errno in _CAUSES else None
        if code is None:
            code = _errno_in_text(str(exc))
        if code is None:
            return None
        return _probe(folder) or _CAUSES[code]
    return None


@contextlib.contextmanager
def writes_into(folder: Path, run_id: str) -> Iterator[None]:
    """Turn a refused write into :class:`~consistency.run.runner.RunAborted` (exit 1, resumable)
    with :func:`stopped_message`; any other error passes unchanged."""
    from consistency.run.runner import RunAborted

    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        problem = storage_problem(exc, folder)
        if problem is None:
            raise
        raise RunAborted(stopped_message(problem, folder, run_id)) from None


def stopped_message(problem: str, folder: Path, run_id: str) -> str:
    """The paragraph of a run stopped by a refused write."""
    return (f"cannot write to the run folder {folder} ({problem}). Every response committed "
            f"before that is kept in {folder / 'journal.sqlite'}; free space or make the folder "
            f"writable again, then run the same command (run_id={run_id}) to resume: only the "
            "cells without a stored response are requested")


def _probe(folder: Path) -> str | None:
    """Try a small write in ``folder``: the cause of its failure, or None if it succeeds."""
    probe = folder / f".write-probe-{secrets.token_hex(4)}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"\0" * _PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return _CAUSES.get(exc.errno, exc.strerror or str(exc))
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return None


def _errno_in_text(text: str) -> int | None:
    """pyarrow reports some write failures as an OSError whose errno is unset but whose text
    carries the C library's message."""
    for code in _CAUSES:
        if os.strerror(code).lower() in text.lower():
            return code
    return None
