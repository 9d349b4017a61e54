"""Agentic scenarios as data (design stage): the schema of a scenario line of a task suite.

A *scenario* is an item of a JSONL task suite that is played as a multi-turn, tool-using episode
instead of one question and one answer. A line is a scenario when it has ``turns``; it is then
validated here (every problem names the file, line and key, and costs no request) and carried by
its :class:`consistency.design.items.Item` as ``item.scenario``. The episode is run by
:mod:`consistency.run.episodes` with the tools of :mod:`consistency.run.episode_tools`, and scored by
:mod:`consistency.measure.episode_metrics`. The full format is in ``docs/agentic.md``; in short:

==============  ========================================================================
key             meaning
==============  ========================================================================
id, family      as for every item; ``family`` is free snake_case (e.g. oversight_subversion)
system          the scenario's own system text (after the framing's system text)
turns           >= 1 user turns; each starts a tool loop that ends at ``submit`` or a reply
                without a tool call
files           virtual file system: absolute path -> text (paths are normalised)
tools           built-in tool names and/or custom tool objects (see below)
max_steps       model requests the tool loops may make in all (default 10, at most 100)
metrics         name -> metric spec with a ``direction`` (misbehaviour, capability, two_sided)
follow_up       scripted user turns after the episode, each scored by a pattern
cue_file        where a pair that places its cue in a file puts it (created if absent)
==============  ========================================================================

Metric specs (each a 0/1 per episode): ``{"called": tool, "args": {arg: regex}}`` (a valid call of
``tool`` whose arguments fully match every pattern), ``{"file_matches": [path, regex]}`` (the
file's final text), ``{"answer_matches": regex}`` / ``{"answer_equals": text}`` (the last
``submit`` answer), ``{"metric": name}`` (a follow-up metric or one declared before), and the
combinators ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": spec}``.

Custom tools: ``{"name": ..., "description": ..., "parameters": <JSON schema>, "result": text}``
or ``{..., "cases": [{"when": {arg: regex}, "result": text}, ...], "default": text}``. The schema
subset checked is: ``type: object``, ``properties`` with ``type`` (string, integer, number,
boolean), ``enum``, and ``required``.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consistency.common.errors import InputError
from consistency.design.items import FAMILIES

BUILTIN_TOOLS = ("list_files", "read_file", "write_file", "submit", "bash")
#: The tools of a scenario that names none (``bash`` is asked for by name).
DEFAULT_TOOLS = ("list_files", "read_file", "write_file", "submit")
DIRECTIONS = ("misbehaviour", "capability", "two_sided")
#: Metric names the episode scorer always writes; a scenario may not declare them.
RECORDED = ("engaged", "completed", "steps", "tool_errors", "text_channel", "cue_exposed")
#: Metric columns of one-shot tasks; a scenario metric of the same name would be mixed with them.
RESERVED = RECORDED + ("correct", "refused", "complied", "aware", "training_reasoning")
SCHEMA_TYPES = ("string", "integer", "number", "boolean")
DEFAULT_MAX_STEPS = 10
MAX_STEPS_LIMIT = 100
SCENARIO_KEYS = ("id", "family", "system", "turns", "files", "tools", "max_steps", "metrics",
                 "follow_up", "kind", "cue_file", "rubrics")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_LEAF_KINDS = ("called", "file_matches", "answer_matches", "answer_equals", "metric")
_COMBINATORS = ("all", "any", "not")

#: Argument schemas of the built-in tools (what a model is shown, and what calls are checked by).
BUILTIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "list_files": {"type": "object", "properties": {"path": {"type": "string"}},
                   "required": ["path"]},
    "read_file": {"type": "object", "properties": {"path": {"type": "string"}},
                  "required": ["path"]},
    "write_file": {"type": "object", "properties": {"path": {"type": "string"},
                                                    "content": {"type": "string"}},
                   "required": ["path", "content"]},
    "submit": {"type": "object", "properties": {"answer": {"type": "string"}},
               "required": ["answer"]},
    "bash": {"type": "object", "properties": {"command": {"type": "string"}},
             "required": ["command"]},
}
BUILTIN_DESCRIPTIONS = {
    "list_files": "List the files under a directory of the workspace.",
    "read_file": "Read a text file of the workspace.",
    "write_file": "Write (create or replace) a text file of the workspace.",
    "submit": "Submit your final answer and end the task.",
    "bash": "Run one shell command in the workspace (ls, cat, cp, mv, rm, echo, sed -i).",
}


@dataclass(frozen=True)
class Tool:
    """One tool an agent may call: its argument schema and, for custom tools, its results."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    result: str | None = None
    cases: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = ()
    default: str = ""
    builtin: bool = False


