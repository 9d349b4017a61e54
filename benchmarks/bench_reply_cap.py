"""What a compression bomb costs the client: memory grown while one hosted-adapter request reads a
gzip body that inflates far beyond the decoded-size cap (consistency/providers/transport.py).

    .venv/bin/python benchmarks/bench_reply_cap.py                 # 128 MiB and 256 MiB decoded
    .venv/bin/python benchmarks/bench_reply_cap.py --mib 1024      # any sizes

For each size: the loopback server of ``tests/provider_server.py`` (in this process) answers a
first request normally (so the SDK's own lazy imports are done), then every request with the bomb.
Reported: the compressed size, what the request ended as, the Python memory traced while reading
(tracemalloc, growth over what was allocated before) and the process's peak RSS before and after
(``ru_maxrss``: the process's peak so far, so sizes run in ascending order). About a second each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from omegaconf import OmegaConf  # noqa: E402

from consistency.providers import ProviderError, make_provider  # noqa: E402
from provider_server import Compressed, ProviderServer, gzip_bomb  # noqa: E402


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(decoded_mib: int) -> str:
    bomb = gzip_bomb(decoded_mib << 20)
    replies = iter(["warm"])
    os.environ.setdefault("CONSISTENCY_BENCH_KEY", "not-a-key")
    with ProviderServer(lambda req: next(replies, None) or Compressed(bomb)) as server:
        cfg = OmegaConf.create({"provider": "openai", "name": "bench",
                                "base_url": server.openai_base_url,
                                "api_key_env": "CONSISTENCY_BENCH_KEY", "timeout_s": 60,
                                "max_retries": 0, "max_concurrency": 4})

        async def one() -> object:
            adapter = make_provider(cfg, None, 4)
            try:
                return await adapter.complete([{"role": "user", "content": "x"}],
                                              {"max_tokens": 4})
            except ProviderError as exc:
                return exc
            finally:
                await adapter.aclose()

        asyncio.run(one())
        before = _peak_rss_mib()
        tracemalloc.start()
        settled = tracemalloc.get_traced_memory()[0]
        result = asyncio.run(one())
        grown = (tracemalloc.get_traced_memory()[1] - settled) / 2**20
        tracemalloc.stop()
        after = _peak_rss_mib()
    ended = f"{result.kind} failure" if isinstance(result, ProviderError) else "an answer"
    return (f"| {len(bomb) // 1024} KiB | {decoded_mib} MiB | {ended} | {grown:.1f} MiB "
            f"| {before:.0f} -> {after:.0f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, nargs="+", default=[128, 256],
                        help="decoded sizes in MiB (default: 128 256)")
    args = parser.parse_args()
    print("| compressed | decoded | request ended as | traced growth | peak RSS |")
    print("|---|---|---|---|---|")
    for mib in sorted(args.mib):
        print(measure(mib), flush=True)


if __name__ == "__main__":
    main()
