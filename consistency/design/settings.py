"""Analysis settings (the ``analysis`` config group), checked before the first request.

:class:`AnalysisSettings` is the one list of analysis keys: the Hydra schema of the ``analysis``
group (:data:`consistency.design.config.AnalysisConfig`) is derived from its fields, so a key added here
is at once a valid override with its default, type and range check.

They live apart from :mod:`consistency.analyse.battery` so that checking them does not load the statistics
stack (scipy) before the requests: a run validates every input before it spends anything, and
:func:`consistency.pipeline.finish` imports the statistics only once the responses are in. The
choice tuples here are the ones :mod:`consistency.analyse.stats` accepts. The range checks do not use
:mod:`consistency.analyse.stats.checks` for the same reason: importing it loads the whole stats package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from consistency.common.errors import InputError

CORRECTIONS = ("bh", "holm")
INTERVALS = ("tango", "newcombe")
MARGIN_SOURCES = ("fixed", "placebo")
UNITS = ("item", "template")
DIVERGENCE_TESTS = ("mean", "omnibus")

_CHOICES = {"margin_source": MARGIN_SOURCES, "divergence_test": DIVERGENCE_TESTS, "unit": UNITS,
            "correction": CORRECTIONS, "interval": INTERVALS}
_OPEN_UNIT = ("alpha", "confidence", "power")  # strictly between 0 and 1
_RESAMPLES = ("n_resamples", "omnibus_resamples", "bootstrap_resamples")


@dataclass(frozen=True)
class AnalysisSettings:
    """Choices that shape every test row; recorded in the run folder with the results.

    ``margin_source="placebo"`` replaces ``equivalence_margin`` by the largest placebo difference
    of the same family and metric (at least ``margin_floor``); ``correction`` is ``bh`` or
    ``holm``; ``divergence_test="omnibus"`` uses the sharp-null permutation test for divergence
    where items have two or more responses per arm; ``interval`` is ``tango`` or ``newcombe``;
    ``sign_flip_midp`` uses the mid-p sign-flip test (ties count one half), the repeated-response
    analogue of McNemar mid-p: the plain test loses power on 0/1 data (see docs/statistics.md).
    ``unit="template"`` bases the directional and divergence verdicts on the template-level test
    (variants as a random factor; method ``template_t``) wherever a row has enough variants
    (three or more in all); equivalence and the supporting columns stay item-level.
    """

    # significance level for verdicts, applied to adjusted q-values (within each verdict family)
    alpha: float = 0.05
    # level of the reported intervals (one-sided bounds for directional rows, so they agree
    # with p)
    confidence: float = 0.95
    # TOST equivalence margin on the difference (proportion; 0.10 = 10 percentage points)
    equivalence_margin: float = 0.10
    # fixed: use equivalence_margin; placebo: the largest placebo difference of the same family
    # and metric (never below margin_floor)
    margin_source: str = "fixed"
    margin_floor: float = 0.02
    # multiplicity correction within each verdict family across the run: bh (FDR) or holm (FWER)
    correction: str = "bh"
    # interval for one response per item and arm: tango (score) or newcombe (method 10)
    interval: str = "tango"
    # divergence test: mean (two-sided paired test) or omnibus (within-item permutation test of
    # the sharp null; needs >= 2 responses per item and arm, else the mean test is used)
    divergence_test: str = "mean"
    # mid-p sign-flip test (ties count one half), the analogue of McNemar mid-p for repeated 0/1
    # responses; false keeps the conservative plain permutation p value
    sign_flip_midp: bool = True
    # unit of the verdict tests: item (claims about the wordings used) or template (variants as
    # a random factor: claims about the cue in general; needs several variants per arm)
    unit: str = "item"
    # power assumed when reporting the items an inconclusive row would need
    power: float = 0.8
    # sign-flip permutation resamples when items have several responses per arm
    n_resamples: int = 9999
    # permutations of the omnibus test and item-bootstrap resamples
    omnibus_resamples: int = 999
    bootstrap_resamples: int = 1999
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"analysis.{name} must be one of {allowed}, "
                                 f"got {getattr(self, name)!r}")
        for name in _OPEN_UNIT:
            if not _number(getattr(self, name)) or not 0 < getattr(self, name) < 1:
                raise ValueError(f"analysis.{name} must be a number strictly between 0 and 1, "
                                 f"got {getattr(self, name)!r}")
        for name in ("equivalence_margin", "margin_floor"):
            if not _number(getattr(self, name)) or not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"analysis.{name} must be a proportion between 0 and 1, "
                                 f"got {getattr(self, name)!r}")
        if self.equivalence_margin == 0:
            raise ValueError("analysis.equivalence_margin must be above 0: no difference can be "
                             "shown to be smaller than 0")
        for name in (*_RESAMPLES, "seed"):
            value = getattr(self, name)
            least = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"analysis.{name} must be a whole number >= {least}, "
                                 f"got {value!r}")
        if not isinstance(self.sign_flip_midp, bool):
            raise ValueError(f"analysis.sign_flip_midp must be true or false, "
                             f"got {self.sign_flip_midp!r}")


def analysis_settings(section: Mapping[str, Any]) -> AnalysisSettings:
    """The ``analysis`` config section as settings; a bad key or value is an :class:`InputError`
    naming it, raised before any request is sent."""
    known = {f.name for f in fields(AnalysisSettings)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise InputError(f"unknown key(s) {unknown}; known keys: {sorted(known)}",
                         where="analysis")
    try:
        return AnalysisSettings(**section)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
