"""Paired statistics for observed-vs-unobserved comparisons.

Pure functions, no I/O: randomness comes in through ``rng``. The public vocabulary is small:

* :func:`paired_test` - the dispatcher runs use: tidy responses in, :class:`PairedResult` out
  (McNemar mid-p with Tango's interval for single binary responses, otherwise a sign-flip
  permutation test with a paired t interval).
* Building blocks: :func:`mcnemar_midp`, :func:`tango_ci`, :func:`sign_flip_test`.
* Across test rows: :func:`benjamini_hochberg`, :func:`holm`.
* Consistency claims: :func:`equivalence` (TOST) and :func:`items_needed_for_equivalence`.
"""

from consistency.stats.equivalence import (
    EquivalenceResult,
    equivalence,
    items_needed_for_equivalence,
)
from consistency.stats.multiple import benjamini_hochberg, holm
from consistency.stats.paired import (
    ALTERNATIVES,
    ARMS,
    BinaryTestResult,
    PairedResult,
    TestResult,
    item_table,
    mcnemar_midp,
    paired_test,
    sign_flip_test,
    t_interval,
    tango_ci,
    tango_score,
)

__all__ = [
    "ALTERNATIVES",
    "ARMS",
    "BinaryTestResult",
    "EquivalenceResult",
    "PairedResult",
    "TestResult",
    "benjamini_hochberg",
    "equivalence",
    "holm",
    "item_table",
    "items_needed_for_equivalence",
    "mcnemar_midp",
    "paired_test",
    "sign_flip_test",
    "t_interval",
    "tango_ci",
    "tango_score",
]
