"""Adaptive concurrency: how many requests may be in flight, learnt from how the provider copes.

A fixed pool of 16 workers suits a hosted API and drowns a single-slot server (llama.cpp with one
slot queues every request behind the others, so each one waits 16 replies long and times out).
:class:`Controller` finds the level instead, by additive increase and multiplicative decrease
(AIMD): it starts at a moderate :data:`DEFAULT_START` and

- grows by 1 after each full *window* of sends (as many completions as the current limit) that
  all succeeded with a median latency at most :data:`GROW_WITHIN` times the best window median
  seen: more in flight cost no latency, so the provider had room;
- halves (a *cut*, never below 1) on a load failure (:data:`LOAD_KINDS`: ``rate_limit``,
  ``timeout``, ``server_error``, ``connection``), once per burst: only a send that started
  after the last cut can cut again, so sixteen requests failing together cost one halving, not
  four. A send from before the last cut says nothing about the limit since, whether it fails
  (the SDK retrying the old burst) or completes, so it neither cuts nor spoils the current window;
- but steps back by 1 instead of halving, at limits up to :data:`SMALL_LIMIT`, when the failure
  comes right after a growth step: the level below has just completed a clean window, so the
  overshoot is one request, and halving would cut far below it (a provider that takes 3 at once
  refuses the 4th: halving saw-tooths 4 -> 2 -> 3 -> 4 -> 2 and averages below 3, stepping back
  keeps to 3 -> 4 -> 3). A failure at a limit not just grown to (the start, or one reached by
  shrinking) still halves, so a start far above what the provider takes falls fast, and above
  :data:`SMALL_LIMIT` halving keeps AIMD's quick retreat from a hosted API's rate limit;
- shrinks by 1 when a window's median latency exceeds :data:`SHRINK_ABOVE` times the best: the
  provider is queueing (latency grows with requests in flight while throughput does not).

:class:`Gate` applies the limit: workers ``await gate.acquire()`` before each send and
``gate.release(...)`` after it; at most ``limit`` sends are in flight, and when the limit shrinks
no new send starts until the in-flight count has fallen below it. The runner keeps its worker pool
at the cap (``min(runner.max_connections, model.max_concurrency)``); the gate decides how many of
them send at once. A 429, 5xx, timeout or dropped connection that the SDK retries inside one
send is reported too, through :meth:`Gate.signal` (the runner listens to the SDK's HTTP client:
a response hook for 429 and 5xx, its ``send`` for timeouts and dropped connections, see
:mod:`consistency.providers.hosted`), so the controller hears of the overload the SDK hides.

Every change of the limit is kept in a bounded history (:meth:`Controller.summary`), written to
``summary.json`` under ``runner.concurrency``:

=========  =======  ===============================================================
key        type     meaning
=========  =======  ===============================================================
adaptive   bool     false: the limit was fixed at the cap (no history)
cap        int      the bound the limit never exceeds (the worker count)
start      int      the first limit
final      int      the limit when the run ended
min, max   int      the lowest and highest limit reached
history    list     ``{"t": s since start, "limit": n, "reason": r}`` per change;
                    reason ``start``, ``grow``, ``shrink_error:<kind>``, ``shrink_latency``
dropped    int      changes left out of ``history`` (the first and last are kept)
=========  =======  ===============================================================
"""

from __future__ import annotations

import asyncio
import contextvars
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The first limit (at most the cap). Four is enough to keep a hosted API busy while the first
#: window is measured, and only four replies deep on a single-slot server.
DEFAULT_START = 4
#: Growth tolerance: a window median up to 1.3x the best counts as flat. Latencies of one
#: model vary by a fifth from window to window with reply length alone; a queueing server's
#: latency grows in proportion to requests in flight, so from 4 it stops by 6 (6/4 > 1.3).
GROW_WITHIN = 1.3
#: Queueing: a window median above 2x the best shrinks the limit by one.
SHRINK_ABOVE = 2.0
#: Up to this limit a load failure right after a growth step undoes that step rather than halving.
SMALL_LIMIT = 4
#: Failures that say the provider is overloaded (rather than that one request was bad).
LOAD_KINDS = frozenset({"rate_limit", "timeout", "server_error", "connection"})
#: History entries kept: the first ``HISTORY_HEAD`` and the latest up to ``MAX_HISTORY``.
MAX_HISTORY = 200
HISTORY_HEAD = 50


@dataclass(eq=False)
class Ticket:
    """One send through the gate: the generation (count of cuts) it started in."""

    generation: int


