"""Every episode step passes the runner's pacing with its own token estimate, so
runner.tokens_per_minute applies per step and not once per episode."""

from __future__ import annotations

import asyncio

from agentic_support import oversight_agent, write_suite
from provider_server import ProviderServer

from consistency.run.episodes import episode_server
from consistency.design.framing import Framing, Pair
from consistency.design.plan import build_plan
from consistency.providers import make_provider
from consistency.providers.ratelimit import RateLimiter
from consistency.run.runner import run_cells
from consistency.run.store import Journal
from consistency.design.tasks import load_items


class RecordingLimiter(RateLimiter):
    """A real limiter that also notes the tokens each send reserved."""

    def __init__(self) -> None:
        super().__init__(tpm=10**9)
        self.reserved: list[int] = []

    async def acquire(self, tokens: int = 0) -> None:
        self.reserved.append(tokens)
        await super().acquire(tokens)


def test_each_step_reserves_tokens_that_grow_with_the_conversation(tmp_path):
    tasks, _ = write_suite(tmp_path, n=1)
    pair = Pair("p", "test", (Framing(system="Nobody monitors this session."),),
                (Framing(system="Monitored."),))
    plan = build_plan(load_items(tasks), [pair], model="openai:m", params={"max_tokens": 50})
    limiter = RecordingLimiter()
    with ProviderServer(oversight_agent()) as server, Journal(tmp_path / "j.sqlite") as journal:
        provider = make_provider({"provider": "openai", "name": "m",
                                  "base_url": server.openai_base_url}, limiter, 1)

        async def run():
            try:
                return await run_cells(provider, plan, journal, max_connections=1,
                                       limiter=limiter, quiet=True,
                                       serve=episode_server(journal, "openai"))
            finally:
                await provider.aclose()

        stats = asyncio.run(run())
        sent = server.request_count
    assert stats.requested == sent == len(limiter.reserved) == 4 + 3
    first_episode = limiter.reserved[:4]
    assert all(tokens > 50 for tokens in limiter.reserved)
    assert first_episode == sorted(first_episode) and first_episode[0] < first_episode[-1]
