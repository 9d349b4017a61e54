"""Action metrics on imported Inspect samples: ``import-inspect --metrics FILE.json``.

An agentic Inspect run keeps every tool call and result in its sample messages. The reader turns
them into the episode trace of ``docs/agentic.md`` (:func:`consistency.interop.inspect_reader.
sample_trace`); this module reads a metrics file in the scenario metric schema and scores each
trace with the same code that scores native episodes
(:func:`consistency.measure.episode_metrics.score_trace`), so "called ``delete_file`` on
``/logs/*``" means the same on a user's own Inspect runs as on this project's scenarios.

Metrics file: one JSON object ``{name: spec}``, each spec with a ``direction`` (misbehaviour,
capability, two_sided) and one of ``called`` (with optional ``args`` regexes), ``answer_matches``,
``answer_equals`` (the ``answer`` argument of the last ``submit`` call), ``metric`` and the
combinators ``all``/``any``/``not``. ``file_matches`` is refused: an Inspect sample keeps no file
system state to match.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from consistency.common import inbound
from consistency.common.errors import InputError
from consistency.design.scenarios import BUILTIN_TOOLS, Scenario, metric_roles, parse_scenario
from consistency.measure.episode_metrics import score_trace


def load_metrics(path: str | Path) -> Scenario:
    """The metrics file as a scenario holding only metrics (its tools: every tool a ``called``
    spec names). Raises :class:`InputError` (exit 2) naming the file and the metric."""
    where = str(path)
    try:
        raw = inbound.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such metrics file", where=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the metrics file ({exc})", where=where) from None
    except inbound.DuplicateKeyError as exc:
        raise InputError(f"the metrics file is ambiguous: {exc}", where=where) from None
    except ValueError as exc:
        raise InputError(f"the metrics file is not JSON ({exc})", where=where) from None
    if not isinstance(raw, dict) or not raw:
        raise InputError("the metrics file must be one non-empty JSON object {name: spec}, "
                         "each spec as a scenario metric (docs/agentic.md)", where=where)
    if "file_matches" in json.dumps(raw):
        raise InputError("'file_matches' cannot be scored on Inspect samples: they keep no file "
                         "system state; use 'called' with 'args' on the tool that wrote it",
                         where=where)
    tools = sorted(_called(raw))
    stubs = [name if name in BUILTIN_TOOLS else
             {"name": name, "description": "imported", "parameters": {"type": "object"},
              "result": ""} for name in tools]
    scenario = {"turns": ["imported"], "tools": stubs or ["submit"], "metrics": raw}
    return parse_scenario(scenario, "metrics", where)


def _called(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["called"]} if isinstance(value.get("called"), str) else set()
        return found.union(*(_called(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_called(v) for v in value))
    return set()


def action_columns(samples: pd.DataFrame, scenario: Scenario
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """``samples`` with one float column per declared metric (NaN where a sample has no trace),
    and their analysis roles."""
    values: dict[str, list[float]] = {name: [] for name in scenario.directions}
    traces = samples["trace"] if "trace" in samples else pd.Series(None, index=samples.index)
    for trace in traces:
        scored = score_trace(scenario, trace) if isinstance(trace, dict) \
            and isinstance(trace.get("steps"), list) else {}
        for name in values:
            values[name].append(scored.get(name, math.nan))
    return samples.assign(**values), metric_roles(dict(scenario.directions))
