"""Read Inspect AI logs through Inspect's own public log API, one JSON record per line.

Why a module of its own: Inspect does not promise to keep its file format stable, so nothing here
parses it; it calls ``inspect_ai.log`` (``list_eval_logs``, ``read_eval_log(header_only=True)``,
``read_eval_log_sample_summaries`` or ``read_eval_log_samples``) and Inspect's own
``value_to_float``. And Inspect usually lives in an environment of its own (its pins and ours do
not always agree; see the README), so this file imports nothing from ``consistency`` and runs
under any interpreter that has ``inspect_ai``::

    PYTHON inspect_reader.py [--text] [--trace] [--jobs N] [--field metadata.KEY ...] -- LOG ...

It prints, one JSON object per line (``kind`` first):

==========  =========================================================================
kind        fields
==========  =========================================================================
``reader``  ``inspect_version`` of the interpreter reading the logs
``log``     ``log`` (index), ``source`` (index of the path argument it came from),
            ``path``, ``task``, ``task_args``, ``model``, ``status``,
            ``inspect_version`` (the one that wrote the log), ``eval_id``, ``created``
``sample``  ``log``, ``id``, ``epoch``, ``fields`` (the requested ``metadata.KEY``
            values present), ``scores`` (metric name -> float, see below), ``error``,
            ``limit``, ``input_tokens``, ``output_tokens``, ``text`` (with ``--text``),
            ``trace`` (with ``--trace``: the sample's tool calls, see below)
``keys``    ``log``, ``metadata_keys`` (every metadata key seen in the log's samples)
``error``   ``path``, ``message``: the path is not a readable Inspect log
==========  =========================================================================

Scores: scorer ``NAME`` becomes metric ``score_NAME`` (the column name of Inspect's own
``samples_df``); a dict value becomes one metric per key (``score_NAME_KEY``). Each value goes
through Inspect's ``value_to_float()``: ``C`` 1.0, ``I`` 0.0, ``P`` 0.5, ``N`` 0.0, "yes"/"true"
1.0, "no"/"false" 0.0, numbers (and numeric strings) as they are. A list, or a string Inspect
cannot convert, is left out (missing, not 0.0 as ``value_to_float`` would give with a warning).
Without ``--text`` the sample summaries are read (Inspect keeps them apart so that they load
fast); ``--text`` reads whole samples to add the model's final completion.

Trace (``--trace``, which reads whole samples): the sample's messages in the episode trace format
of ``docs/agentic.md``: ``{"steps": [...], "answer": ..., "n_steps": N, "tool_errors": N}``, one
step per tool call of an assistant message (``step``, ``turn`` 0, ``channel`` native, ``text`` the
message's text, ``tool``, ``arguments``, ``result`` the text of the tool message answering that
call id, ``error`` its error type or null) and one step with ``tool`` null for an assistant
message without calls. ``answer`` is the ``answer`` argument of the last ``submit`` call, else
null. Inspect keeps no file system state in the sample, so the trace has no ``files``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from collections.abc import Iterator
from typing import Any


def log_files(paths: list[str]) -> Iterator[tuple[int, str, Any]]:
    """(source index, path, log file) for every path: a file as given, a folder through
    ``list_eval_logs`` (oldest first); a folder with no log gives None as its log file."""
    from inspect_ai.log import list_eval_logs

    for source, path in enumerate(paths):
        if os.path.isdir(path):
            found = list_eval_logs(path, recursive=True, descending=False)
            if not found:
                yield source, path, None
            for info in found:
                yield source, info.name, info
        else:
            yield source, path, path


def records(paths: list[str], fields: list[str], text: bool = False, jobs: int = 1,
            trace: bool = False) -> Iterator[dict[str, Any]]:
    """Every record (see the module table) for the logs under ``paths``, in order.

    With ``jobs`` > 1 the logs are read by that many worker processes at once (each log whole,
    by one worker), and their records still come out in log order: Inspect's own reader spends
    most of its time validating sample summaries, which is CPU work that a process per core
    divides (a thread would not, under the GIL).
    """
    import importlib.metadata

    yield {"kind": "reader", "inspect_version": importlib.metadata.version("inspect_ai")}
    listed = list(log_files(paths))
    readable = [(origin, path, source) for origin, path, source in listed if source is not None]
    read = functools.partial(_read_log, fields=fields, text=text, trace=trace)
    workers = max(1, min(jobs, len(readable)))
    batches: Iterator[list[dict[str, Any]]]
    pool = None
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: the workers inherit the imported inspect_ai instead of importing it again
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        batches = pool.map(read, [(path, source) for _, path, source in readable])
    else:
        batches = map(read, [(path, source) for _, path, source in readable])
    try:
        index = 0
        for origin, path, source in listed:
            if source is None:
                yield {"kind": "error", "path": path, "message": "no Inspect log (.eval or "
                       ".json) in this folder"}
                continue
            batch = next(batches)
            if batch[0]["kind"] == "error":
                yield batch[0]
                continue
            for record in batch:
                record["log"] = index
                if record["kind"] == "log":
                    record["source"] = origin
                yield record
            index += 1
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _read_log(item: tuple[str, Any], fields: list[str], text: bool,
              trace: bool = False) -> list[dict[str, Any]]:
    """One log's records (``log`` and ``source`` filled in by the caller), or one error."""
    path, source = item
    try:
        header = _header(source)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a log we can read"
        return [{"kind": "error", "path": _local(path), "message": _reason(exc)}]
    return [{"kind": "log", "log": -1, "source": -1, "path": _local(path), **header},
            *_samples(source, -1, fields, text, trace)]


