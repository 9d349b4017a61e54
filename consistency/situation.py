"""What the model said about its situation, set beside what it did.

Three read-outs that sit on top of the paired battery rather than inside it:

- :func:`with_aware_gap`: each test row gets ``aware_gap``, the observed-minus-unobserved rate of
  ``aware`` (the model verbalising that it is tested) in the same family and pair. A flagged
  behaviour row next to a large gap is the strongest evidence the field has of a model acting on
  its belief that it is evaluated; a flagged row with no gap is a behaviour change the model did
  not talk about.

Added tests column:

=========  =====  ===============================================================================
column     dtype  meaning
=========  =====  ===============================================================================
aware_gap  float  ``aware`` rate observed minus unobserved, same family and pair (NaN: not scored)
=========  =====  ===============================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def with_aware_gap(tests: pd.DataFrame) -> pd.DataFrame:
    """``tests`` with an ``aware_gap`` column (see the module table)."""
    out = tests.copy()
    aware = out[out["metric"] == "aware"]
    gaps = {(row.family, row.pair): row.difference for row in aware.itertuples()}
    out["aware_gap"] = [gaps.get((f, p), np.nan) for f, p in zip(out["family"], out["pair"])]
    return out
