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
# a JSON \uD800-\uDFFF escape, or a raw surrogate already in a str: only then is a walk needed
_MAY_HOLD_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_MAY_HOLD_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


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
    pattern = _MAY_HOLD_SURROGATE_BYTES if isinstance(text, (bytes, bytearray)) \
        else _MAY_HOLD_SURROGATE
    return clean(value) if pattern.search(text) else value


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