class Controller:
    """The AIMD state machine (pure: no I/O; the clock is injected).

    Args:
        cap: the highest limit (the runner's worker count), >= 1.
        start: the first limit, clipped to ``[1, cap]``.
        adaptive: False keeps the limit at ``cap`` and records nothing.
        grow_within: growth tolerance, a ratio to the best window median (> 1).
        shrink_above: queueing threshold, a ratio to the best window median (> grow_within).
        clock: monotonic seconds; history times are measured from construction.
    """

    def __init__(self, cap: int, start: int = DEFAULT_START, *, adaptive: bool = True,
                 grow_within: float = GROW_WITHIN, shrink_above: float = SHRINK_ABOVE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if cap < 1 or start < 1:
            raise ValueError(f"cap and start must be >= 1, got cap={cap}, start={start}")
        if not 1 < grow_within < shrink_above:
            raise ValueError("expected 1 < grow_within < shrink_above, got "
                             f"{grow_within} and {shrink_above}")
        self.cap, self.adaptive = int(cap), adaptive
        self.limit = min(self.cap, int(start)) if adaptive else self.cap
        self.start, self.lowest, self.highest = self.limit, self.limit, self.limit
        self._grow_within, self._shrink_above = grow_within, shrink_above
        self._clock, self._t0 = clock, clock()
        self._generation = 0
        self._grown_from: int | None = None  # the limit before the last change, if it was a grow
        self._best: float | None = None
        self._head: list[dict[str, Any]] = []
        self._tail: deque[dict[str, Any]] = deque(maxlen=MAX_HISTORY - HISTORY_HEAD)
        self._changes = 0
        self._open_window()
        if adaptive:
            self._note("start")

    # -- events -------------------------------------------------------------------------------
    def ticket(self) -> Ticket:
        """A ticket for a send starting now."""
        return Ticket(self._generation)

    def failed(self, ticket: Ticket, kind: str) -> None:
        """A load failure seen on ``ticket``'s send (final, or retried inside the SDK).

        Only a send that started after the last cut counts: it halves the limit (or, at most
        :data:`SMALL_LIMIT` right after a growth step, undoes that step) and opens a new window.
        An older send was admitted under the limit before that cut, so its failure (often a
        retry of the same burst) says nothing about the current window, which it leaves alone,
        as :meth:`completed` leaves it alone.
        """
        if not self.adaptive or kind not in LOAD_KINDS:
            return
        if ticket.generation != self._generation:
            return
        self._generation += 1
        if self._grown_from is not None and self.limit <= SMALL_LIMIT:
            limit = self._grown_from
        else:
            limit = max(1, self.limit // 2)
        self._change(limit, f"shrink_error:{kind}")

    def completed(self, ticket: Ticket, latency_s: float, kind: str | None = None) -> None:
        """A send ended: ``kind`` None when the provider replied, else its failure kind (load
        failures shrink; others, such as a rejected request, say nothing about load)."""
        if not self.adaptive:
            return
        if kind is not None:
            self.failed(ticket, kind)
        if ticket.generation != self._generation:
            return  # sent before the last cut: it says nothing about the limit since
        if kind is None:
            self._latencies.append(float(latency_s))
        self._seen += 1
        if self._seen >= self._window:
            self._close_window()

    # -- windows ------------------------------------------------------------------------------
    # A window counts only sends that started since the last cut, and a load failure of any of
    # them cuts and opens a new window: so a window that closes saw no load failure of its own
    # sends. Sends that failed otherwise (a rejected request) count without a latency.
    def _open_window(self) -> None:
        self._window, self._seen = self.limit, 0
        self._latencies: list[float] = []

    def _close_window(self) -> None:
        samples = self._latencies
        self._open_window()
        if not samples:
            return
        median = statistics.median(samples)
        if self._best is None or median < self._best:
            self._best = median
        if median <= self._grow_within * self._best and self.limit < self.cap:
            self._change(self.limit + 1, "grow")
        elif median > self._shrink_above * self._best and self.limit > 1:
            self._change(self.limit - 1, "shrink_latency")

    def _change(self, limit: int, reason: str) -> None:
        self._grown_from = self.limit if reason == "grow" else None
        if limit == self.limit:
            self._open_window()
            return
        self.limit = limit
        self.lowest, self.highest = min(self.lowest, limit), max(self.highest, limit)
        self._open_window()
        self._note(reason)

    # -- history ------------------------------------------------------------------------------
    def _note(self, reason: str) -> None:
        entry = {"t": round(self._clock() - self._t0, 3), "limit": self.limit, "reason": reason}
        self._changes += 1
        (self._head if len(self._head) < HISTORY_HEAD else self._tail).append(entry)

    def summary(self) -> dict[str, Any]:
        """The record for ``summary.json`` (see the module's table)."""
        kept = [*self._head, *self._tail]
        return {"adaptive": self.adaptive, "cap": self.cap, "start": self.start,
                "final": self.limit, "min": self.lowest, "max": self.highest,
                "history": kept, "dropped": self._changes - len(kept)}


#: The ticket of the send running in this task, for :meth:`Gate.signal` from an HTTP hook.
_CURRENT: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("send_ticket",
                                                                        default=None)


class Gate:
    """At most ``controller.limit`` sends in flight; the controller hears how each one ended.

    Single event loop, no threads: between the check and the count there is no ``await``, so
    no lock is needed. ``max_in_flight`` is the highest count reached (for the run record).
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.in_flight = 0
        self.max_in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._open: set[Ticket] = set()

    async def acquire(self) -> Ticket:
        """Wait for a free slot under the current limit; returns the send's ticket."""
        while self.in_flight >= self.controller.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:  # cancelled while waiting
                    self._waiters.remove(waiter)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        ticket = self.controller.ticket()
        self._open.add(ticket)
        _CURRENT.set(ticket)
        return ticket

    def release(self, ticket: Ticket, latency_s: float, kind: str | None = None) -> None:
        """The send of ``ticket`` ended after ``latency_s`` seconds (``kind``: see
        :meth:`Controller.completed`); wakes as many waiters as the limit now allows."""
        if ticket not in self._open:
            return  # released twice: count it once
        self._open.discard(ticket)
        self.in_flight -= 1
        if _CURRENT.get() is ticket:
            _CURRENT.set(None)
        self.controller.completed(ticket, latency_s, kind)
        free = self.controller.limit - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def signal(self, kind: str) -> None:
        """A load failure seen mid-send (a 429, 5xx, timeout or dropped connection the SDK will
        retry), reported from inside the sending task; ignored outside a send of this gate."""
        ticket = _CURRENT.get()
        if ticket is not None and ticket in self._open:
            self.controller.failed(ticket, kind)
