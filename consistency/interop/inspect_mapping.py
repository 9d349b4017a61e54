"""Inspect log records -> a responses frame with arms, pairs, variants and matched items.

A pure function of what :mod:`consistency.interop.inspect_reader` read and of the user's mapping, so the
rules can be tested without Inspect. Items are matched across arms on the dataset sample ``id``
and epoch (never on Inspect's per-log sample uuid): a sample whose (family, pair, id, epoch) has no
counterpart in the other arm is *unmatched*: kept in ``responses.parquet`` with ``matched`` false,
counted and listed in ``summary.json``, and left out of the analysis.

Responses frame (one row per imported sample that belongs to an arm):

================  ======  ========================================================================
column            dtype   meaning
================  ======  ========================================================================
cell_id           str     ``item|pair|arm|v<variant>|e<epoch>``, as in a native run's plan
item_id           str     the Inspect sample id, as text
family, pair      str     from ``--family``/``--family-from``, ``--pair``/``--pair-from``
pair_kind         str     ``test`` unless ``--pair-kind`` says otherwise
overseer_prefers  str     ``refusal`` unless ``--overseer-prefers`` says otherwise
arm               str     ``observed`` or ``unobserved``
variant           int     index of the ``--variant-from`` value within its pair and arm (0 if none)
epoch             int     Inspect's epoch minus 1 (native runs count epochs from 0)
status            str     ``ok``, or ``error`` for a sample that errored or ended at a limit
error_kind        str     ``error`` or ``limit_<type>`` (``limit_token``, ``limit_time``, ...)
error_message     str     Inspect's error message, or the limit type
text              str     the model's final completion (with ``--text``; else empty)
model_reported    str     the log's model (``openai/gpt-4o``, ...)
input_tokens      int     tokens as Inspect's ``model_usage`` reports them
output_tokens     int
source_log        str     the log file the sample came from
matched           bool    the same (family, pair, item, epoch) is present in the other arm
score_*           float   every imported metric; NaN for failed samples (never scored)
================  ======  ========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from consistency.common.errors import InputError

ARMS = ("observed", "unobserved")
FIELD_KINDS = ("metadata", "task_arg")


@dataclass(frozen=True)
class ImportMapping:
    """How samples become cells: the user's choice, recorded in the run folder as given."""

    sources: tuple[str, ...] = ()       # per reader ``source`` index: its arm ("" with arm_from)
    arm_from: str | None = None                 # metadata.KEY / task_arg.KEY
    observed_value: str | None = None
    unobserved_value: str | None = None
    pair: str = "inspect"
    pair_from: str | None = None
    variant_from: str | None = None
    family: str = "capability"
    family_from: str | None = None
    pair_kind: str = "test"
    overseer_prefers: str = "refusal"
    scorers: tuple[str, ...] = ()
    roles: Mapping[str, str] = field(default_factory=dict)


