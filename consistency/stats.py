"""Public face: the paired statistics as researchers import them (``from consistency import stats``).

The functions live in :mod:`consistency.analyse.stats`; this module re-exports every test
function and result type under the name notebooks have always used, so the stage layout can
change without breaking them.
"""

from consistency.analyse.stats import *  # noqa: F401,F403
from consistency.analyse.stats import __all__  # noqa: F401