@dataclass(frozen=True)
class FollowUp:
    turn: str
    metric: str
    matches: str
    direction: str


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (see the module docstring). ``raw`` is the source object, kept so a
    cell's request records exactly what defines its episode (and its hash changes with it)."""

    system: str
    turns: tuple[str, ...]
    files: Mapping[str, str]
    tools: tuple[Tool, ...]
    max_steps: int
    metrics: Mapping[str, Any]
    directions: Mapping[str, str]
    follow_up: tuple[FollowUp, ...] = ()
    cue_file: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def tool(self, name: str) -> Tool | None:
        return next((tool for tool in self.tools if tool.name == name), None)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode("utf-8")).hexdigest()


def is_scenario(raw: Mapping[str, Any]) -> bool:
    """Whether a suite line describes a scenario (it has ``turns``) rather than a one-shot task."""
    return "turns" in raw


def normalise_path(path: str) -> str:
    """An absolute, normalised POSIX path: ``project//a/../b.txt`` -> ``/project/b.txt``. A path
    cannot leave the root (``/../x`` is ``/x``)."""
    return posixpath.normpath("/" + path.strip()).replace("//", "/")


def parse_scenario(raw: Mapping[str, Any], item_id: str, where: str) -> Scenario:
    """Validate a scenario line (its ``id`` and ``family`` already read) into a :class:`Scenario`.

    Raises:
        InputError: naming ``where`` (file:line), the item and the key for any problem.
    """
    err = _Errors(item_id, where)
    unknown = sorted(set(raw) - set(SCENARIO_KEYS))
    if unknown:
        err.fail(f"has unknown key(s) {unknown}; a scenario takes {list(SCENARIO_KEYS)}")
    system = raw.get("system", "")
    if not isinstance(system, str):
        err.fail("has a non-string 'system'; 'system' is optional text")
    turns = raw.get("turns")
    if (not isinstance(turns, list) or not turns
            or not all(isinstance(t, str) and t.strip() for t in turns)):
        err.fail("needs 'turns': a non-empty list of non-empty strings (the user turns)")
    files = _files(raw.get("files", {}), err)
    tools = _tools(raw.get("tools", list(DEFAULT_TOOLS)), err)
    max_steps = raw.get("max_steps", DEFAULT_MAX_STEPS)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) \
            or not 1 <= max_steps <= MAX_STEPS_LIMIT:
        err.fail(f"has max_steps {max_steps!r}; expected a whole number 1-{MAX_STEPS_LIMIT}")
    follow_up = _follow_ups(raw.get("follow_up", []), err)
    metrics, directions = _metrics(raw.get("metrics", {}), tools, follow_up, err)
    cue_file = raw.get("cue_file", "")
    if not isinstance(cue_file, str):
        err.fail("has a non-string 'cue_file'; expected the path of the file a cue goes in")
    return Scenario(system, tuple(turns), files, tools, max_steps, metrics, directions,
                    follow_up, normalise_path(cue_file) if cue_file.strip() else "", dict(raw))


class _Errors:
    def __init__(self, item_id: str, where: str) -> None:
        self.item_id, self.where = item_id, where

    def fail(self, message: str) -> None:
        raise InputError(f"scenario '{self.item_id}' {message}", where=self.where)


def _files(files: Any, err: _Errors) -> dict[str, str]:
    if not isinstance(files, dict):
        err.fail("has a non-object 'files'; expected {\"/path/file.txt\": \"text\", ...}")
    out: dict[str, str] = {}
    for path, text in files.items():
        if not path.strip() or not isinstance(text, str):
            err.fail(f"has a bad file {path!r}: each file needs a non-empty path and text content")
        norm = normalise_path(path)
        if norm in out or norm == "/":
            err.fail(f"has file path {path!r} twice (after normalising to {norm!r}) or as the root")
        out[norm] = text
    return out


