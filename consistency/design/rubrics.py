"""Rubrics on suite lines (design stage): the schema a rubric judge reads, checked at load time.

A task line (a one-shot item or a scenario) may carry ``rubrics``: metric name -> rubric object.
Each rubric becomes a 0/1 metric ``rubric_<name>`` (1 when the judge's answer is the
``behaviour`` answer), analysed beside the item's other metrics with ``direction`` as its role.
A suite-level rubric is the same object repeated on each line.

============  ===============================================================================
key           meaning
============  ===============================================================================
rubric        free text shown to the judge (what to look for); required, non-empty
answers       the answers the judge may give: >= 2 distinct non-empty strings, e.g. ["I", "C"]
behaviour     the answer that means the behaviour occurred; one of ``answers``
direction     misbehaviour, capability or two_sided (the metric's role in the analysis)
source        attribution of the rubric text (who wrote it, under which licence); required
agrees_with   optional: a metric of the same item to report agreement with (kappa)
============  ===============================================================================

Every problem names the file, line, item and key and exits 2 before any request is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from consistency.common.errors import InputError

DIRECTIONS = ("misbehaviour", "capability", "two_sided")
RUBRIC_KEYS = ("rubric", "answers", "behaviour", "direction", "source", "agrees_with")
#: The prefix of the metric column each rubric writes.
PREFIX = "rubric_"
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MAX_ANSWER = 40


@dataclass(frozen=True)
class Rubric:
    """One validated rubric (see the module docstring); ``metric`` is the column it writes."""

    name: str
    rubric: str
    answers: tuple[str, ...]
    behaviour: str
    direction: str
    source: str
    agrees_with: str = ""

    @property
    def metric(self) -> str:
        return PREFIX + self.name


def parse_rubrics(raw: Mapping[str, Any], item_id: str, where: str) -> dict[str, Rubric]:
    """The validated ``rubrics`` of one suite line (empty when the line has none).

    Raises:
        InputError: naming ``where`` (file:line), the item, the rubric and the key.
    """
    if "rubrics" not in raw:
        return {}
    rubrics = raw["rubrics"]
    if not isinstance(rubrics, dict) or not rubrics:
        _fail(item_id, where, "has 'rubrics' that is not a non-empty object; expected "
              "{\"<metric>\": {\"rubric\": ..., \"answers\": [...], \"behaviour\": ..., "
              "\"direction\": ..., \"source\": ...}}")
    return {name: _parse_one(name, body, item_id, where) for name, body in rubrics.items()}


def _parse_one(name: Any, body: Any, item_id: str, where: str) -> Rubric:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        _fail(item_id, where, f"has rubric name {ascii(name)[:60]}; rubric names are snake_case "
              "(letters, digits, underscores, starting with a letter)")
    who = f"rubric '{name}'"
    if not isinstance(body, dict):
        _fail(item_id, where, f"{who} is not an object; expected keys {list(RUBRIC_KEYS)}")
    unknown = sorted(set(body) - set(RUBRIC_KEYS))
    if unknown:
        _fail(item_id, where, f"{who} has unknown key(s) {[ascii(k)[:40] for k in unknown]}; a "
              f"rubric takes {list(RUBRIC_KEYS)}")
    for key in ("rubric", "source"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            _fail(item_id, where, f"{who} needs '{key}': non-empty text")
    answers = body.get("answers")
    if (not isinstance(answers, list) or len(answers) < 2
            or not all(isinstance(a, str) and a.strip() and len(a) <= _MAX_ANSWER
                       and a.isprintable() for a in answers)
            or len(set(answers)) != len(answers)):
        _fail(item_id, where, f"{who} needs 'answers': at least two distinct, short, printable, "
              "non-empty strings such as [\"I\", \"C\"]")
    behaviour = body.get("behaviour")
    if behaviour not in answers:
        _fail(item_id, where, f"{who} has 'behaviour' {ascii(behaviour)[:40]}; it must be one of "
              f"its answers {answers} (the answer that means the behaviour occurred)")
    direction = body.get("direction")
    if direction not in DIRECTIONS:
        _fail(item_id, where, f"{who} has 'direction' {ascii(direction)[:40]}; expected one of "
              f"{list(DIRECTIONS)}")
    agrees = body.get("agrees_with", "")
    if not isinstance(agrees, str) or (agrees and not _NAME.fullmatch(agrees)):
        _fail(item_id, where, f"{who} has 'agrees_with' {ascii(agrees)[:40]}; expected the "
              "snake_case name of another metric of the item")
    return Rubric(name, body["rubric"], tuple(answers), behaviour, direction, body["source"],
                  agrees)


def _fail(item_id: str, where: str, message: str) -> None:
    raise InputError(f"item '{item_id}' {message}", where=where)
