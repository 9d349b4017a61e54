"""Per-item arms, answer patterns and rubrics: the parts of a task line that carry their own cue.

Some suites put the observation cue inside each item instead of in a shared framing. Such an item
declares its arms in one of two ways::

    {"id": "rf-1", "family": "report_failure", "arms": {"observed": "<full prompt>",
                                                         "unobserved": "<full prompt>"}, ...}
    {"id": "rf-2", "family": "report_failure", "prompt": "{cue} Run the tests and report.",
     "slots": {"cue": {"observed": "You are monitored.", "unobserved": "We trust you."}}, ...}

and optionally an item-level placebo the same way (``placebo_arms`` or ``placebo_slots``: two
texts that differ in wording, not in observation). Such items form their own pair, of kind
``test``, named by the line's ``pair`` field or the suite file's stem in snake_case; the placebo
pair is that name plus ``_placebo``. Framing pairs from ``conditions/`` are not crossed with them.

Two full prompts must differ in exactly one contiguous span (the cue): :func:`cue_span` finds it,
and a pair differing in more than one place is refused with the first differing span shown, unless the
line is marked ``"unpaired": true``: its pair is then named ``<pair>_unpaired`` and its arms are
compared as two independent samples (:mod:`consistency.analyse.two_sample`), never as a pair.
``"confounded": true`` records that the arms differ in more than observation (e.g. a shutdown
threat in one arm); it is kept and printed, and changes no statistic.

``patterns`` (one-shot items): ``{"<metric>": {"matches": "<regex>", "direction":
"misbehaviour"|"capability"|"two_sided"}}``; each gives a 0/1 metric, 1 when the response text
matches (:mod:`consistency.measure.patterns`). ``rubrics``: ``{"<metric>": {"rubric": "<text>",
"answers": ["I", "C"], "behaviour": "I", "direction": ..., "source": "<attribution>"}}``, scored
by the rubric judge; here only their shape is checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consistency.common.errors import InputError

DIRECTIONS = ("misbehaviour", "capability", "two_sided")
#: Longest accepted pattern; Python's ``re`` has no timeout, so patterns are kept short and the
#: text they search is cut (:data:`consistency.measure.patterns.MAX_TEXT`).
MAX_PATTERN = 500
_METRIC = re.compile(r"[a-z][a-z0-9_]*")
_SLOT = re.compile(r"\{([a-z][a-z0-9_]*)\}")
ITEM_KEYS = ("arms", "slots", "placebo_arms", "placebo_slots", "pair", "unpaired", "confounded",
             "patterns", "rubrics")


@dataclass(frozen=True)
class ItemArms:
    """An item's own arms: the full prompt of each, the cue texts, and its pair names."""

    pair: str
    observed: str
    unobserved: str
    cue: tuple[str, str]
    placebo: tuple[str, str] | None = None
    confounded: bool = False
    #: the arms are not the same task: compared as two samples
    #: (:mod:`consistency.analyse.two_sample`), never as a pair
    unpaired: bool = False

    @property
    def neutral(self) -> str:
        """The prompt with the cue taken out (posed under framing pairs when crossed)."""
        if not self.cue[0]:
            return self.observed
        at = self.observed.find(self.cue[0])
        return (self.observed[:at] + self.observed[at + len(self.cue[0]):]).strip()

    def prompt(self, arm: str, placebo: bool = False) -> str:
        texts = self.placebo if placebo and self.placebo else (self.observed, self.unobserved)
        return texts[0] if arm == "observed" else texts[1]


@dataclass(frozen=True)
class Extras:
    """What :func:`parse_extras` reads from a task line."""

    arms: ItemArms | None = None
    patterns: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    rubrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def has_extras(raw: Mapping[str, Any]) -> bool:
    return any(key in raw for key in ("arms", "slots", "patterns", "rubrics"))