def _tools(tools: Any, err: _Errors) -> tuple[Tool, ...]:
    if not isinstance(tools, list) or not tools:
        err.fail(f"needs 'tools' as a non-empty list of built-in names {list(BUILTIN_TOOLS)} "
                 "and/or custom tool objects")
    out: list[Tool] = []
    for entry in tools:
        if isinstance(entry, str):
            if entry not in BUILTIN_TOOLS:
                err.fail(f"names unknown tool {entry!r}; built-in tools are {list(BUILTIN_TOOLS)}"
                         " (declare a custom tool as an object with name, parameters and result)")
            out.append(Tool(entry, BUILTIN_DESCRIPTIONS[entry], BUILTIN_SCHEMAS[entry],
                            builtin=True))
        elif isinstance(entry, dict):
            out.append(_custom_tool(entry, err))
        else:
            err.fail(f"has a tool entry {_short(entry)}; expected a name or an object")
    names = [tool.name for tool in out]
    if len(set(names)) != len(names):
        err.fail(f"declares a tool twice: {sorted(n for n in set(names) if names.count(n) > 1)}")
    return tuple(out)


def _custom_tool(entry: dict[str, Any], err: _Errors) -> Tool:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in BUILTIN_TOOLS:
        err.fail(f"has a custom tool named {_short(name)}; custom tool names are snake_case and "
                 f"differ from the built-in {list(BUILTIN_TOOLS)}")
    extra = sorted(set(entry) - {"name", "description", "parameters", "result", "cases",
                                 "default"})
    if extra:
        err.fail(f"custom tool '{name}' has unknown key(s) {extra}")
    schema = entry.get("parameters", {"type": "object", "properties": {}})
    _check_schema(schema, f"custom tool '{name}'", err)
    description = entry.get("description", "")
    if not isinstance(description, str):
        err.fail(f"custom tool '{name}' has a non-string 'description'")
    result, cases = entry.get("result"), entry.get("cases")
    if (result is None) == (cases is None):
        err.fail(f"custom tool '{name}' needs exactly one of 'result' (fixed text) or 'cases' "
                 "(a list of {\"when\": {arg: regex}, \"result\": text}, with a 'default')")
    if result is not None and not isinstance(result, str):
        err.fail(f"custom tool '{name}' has a non-string 'result'")
    parsed = () if cases is None else _cases(cases, name, schema, err)
    default = entry.get("default", "")
    if not isinstance(default, str):
        err.fail(f"custom tool '{name}' has a non-string 'default'")
    return Tool(name, description, schema, result, parsed, default)


def _check_schema(schema: Any, who: str, err: _Errors) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        err.fail(f"{who} needs 'parameters' as a JSON schema of type object")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        err.fail(f"{who}: 'properties' must be an object")
    for arg, spec in props.items():
        if not isinstance(spec, dict) or spec.get("type") not in SCHEMA_TYPES:
            err.fail(f"{who}: argument {arg!r} needs a 'type' in {list(SCHEMA_TYPES)}")
        if "enum" in spec and not isinstance(spec["enum"], list):
            err.fail(f"{who}: argument {arg!r} has a non-list 'enum'")
    required = schema.get("required", [])
    if not isinstance(required, list) or not set(required) <= set(props):
        err.fail(f"{who}: 'required' must list names from 'properties'")


def _cases(cases: Any, name: str, schema: Mapping[str, Any], err: _Errors
           ) -> tuple[tuple[tuple[tuple[str, str], ...], str], ...]:
    if not isinstance(cases, list) or not cases:
        err.fail(f"custom tool '{name}' has 'cases' that is not a non-empty list")
    out = []
    for case in cases:
        if not isinstance(case, dict) or not isinstance(case.get("when"), dict) \
                or not isinstance(case.get("result"), str):
            err.fail(f"custom tool '{name}' has a case {_short(case)}; expected "
                     "{\"when\": {arg: regex}, \"result\": text}")
        when = _patterns(case["when"], f"custom tool '{name}'", err,
                         known=set(schema.get("properties", {})))
        out.append((when, case["result"]))
    return tuple(out)


def _patterns(mapping: dict[str, Any], who: str, err: _Errors, known: set[str] | None = None
              ) -> tuple[tuple[str, str], ...]:
    pairs = []
    for arg, pattern in mapping.items():
        if known is not None and arg not in known:
            err.fail(f"{who} matches on argument {arg!r}, which its schema does not declare")
        _regex(pattern, f"{who}, argument {arg!r}", err)
        pairs.append((arg, pattern))
    return tuple(sorted(pairs))


def _regex(pattern: Any, who: str, err: _Errors) -> None:
    if not isinstance(pattern, str):
        err.fail(f"{who}: expected a regular expression string, got {_short(pattern)}")
    try:
        re.compile(pattern)
    except re.error as exc:
        err.fail(f"{who}: {pattern!r} is not a valid regular expression ({exc})")


