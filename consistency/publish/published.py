"""Publish stage: the one row shape every output reads, so that no two outputs can disagree.

The terminal table, ``report.md``, ``consistency report`` (Markdown, LaTeX, HTML, CSV), the
forest plot and ``report --history`` all print a test row through :func:`rows`, and a run's
headline and manipulation check through :func:`run_story`. Nothing here computes a statistic:
it chooses which of the analysis' numbers a reader is shown, and with which caveats.

Published rows (one per family x pair x metric of a run):

===============  =====  =====================================================================
column           dtype  meaning
===============  =====  =====================================================================
family, pair     str    item family, framing pair
pair_kind        str    ``test``, ``placebo`` or ``planted``
metric           str    ``correct``, ``refused``, ...
n_items          int    items with a scored response in both arms
rate_observed    float  observed arm's rate; ``rate_unobserved`` the other arm's
difference       float  observed minus unobserved (the effect)
interval_low     float  the interval the verdict rests on (``tests.csv`` ``interval_low``);
interval_high    float  ``-1``/``1`` is the open end of a one-sided bound
interval_kind    str    ``one-sided 95%``, ``two-sided 95%``, ``RMS item effect, two-sided
                        95%`` or ``equivalence 90% (TOST)``
p, q             float  p and q of the test behind the verdict
verdict          str    the verdict (``sandbagging`` ... ``inconclusive``)
shown_verdict    str    what a reader is shown: the verdict, or ``cannot move`` for a
                        consistent or inconclusive row whose arms both sit at 0 or both at 1
caveats          str    ``; ``-separated: ``cue not perceived`` / ``cue perception undetermined`` (the
                        manipulation check), ``both arms at 0%`` (or 100%: shown as ``cannot move``), a
                        planted control's ``detected``/``missed``, ``run verdict X`` when
                        a cross-run report's verdict differs from the run's own, and
                        ``confound: ...`` on every row of a family and pair whose arms differ
                        on ``text_channel`` or ``cue_exposed`` (:data:`CONFOUND_METRICS`)
===============  =====  =====================================================================

Frames written before ``interval_*`` existed publish the row's own test interval
(``ci_low``/``ci_high``), with the kind its alternative implies.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from consistency.common.escaping import plain

CANNOT_MOVE = "cannot move"
COLUMNS = ["family", "pair", "pair_kind", "metric", "n_items", "rate_observed",
           "rate_unobserved", "difference", "interval_low", "interval_high", "interval_kind",
           "p", "q", "verdict", "shown_verdict", "caveats"]
#: Verdict markers of the compact tables and their key.
MARKERS = {"sandbagging": "S", "strategic_compliance": "C", "divergence": "D",
           "consistent": "=", "inconclusive": "?", CANNOT_MOVE: "x"}
_EPS = 1e-12


# ------------------------------------------------------------------ rows
def rows(tests: pd.DataFrame, verdict: str = "verdict", p: str | None = None,
         q: str | None = None) -> pd.DataFrame:
    """The published rows of a tests frame (module table), index and extra columns kept.

    Args:
        tests: a run's tests frame, or a cross-run report's (then ``verdict="report_verdict"``,
            ``q="report_q_value"``).
        verdict: the column holding the verdict to publish.
        p, q: columns of the p and q behind the verdict; by default the divergence test's for
            a divergence verdict on a directional row, else the row's own.
    """
    out = tests.copy()
    if "interval_kind" not in out or "interval_low" not in out:
        out["interval_low"], out["interval_high"] = out["ci_low"], out["ci_high"]
        out["interval_kind"] = [_legacy_kind(a) for a in out.get("alternative", [])] \
            if "alternative" in out else "two-sided"
    kind = out["interval_kind"] = out["interval_kind"].astype(object)
    missing = kind.isna() | (kind.astype(str) == "")
    if missing.any():  # a row without a published interval keeps its own test's
        out.loc[missing, "interval_low"] = out.loc[missing, "ci_low"]
        out.loc[missing, "interval_high"] = out.loc[missing, "ci_high"]
        out.loc[missing, "interval_kind"] = [_legacy_kind(a) for a in
                                             out.loc[missing].get("alternative", "two-sided")]
    records = out.to_dict(orient="records")
    out["verdict"] = [str(r[verdict]) for r in records]
    ps, qs = zip(*(_p_q(r, p, q, verdict) for r in records)) if records else ((), ())
    out["p"], out["q"] = list(ps), list(qs)
    moves = [cannot_move(r) for r in records]
    out["shown_verdict"] = [CANNOT_MOVE if m and r[verdict] in ("consistent", "inconclusive")
                            else str(r[verdict]) for r, m in zip(records, moves)]
    confounded = confounds(records, verdict)
    out["caveats"] = ["; ".join([*caveats(r, m, verdict),
                                 *confounded.get((r.get("family"), r.get("pair")), [])])
                      for r, m in zip(records, moves)]
    return out


#: Episode metrics that describe how the arms met the tools and the cue, not what the agent did:
#: a difference between arms on one of them confounds every comparison of the same family and
#: pair (the arms were not posed the same situation through the same channel).
CONFOUND_METRICS = {"text_channel": "the arms used the text tool protocol at different rates",
                    "cue_exposed": "the cue reached the arms at different rates"}


def confounds(records: list[Mapping[str, Any]], verdict: str = "verdict"
              ) -> dict[tuple[Any, Any], list[str]]:
    """(family, pair) -> confound caveats: a ``text_channel`` or ``cue_exposed`` row whose
    verdict says the arms differ (any verdict but ``consistent`` and ``inconclusive``) marks
    every row of its family and pair, itself included."""
    out: dict[tuple[Any, Any], list[str]] = {}
    for record in records:
        text = CONFOUND_METRICS.get(str(record.get("metric")))
        if text and str(record.get(verdict)) not in ("consistent", "inconclusive", "nan", "None"):
            out.setdefault((record.get("family"), record.get("pair")), []).append(
                f"confound: {text} ({record.get('metric')} "
                f"{pp(record.get('difference'))})")
    return out


def _legacy_kind(alternative: Any) -> str:
    return "one-sided" if alternative in ("less", "greater") else "two-sided"


def _p_q(row: Mapping[str, Any], p: str | None, q: str | None,
         verdict: str) -> tuple[float, float]:
    if p or q:
        return _num(row.get(p or "p_value")), _num(row.get(q or "q_value"))
    if row[verdict] == "divergence" and not missing(row.get("p_divergence")):
        q_div = row.get("report_q_divergence", row.get("q_divergence"))
        return _num(row.get("report_p_divergence", row["p_divergence"])), _num(q_div)
    return _num(row.get("p_value")), _num(row.get("report_q_value", row.get("q_value")))


def cannot_move(row: Mapping[str, Any]) -> str:
    """``"0%"`` or ``"100%"`` when both arms sit at that rate (the metric had no room to move
    either way, so equality there is no finding), else ``""``."""
    a, b = _num(row.get("rate_observed")), _num(row.get("rate_unobserved"))
    if math.isnan(a) or math.isnan(b):
        return ""
    if a <= _EPS and b <= _EPS:
        return "0%"
    if a >= 1 - _EPS and b >= 1 - _EPS:
        return "100%"
    return ""


def caveats(row: Mapping[str, Any], moves: str = "", verdict: str = "verdict") -> list[str]:
    """What a reader must know beside the row's verdict (module table, ``caveats``)."""
    out = []
    note = row.get("note")
    if isinstance(note, str) and note:
        out.append(plain(note))
    if moves:
        out.append(f"both arms at {moves}")
    control = row.get("control")
    if isinstance(control, str) and control:
        out.append(f"planted control {plain(control)}")
    own = row.get("verdict")
    if verdict != "verdict" and isinstance(own, str) and own != row.get(verdict):
        out.append(f"run verdict {own}")
    return out


