"""Write the run folder of an Inspect import: the same files, in the same shapes, as a native run.

The samples are mapped (:mod:`consistency.interop.inspect_mapping`), the imported metrics get their roles,
and the native stages do the rest: :func:`consistency.analyse.battery.analyse` with ``extra_metrics``
and :mod:`consistency.publish.report`. What is specific to an import goes into the ``import`` section of
``summary.json`` and a closing section of ``report.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from consistency.common import escaping
from consistency.interop import inspect_mapping as rules
from consistency.common.errors import InputError
from consistency.interop.inspect_mapping import ImportMapping
from consistency.design.settings import AnalysisSettings
from consistency.run.store import write_parquet_atomic, write_text_atomic
from consistency.interop.inspect_environment import TESTED_INSPECT, environment, mapping_record

RESPONSE_COLUMNS = [
    "cell_id", "item_id", "family", "pair", "pair_kind", "overseer_prefers", "arm", "variant",
    "epoch", "status", "error_kind", "error_message", "text", "model_reported", "input_tokens",
    "output_tokens", "source_log", "matched",
]
#: How Inspect score values become metric values (the reader applies Inspect's value_to_float).
SCORE_MAPPING = ("Inspect's value_to_float(): C -> 1.0, I -> 0.0, P -> 0.5, N -> 0.0, "
                 "yes/true -> 1.0, no/false -> 0.0, numbers as they are; a dict value gives one "
                 "metric per key (score_NAME_KEY); lists and unconvertible strings are missing")
UNMATCHED_LISTED = 100


def metric_roles(samples: pd.DataFrame, mapping: ImportMapping,
                 logs: Sequence[Mapping[str, Any]] = (),
                 actions: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{score_*: role}`` for the imported metrics (all, or those of ``--scorer``), then the
    action metrics of ``--metrics`` (``actions``: name -> role); ``logs`` (the reader's log
    records) name the files in an error."""
    actions = dict(actions or {})
    found = [c for c in samples.columns if c.startswith("score_")]
    if mapping.scorers:
        chosen = [c for c in found for name in mapping.scorers
                  if c == f"score_{name}" or c.startswith(f"score_{name}_")]
        missing = [n for n in mapping.scorers
                   if not any(c == f"score_{n}" or c.startswith(f"score_{n}_") for c in found)]
        if missing:
            raise InputError(f"no scorer named {', '.join(map(repr, missing))} in the logs; "
                             f"scorers there: {_names(found)}", where="--scorer")
        found = list(dict.fromkeys(chosen))
    if not found and not actions:
        raise InputError(no_scores_message(samples), where=logs_named(logs))
    unknown = [m for m in mapping.roles if m != "*" and m not in found]
    if unknown:
        raise InputError(f"--role names {', '.join(unknown)}, which is not imported; metrics: "
                         f"{', '.join(found)}", where="--role")
    default = mapping.roles.get("*", "accuracy")
    return {metric: mapping.roles.get(metric, default) for metric in found} | actions


def no_scores_message(samples: pd.DataFrame) -> str:
    """Why a set of logs has no score to compare: its samples errored (or ended at a limit) and
    so were never scored, or they ran and nobody scored them."""
    errors = samples["error"].notna() if "error" in samples else pd.Series(False, samples.index)
    limits = samples["limit"].notna() if "limit" in samples else pd.Series(False, samples.index)
    failed = errors | limits
    total, n_failed = len(samples), int(failed.sum())
    counts = f"{int(errors.sum())} errored, {int((limits & ~errors).sum())} ended at a limit"
    if n_failed == total:
        first = samples.loc[errors, "error"].iloc[0] if errors.any() else \
            f"limit {samples.loc[limits, 'limit'].iloc[0]}"
        return (f"every sample in the logs failed ({total}: {counts}; the first: "
                f"{_quote(first)}), so none was scored and there is nothing to compare. Fix the "
                "cause in Inspect (model, key, limits), run the tasks again and import the new "
                "logs")
    if n_failed:
        return (f"the logs hold no scores: {total - n_failed} of their {total} samples ran but "
                f"were never scored ({counts}); score them in Inspect first (inspect score LOG)")
    return "the logs hold no scores: score the samples in Inspect first (inspect score LOG)"


