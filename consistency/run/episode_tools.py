"""Simulated tools over a scenario's virtual file system (run stage).

Every tool is a pure function of the call and the episode's state, so the same calls in the same
order give the same results in both arms of a pair: no real file is touched, no process runs and
no model simulates a tool. What a model sends as a call is hostile input: a call of an unknown
tool, arguments that are not a JSON object, a missing required argument or one of the wrong type
gets a fixed error result (text starting ``error:``) and is counted, never raised.

Built-in tools: ``list_files(path)`` (the files under a directory, one per line, sorted),
``read_file(path)``, ``write_file(path, content)``, ``submit(answer)`` and, when a scenario
names it, ``bash(command)``: a restricted simulated shell over the same files
(:mod:`consistency.run.sim_shell`; a command outside its set returns a fixed "not available"
result and counts as a tool error). Paths are normalised
(:func:`consistency.design.scenarios.normalise_path`). Custom tools answer with their fixed ``result``,
or the result of the first case whose argument patterns all match (``re.fullmatch`` on the
argument's text), else their ``default``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from consistency.design.scenarios import Scenario, Tool, normalise_path
from consistency.run import sim_shell

#: Characters of one argument (and of a written file) kept; a longer value is cut.
ARG_LIMIT = 20_000
#: Characters of a tool result shown to the model.
RESULT_LIMIT = 8_000
_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


@dataclass(frozen=True)
class ToolResult:
    """What one call returned: ``error`` names the kind of a refused call (else None)."""

    text: str
    error: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


class ToolBox:
    """The tools of one episode and the state they act on (a copy of the scenario's files)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.files: dict[str, str] = dict(scenario.files)
        self.answer: str | None = None
        self.errors = 0
        #: ``bash`` commands outside the simulated set (each also counts in ``errors``)
        self.unavailable = 0

    def call(self, name: Any, arguments: Any) -> ToolResult:
        """Run one call; ``arguments`` may be a JSON object, its text, or anything at all."""
        tool = self.scenario.tool(name) if isinstance(name, str) else None
        if tool is None:
            names = ", ".join(t.name for t in self.scenario.tools)
            return self._refuse("unknown_tool", f"error: unknown tool {_show(name)}; the tools "
                                f"are: {names}")
        args, problem = check_arguments(tool, arguments)
        if problem is not None:
            return self._refuse("bad_arguments", f"error: {problem}")
        text = self._builtin(tool.name, args) if tool.builtin else custom_result(tool, args)
        return ToolResult(text[:RESULT_LIMIT], None, args)

    def _refuse(self, kind: str, text: str) -> ToolResult:
        self.errors += 1
        return ToolResult(text, kind)

    def _builtin(self, name: str, args: dict[str, Any]) -> str:
        if name == "submit":
            self.answer = args["answer"][:ARG_LIMIT]
            return "submitted"
        if name == "bash":
            text, supported = sim_shell.run(self.files, args["command"][:ARG_LIMIT])
            if not supported:
                self.errors += 1
                self.unavailable += 1
            return text
        path = normalise_path(args["path"])
        if name == "list_files":
            prefix = path.rstrip("/") + "/"
            found = sorted(p for p in self.files if p.startswith(prefix) or p == path)
            return "\n".join(found) if found else f"no files under {path}"
        if name == "read_file":
            if path not in self.files:
                return f"error: no such file: {path}"
            return self.files[path]
        content = args["content"][:ARG_LIMIT]
        self.files[path] = content
        return f"wrote {len(content)} characters to {path}"


def parse_arguments(arguments: Any) -> tuple[dict[str, Any] | None, str | None]:
    """A call's arguments as an object: given as one, or as JSON text of one."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            return None, "the arguments are not valid JSON; send a JSON object"
    if not isinstance(arguments, dict):
        return None, "the arguments must be a JSON object"
    return arguments, None


def check_arguments(tool: Tool, arguments: Any) -> tuple[dict[str, Any], str | None]:
    """``(arguments, None)`` when they satisfy the tool's schema, else ``({}, problem)``."""
    args, problem = parse_arguments(arguments)
    if args is None:
        return {}, f"{problem} for {tool.name}"
    props = tool.parameters.get("properties", {})
    missing = [name for name in tool.parameters.get("required", []) if name not in args]
    if missing:
        return {}, f"{tool.name} needs the argument(s) {', '.join(missing)}"
    for name, value in args.items():
        spec = props.get(name)
        if spec is None:
            return {}, f"{tool.name} takes no argument {_show(name)}"
        wanted = _JSON_TYPES[spec["type"]]
        if isinstance(value, bool) and spec["type"] != "boolean" or not isinstance(value, wanted):
            return {}, f"{tool.name}: argument {name} must be a {spec['type']}"
        if "enum" in spec and value not in spec["enum"]:
            return {}, f"{tool.name}: argument {name} must be one of {spec['enum']}"
    return args, None


def custom_result(tool: Tool, args: dict[str, Any]) -> str:
    """A custom tool's deterministic result for ``args``."""
    if tool.result is not None:
        return tool.result
    for when, result in tool.cases:
        if all(re.fullmatch(pattern, _text(args.get(arg))) for arg, pattern in when):
            return result
    return tool.default


def _text(value: Any) -> str:
    """An argument as the text patterns match: strings as they are, others as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text[:80])


def tool_specs(scenario: Scenario) -> list[dict[str, Any]]:
    """Provider-neutral tool declarations: name, description and JSON-schema parameters."""
    return [{"name": tool.name, "description": tool.description,
             "parameters": dict(tool.parameters)} for tool in scenario.tools]