# ------------------------------------------------------------------ text
def pp(value: Any, unit: str = "pp") -> str:
    """A signed effect in percentage points (``+3.0pp``), ``-`` when missing."""
    return "-" if missing(value) else f"{100 * float(value):+.1f}{unit}"


def pct(value: Any) -> str:
    return "-" if missing(value) else f"{100 * float(value):.1f}%"


def pnum(value: Any) -> str:
    """A p or q value in three significant digits (scientific below 0.001)."""
    if missing(value):
        return "-"
    value = float(value)
    return f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"


def bounds(row: Mapping[str, Any], le: str = "<=", ge: str = ">=", unit: str = "pp") -> str:
    """The published interval's bounds: ``[-8.0pp, +8.0pp]``, ``[<= +6.3pp]``,
    ``[RMS 1.0pp, 5.0pp]``; ``[-]`` when it has none."""
    low, high = row.get("interval_low"), row.get("interval_high")
    kind = str(row.get("interval_kind") or "")
    if missing(low) or missing(high):
        return "[-]"
    if kind.startswith("RMS"):
        return f"[RMS {100 * float(low):.1f}{unit}, {100 * float(high):.1f}{unit}]"
    if kind.startswith("one-sided") and float(low) <= -1.0:
        return f"[{le} {pp(high, unit)}]"
    if kind.startswith("one-sided") and float(high) >= 1.0:
        return f"[{ge} {pp(low, unit)}]"
    return f"[{pp(low, unit)}, {pp(high, unit)}]"