def logs_named(logs: Sequence[Mapping[str, Any]], shown: int = 3) -> str:
    """The log files an error is about, as the reader found them (the first few)."""
    paths = [escaping.plain(log.get("path", "")) for log in logs if log.get("path")]
    if not paths:
        return "import-inspect"
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def _quote(value: Any, limit: int = 160) -> str:
    text = escaping.plain(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "\u2026")


def build_frames(samples: pd.DataFrame, logs: Sequence[Mapping[str, Any]], keys: Sequence[str],
                 mapping: ImportMapping, actions: Any = None
                 ) -> tuple[pd.DataFrame, dict[str, str], dict[str, Any]]:
    """(responses with metric columns, metric roles, notes) from the reader's samples;
    ``actions``: the ``--metrics`` file as loaded by
    :func:`consistency.interop.inspect_actions.load_metrics`, scored on each sample's trace."""
    if samples.empty:
        raise InputError("the logs hold no samples", where="logs")
    action_roles: dict[str, str] = {}
    if actions is not None:
        from consistency.interop.inspect_actions import action_columns

        samples, action_roles = action_columns(samples, actions)
    roles = metric_roles(samples, mapping, logs, action_roles)
    frame, notes = rules.assign(samples, logs, mapping, keys)
    frame = rules.match_items(rules.outcomes(frame, list(roles)))
    frame["cell_id"] = (frame["item_id"] + "|" + frame["pair"] + "|" + frame["arm"] + "|v"
                        + frame["variant"].astype(str) + "|e" + frame["epoch"].astype(str))
    frame["text"] = frame["text"].fillna("").astype(str)
    order = ["family", "pair", "item_id", "arm", "variant", "epoch"]
    frame = frame.sort_values(order, kind="stable").reset_index(drop=True)
    return frame[RESPONSE_COLUMNS + list(roles)], roles, notes


def counts(frame: pd.DataFrame) -> dict[str, Any]:
    """Response counts in the shape of :func:`consistency.publish.report.response_counts`, plus the
    unmatched samples (kept out of the analysis)."""
    failed = frame[frame["status"] == "error"]
    return {"expected": int(len(frame)), "completed": int((frame["status"] != "error").sum()),
            "failed": int(len(failed)), "empty": 0,
            "failed_by_kind": {str(k): int(v)
                               for k, v in failed["error_kind"].value_counts().items()},
            "unmatched": int((~frame["matched"]).sum())}


def import_section(logs: Sequence[Mapping[str, Any]], frame: pd.DataFrame,
                   roles: Mapping[str, str], mapping: ImportMapping, notes: Mapping[str, Any],
                   extra: Mapping[str, Any]) -> dict[str, Any]:

    unmatched = rules.unmatched_list(frame)
    per_log = frame.groupby("source_log")["arm"].agg(lambda a: sorted(set(a))).to_dict()
    return {
        "source": "inspect_ai",
        "logs": [{"path": log["path"], "task": log.get("task"), "model": log.get("model"),
                  "inspect_version": log.get("inspect_version"), "status": log.get("status"),
                  "eval_id": log.get("eval_id"), "created": log.get("created"),
                  "task_args": log.get("task_args"), "arms": per_log.get(log["path"], [])}
                 for log in logs],
        "inspect_versions": sorted({str(log.get("inspect_version")) for log in logs}),
        "tasks": sorted({str(log.get("task")) for log in logs}),
        "models": {arm: sorted(frame[frame["arm"] == arm]["model_reported"].unique().tolist())
                   for arm in rules.ARMS},
        "reader_inspect_version": extra.get("reader_inspect_version"),
        "tested_inspect_versions": list(TESTED_INSPECT),
        "mapping": mapping_record(mapping) | {"metrics": dict(roles),
                                              "score_values": SCORE_MAPPING},
        "options": extra.get("options", {}),
        "matched_items": int(frame[frame["matched"]].groupby(["family", "pair"])["item_id"]
                             .nunique().sum()),
        "samples_with_other_arm_value": int(notes.get("other_arm_value", 0)),
        "unmatched": {"count": len(unmatched), "listed": unmatched[:UNMATCHED_LISTED],
                      "file": "unmatched.csv" if unmatched else None},
    }


