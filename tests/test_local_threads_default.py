"""``model.threads`` left null: half the usable cores, fewer when the machine is busy, never 0
(every core collapsed on a busy machine: benchmarks/bench_threads.py)."""

from __future__ import annotations

import pytest

from consistency.providers.local import default_threads


@pytest.mark.parametrize("cores, load, threads", [
    (2, 0.0, 1),     # a 2-core laptop: one thread, one core for everything else
    (2, 9.4, 1),     # the shared 2-core machine of the measurement
    (8, 0.3, 4),     # idle: half the cores
    (8, 5.0, 3),     # busy: the cores the load average leaves idle
    (64, 0.0, 32),
    (1, 0.0, 1),     # never 0
    (4, 100.0, 1),
])
def test_default_threads_is_half_the_cores_and_fewer_when_busy(cores, load, threads):
    assert default_threads(cores, load) == threads


def test_default_threads_reads_this_machine():
    assert 1 <= default_threads() <= max(1, __import__("os").cpu_count() // 2)