def kind_text(row: Mapping[str, Any]) -> str:
    """The interval's kind, short: ``one-sided 95%``, ``two-sided 95%``, ``RMS 95%``,
    ``TOST 90%``."""
    kind = str(row.get("interval_kind") or "")
    if kind.startswith("equivalence"):  # "equivalence 90% (TOST)"
        return f"TOST {kind.split()[1]}" if len(kind.split()) > 1 else "TOST"
    if kind.startswith("RMS"):
        return "RMS " + kind.split()[-1]
    return kind


def interval(row: Mapping[str, Any], le: str = "<=", ge: str = ">=") -> str:
    """Bounds and kind: ``[-8.0pp, +8.0pp] TOST 90%``."""
    text = bounds(row, le, ge)
    kind = kind_text(row)
    return f"{text} {kind}" if kind and text != "[-]" else text


def verdict_text(row: Mapping[str, Any]) -> str:
    """The shown verdict with its caveats in brackets."""
    extra = row.get("caveats")
    shown = row.get("shown_verdict") or row.get("verdict")
    return f"{shown} ({extra})" if isinstance(extra, str) and extra else str(shown)


def marker(row: Mapping[str, Any]) -> str:
    return MARKERS.get(str(row.get("shown_verdict") or row.get("verdict")), "?")


# ------------------------------------------------------------------ headline and check
@dataclass(frozen=True)
class Story:
    """A run's headline and manipulation-check result, as plain one-line sentences."""

    answer: str          # flagged / not flagged / untested / "" (no headline recorded)
    headline: str        # "not flagged: none of 12 test rows flagged at alpha 0.05"
    check: str           # "manipulation check: cue not perceived on eval_vs_deploy (...)"
    check_status: str    # perceived / not perceived / undetermined / not run

    def line(self) -> str:
        """Both, in one line (the terminal, a log)."""
        return f"headline: {self.headline}; {self.check}"


def run_story(summary: Mapping[str, Any]) -> Story:
    """The headline and manipulation check of a run's ``summary.json`` (a dict; any shape:
    keys that are missing or malformed read as "not recorded")."""
    headline = summary.get("headline") if isinstance(summary, Mapping) else None
    answer, text = _headline_text(headline if isinstance(headline, Mapping) else None)
    status, check = _check_text(summary if isinstance(summary, Mapping) else {})
    return Story(answer, text, check, status)


def read_story(folder: Path) -> Story:
    """:func:`run_story` of a run folder's ``summary.json`` (unreadable: not recorded)."""
    try:
        summary = json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {}
    return run_story(summary if isinstance(summary, dict) else {})


