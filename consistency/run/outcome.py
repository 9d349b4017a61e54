"""The exit status of a finished ``consistency run``, read from its ``summary.json``.

A run that finished but tested nothing must not look like a pass to a scheduler. When the
run-level headline (:mod:`consistency.analyse.stats.headline`) is ``untested`` although the design has
test pairs, ``consistency run`` exits with :data:`EXIT_UNTESTED` and one paragraph saying why
(most often: every request failed, within ``runner.error_budget``). A design with no test pair
at all (placebo pairs only: a calibration run) asks for no test, so it is not held to one.

Exit statuses of ``consistency run``: 0 tested, 1 stopped (resumable), 2 bad input, 4 finished
but nothing tested.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: ``consistency run`` finished, but no test row could be tested (headline ``untested``).
EXIT_UNTESTED = 4


def untested_message(folder: Path, run_id: str) -> str | None:
    """Why the run in ``folder`` tested nothing, as one paragraph; None when it tested something
    (or has no test pair to test, or no readable summary to judge by)."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(summary, dict) or not isinstance(summary.get("headline"), dict):
        return None
    if summary["headline"].get("answer") != "untested" or not _has_test_pairs(summary):
        return None
    counts = summary.get("responses") if isinstance(summary.get("responses"), dict) else {}
    completed, failed = counts.get("completed", 0), counts.get("failed", 0)
    kinds = counts.get("failed_by_kind") or {}
    by_kind = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    if not completed and failed:
        why = (f"every request failed ({failed} cells: {by_kind}), within runner.error_budget; "
               f"fix the provider, then run the same command (run_id={run_id}) to request the "
               "failed cells again")
    else:
        why = (f"{completed} responses were received and {failed} cells failed"
               + (f" ({by_kind})" if by_kind else "")
               + ", but no test row had enough scored items for a p value; see report.md, "
                 "resume to request failed cells again, or use a larger design")
    return (f"nothing was tested: summary.json headline is 'untested': {why}. Exit status "
            f"{EXIT_UNTESTED}: the run finished, but its result is no pass")


def _has_test_pairs(summary: dict[str, Any]) -> bool:
    """Whether the design asked for a test: a test row, or a test row left out as untestable."""
    rows = summary.get("tests") if isinstance(summary.get("tests"), list) else []
    if any(isinstance(row, dict) and row.get("pair_kind") == "test" for row in rows):
        return True
    excluded = summary["headline"].get("excluded")
    return isinstance(excluded, dict) and bool(excluded.get("untestable"))
