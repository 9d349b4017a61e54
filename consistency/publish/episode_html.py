"""Both arms' episode traces side by side (publish stage): ``traces.html`` in the run folder.

One section per item x pair x variant x epoch, the observed arm's episode on the left and the
unobserved arm's on the right: each step's channel, tool, arguments, result and error, the
follow-up answers, how the episode ended and its final files. Everything shown came from a model
or a suite file, so every string is redacted, has its control characters made visible
(:func:`consistency.common.sanitise.for_terminal`) and is HTML-escaped; long texts are cut.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from consistency.common.sanitise import for_terminal

#: Characters of one shown value (an argument, a result, a file).
SHOWN = 1500
_STYLE = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}
td{vertical-align:top;border:1px solid #ccc;padding:.4em;width:50%}pre{white-space:pre-wrap;
margin:.2em 0;font-size:.85em}h2{font-size:1.05em;margin-top:1.5em}.err{color:#a00}"""


def traces_html(responses: pd.DataFrame) -> str | None:
    """The page for a run's responses; None when none of them is an episode."""
    sections = []
    episodes = responses[responses["raw_json"].astype(str).str.startswith('{"episode"')]
    if episodes.empty:
        return None
    keys = ["item_id", "pair", "variant", "epoch"]
    for key, group in episodes.groupby(keys, sort=True):
        arms = {row.arm: row for row in group.itertuples()}
        cells = "".join(f"<td><b>{arm}</b>{_episode(arms.get(arm))}</td>"
                        for arm in ("observed", "unobserved"))
        title = " / ".join(_e(part) for part in (key[0], key[1], f"v{key[2]}", f"e{key[3]}"))
        sections.append(f"<h2>{title}</h2><table><tr>{cells}</tr></table>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Episode traces</title>"
            f"<style>{_STYLE}</style></head><body><h1>Episode traces</h1>"
            f"{''.join(sections)}</body></html>\n")


def _episode(row: Any) -> str:
    if row is None:
        return "<p>no episode</p>"
    try:
        trace = json.loads(row.raw_json)["episode"]
        steps = [step for step in trace["steps"] if isinstance(step, dict)]
    except (ValueError, KeyError, TypeError):
        return "<p class='err'>trace unreadable</p>"
    parts = [f"<p>ended: {_e(trace.get('ended'))}; steps: {_e(trace.get('n_steps'))}; tool "
             f"errors: {_e(trace.get('tool_errors'))}</p><ol>"]
    for step in steps:
        call = (f"{_e(step.get('tool') or '(no call)')} [{_e(step.get('channel'))}]")
        error = f" <span class='err'>{_e(step.get('error'))}</span>" if step.get("error") else ""
        body = "".join(f"<pre>{_e(label)}: {_e(value)}</pre>" for label, value in (
            ("text", step.get("text")), ("arguments", step.get("arguments")),
            ("result", step.get("result"))) if value)
        parts.append(f"<li>{call}{error}{body}</li>")
    parts.append("</ol>")
    for answer in trace.get("follow_ups") or []:
        if isinstance(answer, dict):
            parts.append(f"<pre>follow-up {_e(answer.get('metric'))}: "
                         f"{_e(answer.get('answer'))}</pre>")
    files = trace.get("files") if isinstance(trace.get("files"), dict) else {}
    parts.append("<details><summary>final files</summary>" + "".join(
        f"<pre>{_e(path)}\n{_e(text)}</pre>" for path, text in sorted(files.items())) +
        "</details>")
    return "".join(parts)


def _e(value: Any) -> str:
    """Redacted, control characters visible, cut to :data:`SHOWN`, HTML-escaped."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = for_terminal(text)
    if len(text) > SHOWN:
        text = text[:SHOWN] + "..."
    return html.escape(text, quote=True)
