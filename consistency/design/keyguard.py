"""Refuse a config in which an API key's value stands where a name belongs.

Hydra resolves interpolations before the run sees its config, so ``model.name=${oc.env:
OPENAI_API_KEY}`` or ``run_id=${oc.env:OPENAI_API_KEY}`` hands the run the key itself as a model
name or a run id. Redaction keeps it out of ``config.yaml``, but a model name also goes into the
journal's fingerprint, every request and ``responses.parquet``, and a run id names the run
folder. No use of a key there is legitimate, so :func:`refuse_keys_in_config` stops the run
before anything is created or sent (an :class:`~consistency.common.errors.InputError`: exit 2) when any
string of the resolved config holds the value of a variable the run reads keys from
(``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``model.api_key_env``, ``judge.api_key_env``).

The message names the config key and the variable, never the value. ``*.api_key_env`` (which
holds a variable's *name*) and the ``user:password@`` part of a ``base_url`` (redacted wherever
it is written, see :mod:`consistency.common.sanitise`) are not checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from omegaconf import OmegaConf

from consistency.common.errors import InputError
from consistency.common.sanitise import KEY_ENV_VARS, MIN_SECRET

#: Where a key in the value would also name a folder on disk.
_FOLDER_KEYS = ("run_id", "results_dir")


def key_variables(config: Any) -> list[str]:
    """Names of the environment variables this run may read API keys from."""
    names = list(KEY_ENV_VARS)
    for section in ("model", "judge"):
        env = getattr(getattr(config, section, None), "api_key_env", None)
        if env and str(env) not in names:
            names.append(str(env))
    return names


def refuse_keys_in_config(config: Any) -> None:
    """Raise :class:`InputError` when a string of ``config`` (a :class:`RunConfig`) contains the
    value of a key variable (values shorter than :data:`MIN_SECRET` are no secrets)."""
    keys = {}
    for name in key_variables(config):
        value = os.environ.get(name, "").strip()
        if len(value) >= MIN_SECRET:
            keys.setdefault(value, name)
    if not keys:
        return
    tree = OmegaConf.to_container(OmegaConf.structured(config), resolve=True)
    for path, text in _strings(tree):
        for value, name in keys.items():
            if value in text:
                raise InputError(_message(path, name), where=path)


def _message(path: str, variable: str) -> str:
    folder = (" and would name a folder on disk" if path.split(".")[-1] in _FOLDER_KEYS else "")
    return (f"holds the value of the API key variable {variable} (from an interpolation such "
            f"as ${{oc.env:{variable}}}?). A key there would be written into the run's files"
            f"{folder}; nothing was created or sent. Give {path} literally; the key is read from "
            "the environment by its variable name alone (model.api_key_env)")


def _strings(node: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, text) of every string in a config tree, as it would be written."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key) == "api_key_env":
                continue
            yield from _strings(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{prefix.rstrip('.')}[{index}].")
    elif isinstance(node, str):
        path = prefix.rstrip(".")
        yield path, _without_userinfo(node) if path.endswith("base_url") else node


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
