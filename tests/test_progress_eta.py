"""The progress bar's ETA is an estimate from the first replies on, even for a slow model (it
used to sit at ``-:--:--`` while rich waited for two updates within its 30-second window)."""

from __future__ import annotations

import io

from rich.console import Console

from consistency.run.progress import UNKNOWN_ETA, ProgressBar, eta_text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_is_the_remaining_requests_at_the_mean_rate():
    assert eta_text(0, 100, 50.0) == UNKNOWN_ETA
    assert eta_text(1, 100, 10.0) == "0:16:30"  # 99 left at one per 10 s
    assert eta_text(50, 100, 3600.0) == "1:00:00"
    assert eta_text(100, 100, 5.0) == "0:00:00"


def test_a_slow_run_shows_an_eta_after_its_first_reply():
    clock = Clock()
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with ProgressBar(200, clock=clock, console=console) as bar:
        clock.now += 12.0  # one reply every 12 seconds: a busy CPU
        bar.advance(failed=False, tokens=30)
        task = bar._progress.tasks[0]
        assert task.fields["eta"] == "0:39:48" == bar.eta
        assert task.completed == 1
        clock.now += 12.0
        bar.advance(failed=False, tokens=30)
        assert bar._progress.tasks[0].fields["eta"] == "0:39:36"
    assert "eta 0:39:36" in out.getvalue()
