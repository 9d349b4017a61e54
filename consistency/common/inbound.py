"""Shared text helper (common stage): read text and JSON that came from outside, one way everywhere.

Replies of providers and judges, batch result lines, the shared cache, journal rows written by
older versions and task files are all hostile input. Every such JSON text is decoded by
:func:`loads` and every such string is made storable by :func:`clean_text`, so a rule holds for
all of them or for none:

- **Lone surrogates.** A JSON ``\\ud800`` escape decodes to a code point that is not a character:
  UTF-8 cannot encode it, so SQLite, Parquet and any file write refuse it. Each one (in any
  string, keys included, at any depth) becomes U+FFFD, the replacement character; properly
  paired escapes (``\\ud83d\\ude00``) are one character and stay as they are.
- **Duplicate keys.** An object naming a key twice is ambiguous (which ``refused`` or which
  ``answer`` was meant?), so it is refused with :class:`DuplicateKeyError` instead of keeping the
  last one as :func:`json.loads` does.
- **Long integers.** An integer of more digits than Python converts from text
  (:func:`sys.get_int_max_str_digits`, 4300 by default) is kept exactly as a
  :class:`decimal.Decimal`: the body parses, no count or flag (which must be ``int``) accepts it,
  and it is written back as its digits.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

#: What replaces a lone surrogate.
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# only text that may decode to a surrogate needs a walk: a JSON \uD800-\uDFFF escape, a surrogate
# already in a str, or (bytes, which json decodes with "surrogatepass") a UTF-8-encoded surrogate
_MAY_HOLD_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_MAY_HOLD_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice. ``key`` is the key (cleaned)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {json.dumps(key)} appears twice in one object")
        self.key = key


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (unchanged when it has none)."""
    if text.isascii():
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def loads(text: str | bytes) -> Any:
    """Decode JSON from outside (see the module docstring for the rules).

    Raises:
        DuplicateKeyError: an object names a key twice.
        ValueError: not JSON (:class:`json.JSONDecodeError`, or bytes that are not UTF-8).
        RecursionError: nested too deeply to decode.
    """
    value = json.loads(text, object_pairs_hook=_unique_object, parse_int=_integer)
    if isinstance(text, (bytes, bytearray)):
        # UTF-16 and UTF-32 bodies (json detects them) are rare: always walked
        walk = b"\x00" in text or _MAY_HOLD_SURROGATE_BYTES.search(text) is not None
    else:
        walk = _MAY_HOLD_SURROGATE.search(text) is not None
    return clean(value) if walk else value


def clean(value: Any) -> Any:
    """A decoded JSON value with every string (keys included) passed through
    :func:`clean_text`. Containers are cleaned in place, walking without recursion (a value
    nested as deeply as the decoder allows must not overflow the stack here)."""
    if isinstance(value, str):
        return clean_text(value)
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in [k for k in node if isinstance(k, str) and not k.isascii()]:
                fixed = clean_text(key)
                if fixed != key:
                    node[fixed] = node.pop(key)
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, item in list(items):
            if isinstance(item, str):
                node[key] = clean_text(item)
            elif isinstance(item, (dict, list)):
                stack.append(item)
    return value


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(clean_text(key))
            seen.add(key)
    return value


def _integer(digits: str) -> int | Decimal:
    try:
        return int(digits)
    except ValueError:  # beyond the interpreter's digit limit for int(str)
        return Decimal(digits)