def as_text(value: Any) -> str:
    """The text a field value is compared with on the command line: strings as they are, other
    values as JSON (``true``, ``3``, ``null``)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def check_field(spec: str, option: str) -> tuple[str, str]:
    """``metadata.KEY`` / ``task_arg.KEY`` as (kind, key), else an :class:`InputError`."""
    kind, _, key = spec.partition(".")
    if kind not in FIELD_KINDS or not key:
        raise InputError(f"{option} {spec!r} must be metadata.KEY (a sample metadata field) or "
                         "task_arg.KEY (a task argument of the log)", where=option)
    return kind, key


def field_values(samples: pd.DataFrame, logs: Sequence[Mapping[str, Any]], spec: str,
                 option: str, metadata_keys: Sequence[str]) -> pd.Series:
    """The text of field ``spec`` for every sample (NaN where a sample lacks it); a key that no
    sample has is an :class:`InputError` naming the keys there are."""
    kind, key = check_field(spec, option)
    if kind == "metadata":
        column = f"field:{spec}"
        values = samples[column] if column in samples else pd.Series(np.nan, index=samples.index)
        known = sorted(metadata_keys)
    else:
        per_log = {log["log"]: log.get("task_args") or {} for log in logs}
        values = samples["log"].map(lambda i: per_log[i].get(key, _MISSING))
        values = values.where(values.map(lambda v: v is not _MISSING), np.nan)
        known = sorted({k for args in per_log.values() for k in args})
    present = values.notna()
    if not present.any() and key in known:
        holder = "sample" if kind == "metadata" else "log"
        raise InputError(f"{kind} key {key!r} is present but null in every {holder} that has "
                         f"it, so it cannot tell the arms apart; give a key whose values differ "
                         f"between arms (the logs have {', '.join(known)})", where=option)
    if not present.any():
        raise InputError(f"no sample has {kind} key {key!r}; the logs have "
                         f"{', '.join(known) or 'no such keys at all'}", where=option)
    return values.where(~present, values[present].map(as_text))


_MISSING = object()


def assign(samples: pd.DataFrame, logs: Sequence[Mapping[str, Any]], mapping: ImportMapping,
           metadata_keys: Sequence[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Arms, pairs, families and variants for every sample; returns (responses, notes).

    ``samples`` has one row per reader sample record (``log``, ``source``, ``id``, ``epoch``,
    ``field:metadata.KEY`` columns, ``score_*``, ``error``, ``limit``, tokens, ``text``).
    ``notes`` counts samples left out because their arm value was neither of the two.
    """
    frame = samples.copy()
    notes: dict[str, Any] = {}
    if mapping.arm_from:
        values = field_values(frame, logs, mapping.arm_from, "--arm-from", metadata_keys)
        frame["arm"] = values.map({mapping.observed_value: "observed",
                                   mapping.unobserved_value: "unobserved"})
        seen = sorted(values.dropna().unique().tolist())
        for arm, value, option in (("observed", mapping.observed_value, "--observed-value"),
                                   ("unobserved", mapping.unobserved_value,
                                    "--unobserved-value")):
            if not (frame["arm"] == arm).any():
                raise InputError(f"{value!r} matches no sample's {mapping.arm_from}; values "
                                 f"present: {_listing(seen)}", where=option)
        other = frame["arm"].isna()
        notes["other_arm_value"] = int(other.sum())
        frame = frame[~other]
    else:
        frame["arm"] = frame["source"].map(lambda s: mapping.sources[s])
    frame["pair"] = _label(frame, logs, mapping.pair_from, "--pair-from", mapping.pair,
                           metadata_keys)
    frame["family"] = _label(frame, logs, mapping.family_from, "--family-from", mapping.family,
                             metadata_keys)
    frame["variant"] = _variants(frame, logs, mapping.variant_from, metadata_keys)
    frame["item_id"] = frame["id"].map(as_text)
    frame["epoch"] = frame["epoch"].astype(int) - 1
    frame["pair_kind"] = mapping.pair_kind
    frame["overseer_prefers"] = mapping.overseer_prefers
    model_of = {log["log"]: log.get("model") or "" for log in logs}
    path_of = {log["log"]: log["path"] for log in logs}
    frame["model_reported"] = frame["log"].map(model_of)
    frame["source_log"] = frame["log"].map(path_of)
    _check_models(frame)
    _check_unique(frame)
    return frame, notes


def _label(frame: pd.DataFrame, logs: Sequence[Mapping[str, Any]], spec: str | None,
           option: str, default: str, metadata_keys: Sequence[str]) -> pd.Series:
    if not spec:
        return pd.Series(default, index=frame.index, dtype=object)
    values = field_values(frame, logs, spec, option, metadata_keys)
    missing = values.isna()
    if missing.any():
        row = frame[missing].iloc[0]
        raise InputError(f"{int(missing.sum())} sample(s) lack {spec}, e.g. sample "
                         f"{as_text(row['id'])} of {_log_path(logs, row['log'])}: every sample "
                         "needs it, or name the value for all with the plain option", where=option)
    return values.map(printable)