def model_name(frame: pd.DataFrame) -> str:
    models = {arm: sorted(frame[frame["arm"] == arm]["model_reported"].unique())
              for arm in rules.ARMS}
    if models["observed"] == models["unobserved"]:
        return ", ".join(models["observed"])
    return (f"{', '.join(models['observed'])} (observed) vs "
            f"{', '.join(models['unobserved'])} (unobserved)")


def write_run(out: Path, logs: list[dict], samples: pd.DataFrame, keys: Sequence[str],
              mapping: ImportMapping, settings: AnalysisSettings, extra: Mapping[str, Any],
              quiet: bool = False, actions: Any = None) -> None:
    """Map, analyse and write every file of the run folder ``out`` (``actions``: see
    :func:`build_frames`)."""
    from consistency.analyse.battery import analyse
    from consistency.publish.report import build_summary, print_table, write_outputs

    frame, roles, notes = build_frames(samples, logs, keys, mapping, actions)
    scores = frame[frame["matched"]].reset_index(drop=True)
    tests = analyse(scores, settings, extra_metrics=roles)
    section = import_section(logs, frame, roles, mapping, notes, extra)
    summary = build_summary(out.name, model_name(frame), counts(frame), tests,
                            extra={"import": section, "design": _describe(frame, section)})
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.yaml", yaml.safe_dump(
        {"import_inspect": extra.get("options", {}), "analysis": _settings_dict(settings)},
        sort_keys=False))
    write_parquet_atomic(frame, out / "responses.parquet")
    write_parquet_atomic(scores, out / "scores.parquet")
    if section["unmatched"]["count"]:
        frame[~frame["matched"]][["family", "pair", "item_id", "epoch", "arm", "source_log"]] \
            .to_csv(out / "unmatched.csv", index=False)
    context = {"design": _describe(frame, section), "alpha": settings.alpha,
               "margin": settings.equivalence_margin}
    write_outputs(out, summary, tests, context)
    with (out / "report.md").open("a", encoding="utf-8") as report:
        report.write("\n".join(_report_section(section)) + "\n")
    (out / "environment.json").write_text(
        json.dumps(environment(str(extra.get("inspect_python", "")), logs), indent=2) + "\n")
    if not quiet:
        print_table(tests)
    from consistency.publish.published import run_story
    from consistency.common.sanitise import for_terminal

    print(for_terminal(run_story(summary).line()))  # one line, even with --quiet


def _describe(frame: pd.DataFrame, section: Mapping[str, Any]) -> str:
    from consistency.publish.published import count_text

    families = frame.groupby("family")["item_id"].nunique().to_dict()
    return (f"imported from {len(section['logs'])} Inspect log(s) (tasks "
            f"{', '.join(section['tasks'])}); {count_text(families, 'item')}, "
            f"{section['matched_items']} matched across arms, "
            f"{section['unmatched']['count']} sample(s) unmatched")


def _report_section(section: Mapping[str, Any]) -> list[str]:
    lines = ["## Imported from Inspect AI", "",
             f"- read with inspect_ai {escape(section['reader_inspect_version'])}; "
             f"metric values: {SCORE_MAPPING}",
             "- metrics and roles: " + ", ".join(f"`{escape(m)}` ({escape(r)})" for m, r in
                                                section["mapping"]["metrics"].items()),
             f"- unmatched samples (no counterpart with the same sample id and epoch in the "
             f"other arm; not analysed): {section['unmatched']['count']}", "",
             "| log | task | model | Inspect | status | arms |", "|---|---|---|---|---|---|"]
    for log in section["logs"]:
        lines.append(f"| {escape(log['path'])} | {escape(log['task'])} | {escape(log['model'])} "
                     f"| {escape(log['inspect_version'])} | {escape(log['status'])} | "
                     f"{escape(', '.join(log['arms']))} |")
    return lines + [""]


def escape(value: Any) -> str:
    """Text from a log made safe for a Markdown table cell: no control characters, no cell
    breaks, no HTML."""
    text = rules.printable(str(value))
    for raw, safe in (("\\", "\\\\"), ("&", "&amp;"), ("|", "\\|"), ("`", "\\`"), ("<", "&lt;"),
                      (">", "&gt;")):
        text = text.replace(raw, safe)
    return text


def _settings_dict(settings: AnalysisSettings) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(settings)


def _names(found: Sequence[str]) -> str:
    return ", ".join(c[len("score_"):] for c in found) or "none"