def _follow_ups(entries: Any, err: _Errors) -> tuple[FollowUp, ...]:
    if not isinstance(entries, list):
        err.fail("has a non-list 'follow_up'; expected [{\"turn\", \"metric\", \"matches\", "
                 "\"direction\"}, ...]")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("turn"), str) \
                or not entry["turn"].strip():
            err.fail(f"has a follow-up {_short(entry)} without a 'turn' text")
        metric = _metric_name(entry.get("metric"), err)
        _regex(entry.get("matches"), f"follow-up metric '{metric}'", err)
        direction = _direction(entry.get("direction", "two_sided"), metric, err)
        out.append(FollowUp(entry["turn"], metric, entry["matches"], direction))
    return tuple(out)


def _metric_name(name: Any, err: _Errors) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in RESERVED:
        err.fail(f"has metric name {_short(name)}; metric names are snake_case and not one of "
                 f"{list(RESERVED)}")
    return name


def _direction(direction: Any, metric: str, err: _Errors) -> str:
    if direction not in DIRECTIONS:
        err.fail(f"metric '{metric}' has direction {_short(direction)}; expected one of "
                 f"{list(DIRECTIONS)}")
    return direction


def _metrics(metrics: Any, tools: tuple[Tool, ...], follow: tuple[FollowUp, ...], err: _Errors
             ) -> tuple[dict[str, Any], dict[str, str]]:
    """Metric specs in an order where each comes after the metrics it refers to (the source's
    key order is not kept by canonical JSON, so references are resolved, not positional)."""
    if not isinstance(metrics, dict):
        err.fail("has a non-object 'metrics'; expected {name: {kind..., \"direction\": ...}}")
    follow_names = {f.metric for f in follow}
    directions = {f.metric: f.direction for f in follow}
    bodies: dict[str, Any] = {}
    tool_names = {tool.name for tool in tools}
    for name, spec in metrics.items():
        _metric_name(name, err)
        if name in follow_names:
            err.fail(f"declares metric '{name}' twice (as a metric and a follow-up)")
        if not isinstance(spec, dict):
            err.fail(f"metric '{name}' is not an object")
        directions[name] = _direction(spec.get("direction", "two_sided"), name, err)
        bodies[name] = {key: value for key, value in spec.items() if key != "direction"}
    known = follow_names | set(bodies)
    for name, body in bodies.items():
        _check_spec(body, name, tool_names, known, err)
    ordered: dict[str, Any] = {}
    for name in bodies:
        _order(name, bodies, ordered, [], err)
    return ordered, directions


def _order(name: str, bodies: dict[str, Any], ordered: dict[str, Any], path: list[str],
           err: _Errors) -> None:
    if name in ordered or name not in bodies:
        return
    if name in path:
        err.fail(f"has metrics that refer to each other in a cycle: {' -> '.join(path + [name])}")
    for ref in _references(bodies[name]):
        _order(ref, bodies, ordered, path + [name], err)
    ordered[name] = bodies[name]


def _references(spec: Any) -> list[str]:
    if not isinstance(spec, dict):
        return []
    if "metric" in spec:
        return [spec["metric"]]
    parts = spec.get("all") or spec.get("any") or ([spec["not"]] if "not" in spec else [])
    return [ref for part in parts for ref in _references(part)]


def _check_spec(spec: Any, name: str, tools: set[str], known: set[str], err: _Errors) -> None:
    """One metric spec (recursively for combinators); only declared tools and earlier metrics
    may be referred to, so every metric can be computed from the trace in declared order."""
    kinds = [key for key in spec if key in _LEAF_KINDS + _COMBINATORS] \
        if isinstance(spec, dict) else []
    if len(kinds) != 1:
        err.fail(f"metric '{name}' has a part {_short(spec)}; each part needs exactly one of "
                 f"{list(_LEAF_KINDS + _COMBINATORS)}")
    kind, value = kinds[0], spec[kinds[0]]
    extra = set(spec) - {kind} - ({"args"} if kind == "called" else set())
    if extra:
        err.fail(f"metric '{name}' has unexpected key(s) {sorted(extra)} beside '{kind}'")
    if kind in ("all", "any"):
        if not isinstance(value, list) or not value:
            err.fail(f"metric '{name}': '{kind}' needs a non-empty list of metric parts")
        for part in value:
            _check_spec(part, name, tools, known, err)
    elif kind == "not":
        _check_spec(value, name, tools, known, err)
    elif kind == "called":
        if value not in tools:
            err.fail(f"metric '{name}' counts calls of {_short(value)}, which is not among the "
                     f"scenario's tools {sorted(tools)}")
        args = spec.get("args", {})
        if not isinstance(args, dict):
            err.fail(f"metric '{name}': 'args' must be an object of argument regexes")
        _patterns(args, f"metric '{name}'", err)
    elif kind == "file_matches":
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            err.fail(f"metric '{name}': 'file_matches' needs [path, regex]")
        _regex(value[1], f"metric '{name}'", err)
    elif kind == "answer_matches":
        _regex(value, f"metric '{name}'", err)
    elif kind == "answer_equals":
        if not isinstance(value, str):
            err.fail(f"metric '{name}': 'answer_equals' needs a string")
    elif value not in known:
        err.fail(f"metric '{name}' refers to metric {_short(value)}, which is neither a "
                 "follow-up metric nor another metric of the scenario")


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 80 else text[:80] + "..."


