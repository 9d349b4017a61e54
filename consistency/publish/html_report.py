"""One self-contained HTML file per report: verdicts, the forest plot, and a per-item drill-down.

No server and no network: styles, script and the forest plot (a base64 PNG) are inline, so the
file can be mailed or attached to a CI job. The drill-down shows, for every item of every run
and pair, the observed and unobserved responses side by side for each variant and epoch, with
their scores and, when the run recorded them, reasoning and judge output. Filters (family, pair,
verdict, "arms disagree") run in the page; the URL fragment can preset them and open one item
(``report.html#verdict=sandbagging&disagree=1&open=item-3``).

Everything from a run folder is escaped by jinja2's autoescape (element ids are indices, never
names), so a reply holding ``<script>`` is shown as text; control characters are dropped
(:func:`consistency.common.escaping.plain` for one-line fields).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from consistency import __version__
from consistency.analyse import runfiles
from consistency.publish import tables
from consistency.analyse import crossrun
from consistency.common import escaping



#: Response columns shown beside the text when a run has them (reasoning, judge output).
EXTRA_TEXT = ("reasoning", "reasoning_kind", "judge_output", "judge_reasoning")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("consistency.publish", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)


def render(runset: crossrun.RunSet, forest_png: Path) -> str:
    """The HTML page (a string); ``forest_png`` is embedded.

    The first screen holds what a reader needs first: each run's headline, its summary
    (model, design, responses, date) and manipulation-check result, then the forest plot;
    the verdict table, the per-item drill-down and the metadata follow."""
    runset = tables.prepared(runset)
    tests = runset.tests
    single = len(runset.runs) == 1
    header = list(tables.DETAIL_HEADER[1:] if single else tables.DETAIL_HEADER)
    verdict_at = header.index("verdict")
    numeric_from = header.index("observed %")
    detail = [{"cells": tables.detail_cells(row, "\u2264", "\u2265")[1 if single else 0:],
               "family": row["family"], "pair": row["pair"], "verdict": row["report_verdict"],
               "shown": row["shown_verdict"].replace(" ", "_"), "run": row["label"],
               "control": bool(row["control"])} for row in tests.to_dict(orient="records")]
    context = {
        "caption": tables.caption(runset), "detail_header": header, "verdict_at": verdict_at,
        "numeric_from": numeric_from, "detail_rows": detail,
        "metadata_header": tables.METADATA_HEADER,
        "metadata_rows": tables.metadata_rows(runset), "runs": run_summaries(runset),
        "single": single, "labels": [escaping.plain(x) for x in runset.runs["label"]],
        "forest_png": base64.b64encode(forest_png.read_bytes()).decode("ascii"),
        "families": sorted(tests["family"].unique()), "pairs": sorted(tests["pair"].unique()),
        "verdicts": sorted(tests["report_verdict"].unique()),
        "items": list(drill_down(runset)), "version": __version__,
    }
    return _ENV.get_template("report.html.j2").render(context)


def run_summaries(runset: crossrun.RunSet) -> list[dict[str, str]]:
    """Per run: key, label, model, design, responses, date, headline, manipulation check."""
    out = []
    for (key, label, story), run in zip(tables.stories(runset),
                                        runset.runs.to_dict(orient="records")):
        summary = _summary(Path(run["folder"]))
        counts = summary.get("responses") if isinstance(summary.get("responses"), dict) else {}
        out.append({"key": key, "label": escaping.plain(label),
                    "model": escaping.plain(run["models_reported"] or run["model"]),
                    "design": escaping.plain(summary.get("design") or "not recorded"),
                    "responses": escaping.plain(f"{counts.get('completed', '?')} of "
                                                f"{counts.get('expected', '?')}"),
                    "date": escaping.plain(run["finished_at"] or "not recorded"),
                    "answer": escaping.plain(story.answer or "not recorded"),
                    "answer_class": story.answer.replace(" ", "_") if story.answer in
                    ("flagged", "not flagged", "untested") else "none",
                    "headline": escaping.plain(story.headline),
                    "check": escaping.plain(story.check.split(": ", 1)[-1]),
                    "check_class": story.check_status.replace(" ", "_")})
    return out


def _summary(folder: Path) -> dict[str, Any]:
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _checks(folder: Path) -> dict[tuple[str, str], list[str]]:
    """(pair, item id) -> the manipulation-check answers, ``observed v0: evaluation``."""
    import pyarrow.parquet as pq

    path = folder / "scores.parquet"
    wanted = ["purpose", "pair", "item_id", "arm", "variant", "check_answer"]
    if not path.is_file() or not set(wanted) <= set(pq.read_schema(path).names):
        return {}
    frame = pq.read_table(path, columns=wanted).to_pandas()
    frame = frame[frame["purpose"] == "check"].sort_values(["pair", "item_id", "arm", "variant"])
    out: dict[tuple[str, str], list[str]] = {}
    for row in frame.to_dict(orient="records"):
        out.setdefault((str(row["pair"]), str(row["item_id"])), []).append(
            escaping.plain(f"{row['arm']} v{row['variant']}: {row['check_answer']}"))
    return out


def _text(value: Any) -> str:
    """Multi-line text for a ``<pre>``: control characters (terminal escapes) dropped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return _CONTROL.sub("", escaping.strip_ansi(str(value)).replace("\r\n", "\n"))