def _headline_text(headline: Mapping[str, Any] | None) -> tuple[str, str]:
    if headline is None:
        return "", "not recorded (a run written before run-level headlines)"
    answer = plain(headline.get("answer", ""))
    alpha = headline.get("alpha")
    at = f" at alpha {float(alpha):g}" if isinstance(alpha, (int, float)) else ""
    if answer == "flagged":
        flags = [f for f in headline.get("flags") or [] if isinstance(f, Mapping)]
        named = ", ".join(plain(f"{f.get('verdict')} on {f.get('pair')} / {f.get('metric')}")
                          for f in flags)
        return answer, f"flagged{at}: {named or 'see the rows'}"
    if answer == "not flagged":
        return answer, f"not flagged: none of {headline.get('rows', '?')} test rows flagged{at}"
    if answer == "untested":
        return answer, "untested: no test row could be tested"
    return answer, f"{answer or 'not recorded'}"


def _check_text(summary: Mapping[str, Any]) -> tuple[str, str]:
    section = summary.get("manipulation_check")
    if not isinstance(section, Mapping) or not section.get("enabled"):
        return "not run", ("manipulation check: not run, so a null result cannot be told from a "
                           "cue the model did not notice")
    pairs = [p for p in summary.get("pairs") or [] if isinstance(p, Mapping)
             and p.get("pair_kind") in ("test", "planted")]
    tested = [p for p in pairs if p.get("pair_kind") == "test"]
    failed = [p for p in tested if _perception(p) == "not perceived"]
    unknown = [p for p in tested if _perception(p) == "undetermined"]
    if failed:
        detail = ", ".join(f"{plain(p.get('pair'))} (EVALUATION {pct(p.get('rate_observed'))} "
                           f"observed vs {pct(p.get('rate_unobserved'))} unobserved, shown "
                           f"below the {pct(p.get('margin'))} margin)" for p in failed)
        return "not perceived", (f"manipulation check: cue not perceived on {detail}; a null "
                                 "result on these pairs says little about the model")
    if unknown or not tested:
        names = ", ".join(_undetermined(p) for p in unknown) or "every test pair"
        return "undetermined", (f"manipulation check: undetermined on {names}: the check "
                                "neither showed the cue perceived nor showed its gap below the "
                                "margin, so a null result says little about the model")
    return "perceived", f"manipulation check: cue perceived on all {len(tested)} test pair" \
        f"{'' if len(tested) == 1 else 's'}"


def _tested(pair: Mapping[str, Any]) -> bool:
    return not missing(pair.get("p_value")) and bool(pair.get("n_items"))


def _perception(pair: Mapping[str, Any]) -> str:
    """``perceived``, ``not perceived`` or ``undetermined`` for one pair of ``summary.json``:
    its ``perception`` field, or for runs written before it, read from ``cue_perceived``."""
    stated = pair.get("perception")
    if stated in ("perceived", "not perceived", "undetermined"):
        return str(stated)
    if not _tested(pair) or pair.get("cue_perceived") is None:
        return "undetermined"
    return "perceived" if pair.get("cue_perceived") else "not perceived"


def _undetermined(pair: Mapping[str, Any]) -> str:
    name = plain(pair.get("pair"))
    needed = pair.get("items_needed")
    if not _tested(pair):
        return f"{name} (no parsed answers in both arms)"
    if missing(needed):
        return name
    return f"{name} (about {int(float(needed))} check items would settle it)"


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters (long words broken)."""
    return textwrap.wrap(text, width=max(8, width), break_on_hyphens=False) or [""]


def missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def plural(n: Any, noun: str) -> str:
    """``1 pair``, ``3 pairs``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def count_text(counts: Mapping[str, Any], noun: str) -> str:
    """``{"capability": 40, "harmful": 1}`` -> ``41 items (40 capability, 1 harmful)``."""
    total = sum(int(v) for v in counts.values())
    parts = ", ".join(f"{int(v)} {plain(k)}" for k, v in counts.items())
    return plural(total, noun) + (f" ({parts})" if len(counts) > 1 else
                                  f" ({parts})" if counts else "")
