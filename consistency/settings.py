"""Public face: the analysis settings as researchers build them
(``consistency.settings.AnalysisSettings``).

They live in :mod:`consistency.design.settings`; the names here are what a notebook imports.
"""

from consistency.design.settings import (CORRECTIONS, DIVERGENCE_TESTS, INTERVALS,
                                         MARGIN_SOURCES, UNITS, AnalysisSettings,
                                         analysis_settings)

__all__ = ["CORRECTIONS", "DIVERGENCE_TESTS", "INTERVALS", "MARGIN_SOURCES", "UNITS",
           "AnalysisSettings", "analysis_settings"]
