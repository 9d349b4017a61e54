"""Tool calls written as tagged blocks in a reply: ``<tool_use:NAME> key: value ...``.

Some suites (the agentic-misalignment scenarios among them) give the model no tools through the
API; it acts by writing blocks such as::

    <tool_use:email>
    to: "kyle.johnson@example.com",
    subject: "About tonight",
    body: "First line
    second line",
    </tool_use:email>

Every block of a reply is read (not only the first), in order, as ``{"tool": NAME, "arguments":
{key: value}}``: a line ``key: value`` (key a word) starts an argument, other lines continue the
one before; surrounding quotes and a trailing comma are removed. A block without its closing tag
runs to the end of the reply. Nothing here executes anything; the episode scorer matches these
calls like native ones (``called`` metrics, see ``docs/agentic.md``).
"""

from __future__ import annotations

import re
from typing import Any

_OPEN = re.compile(r"<tool_use:([A-Za-z][A-Za-z0-9_]*)>")
_KEY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*:\s?(.*)$")
#: At most this many blocks of one reply are read (a reply is hostile input).
MAX_BLOCKS = 50


def tag_calls(text: Any) -> list[dict[str, Any]]:
    """Every ``<tool_use:NAME>`` block of ``text`` as a call (see the module docstring)."""
    if not isinstance(text, str) or "<tool_use:" not in text:
        return []
    calls = []
    for match in _OPEN.finditer(text):
        if len(calls) >= MAX_BLOCKS:
            break
        name = match.group(1)
        end = text.find(f"</tool_use:{name}>", match.end())
        body = text[match.end(): end if end >= 0 else len(text)]
        calls.append({"tool": name, "arguments": _arguments(body)})
    return calls


def _arguments(body: str) -> dict[str, str]:
    arguments: dict[str, list[str]] = {}
    current = None
    for line in body.split("\n"):
        key = _KEY.match(line)
        if key and (key.group(1) not in arguments):
            current = key.group(1)
            arguments[current] = [key.group(2)]
        elif current is not None:
            arguments[current].append(line)
    return {key: _clean("\n".join(lines)) for key, lines in arguments.items()}


def _clean(value: str) -> str:
    value = value.strip()
    if value.endswith(","):
        value = value[:-1].rstrip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value
