"""The embedded model's speed by ``model.threads``, on an idle and on a busy machine: the
measurement behind the default (:func:`consistency.providers.local.default_threads`).

    .venv/bin/python benchmarks/bench_threads.py                        # threads 1..cores, busy 0 and 1
    .venv/bin/python benchmarks/bench_threads.py --cells 24 --threads 1 2 --busy 0 1 2

For each thread count one llama.cpp server is loaded (xllamacpp, the default weights, one slot)
and the first ``--cells`` task requests of the quick design are sent to its own HTTP endpoint
(no journal, no scoring: the decoder alone), after two warm-up requests. ``--busy N`` runs N
processes that each keep one core busy with arithmetic during the timing, the way parallel
sweep jobs, a second run or a build share the machine. llama.cpp's threads meet at a barrier
after every layer: when one of them is descheduled the others spin and wait for it, so on a
busy machine more threads can be much slower than fewer.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_local import direct, quick_plan  # noqa: E402

from consistency.providers.local import SENT_PARAMS, LocalProvider, default_threads  # noqa: E402


def _burn(stop: multiprocessing.Event) -> None:  # type: ignore[valid-type]
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 31 + 7) % 1_000_003


def timed(threads: int, cells: int, busy: int) -> tuple[float, int]:
    """(requests per second, requests) for one thread count and background load."""
    config, plan = quick_plan(cells, 1)
    config.model.threads = threads
    provider = LocalProvider(config.model)
    bodies = []
    for text in plan.sort_values(["pair", "arm", "variant", "epoch"], kind="stable")["request_json"]:
        request = json.loads(text)
        bodies.append({"messages": request["messages"],
                       **{k: v for k, v in request["params"].items() if k in SENT_PARAMS}})
    direct(provider.address, bodies[:2], 1)  # warm-up, outside the timing
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
               for _ in range(busy)]
    for process in burners:
        process.start()
    try:
        seconds, _ = direct(provider.address, bodies, 1)
    finally:
        stop.set()
        for process in burners:
            process.join(timeout=10)
    import asyncio

    asyncio.run(provider.aclose())
    return len(bodies) / seconds, len(bodies)


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=24)
    parser.add_argument("--threads", type=int, nargs="+",
                        default=sorted({1, max(1, cores // 2), cores}))
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    print(f"cores {cores}; 1-minute load average at start {os.getloadavg()[0]:.2f}; "
          f"default_threads() now {default_threads()}")
    print("| busy processes | threads | requests | req/s |\n|---|---|---|---|")
    for busy in args.busy:
        for threads in args.threads:
            rate, n = timed(threads, args.cells, busy)
            print(f"| {busy} | {threads} | {n} | {rate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
