"""Public face: the paired battery as researchers call it (``consistency.analysis.analyse``).

It lives in :mod:`consistency.analyse.battery`; the names here are what a notebook imports.
"""

from consistency.analyse.battery import ROW_KEYS, TEST_COLUMNS, analyse, sweep_q_values

__all__ = ["ROW_KEYS", "TEST_COLUMNS", "analyse", "sweep_q_values"]
