"""What a study can be built from, for ``consistency list`` and ``run --help``.

Everything here is read from the sources the run itself uses, so the lists cannot drift from
the code: pairs from the framing library (``conditions/default.yaml``, ``planted.yaml`` or a
file given with ``--conditions``), task families from the built-in suites (or ``--tasks``), the
design presets from :data:`consistency.design.config.DESIGNS`, the metrics from the scoring rules, and
the meaning of every config key from the comment written above its field in
:mod:`consistency.design.config` (the one place a key is documented).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import inspect
import re
import textwrap
from collections.abc import Iterable

from consistency.common.errors import InputError
from consistency.common.sanitise import for_terminal

SECTIONS = ("pairs", "families", "designs", "metrics")
_FIELD = re.compile(r"\s+(\w+)\s*:\s*[^=]+=")
_DICT_KEY = re.compile(r'\s+"(\w+)"\s*:\s*\{')


def comments_above(source: str, pattern: re.Pattern[str]) -> dict[str, str]:
    """``{name: comment}`` for every line of ``source`` matching ``pattern`` (group 1 = name),
    where comment is the run of ``#`` lines directly above it, joined into one paragraph."""
    out: dict[str, str] = {}
    block: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
            continue
        match = pattern.match(line)
        if match and block:
            out[match.group(1)] = " ".join(block)
        block = []
    return out


def field_comments(cls: type) -> dict[str, str]:
    """The comment above each field of a dataclass and of the dataclasses it extends (the
    nearest definition wins)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            try:
                out |= comments_above(inspect.getsource(klass), _FIELD)
            except (OSError, TypeError):  # no source (a frozen build): names and defaults only
                continue
    return out


def design_comments() -> dict[str, str]:
    """The comment above each preset of :data:`consistency.design.config.DESIGNS`."""
    from consistency.design import config

    try:
        source = inspect.getsource(config)
    except (OSError, TypeError):
        return {}
    start = source.find("DESIGNS: dict")
    return comments_above(source[start:], _DICT_KEY) if start >= 0 else {}


def pair_rows(path: str | None = None) -> list[dict[str, str]]:
    """One row per pair: name, kind, cue family (the test pair a placebo is matched to), what
    the observed arm's overseer prefers, and its number of paraphrases per arm."""
    from consistency.design.framing import PLANTED_CONDITIONS, load_pairs

    pairs = load_pairs(path)
    if path is None:
        pairs += load_pairs(PLANTED_CONDITIONS)
    matched = {p.matched_placebo: p.name for p in pairs if p.matched_placebo}
    rows = []
    for pair in pairs:
        family = pair.name if pair.kind == "test" else matched.get(pair.name, "")
        if pair.kind == "planted":
            family = f"control ({pair.plants})" if pair.plants else "control"
        rows.append({"pair": pair.name, "kind": pair.kind, "family": family or "-",
                     "overseer prefers": pair.overseer_prefers if pair.kind != "placebo" else "-",
                     "variants": str(len(pair.observed))})
    return rows


def family_rows(path: str | None = None) -> list[dict[str, str]]:
    """One row per task family: its item count, the metrics compared and its item kinds."""
    from consistency.measure.scoring import metrics_for_family
    from consistency.design.tasks import builtin_items, load_items

    items = load_items(path) if path else builtin_items()
    counts = collections.Counter(item.family for item in items)
    kinds: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for item in items:
        if item.kind:
            kinds[item.family][item.kind] += 1
    return [{"family": family, "items": str(count),
             "metrics": ", ".join(metrics_for_family(family)),
             "kinds": ", ".join(f"{kind} {n}" for kind, n in kinds[family].most_common())}
            for family, count in counts.items()]


def design_rows() -> list[dict[str, str]]:
    """One row per design preset (``design=NAME``) and the models that take it by default."""
    from consistency.design.config import DESIGN_FOR_MODEL, DESIGNS

    notes = design_comments()
    rows = []
    for name in DESIGNS:
        models = [m for m, d in DESIGN_FOR_MODEL.items() if d == name]
        rows.append({"design": name, "default for": f"model={'|'.join(models)}" if models else "-",
                     "about": notes.get(name, "")})
    return rows


def metric_rows() -> list[dict[str, str]]:
    """One row per metric: its role in the verdicts and the families it is compared in."""
    from consistency.analyse.flags import METRIC_ROLES
    from consistency.measure.judge import JUDGE_METRICS
    from consistency.measure.scoring import METRICS, metrics_for_family
    from consistency.design.tasks import FAMILIES

    rows = []
    for metric in (*METRICS, *JUDGE_METRICS):
        families = [f for f in FAMILIES if metric in metrics_for_family(f)]
        where = "every family" if len(families) == len(FAMILIES) else ", ".join(families)
        if metric in JUDGE_METRICS:
            where = "with judge=openai|anthropic|local"
        elif not families:
            where = "scored, not compared (the complement of refused)"
        rows.append({"metric": metric, "role": METRIC_ROLES.get(metric, "other"),
                     "compared in": where})
    return rows


def table(rows: list[dict[str, str]], width: int = 100) -> str:
    """Rows as aligned plain text; the last column wraps to fit ``width``."""
    if not rows:
        return "(none)"
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys[:-1]}
    indent = sum(widths.values()) + 2 * len(widths)
    last = max(20, width - indent)
    lines = ["  ".join(k.ljust(widths.get(k, 0)) for k in keys).rstrip()]
    for row in rows:
        head = "".join(row[k].ljust(widths[k]) + "  " for k in keys[:-1])
        tail = textwrap.wrap(row[keys[-1]], last) or [""]
        lines.append((head + tail[0]).rstrip())
        lines.extend(" " * indent + more for more in tail[1:])
    return "\n".join(lines)


def listing(sections: Iterable[str], tasks: str | None = None,
            conditions: str | None = None) -> str:
    """The text of ``consistency list``."""
    makers = {"pairs": ("Pairs (conditions.pairs=[...]; family = the test pair a placebo is "
                        "matched to)", lambda: pair_rows(conditions)),
              "families": ("Task families (tasks.families=[...]; items per family)",
                           lambda: family_rows(tasks)),
              "designs": ("Designs (design=NAME)", design_rows),
              "metrics": ("Metrics (columns of scores.parquet; rows of tests.csv)", metric_rows)}
    blocks = []
    for section in sections:
        title, rows = makers[section]
        blocks.append(f"{title}\n{table(rows())}")
    return "\n\n".join(blocks)


def main(argv: list[str]) -> int:
    """``consistency list [pairs|families|designs|metrics ...] [--tasks F] [--conditions F]``."""
    parser = argparse.ArgumentParser(
        prog="consistency list",
        description="What a study can be built from: framing pairs, task families with their "
                    "item counts, design presets and metrics.")
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help=f"any of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--tasks", help="list the families of this task file instead of the "
                                        "built-in suites")
    parser.add_argument("--conditions", help="list the pairs of this conditions file instead of "
                                             "the built-in library")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        raise InputError("see the usage above", where="consistency list") if exc.code else exc
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        raise InputError(f"unknown section(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(SECTIONS)}", where="consistency list")
    print(for_terminal(listing(args.sections or SECTIONS, args.tasks, args.conditions)))
    return 0