def printable(text: str) -> str:
    """``text`` with control characters written as ``\\xNN`` (labels end up on terminals)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _variants(frame: pd.DataFrame, logs: Sequence[Mapping[str, Any]], spec: str | None,
              metadata_keys: Sequence[str]) -> pd.Series:
    """0 without ``--variant-from``; else each value's rank among its pair and arm's values."""
    if not spec:
        return pd.Series(0, index=frame.index, dtype=int)
    values = _label(frame, logs, spec, "--variant-from", "", metadata_keys)
    keyed = pd.DataFrame({"pair": frame["pair"], "arm": frame["arm"], "value": values})
    return keyed.groupby(["pair", "arm"])["value"].rank(method="dense").astype(int) - 1


def _check_models(frame: pd.DataFrame) -> None:
    for (pair, arm), group in frame.groupby(["pair", "arm"]):
        models = sorted(group["model_reported"].unique())
        if len(models) > 1:
            logs = group.groupby("model_reported")["source_log"].first()
            raise InputError(
                f"the {arm} arm of pair {pair!r} mixes logs of different models: "
                + "; ".join(f"{m} ({logs[m]})" for m in models)
                + ". One arm must be one model: give each model its own arm (or its own pair "
                "with --pair-from), or import the logs separately", where=f"{arm} arm")


def _check_unique(frame: pd.DataFrame) -> None:
    keys = ["family", "pair", "arm", "variant", "item_id", "epoch"]
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        first = frame[dup].iloc[0]
        logs = sorted(frame[dup & (frame["item_id"] == first["item_id"])]["source_log"].unique())
        raise InputError(
            f"sample {first['item_id']} epoch {first['epoch'] + 1} appears more than once in "
            f"the {first['arm']} arm of pair {first['pair']!r} (in {', '.join(logs)}): each "
            "sample and epoch may appear once per arm; tell repeated runs apart with "
            "--variant-from or --pair-from, or leave one out", where=f"{first['arm']} arm")


def match_items(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``matched``: its (family, pair, item, epoch) has rows in both arms. Arms with
    no common item at all are an :class:`InputError`."""
    keys = ["family", "pair", "item_id", "epoch"]
    arms = frame.groupby(keys)["arm"].transform("nunique")
    out = frame.assign(matched=arms.to_numpy() == 2)
    for (family, pair), group in out.groupby(["family", "pair"]):
        present = set(group["arm"])
        if present != set(ARMS):
            missing = (set(ARMS) - present).pop()
            raise InputError(f"pair {pair!r} (family {family}) has no {missing} samples",
                             where=f"{missing} arm")
        if not group["matched"].any():
            sample = lambda arm: _listing(sorted(group[group["arm"] == arm]["item_id"]  # noqa
                                                 .unique())[:3])
            raise InputError(
                f"the arms of pair {pair!r} (family {family}) have no sample id and epoch in "
                f"common (observed has e.g. {sample('observed')}; unobserved has e.g. "
                f"{sample('unobserved')}): items are matched on Inspect's dataset sample id and "
                "epoch, so both arms must come from the same dataset", where="arms")
    return out


def unmatched_list(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Every unmatched sample: where it is and which arm has it."""
    rows = frame[~frame["matched"]].sort_values(["family", "pair", "item_id", "epoch", "arm"])
    return [{"family": r.family, "pair": r.pair, "item_id": r.item_id, "epoch": int(r.epoch),
             "arm": r.arm, "source_log": r.source_log} for r in rows.itertuples()]


def _listing(values: Sequence[Any]) -> str:
    shown = [repr(v) for v in values[:10]]
    return ", ".join(shown) + (f" (and {len(values) - 10} more)" if len(values) > 10 else "") \
        if shown else "none"


def _log_path(logs: Sequence[Mapping[str, Any]], index: int) -> str:
    return next((log["path"] for log in logs if log["log"] == index), "?")


def outcomes(frame: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Status and error columns; a sample that errored or ended at a limit is a failure, and
    its scores (Inspect may still have scored what it had) are not used."""
    error = frame["error"].where(frame["error"].notna(), None)
    limit = frame["limit"].where(frame["limit"].notna(), None)
    failed = error.notna() | limit.notna()
    kind = np.where(error.notna(), "error", "limit_" + limit.fillna("").astype(str))
    out = frame.assign(
        status=np.where(failed, "error", "ok"),
        error_kind=pd.Series(np.where(failed, kind, None), index=frame.index, dtype=object),
        error_message=pd.Series(np.where(error.notna(), error, limit), index=frame.index,
                                dtype=object).where(failed, None))
    for metric in metrics:
        out[metric] = out[metric].astype(float).where(~failed, np.nan)
    return out
