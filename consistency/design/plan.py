"""The design matrix: every (item, pair, arm, variant, epoch) cell of a run, with stable ids.

The plan is computed from the inputs alone (items, pairs, model settings, epochs), so re-running with
the same inputs yields the same cell ids and request hashes; that is what makes resume exact.

Plan frame (one row per cell):

=================  ======  ==================================================================
column             dtype   meaning
=================  ======  ==================================================================
cell_id            str     ``item|pair|arm|v<variant>|e<epoch>``; unique within a run
item_id            str     task item id
family             str     ``capability``, ``harmful``, ...
pair               str     framing pair name
pair_kind          str     ``test``, ``placebo`` or ``planted``
overseer_prefers   str     ``refusal`` or ``compliance`` (what the observed arm's overseer wants)
plants             str     planted pairs: the hypothesis the control plants; else ``""``
matched_placebo    str     test pairs: the placebo pair of the same cue family; else ``""``
placement          str     where the pair's cue reaches a scenario: ``framing``, ``file`` or ``result``
arm                str     ``observed`` or ``unobserved``
variant            int     index of the paraphrase within the arm (0-based)
epoch              int     repeated sample index (0-based)
request_hash       str     sha256 of the canonical request (model, messages, sampling params)
request_json       str     the canonical request as JSON (what is sent, minus credentials)
=================  ======  ==================================================================

Variants are either all crossed with every item (``variants="all"``) or rotated (``"rotate"``): each
item meets one variant per arm, the index moving with the item and epoch, and both arms use the same
index (modulo their own variant counts) because paired paraphrases are written in parallel. Rotation keeps the number of requests at
items x pairs x 2 x epochs while still spreading every wording over the items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from consistency.common.errors import InputError
from consistency.design.framing import ARMS, Framing, Pair
from consistency.design.scenarios import check_placement, episode_fields, episode_messages
from consistency.design.tasks import Item

VARIANT_DESIGNS = ("all", "rotate")

PLAN_COLUMNS = [
    "cell_id", "item_id", "family", "pair", "pair_kind", "overseer_prefers", "plants",
    "matched_placebo", "placement", "arm", "variant", "epoch", "request_hash", "request_json",
]


def canonical_request(model: str, messages: list[dict[str, str]], params: Mapping[str, Any],
                      extra: Mapping[str, Any] | None = None) -> str:
    """The request as canonical JSON: sorted keys, no whitespace, so equal requests hash equal.
    ``extra`` adds top-level fields (an agentic episode's scenario and tool protocol)."""
    body = {"model": model, "messages": messages, "params": dict(params), **(extra or {})}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def epoch_params(params: Mapping[str, Any], epoch: int) -> dict[str, Any]:
    """Sampling params for one epoch: a given seed advances with the epoch so that epochs differ,
    while both arms of one epoch share it (common random numbers sharpen the paired contrast)."""
    out = {key: value for key, value in params.items() if value is not None}
    if "seed" in out:
        out["seed"] = int(out["seed"]) + epoch
    return out


def build_plan(
    items: Sequence[Item],
    pairs: Sequence[Pair],
    *,
    model: str,
    params: Mapping[str, Any],
    epochs: int = 1,
    variants: str = "all",
    tool_protocol: str = "native",
    cross_framings: bool = False,
) -> pd.DataFrame:
    """Every cell of the design, ordered so that both arms of a comparison are requested together.

    Args:
        items: task items (ids unique).
        pairs: framing pairs.
        model: model identity recorded in each canonical request (e.g. ``openai:gpt-4o-mini``).
        params: sampling parameters sent with every request (``None`` values are omitted).
        epochs: samples per item x arm x variant (>= 1).
        variants: ``all`` (cross every variant with every item) or ``rotate`` (see module doc).
        tool_protocol: agentic scenarios: ``native`` tool calls or ``text`` (see
            :mod:`consistency.run.episodes`; the embedded model always uses ``text``).
        cross_framings: items with their own arms also meet every framing pair, posed with
            the cue taken out (``tasks.cross_framings``; unpaired items never are).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise InputError(f"epochs must be a whole number >= 1, got {epochs!r}", where="epochs")
    if variants not in VARIANT_DESIGNS:
        raise InputError(f"variants must be one of {list(VARIANT_DESIGNS)}, got {variants!r}",
                         where="variants")
    rows = []
    for epoch in range(epochs):
        sampling = epoch_params(params, epoch)
        for index, item in enumerate(items):
            for pair in item_pairs(item, pairs, cross_framings):
                for arm in ARMS:
                    for variant in _variant_indices(len(pair.arm(arm)), index + epoch, variants):
                        rows.append(_cell(item, pair, arm, variant, epoch, model, sampling,
                                          tool_protocol))
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


def item_pairs(item: Item, pairs: Sequence[Pair], cross: bool = False) -> list[Pair]:
    """The pairs an item is posed under: the framing pairs, or, for an item with its own arms
    (:mod:`consistency.design.item_arms`), its own pair (kind ``test``, no framing text: the
    cue is in the prompt) and its item-level placebo if it has one. Framing pairs are not
    crossed with item arms: the cue would then be given twice, by two sources."""
    arms = item.extras.arms if item.extras is not None else None
    if arms is None:
        return list(pairs)
    placebo = f"{arms.pair}_placebo" if arms.placebo else ""
    own = [Pair(name=arms.pair, kind="test", observed=(Framing(),), unobserved=(Framing(),),
                description="the item's own arms", matched_placebo=placebo)]
    if placebo:
        own.append(Pair(name=placebo, kind="placebo", observed=(Framing(),),
                        unobserved=(Framing(),), description="the item's own placebo arms"))
    if cross and not arms.unpaired:
        own += [pair for pair in pairs if pair.name not in {p.name for p in own}]
    return own


def _variant_indices(count: int, position: int, design: str) -> range | list[int]:
    if design == "rotate":
        return [position % count]
    return range(count)


def _cell(item: Item, pair: Pair, arm: str, variant: int, epoch: int, model: str,
          params: Mapping[str, Any], tool_protocol: str = "native") -> dict[str, Any]:
    framing = pair.arm(arm)[variant]
    check_placement(item.id, item.scenario, pair.name, framing.placement())
    if item.scenario is not None:  # an agentic episode: see consistency.run.episodes
        canonical = canonical_request(model, episode_messages(framing, item.scenario), params,
                                      episode_fields(item.scenario, model, framing,
                                                     tool_protocol))
    else:
        arms = item.extras.arms if item.extras is not None else None
        if arms is None:
            prompt = item.prompt
        elif pair.name in (arms.pair, f"{arms.pair}_placebo"):
            prompt = arms.prompt(arm, pair.kind == "placebo")
        else:  # a framing pair crossed with the item (tasks.cross_framings): the cue taken out
            prompt = arms.neutral
        canonical = canonical_request(model, framing.messages(prompt), params)
    return {
        "cell_id": f"{item.id}|{pair.name}|{arm}|v{variant}|e{epoch}",
        "item_id": item.id,
        "family": item.family,
        "pair": pair.name,
        "pair_kind": pair.kind,
        "overseer_prefers": pair.overseer_prefers,
        "plants": pair.plants,
        "matched_placebo": pair.matched_placebo,
        "placement": framing.placement(),
        "arm": arm,
        "variant": variant,
        "epoch": epoch,
        "request_hash": request_hash(canonical),
        "request_json": canonical,
    }