def _header(source: Any) -> dict[str, Any]:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(source, header_only=True)
    spec = log.eval
    return {"task": spec.task, "task_args": _jsonable(spec.task_args or {}),
            "model": spec.model, "status": log.status,
            "inspect_version": (spec.packages or {}).get("inspect_ai"),
            "eval_id": spec.eval_id, "created": str(spec.created)}


def _samples(source: Any, index: int, fields: list[str], text: bool,
             trace: bool = False) -> Iterator[dict[str, Any]]:
    from inspect_ai.log import read_eval_log_sample_summaries, read_eval_log_samples

    keys: set[str] = set()
    wanted = [f.split(".", 1)[1] for f in fields if f.startswith("metadata.")]
    samples = (read_eval_log_samples(source, all_samples_required=False) if text or trace
               else read_eval_log_sample_summaries(source))
    for sample in samples:
        metadata = sample.metadata or {}
        keys.update(metadata)
        usage = _usage(sample.model_usage or {})
        error = sample.error
        if error is not None and not isinstance(error, str):
            error = error.message
        limit = sample.limit
        if limit is not None and not isinstance(limit, str):
            limit = limit.type
        record = {"kind": "sample", "log": index, "id": sample.id, "epoch": sample.epoch,
                  "fields": {f"metadata.{k}": _jsonable(metadata[k]) for k in wanted
                             if k in metadata},
                  "scores": scores_as_floats(sample.scores or {}), "error": error,
                  "limit": limit, **usage}
        if text:
            record["text"] = sample.output.completion if sample.output else ""
        if trace:
            record["trace"] = sample_trace(sample.messages or [])
        yield record
    yield {"kind": "keys", "log": index, "metadata_keys": sorted(keys)}


def sample_trace(messages: list[Any]) -> dict[str, Any]:
    """The tool calls of one sample's messages as an episode trace (see the module docstring)."""
    results = {}
    for message in messages:
        if getattr(message, "role", None) == "tool" and getattr(message, "tool_call_id", None):
            error = getattr(message, "error", None)
            results[message.tool_call_id] = (_message_text(message),
                                             getattr(error, "type", None) if error else None)
    steps: list[dict[str, Any]] = []
    answer = None
    for message in messages:
        if getattr(message, "role", None) != "assistant":
            continue
        text = _message_text(message)
        calls = getattr(message, "tool_calls", None) or []
        if not calls:
            steps.append({"step": len(steps) + 1, "turn": 0, "channel": "native", "text": text,
                          "tool": None})
        for call in calls:
            arguments = _jsonable(call.arguments if isinstance(call.arguments, dict) else {})
            result, error = results.get(call.id, ("", "no_result"))
            steps.append({"step": len(steps) + 1, "turn": 0, "channel": "native", "text": text,
                          "tool": call.function, "arguments": arguments, "result": result,
                          "error": error})
            if call.function == "submit" and error is None \
                    and isinstance(arguments.get("answer"), str):
                answer = arguments["answer"]
    return {"steps": steps, "answer": answer, "n_steps": len(steps),
            "tool_errors": sum(1 for s in steps if s.get("tool") and s.get("error"))}


def _message_text(message: Any) -> str:
    text = getattr(message, "text", "")
    return text if isinstance(text, str) else str(text)


def scores_as_floats(scores: dict[str, Any]) -> dict[str, float]:
    """``{"score_NAME": float}`` for every scorer (see the module docstring for the mapping)."""
    out: dict[str, float] = {}
    for name, score in scores.items():
        value = score.value
        if isinstance(value, dict):
            for key, part in value.items():
                _put(out, f"score_{name}_{key}", part)
        else:
            _put(out, f"score_{name}", value)
    return out


def _put(out: dict[str, float], metric: str, value: Any) -> None:
    from inspect_ai.scorer import CORRECT, INCORRECT, NOANSWER, PARTIAL

    if isinstance(value, (list, tuple)) or value is None:
        return
    if isinstance(value, str) and value not in (CORRECT, INCORRECT, PARTIAL, NOANSWER) and \
            value.lower() not in ("yes", "no", "true", "false") and not _numeric(value):
        return  # value_to_float would warn and answer 0.0: unknown is missing, not wrong
    number = _to_float()(value)
    if math.isfinite(number):
        out[metric] = number


@functools.cache
def _to_float() -> Any:
    """Inspect's own converter with its default sentinels (C, I, P, N)."""
    from inspect_ai.scorer import value_to_float

    return value_to_float()


def _numeric(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _usage(model_usage: dict[str, Any]) -> dict[str, int]:
    return {"input_tokens": sum(u.input_tokens or 0 for u in model_usage.values()),
            "output_tokens": sum(u.output_tokens or 0 for u in model_usage.values())}


def _jsonable(value: Any) -> Any:
    """Plain JSON values (metadata may hold dates, enums, models)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", action="store_true", help="read whole samples, adding text")
    parser.add_argument("--trace", action="store_true",
                        help="read whole samples, adding their tool calls as a trace")
    parser.add_argument("--field", action="append", default=[], help="metadata.KEY to pass on")
    parser.add_argument("--jobs", type=int, default=0,
                        help="worker processes reading logs at once (default: one per core)")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    out = sys.stdout
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    for record in records(args.paths, args.field, args.text, jobs, args.trace):
        out.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
