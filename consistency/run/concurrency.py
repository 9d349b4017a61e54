"""Adaptive concurrency: how many requests may be in flight, learnt from how the provider copes.

A fixed pool of 16 workers suits a hosted API and drowns a single-slot server (llama.cpp with one
slot queues every request behind the others, so each one waits 16 replies long and times out).
:class:`Controller` finds the level instead. It starts at a moderate :data:`DEFAULT_START` and
moves in *windows* (as many completions of sends started since the last change as the limit,
at least :data:`MIN_WINDOW`):

- **Overload shrinks.** A 429, a 503/504/529, a timeout or a dropped connection
  (:data:`LOAD_KINDS`) halves the limit (a *cut*, never below 1), once per burst: only a send
  that started after the last cut can cut again, so sixteen requests failing together cost one
  halving, not four. A send from before the last cut says nothing about the limit since, whether
  it fails (the SDK retrying the old burst) or completes, so it neither cuts nor counts in a
  window. Right after a growth step to a limit of at most :data:`SMALL_LIMIT`, a load failure
  steps back to the level grown from instead of halving (that level has just completed a clean
  window, so the overshoot is one step: a provider that takes 3 at once refuses the 4th, and
  halving would saw-tooth 4 -> 2 -> 3 -> 4 -> 2, averaging below 3), and holds there as after
  a refused step (below), so the next try of the refused level comes later each time.
- **Other trouble pauses.** Another 5xx (:data:`PAUSE_KINDS`, ``server_error``) says the
  provider is unwell but not that it is full: its window does not grow.
- **Otherwise it grows**, after each window: by half (at least one) until the first cut or
  refused step, then by one. Growth is geometric at first so that a provider with room is
  reached within a handful of windows (from 4: 6, 9, 14, 16).
- **Latency only refuses a growth step.** The first window at a level just grown to is compared
  with the lowest level measured since the last cut (the *reference*): if the median log latency
  rose by more than :data:`QUEUE_SHARE` of ``log(limit / reference)`` *and* by more than
  :data:`QUEUE_Z` standard errors of the difference, the step bought latency rather than
  throughput (a queueing server: latency grows in proportion to the requests in flight, so
  throughput does not), and the limit returns to the level it grew from. It then holds there
  for a number of windows that doubles with each refused step (up to :data:`MAX_HOLD`) before
  trying again. Latency never lowers the limit below a level already held, so neither the
  spread of reply lengths (lognormal, tenfold) nor a client slowed by its own CPU can ratchet it
  down; the test of the difference against its own noise keeps spread from refusing growth
  (noisy latencies give wide errors), while a single-slot server, whose latency is its queue
  length times a steady service time, is refused at the first step.

The start level's first window is a warm-up (its sends started into an empty system, so they
saw less queue than the level will) and neither grows nor measures.

An earlier rule kept the *best* window median ever seen and shrank by one whenever a window's
median exceeded twice it: the best of many noisy medians is an extreme, so under ordinary
latency spread or client CPU contention windows kept exceeding it and the limit fell to 1.

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
                    (a growth step refused for queueing)
dropped    int      changes left out of ``history`` (the first and last are kept)
=========  =======  ===============================================================
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The first limit (at most the cap). Four is enough to keep a hosted API busy while the first
#: windows are measured, and only four replies deep on a single-slot server.
DEFAULT_START = 4
#: Growth before the first cut or refused step: the limit grows by this factor (at least by 1).
GROWTH = 1.5
#: Queueing: the share of ``log(limit / reference)`` the median log latency must rise by for a
#: growth step to be refused. 1 is pure queueing (latency in proportion to the limit, no more
#: throughput), 0 a provider with room; a half means the step bought less than the square root
#: of its ratio in throughput.
QUEUE_SHARE = 0.5
#: ...and the rise must exceed this many standard errors of the difference of the two medians.
QUEUE_Z = 2.0
#: Up to this limit a load failure right after a growth step undoes that step rather than halving.
SMALL_LIMIT = 4
#: Windows held at most after a refused step before trying again (the hold doubles per refusal).
MAX_HOLD = 32
#: Completions a window counts at least (at low limits, a window of one or two says little).
MIN_WINDOW = 4
#: Log latencies kept per level for the queueing test.
LEVEL_SAMPLES = 64
#: Failures that say the provider is overloaded (rather than that one request was bad): these cut.
#: ``overloaded`` is a 503, 504 or 529 (see :func:`consistency.providers.ratelimit.response_hook`).
LOAD_KINDS = frozenset({"rate_limit", "overloaded", "timeout", "connection"})
#: Failures that say the provider is unwell without saying it is full: they pause growth.
PAUSE_KINDS = frozenset({"server_error"})
#: History entries kept: the first ``HISTORY_HEAD`` and the latest up to ``MAX_HISTORY``.
MAX_HISTORY = 200
HISTORY_HEAD = 50


@dataclass(eq=False)
class Ticket:
    """One send through the gate: the count of cuts (``generation``) and of changes of any kind
    (``epoch``) when it started."""

    generation: int
    epoch: int = 0


class Controller:
    """The adaptive limit's state machine (pure: no I/O; the clock is injected).

    Args:
        cap: the highest limit (the runner's worker count), >= 1.
        start: the first limit, clipped to ``[1, cap]``.
        adaptive: False keeps the limit at ``cap`` and records nothing.
        clock: monotonic seconds; history times are measured from construction.
    """

    def __init__(self, cap: int, start: int = DEFAULT_START, *, adaptive: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if cap < 1 or start < 1:
            raise ValueError(f"cap and start must be >= 1, got cap={cap}, start={start}")
        self.cap, self.adaptive = int(cap), adaptive
        self.limit = min(self.cap, int(start)) if adaptive else self.cap
        self.start, self.lowest, self.highest = self.limit, self.limit, self.limit
        self._clock, self._t0 = clock, clock()
        self._generation = 0  # cuts so far
        self._epoch = 0  # changes of any kind so far
        self._grown_from: int | None = None  # the limit before the last change, if it was a grow
        self._probing = False  # the level grown to has not yet closed a window
        self._geometric = True  # growing by GROWTH: no cut and no refused step yet
        self._warming = True  # the start level's first window
        self._hold, self._next_hold = 0, 1
        self._levels: dict[int, deque[float]] = {}  # log latencies per level, since the last cut
        self._head: list[dict[str, Any]] = []
        self._tail: deque[dict[str, Any]] = deque(maxlen=MAX_HISTORY - HISTORY_HEAD)
        self._changes = 0
        self._open_window()
        if adaptive:
            self._note("start")

    # -- events -------------------------------------------------------------------------------
    def ticket(self) -> Ticket:
        """A ticket for a send starting now."""
        return Ticket(self._generation, self._epoch)

    def failed(self, ticket: Ticket, kind: str) -> None:
        """A failure seen on ``ticket``'s send (final, or retried inside the SDK).

        A load failure (:data:`LOAD_KINDS`) of a send that started after the last cut halves the
        limit (or, at most :data:`SMALL_LIMIT` right after a growth step, undoes that step); an
        older send was admitted under the limit before that cut, so its failure (often a retry
        of the same burst) says nothing about the current limit. A :data:`PAUSE_KINDS` failure
        keeps the current window from growing.
        """
        if not self.adaptive:
            return
        if kind in PAUSE_KINDS:
            if ticket.epoch == self._epoch:
                self._paused = True
            return
        if kind not in LOAD_KINDS or ticket.generation != self._generation:
            return
        self._generation += 1
        stepping_back = self._grown_from is not None and self.limit <= SMALL_LIMIT
        limit = self._grown_from if stepping_back else max(1, self.limit // 2)
        self._geometric, self._warming, self._levels = False, False, {}
        if stepping_back:
            self._hold_after_refusal()
        else:
            self._hold, self._next_hold = 0, 1
        self._change(limit, f"shrink_error:{kind}")

    def completed(self, ticket: Ticket, latency_s: float, kind: str | None = None) -> None:
        """A send ended: ``kind`` None when the provider replied, else its failure kind (load
        failures shrink, server errors pause growth; others, such as a rejected request, say
        nothing about load)."""
        if not self.adaptive:
            return
        if kind is not None:
            self.failed(ticket, kind)
        if ticket.epoch != self._epoch:
            return  # sent before the last change: it says nothing about the limit since
        if kind is None and latency_s > 0 and math.isfinite(latency_s):
            self._latencies.append(math.log(latency_s))
        self._seen += 1
        if self._seen >= self._window:
            self._close_window()

    # -- windows ------------------------------------------------------------------------------
    # A window counts only sends that started since the last change, and a load failure of any
    # of them cuts and opens a new window: so a window that closes saw no load failure of its
    # own sends. Sends that failed otherwise (a rejected request) count without a latency.
    def _open_window(self) -> None:
        self._window, self._seen = max(self.limit, MIN_WINDOW), 0
        self._latencies: list[float] = []
        self._paused = False

    def _close_window(self) -> None:
        samples, paused, probing = self._latencies, self._paused, self._probing
        self._probing = False
        self._open_window()
        if self._warming:
            self._warming = False
            return
        if samples:
            self._levels.setdefault(self.limit, deque(maxlen=LEVEL_SAMPLES)).extend(samples)
        if probing:
            if self._queueing() and self._grown_from is not None:
                self._geometric = False
                self._hold_after_refusal()
                self._change(self._grown_from, "shrink_latency")
                return
            self._next_hold = 1  # the step is accepted
        if self._hold > 0:
            self._hold -= 1
        elif not paused and self.limit < self.cap:
            step = max(1, math.ceil(self.limit * (GROWTH - 1))) if self._geometric else 1
            self._change(min(self.cap, self.limit + step), "grow")

    def _queueing(self) -> bool:
        """Did latency at this level rise over the reference's far more than noise explains, and
        by a good share of what pure queueing would give? Medians of log latency, with the
        spread from the pooled median absolute deviation: the first sends after a step saw a
        queue still filling, and a few of them must not pass for noise."""
        if not self._levels:
            return False
        reference = min(self._levels)
        here, there = self._levels.get(self.limit), self._levels[reference]
        if reference >= self.limit or not here or len(there) < 2:
            return False
        middle_here, middle_there = statistics.median(here), statistics.median(there)
        deviation = statistics.median([*(abs(x - middle_here) for x in here),
                                       *(abs(x - middle_there) for x in there)])
        # the standard error of a difference of two medians of normal samples, the spread
        # estimated as 1.4826 MAD
        error = 1.2533 * 1.4826 * deviation * math.sqrt(1 / len(here) + 1 / len(there))
        rise = middle_here - middle_there
        return rise > QUEUE_SHARE * math.log(self.limit / reference) + QUEUE_Z * error

    def _hold_after_refusal(self) -> None:
        self._hold = self._next_hold
        self._next_hold = min(MAX_HOLD, 2 * self._next_hold)

    def _change(self, limit: int, reason: str) -> None:
        self._grown_from = self.limit if reason == "grow" else None
        self._probing = reason == "grow"
        self._epoch += 1
        self._open_window()
        if limit == self.limit:
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
