"""The folders a report over a sweep leaves out, and why.

``consistency report results`` reads every finished run below ``results`` (a folder with
``summary.json``); a job of a sweep that failed, was stopped, or is still running has a run
folder without one. A report that silently leaves such a job out reads as if the sweep had fewer
cells, so :func:`skipped_runs` names each one with its reason, and ``consistency report`` prints
them (standard error) beside what it wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

#: Files only a run folder holds: one of them without ``summary.json`` is a run not finished.
_RUN_MARKERS = ("journal.sqlite", "config.yaml", "batches.json")


def skipped_runs(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """``(folder, reason)`` for each run folder below ``paths`` that a report cannot include,
    in name order. A path that is itself a finished run folder is not searched."""
    skipped: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if (path / "summary.json").is_file() or not path.is_dir():
            continue
        candidates = {p.parent for marker in _RUN_MARKERS for p in path.glob(f"**/{marker}")}
        for folder in sorted(candidates):
            if (folder / "summary.json").is_file() or folder.name == "sweeps":
                continue
            if (folder / "multirun.yaml").is_file():
                continue  # Hydra's record of a sweep, not a run
            skipped.append((folder, _reason(folder)))
    return skipped


def _reason(folder: Path) -> str:
    received = _received(folder / "journal.sqlite")
    if (folder / ".lock").is_file() and _locked(folder / ".lock"):
        return f"still running ({received} responses so far)"
    if received is None:
        return "not started: no responses journalled (its job stopped before the first request)"
    return (f"unfinished: {received} responses journalled but no results (the job failed or was "
            "stopped); re-run the sweep command to resume it")


def _received(journal: Path) -> int | None:
    if not journal.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses WHERE status != 'error'")
                       .fetchone()[0])
    except sqlite3.Error:
        return 0


def _locked(lock: Path) -> bool:
    """True when another process holds the run folder's lock (:func:`store.run_lock`)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no file locks on this platform
        return False
    try:
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return False
