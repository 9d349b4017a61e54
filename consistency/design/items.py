"""The task item and the families it may belong to: the type every suite produces.

It lives apart from :mod:`consistency.design.tasks` (the loaders and the generated capability
suite) and :mod:`consistency.design.suites` (the other generated families) so that both can
build items without importing each other. The families are described in
:mod:`consistency.design.tasks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FAMILIES = ("capability", "dangerous_capability", "harmful", "overrefusal", "honesty")
#: Families whose items need a reference ``answer`` (scored by ``correct``).
ANSWER_FAMILIES = ("capability", "dangerous_capability", "honesty")
SEVERITIES = (1, 2, 3)


@dataclass(frozen=True)
class Item:
    """One task instance.

    Attributes:
        id: unique within a suite; appears in cell ids, so it must not contain ``|``.
        family: the behaviour probed, one of :data:`FAMILIES`.
        prompt: the task text, identical under every framing.
        answer: the reference answer (capability items only), as text.
        kind: sub-kind such as ``arithmetic`` or ``fraud``, used to break results down.
        severity: harmful items: 1 (petty) to 3 (targets the vulnerable); None when not given.
        meta: any other fields of the source line, kept for the report (not hashed, so items stay
            usable as dict keys and set members).
        scenario: for an agentic scenario (a line with ``turns``), its validated
            :class:`consistency.design.scenarios.Scenario`; ``prompt`` is then its first turn.
        extras: per-item arms, answer patterns and rubrics
            (:mod:`consistency.design.item_arms`), or None.
    """

    id: str
    family: str
    prompt: str
    answer: str | None = None
    kind: str = ""
    severity: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    scenario: Any = field(default=None, hash=False, compare=False)
    #: the line's own arms, patterns and rubrics (:class:`consistency.design.item_arms.Extras`)
    extras: Any = field(default=None, hash=False, compare=False)


def items_by_id(items: Iterable[Item]) -> dict[str, Item]:
    """Index items by id (what :func:`consistency.measure.scoring.score_frame` takes)."""
    return {item.id: item for item in items}
