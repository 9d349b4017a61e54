"""The live progress bar of a run: done/total, rate, ETA, failures and tokens; silent when quiet.

Rich redraws from its own thread a few times a second; :meth:`ProgressBar.advance` only updates
counters, so a fast run does not pay for drawing once per response.
"""

from __future__ import annotations

import time
from typing import Any

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


class ProgressBar:
    """Context manager around a rich progress bar (or nothing at all in quiet mode)."""

    def __init__(self, total: int, *, quiet: bool = False) -> None:
        self.total = total
        self.done = 0
        self.failures = 0
        self.tokens = 0
        self._started = time.perf_counter()
        self._progress = None if quiet else Progress(
            TextColumn("[bold]requests"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"), TextColumn("failed {task.fields[failed]}"),
            TextColumn("tokens {task.fields[tokens]}"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), refresh_per_second=4, transient=False)
        self._task: Any = None

    def __enter__(self) -> "ProgressBar":
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("run", total=self.total, failed=0, rate="-",
                                                 tokens=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._update()
            self._progress.stop()

    def advance(self, *, failed: bool, tokens: int = 0) -> None:
        self.done += 1
        self.failures += failed
        self.tokens += tokens
        # Rich's own bookkeeping costs more than a request's share of CPU at high rates; feed it
        # every few responses (and always at the end), which is still far above the redraw rate.
        if self._progress is not None and (self.done % 8 == 0 or self.done == self.total):
            self._update()

    def _update(self) -> None:
        rate = self.done / max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(self._task, completed=self.done, failed=self.failures,
                              rate=f"{rate:.1f}", tokens=_short(self.tokens))


def _short(count: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)
