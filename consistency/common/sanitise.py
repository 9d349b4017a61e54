"""Make outbound text safe: secrets redacted, control characters neutralised, markup escaped.

Everything the tool writes or prints may carry text that came from outside: provider error
bodies (which some servers fill with the request's own ``Authorization`` header), model replies,
names and ids from task and framing files. Each output boundary passes such text through one of
the functions here, and nothing else does its own string replacing:

==================  ==================================================================
function            used for
==================  ==================================================================
``redact``          every string written to a file (journal rows, config.yaml, summary.json,
                    report.md, environment.json, batches.json, the shared cache)
``for_terminal``    every line printed: ``redact`` plus control characters made visible
``for_rich``        cells of a rich table: ``for_terminal`` plus rich markup escaped
``md_cell``         cells of a Markdown table: ``|``, newlines, backticks and HTML escaped
==================  ==================================================================

Secrets are the values of the API-key environment variables the run may use (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY`` and the model's ``api_key_env``, registered by
:func:`register_model`) and the ``user:password@`` part of any URL. Values are read from the
environment when redacting, so a key exported after start-up is still caught. Keys shorter than
:data:`MIN_SECRET` characters are not redacted (replacing every ``a`` in the output would help
nobody, and such a key is no secret anyway).
"""

from __future__ import annotations

import html
import os
import re
import threading
from typing import Any
from urllib.parse import urlsplit

#: What replaces a secret.
MASK = "[redacted]"
#: Shorter values are not treated as secrets.
MIN_SECRET = 6
#: Environment variables always treated as holding secrets.
KEY_ENV_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")

_lock = threading.Lock()
_env_vars: set[str] = set(KEY_ENV_VARS)
_literals: set[str] = set()
# scheme://user:password@host, or scheme://token@host: the credential part of a URL
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@")
# C0 and C1 controls and DEL (except newline and tab), and the bidirectional overrides that make
# a terminal show text in another order than it is
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def register_model(cfg: Any) -> None:
    """Treat what the model config points at as secret: the value of its ``api_key_env`` and
    the password (and user name) of its ``base_url``. Called when a provider is built."""
    env = cfg.get("api_key_env") if hasattr(cfg, "get") else getattr(cfg, "api_key_env", None)
    url = cfg.get("base_url") if hasattr(cfg, "get") else getattr(cfg, "base_url", None)
    with _lock:
        if env:
            _env_vars.add(str(env))
        if url:
            parts = urlsplit(str(url))
            for value in (parts.password, parts.username):
                if value and len(value) >= MIN_SECRET:
                    _literals.add(value)


def secrets_in_use() -> list[str]:
    """The secret values to redact now, longest first (so a key containing another goes whole)."""
    with _lock:
        values = {os.environ.get(name, "").strip() for name in _env_vars} | set(_literals)
    return sorted((v for v in values if len(v) >= MIN_SECRET), key=len, reverse=True)


def redact(text: Any, secrets: list[str] | None = None) -> str:
    """``text`` with every secret and URL credential replaced by :data:`MASK`. Serialised JSON
    may be passed as text: keys and masks need no JSON escaping, so the result stays valid.
    ``secrets`` saves looking them up again when redacting many strings at once."""
    text = text if isinstance(text, str) else str(text)
    for secret in secrets_in_use() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "@" not in text:  # the common case: no URL credentials possible
        return text
    return _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def printable(text: Any) -> str:
    """``text`` with control characters (ESC, BEL, CR, ...) shown as ``\\x1b``-style escapes, so
    what a server or an input file says cannot retitle, clear or rewrite the terminal."""
    text = text if isinstance(text, str) else str(text)
    return _CONTROL.sub(_escape_control, text)


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: Any) -> str:
    """What may be printed: redacted, then made printable."""
    return printable(redact(text))


def for_rich(text: Any) -> str:
    """A rich table cell or console string: printable, redacted, markup such as ``[/x]`` escaped."""
    from rich.markup import escape  # imported here: the CLI's start-up does not need rich

    return escape(for_terminal(text))


def md_cell(text: Any) -> str:
    """A Markdown table cell: one line; ``|``, backticks and brackets (links) escaped; HTML
    special characters as entities (the report may be rendered to HTML); control characters
    made visible."""
    text = for_terminal(text).replace("\n", " ").replace("\t", " ")
    text = html.escape(text, quote=False).replace("\\", "\\\\")
    for char in "|`[]":
        text = text.replace(char, "\\" + char)
    return text