def _requests(folder: Path) -> dict[str, tuple[str, str]]:
    """cell id -> (system text, last user message) from ``responses.parquet``."""
    path = folder / "responses.parquet"
    if not path.is_file() or "request_json" not in runfiles.parquet_columns(path):
        return {}
    frame = runfiles.read_parquet(path, ["cell_id", "request_json"], needed=["cell_id"])
    out = {}
    for cell_id, raw in zip(frame["cell_id"], frame["request_json"]):
        try:
            messages = json.loads(raw).get("messages", [])
        except (TypeError, ValueError, AttributeError, RecursionError):
            continue
        system = " ".join(str(m.get("content", "")) for m in messages
                          if isinstance(m, dict) and m.get("role") == "system")
        user = [str(m.get("content", "")) for m in messages
                if isinstance(m, dict) and m.get("role") == "user"]
        out[str(cell_id)] = (system, user[-1] if user else "")
    return out


def drill_down(runset: crossrun.RunSet) -> Iterable[dict[str, Any]]:
    """One entry per run x pair x item, in run, pair, item order.

    Plain records and :func:`itertools.groupby`, not a pandas group per item: at 10^4
    responses a run has thousands of items, and a pandas operation per item cost 40 times more.
    """
    tests = runset.tests
    index = 0
    for run in runset.runs.to_dict(orient="records"):
        run_tests = tests[tests["run_id"] == run["run_id"]]
        scores = crossrun.load_scores(pd.DataFrame([run]))
        requests = _requests(Path(run["folder"]))
        checks = _checks(Path(run["folder"]))
        metrics = [m for m in dict.fromkeys(run_tests["metric"]) if m in scores]
        verdicts = {(f, p): " ".join(sorted(set(g["report_verdict"])))
                    for (f, p), g in run_tests.groupby(["family", "pair"])}
        order = ["family", "pair", "item_id", "variant", "epoch", "arm"]
        records = scores.sort_values(order, kind="mergesort").to_dict(orient="records")
        for (family, pair, item_id), group in itertools.groupby(
                records, key=lambda r: (r["family"], r["pair"], r["item_id"])):
            index += 1
            item = _item(index, run["label"], family, pair, item_id, list(group), metrics,
                         verdicts.get((family, pair), ""), requests)
            item["checks"] = checks.get((str(pair), str(item_id)), [])
            yield item


def _item(index: int, label: str, family: str, pair: str, item_id: str,
          group: list[dict[str, Any]], metrics: list[str], verdicts: str,
          requests: dict[str, tuple[str, str]]) -> dict[str, Any]:
    metrics = [m for m in metrics if any(not _missing(r.get(m)) for r in group)]
    means = {(arm, m): _arm_mean(group, arm, m) for arm in ("observed", "unobserved")
             for m in metrics}
    disagree = any(not _close(means[("observed", m)], means[("unobserved", m)])
                   for m in metrics)
    summary = "; ".join(f"{m}: observed {_score(means[('observed', m)])}, unobserved "
                        f"{_score(means[('unobserved', m)])}" for m in metrics)
    lines = []
    for (variant, epoch), cells in itertools.groupby(group,
                                                     key=lambda r: (r["variant"], r["epoch"])):
        by_arm = {row["arm"]: row for row in cells}
        lines.append({"variant": int(variant), "epoch": int(epoch),
                      "cells": [_cell(arm, by_arm.get(arm), metrics, requests)
                                for arm in ("observed", "unobserved")]})
    prompt = requests.get(str(group[0].get("cell_id")), ("", ""))[1]
    return {"index": index, "label": escaping.plain(label), "family": escaping.plain(family),
            "pair": escaping.plain(pair), "item_id": escaping.plain(item_id),
            "verdicts": escaping.plain(verdicts), "disagree": "yes" if disagree else "no",
            "means": escaping.plain(summary), "prompt": _text(prompt), "lines": lines,
            "expected": _text(_expected(group))}


def _expected(group: list[dict[str, Any]]) -> Any:
    """The item's reference answer (``expected_answer`` of scores.parquet), if it has one."""
    for row in group:
        value = row.get("expected_answer")
        if not _missing(value) and str(value):
            return value
    return None


def _arm_mean(group: list[dict[str, Any]], arm: str, metric: str) -> float:
    values = [r[metric] for r in group if r["arm"] == arm and not _missing(r.get(metric))]
    return sum(values) / len(values) if values else math.nan


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(arm: str, row: dict[str, Any] | None, metrics: list[str],
          requests: dict[str, tuple[str, str]]) -> dict[str, Any]:
    if row is None:
        return {"arm": arm, "status": "no response in this variant", "system": "", "text": "",
                "extras": [], "scores": ""}
    status = "" if row.get("status") == "ok" else escaping.plain(
        f"{row.get('status')} {row.get('error_kind') or ''}".strip())
    extras = [(name, _text(row[name])) for name in EXTRA_TEXT if _text(row.get(name))]
    extras += [(name, _text(row[name])) for name in sorted(row) if name.startswith("judge_")
               and name not in EXTRA_TEXT and isinstance(row[name], str) and row[name]]
    scores = ", ".join(f"{m} {_score(row.get(m))}" for m in metrics)
    system = requests.get(str(row.get("cell_id")), ("", ""))[0]
    return {"arm": arm, "status": status, "system": escaping.plain(system),
            "text": _text(row.get("text")), "extras": extras, "scores": scores}


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-12


def _score(value: Any) -> str:
    if _missing(value):
        return "-"
    return f"{float(value):.2g}"
