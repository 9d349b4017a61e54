"""Make text from run folders safe to render, one function per output language.

Everything in a run folder came from outside at some point: model replies, task prompts, pair
names, ids, provider-reported model names. Each renderer passes every such string through the
function for its language, so a reply holding ``<script>``, a Markdown table, TeX commands or a
terminal escape sequence is shown as the characters it is, never interpreted. HTML is escaped by
jinja2's autoescape (:mod:`consistency.publish.html_report`); these cover the rest.
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 control characters except tab and newline, and DEL
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$&])")
_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "[": "{[}", "]": "{]}", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "\u2264": r"$\le$", "\u2265": r"$\ge$", "\u2020": r"\dag{}",
}
# outside printable ASCII a standard article may lack the glyph (pdflatex then stops)
_NO_GLYPH = re.compile(r"[^\x20-\x7e\u2264\u2265\u2020]")
_LATEX_RE = re.compile("|".join(re.escape(key) for key in _LATEX))


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (CSI, OSC and two-character escapes)."""
    return _ANSI.sub("", text)


def plain(value: Any) -> str:
    """``value`` as one line of printable text: escape sequences and control characters
    dropped, line breaks turned into spaces."""
    text = _ANSI.sub("", str(value))
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    return _CONTROL.sub("", text)


def markdown(value: Any) -> str:
    """Text for a GitHub Markdown table cell: one line, every character that Markdown or its
    inline HTML could act on backslash-escaped (``|`` would otherwise end the cell)."""
    return _MD_SPECIAL.sub(r"\\\1", plain(value))


def latex(value: Any) -> str:
    """Text for a LaTeX document: the ten special characters (and ``<``, ``>``, ``|``, which
    the default OT1 encoding prints as other glyphs) as commands that print them; characters
    a standard article has no glyph for are written as their code point, ``[U+4E2D]``."""
    text = _LATEX_RE.sub(lambda match: _LATEX[match.group(0)], plain(value))
    return _NO_GLYPH.sub(lambda match: f"[U+{ord(match.group(0)):04X}]", text)