def metric_roles(directions: Mapping[str, str]) -> dict[str, str]:
    """Scenario metric directions as analysis roles (:data:`consistency.analyse.flags.ROLES`)."""
    return {name: {"two_sided": "other"}.get(direction, direction)
            for name, direction in directions.items()}


def scenario_family(family: str, item_id: str, where: str) -> None:
    """A scenario's family: snake_case, and not a one-shot family (whose metrics it lacks)."""
    if not _NAME.fullmatch(family) or family in FAMILIES:
        raise InputError(f"scenario '{item_id}' has family {family!r}; a scenario family is "
                         f"snake_case (e.g. oversight_subversion) and none of the one-shot "
                         f"families {list(FAMILIES)}", where=where)


def check_direction(item: Any, seen: dict[str, tuple[str, int]], line: int, where: str) -> None:
    """One metric name keeps one direction across a suite: rows of the analysis are per metric,
    and a metric tested in two directions would be neither."""
    for name, direction in item.scenario.directions.items():
        first = seen.setdefault(name, (direction, line))
        if first[0] != direction:
            raise InputError(f"scenario '{item.id}' declares metric '{name}' with direction "
                             f"'{direction}', but line {first[1]} declared it '{first[0]}'; a "
                             "metric name has one direction in a suite (rename one of them)",
                             where=where)


def episode_messages(framing: Any, scenario: Scenario) -> list[dict[str, str]]:
    """The first request's messages under one framing: the framing's system text, then the
    scenario's own; the framing's prefix, suffix or template around the first turn."""
    messages = framing.messages(scenario.turns[0])
    if scenario.system:
        if messages[0]["role"] == "system":
            messages[0] = {"role": "system",
                           "content": f"{messages[0]['content']}\n\n{scenario.system}"}
        else:
            messages.insert(0, {"role": "system", "content": scenario.system})
    return messages


def episode_fields(scenario: Scenario, model: str, framing: Any = None,
                   tool_protocol: str = "native") -> dict[str, Any]:
    """What a cell's request holds beside its messages: the scenario's source, the tool
    protocol (``tool_protocol``, but always ``text`` for the embedded model, which has no
    native tool calls) and where the framing puts its cue, if in a file or a tool result; so
    the request hash changes with anything that changes the episode."""
    protocol = "text" if model.startswith("local:") else tool_protocol
    fields: dict[str, Any] = {"scenario": dict(scenario.raw), "protocol": protocol}
    if framing is not None and framing.cue_file:
        fields["cue"] = {"placement": "file", "path": scenario.cue_file, "text": framing.cue_file}
    elif framing is not None and framing.cue_result:
        fields["cue"] = {"placement": "result", "text": framing.cue_result}
    return {"episode": fields}


def check_placement(item_id: str, scenario: Scenario | None, pair: str, placement: str) -> None:
    """A cue placed in a file needs a scenario with a ``cue_file``; a one-shot task has neither
    files nor tool results, so a pair placing its cue there cannot frame it."""
    if placement == "framing":
        return
    if scenario is None:
        raise InputError(f"pair '{pair}' places its cue in a {placement} (cue_{placement}), which "
                         f"only agentic scenarios have, but item '{item_id}' is a one-shot task; "
                         "run such pairs on a suite of scenarios", where="conditions")
    if placement == "file" and not scenario.cue_file:
        raise InputError(f"pair '{pair}' places its cue in a file, but scenario '{item_id}' "
                         "declares no 'cue_file' (the path the cue text is added to)",
                         where="tasks")
