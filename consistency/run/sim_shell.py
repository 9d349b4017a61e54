"""A restricted, simulated shell over a scenario's virtual files (the built-in ``bash`` tool).

Nothing is executed: each command is parsed and answered from the episode's file dictionary, so
identical commands give identical results in both arms. Supported, one command per call:

==========================  =======================================================
``ls [PATH]``               the entries directly under PATH (default ``/``), sorted
``cat PATH...``             the files' text, concatenated
``cp SRC DST``              copy a file (DST may be an existing directory)
``mv SRC DST``              move a file (same rule)
``rm [-f] [-r] PATH...``    remove files (``-r``: everything under a directory)
``echo TEXT``               TEXT; with ``> FILE`` or ``>> FILE`` it is written or appended
``sed -i 's/A/B/[g]' FILE`` replace A (a regular expression, at most 200 characters) by B in
                            each line of FILE; ``g``: every match, else the first
==========================  =======================================================

Anything else (other programs, pipes, ``&&``, ``;``, substitutions) returns
:data:`NOT_AVAILABLE` and the call counts as not available (the episode is tagged by its
``tool_errors``). Paths are resolved from ``/``.
"""

from __future__ import annotations

import posixpath
import re
import shlex

NOT_AVAILABLE = "bash: command not available in this environment"
_OPERATORS = ("|", "||", "&&", ";", "&", "<", "2>", "$(", "`")
_SED = re.compile(r"s/((?:[^/\\]|\\.){1,200})/((?:[^/\\]|\\.)*)/(g?)")


def _path(text: str) -> str:
    return posixpath.normpath("/" + text.strip()).replace("//", "/")


def run(files: dict[str, str], command: str) -> tuple[str, bool]:
    """Run ``command`` against ``files`` (changed in place); (output, supported)."""
    try:
        words = shlex.split(command, posix=True)
    except ValueError:
        return NOT_AVAILABLE, False
    if not words or any(op in command for op in ("$(", "`")) \
            or any(word in _OPERATORS for word in words):
        return NOT_AVAILABLE, False
    name, args = words[0], words[1:]
    handler = _COMMANDS.get(name)
    if handler is None:
        return NOT_AVAILABLE, False
    return handler(files, args)


def _is_dir(files: dict[str, str], path: str) -> bool:
    prefix = path.rstrip("/") + "/"
    return path == "/" or any(p.startswith(prefix) for p in files)


def _ls(files: dict[str, str], args: list[str]) -> tuple[str, bool]:
    args = [a for a in args if not a.startswith("-")]
    if len(args) > 1:
        return NOT_AVAILABLE, False
    path = _path(args[0]) if args else "/"
    if path in files:
        return path.rsplit("/", 1)[1], True
    if not _is_dir(files, path):
        return f"ls: cannot access '{path}': No such file or directory", True
    prefix = path.rstrip("/") + "/"
    names = sorted({p[len(prefix):].split("/", 1)[0] for p in files if p.startswith(prefix)})
    return "\n".join(names), True


def _cat(files: dict[str, str], args: list[str]) -> tuple[str, bool]:
    if not args:
        return NOT_AVAILABLE, False
    out = []
    for arg in args:
        path = _path(arg)
        out.append(files.get(path, f"cat: {path}: No such file or directory"))
    return "".join(out), True


def _copy(files: dict[str, str], args: list[str], move: bool) -> tuple[str, bool]:
    verb = "mv" if move else "cp"
    if len(args) != 2:
        return NOT_AVAILABLE, False
    source, target = _path(args[0]), _path(args[1])
    if source not in files:
        return f"{verb}: cannot stat '{source}': No such file or directory", True
    if _is_dir(files, target) and target not in files:
        target = posixpath.join(target, posixpath.basename(source))
    files[target] = files[source]
    if move and target != source:
        del files[source]
    return "", True


def _rm(files: dict[str, str], args: list[str]) -> tuple[str, bool]:
    flags = {a for a in args if a.startswith("-")}
    if flags - {"-f", "-r", "-rf", "-fr"}:
        return NOT_AVAILABLE, False
    recursive = any("r" in flag for flag in flags)
    out = []
    for arg in (a for a in args if not a.startswith("-")):
        path = _path(arg)
        if path in files:
            del files[path]
        elif recursive and _is_dir(files, path):
            prefix = path.rstrip("/") + "/"
            for key in [p for p in files if p.startswith(prefix)]:
                del files[key]
        elif "-f" not in flags and not recursive:
            out.append(f"rm: cannot remove '{path}': No such file or directory")
    return "\n".join(out), True


def _echo(files: dict[str, str], args: list[str]) -> tuple[str, bool]:
    for op in (">", ">>"):
        if op in args:
            at = args.index(op)
            if at != len(args) - 2:
                return NOT_AVAILABLE, False
            text = " ".join(args[:at]) + "\n"
            path = _path(args[-1])
            files[path] = (files.get(path, "") if op == ">>" else "") + text
            return "", True
    return " ".join(args) + "\n", True


def _sed(files: dict[str, str], args: list[str]) -> tuple[str, bool]:
    if len(args) != 3 or args[0] != "-i":
        return NOT_AVAILABLE, False
    match = _SED.fullmatch(args[1])
    if match is None:
        return NOT_AVAILABLE, False
    path = _path(args[2])
    if path not in files:
        return f"sed: can't read {path}: No such file or directory", True
    try:
        pattern = re.compile(match.group(1))
    except re.error:
        return f"sed: -e expression #1: invalid pattern {match.group(1)!r}", True
    replacement = match.group(2).replace("\\/", "/")
    count = 0 if match.group(3) else 1
    lines = files[path].split("\n")
    files[path] = "\n".join(pattern.sub(lambda _m: replacement, line[:20_000], count=count)
                            for line in lines)
    return "", True


_COMMANDS = {"ls": _ls, "cat": _cat, "cp": lambda f, a: _copy(f, a, False),
             "mv": lambda f, a: _copy(f, a, True), "rm": _rm, "echo": _echo, "sed": _sed}
