"""The embedded model's throughput through consistency, against the runtime's own server driven
directly (the physical reference on this machine).

    .venv/bin/python benchmarks/bench_local.py                 # 60 requests, slots 1 and 2
    .venv/bin/python benchmarks/bench_local.py --cells 120 --slots 1 2 4

For each slot count one llama.cpp server is loaded (xllamacpp, the default weights). The same
task requests of the quick design (the first ``--cells`` cells of the plan, checks included) are
sent twice: (b) straight to the server's own OpenAI-compatible HTTP endpoint by as many threads
as there are slots, the reference; then (a) through ``run_cells`` with the embedded provider
(journal, progress and all), as ``consistency run`` sends them. Ratio = (b) seconds / (a) seconds.
A few requests warm the server up first, outside both timings. Both send in the same order (grouped by framing, as the runner orders an in-process model's
cells). (b) goes first; (a) sees at most the last prompts of (b) again in a slot's cache.
``--plan-order`` adds a row for (b) in plan order (arms interleaved), which shows what the
grouping saves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from consistency.cli import CONF_DIR  # noqa: E402
from consistency.design.config import run_config  # noqa: E402
from consistency.pipeline import load_design  # noqa: E402
from consistency.providers.local import SENT_PARAMS, LocalProvider  # noqa: E402
from consistency.run.runner import run_cells  # noqa: E402
from consistency.run.store import Journal  # noqa: E402


def quick_plan(cells: int, slots: int):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"model.slots={slots}"])
    config = run_config(cfg)
    return config, load_design(config).plan.head(cells)


def direct(address: str, bodies: list[dict], slots: int) -> tuple[float, int]:
    """POST every body to the server's chat endpoint from ``slots`` threads; (seconds, tokens)."""
    def one(body: dict) -> int:
        request = urllib.request.Request(f"{address}/v1/chat/completions",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as reply:
            return json.load(reply)["usage"]["completion_tokens"]

    started = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        tokens = sum(pool.map(one, bodies))
    return time.perf_counter() - started, tokens


async def through_runner(provider: LocalProvider, plan, folder: Path) -> tuple[float, int]:
    with Journal(folder / "journal.sqlite") as journal:
        journal.bind({"bench": True})
        stats = await run_cells(provider, plan, journal, max_connections=16, quiet=True)
    return stats.seconds, stats.output_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=60)
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--plan-order", action="store_true",
                        help="also time (b) in plan order, arms interleaved")
    args = parser.parse_args()
    print(f"| slots | requests | direct req/s | direct tok/s | consistency req/s | "
          f"consistency tok/s | ratio |\n|---|---|---|---|---|---|---|")
    for slots in args.slots:
        config, plan = quick_plan(args.cells, slots)
        provider = LocalProvider(config.model)
        bodies = []
        # the order the runner sends an in-process model's cells in (grouped by framing, so a
        # slot reuses the evaluated system prompt); plan order would make (b) pay every prefix
        ordered = plan.sort_values(["pair", "arm", "variant", "epoch"], kind="stable")
        for text in ordered["request_json"]:
            request = json.loads(text)
            bodies.append({"messages": request["messages"],
                           **{k: v for k, v in request["params"].items() if k in SENT_PARAMS}})
        # warm up (weights paged in, threads started) outside both timings
        direct(provider.address, bodies[-4:], slots)
        if args.plan_order:
            mixed = [json.loads(text) for text in plan["request_json"]]
            seconds, _ = direct(provider.address, [
                {"messages": r["messages"], **{k: v for k, v in r["params"].items()
                                               if k in SENT_PARAMS}} for r in mixed], slots)
            print(f"| {slots} | {len(mixed)} | {len(mixed) / seconds:.2f} (plan order) | | | | |",
                  flush=True)
        direct_s, direct_tokens = direct(provider.address, bodies, slots)
        with tempfile.TemporaryDirectory() as folder:
            ours_s, ours_tokens = asyncio.run(through_runner(provider, plan, Path(folder)))
        asyncio.run(provider.aclose())
        n = len(bodies)
        print(f"| {slots} | {n} | {n / direct_s:.2f} | {direct_tokens / direct_s:.1f} | "
              f"{n / ours_s:.2f} | {ours_tokens / ours_s:.1f} | {direct_s / ours_s:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
