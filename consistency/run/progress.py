"""The live progress bar of a run: done/total, rate, ETA, failures and tokens; silent when quiet.

Rich redraws from its own thread a few times a second; :meth:`ProgressBar.advance` only updates
counters, so a fast run does not pay for drawing once per response.

The ETA is ours, not rich's: rich estimates speed from the updates of the last 30 seconds, so a
slow model (a reply every ten seconds on a busy CPU, fed every 8 replies) never had two updates
in its window and showed ``-:--:--`` for the whole run. Ours is the remaining requests at the
mean rate since the bar started, shown from the first reply on, and the bar is fed at least
once a second whatever the rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

UNKNOWN_ETA = "-:--:--"


def eta_text(done: int, total: int, elapsed_s: float) -> str:
    """``H:MM:SS`` left at the mean rate so far; ``-:--:--`` before the first reply."""
    if done >= total:
        return "0:00:00"
    if done <= 0 or elapsed_s <= 0:
        return UNKNOWN_ETA
    seconds = round((total - done) * elapsed_s / done)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class ProgressBar:
    """Context manager around a rich progress bar (or nothing at all in quiet mode)."""

    def __init__(self, total: int, *, quiet: bool = False,
                 clock: Callable[[], float] = time.perf_counter, console: Any = None) -> None:
        self.total = total
        self.done = 0
        self.failures = 0
        self.tokens = 0
        self._clock = clock
        self._started = clock()
        self._fed = self._started
        self._progress = None if quiet else Progress(
            TextColumn("[bold]requests"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"), TextColumn("failed {task.fields[failed]}"),
            TextColumn("tokens {task.fields[tokens]}"), TimeElapsedColumn(),
            TextColumn("eta {task.fields[eta]}"), refresh_per_second=4, transient=False,
            console=console)
        self._task: Any = None

    def __enter__(self) -> "ProgressBar":
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("run", total=self.total, failed=0, rate="-",
                                                 tokens=0, eta=UNKNOWN_ETA)
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
        # every few responses (and always at the end), which is still far above the redraw rate;
        # a slow run is fed at every response once a second has passed, so its ETA moves.
        if self._progress is not None and (self.done % 8 == 0 or self.done == self.total
                                           or self._clock() - self._fed >= 1.0):
            self._update()

    @property
    def eta(self) -> str:
        """The ETA shown now (see :func:`eta_text`)."""
        return eta_text(self.done, self.total, self._clock() - self._started)

    def _update(self) -> None:
        now = self._clock()
        self._fed = now
        rate = self.done / max(now - self._started, 1e-9)
        self._progress.update(self._task, completed=self.done, failed=self.failures,
                              rate=f"{rate:.1f}", tokens=_short(self.tokens),
                              eta=eta_text(self.done, self.total, now - self._started))


def _short(count: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)