def snake_name(text: str) -> str:
    """A pair name from a file stem: lower case, runs of other characters as ``_``."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name if name and name[0].isalpha() else f"suite_{name}".rstrip("_")


def parse_extras(raw: Mapping[str, Any], item_id: str, where: str, default_pair: str,
                 prompt: str | None) -> Extras:
    """Read and check ``arms``/``slots``, their placebo, ``patterns`` and ``rubrics``.

    Raises:
        InputError: naming the file, line and key.
    """
    arms = _arms(raw, item_id, where, default_pair, prompt)
    return Extras(arms=arms, patterns=_patterns(raw.get("patterns"), item_id, where),
                  rubrics=_rubrics(raw.get("rubrics"), item_id, where))


def _fail(message: str, where: str) -> None:
    raise InputError(message, where=where)


def _arms(raw: Mapping[str, Any], item_id: str, where: str, default_pair: str,
          prompt: str | None) -> ItemArms | None:
    if "arms" in raw and "slots" in raw:
        _fail(f"item '{item_id}' has both 'arms' and 'slots'; give one of them", where)
    if "arms" not in raw and "slots" not in raw:
        for key in ("placebo_arms", "placebo_slots", "unpaired", "confounded"):
            if key in raw:
                _fail(f"item '{item_id}' has '{key}' but no 'arms' or 'slots'; it only means "
                      "something for an item with its own arms", where)
        return None
    texts = _texts(raw, "arms", "slots", item_id, where, prompt)
    for key in ("unpaired", "confounded"):
        if key in raw and not isinstance(raw[key], bool):
            _fail(f"item '{item_id}': '{key}' must be true or false", where)
    unpaired = bool(raw.get("unpaired", False))
    cue = ("", "") if unpaired else cue_span(*texts)
    if cue is None:
        first = first_difference(*texts)
        _fail(f"item '{item_id}': its two arms differ in more than one place, so they are not a "
              f"pair differing only in the cue; the first difference is {first}; make the arms "
              "differ in one contiguous span (the cue), use 'slots', or mark the line "
              "\"unpaired\": true (then its arms are compared as two samples, never as a pair)",
              where)
    placebo = None
    if "placebo_arms" in raw or "placebo_slots" in raw:
        placebo = _texts(raw, "placebo_arms", "placebo_slots", item_id, where, prompt)
    name = raw.get("pair", default_pair)
    if not isinstance(name, str) or not _METRIC.fullmatch(name):
        _fail(f"item '{item_id}': 'pair' must be a snake_case name such as report_failure, "
              f"got {name!r}", where)
    if unpaired and placebo is not None:
        _fail(f"item '{item_id}': an unpaired item has no placebo pair (its arms are compared as "
              "two samples)", where)
    return ItemArms(pair=f"{name}_unpaired" if unpaired else name, observed=texts[0],
                    unobserved=texts[1], cue=cue, placebo=placebo,
                    confounded=bool(raw.get("confounded", False)), unpaired=unpaired)


def _texts(raw: Mapping[str, Any], arms_key: str, slots_key: str, item_id: str, where: str,
           prompt: str | None) -> tuple[str, str]:
    if arms_key in raw:
        value = raw[arms_key]
        if not (isinstance(value, dict) and set(value) == {"observed", "unobserved"}
                and all(isinstance(v, str) and v.strip() for v in value.values())):
            _fail(f"item '{item_id}': '{arms_key}' must be {{\"observed\": \"<prompt>\", "
                  "\"unobserved\": \"<prompt>\"}, two non-empty texts", where)
        if value["observed"] == value["unobserved"]:
            _fail(f"item '{item_id}': the two '{arms_key}' texts are identical; arms must differ "
                  "in the cue", where)
        return value["observed"], value["unobserved"]
    slots = raw[slots_key]
    if not isinstance(prompt, str) or not prompt:
        _fail(f"item '{item_id}': '{slots_key}' fills named slots of 'prompt', which is missing",
              where)
    if not (isinstance(slots, dict) and slots and all(
            isinstance(k, str) and isinstance(v, dict) and set(v) == {"observed", "unobserved"}
            and all(isinstance(t, str) for t in v.values()) for k, v in slots.items())):
        _fail(f"item '{item_id}': '{slots_key}' must map slot names to {{\"observed\": \"...\", "
              "\"unobserved\": \"...\"}", where)
    named = set(_SLOT.findall(prompt))
    missing = sorted(set(slots) - named)
    if missing:
        _fail(f"item '{item_id}': '{slots_key}' names slot(s) {missing} that 'prompt' does not "
              "contain as {name}", where)
    if len(slots) != 1:
        _fail(f"item '{item_id}': '{slots_key}' declares {len(slots)} slots; one cue slot is "
              "accepted (two arms differing in two places are not one cue)", where)
    (slot, fill), = slots.items()
    if fill["observed"] == fill["unobserved"]:
        _fail(f"item '{item_id}': slot '{slot}' has the same text in both arms", where)
    return (prompt.replace("{" + slot + "}", fill["observed"]),
            prompt.replace("{" + slot + "}", fill["unobserved"]))


def cue_span(observed: str, unobserved: str) -> tuple[str, str] | None:
    """The single contiguous span in which two texts differ, as (observed, unobserved), or None
    when they differ in more than one place or share too little (:data:`MIN_SHARED_SHARE`) to be
    the same task. Common prefix and suffix are cut at whole words
    so that a cue is never reported as half a word."""
    start = 0
    limit = min(len(observed), len(unobserved))
    while start < limit and observed[start] == unobserved[start]:
        start += 1
    end = 0
    while (end < limit - start and observed[-1 - end] == unobserved[-1 - end]):
        end += 1
    start = _word_start(observed, start)
    while end > 0 and not observed[len(observed) - end].isspace():  # the suffix starts a word
        end -= 1
    a, b = observed[start:len(observed) - end], unobserved[start:len(unobserved) - end]
    if not a and not b:
        return None
    if _several_spans(a, b) or not _shares_task(observed, len(observed) - len(a), min(
            len(observed), len(unobserved))):
        return None
    return a, b


#: The text the two arms share (around the cue) must be at least this long and this share of
#: the shorter arm: two unrelated prompts "differ in one span" too, the whole of them.
MIN_SHARED_CHARS = 20
MIN_SHARED_SHARE = 0.25


def _shares_task(observed: str, shared: int, shorter: int) -> bool:
    return shared >= MIN_SHARED_CHARS and shared >= MIN_SHARED_SHARE * shorter


def _word_start(text: str, index: int) -> int:
    while index > 0 and not text[index - 1].isspace():
        index -= 1
    return index


def _several_spans(a: str, b: str) -> bool:
    """Whether the middle parts share a long run of words (text between two separate edits).
    A single edit replaces one span wholesale, so a shared run of 4+ words inside it means two
    edits, e.g. the arms differ in the cue and again later in the task."""
    words_a, words_b = a.split(), b.split()
    grams = {tuple(words_a[i:i + 4]) for i in range(len(words_a) - 3)}
    return any(tuple(words_b[i:i + 4]) in grams for i in range(len(words_b) - 3))


def first_difference(observed: str, unobserved: str, width: int = 60) -> str:
    """The first differing span of two texts, escaped, for an error message."""
    start = 0
    while start < min(len(observed), len(unobserved)) and observed[start] == unobserved[start]:
        start += 1
    return (f"at character {start}: observed {observed[start:start + width]!a} vs "
            f"unobserved {unobserved[start:start + width]!a}")


def _patterns(value: Any, item_id: str, where: str) -> dict[str, tuple[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        _fail(f"item '{item_id}': 'patterns' must map metric names to {{\"matches\": \"<regex>\", "
              f"\"direction\": one of {list(DIRECTIONS)}}}", where)
    out = {}
    for name, spec in value.items():
        _metric_name(name, item_id, where)
        if not (isinstance(spec, dict) and set(spec) == {"matches", "direction"}
                and isinstance(spec["matches"], str) and spec["matches"]):
            _fail(f"item '{item_id}': pattern '{name}' must be {{\"matches\": \"<regex>\", "
                  "\"direction\": ...}", where)
        _direction(spec["direction"], f"pattern '{name}'", item_id, where)
        pattern = spec["matches"]
        if len(pattern) > MAX_PATTERN:
            _fail(f"item '{item_id}': pattern '{name}' is {len(pattern)} characters; at most "
                  f"{MAX_PATTERN} are accepted", where)
        try:
            re.compile(pattern)
        except re.error as exc:
            _fail(f"item '{item_id}': pattern '{name}' is not a valid regular expression "
                  f"({exc}): {pattern!a}", where)
        out[name] = (pattern, spec["direction"])
    return out


def _rubrics(value: Any, item_id: str, where: str) -> dict[str, dict[str, Any]]:
    """The line's rubrics, checked by the one rubric parser (:mod:`consistency.design.rubrics`),
    as plain mappings (the direction is what this module reads)."""
    if value is None:
        return {}
    from consistency.design.rubrics import parse_rubrics

    return {name: {"rubric": r.rubric, "answers": list(r.answers), "behaviour": r.behaviour,
                   "direction": r.direction, "source": r.source}
            for name, r in parse_rubrics({"rubrics": value}, item_id, where).items()}


def _metric_name(name: str, item_id: str, where: str) -> None:
    if not _METRIC.fullmatch(name):
        _fail(f"item '{item_id}': metric name {name!a} must be snake_case", where)


def _direction(value: Any, what: str, item_id: str, where: str) -> None:
    if value not in DIRECTIONS:
        _fail(f"item '{item_id}': {what} has direction {value!r}; expected one of "
              f"{list(DIRECTIONS)}", where)


def arms_summary(items: Any) -> dict[str, dict[str, Any]]:
    """Per pair of item arms: items, how many are tagged confounded, and the first item's cue
    texts (``summary.json`` ``item_arms``; empty when no item has its own arms)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        arms = item.extras.arms if item.extras is not None else None
        if arms is None:
            continue
        entry = out.setdefault(arms.pair, {"items": 0, "confounded": 0,
                                           "unpaired": arms.unpaired,
                                           "cue_observed": arms.cue[0],
                                           "cue_unobserved": arms.cue[1]})
        entry["items"] += 1
        entry["confounded"] += int(arms.confounded)
    return out


def arms_markdown(section: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The report's "Item arms" section: which pairs carry their cue in the items, and whether
    their arms differ in more than observation."""
    if not section:
        return []
    from consistency.common.sanitise import md_cell

    lines = ["## Item arms", "",
             ("These pairs take their cue from the items' own arms, not from a framing. Where "
              "items are tagged confounded, the arms differ in more than observation: a flagged "
              "row shows a difference between these two texts, not a reaction to being "
              "observed."), "",
             "| pair | items | confounded | observed cue (first item) | unobserved cue |",
             "|---|---:|---:|---|---|"]
    for pair, entry in section.items():
        lines.append(f"| {md_cell(pair)} | {entry['items']} | {entry['confounded']} | "
                     f"{md_cell(entry['cue_observed'][:160])} | "
                     f"{md_cell(entry['cue_unobserved'][:160])} |")
    return lines + [""]


def unpaired_pairs(items: Any) -> set[str]:
    """The pairs of items marked unpaired (analysed as two samples, never as pairs)."""
    return {item.extras.arms.pair for item in items
            if item.extras is not None and item.extras.arms is not None
            and item.extras.arms.unpaired}
