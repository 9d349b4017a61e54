"""A floor under the spread of per-item differences, so no claim rests on a degenerate variance.

A rate difference per item lies in [-1, 1]. With few items, or near 0 % / 100 %, the observed
SD of the differences is often 0 or far too small (two items that always answer the same way
have SD 0), and a t interval or TOST built on it claims certainty that the data cannot give:
zero-width intervals, equivalence from two items. The same happens to the score interval when
every item is concordant.

Both guards add one pseudo-item at +1 and one at -1 (two discordant pseudo-pairs, one each
way, in the spirit of Agresti & Min's add-one interval for paired proportions, 2005,
Biometrics 61:515-523); their weight fades as ``2 / (n + 2)``:

* :func:`planning_sd` (claims of no effect: TOST, non-inferiority, and the planner's
  ``items_needed``) adds the pseudo-items to the data, so the claim a row makes and the number
  of items it says a conclusive study needs rest on the same spread;
* :func:`floored_sd` (published t intervals) is a floor only: the observed SD unless it is
  below what the pseudo-items alone would give, so ordinary rows keep the paired t interval.
* :func:`smoothed_counts` is the same two pseudo-pairs on the one-response (McNemar) path.
"""

from __future__ import annotations

import math

#: Pseudo-items added in each direction (one at +1, one at -1).
PSEUDO_ITEMS = 1


def regularised_sd(sd: float, difference: float, n: int) -> float:
    """SD of per-item differences with one pseudo-item at +1 and one at -1 added.

    ``sd`` is the observed SD (ddof=1), ``difference`` the observed mean and ``n`` the items.
    Returns NaN when ``n < 2`` or the inputs are not finite. The result never falls below what
    two discordant pseudo-items give (``sqrt(2 / (n + 2))`` at a zero mean with SD 0).
    """
    if n < 2 or not (math.isfinite(sd) and math.isfinite(difference)):
        return math.nan
    second_moment = sd * sd * (n - 1) / n + difference * difference
    smoothed_moment = (n * second_moment + 2.0 * PSEUDO_ITEMS) / (n + 2 * PSEUDO_ITEMS)
    smoothed_mean = n * difference / (n + 2 * PSEUDO_ITEMS)
    return math.sqrt(max(smoothed_moment - smoothed_mean**2, 0.0))


def floored_sd(sd: float, difference: float, n: int) -> float:
    """The SD a published interval uses: the observed one, but never below the spread that the
    two pseudo-items alone would give (``regularised_sd(0, difference, n)``); NaN when n < 2.

    This floor binds only when the items hardly vary (identical items, a ceiling), which is
    where a zero-width interval would otherwise stand beside a verdict. Directional and
    divergence verdicts take their error rate from the permutation test, so the interval only
    has to be honest, not to carry the level.
    """
    floor = regularised_sd(0.0, difference, n)
    return math.nan if math.isnan(floor) or math.isnan(sd) else max(sd, floor)


def planning_sd(sd: float, difference: float, n: int) -> float:
    """The SD claims of no effect use (TOST, non-inferiority) and the planner's
    ``items_needed``: ``max(sd, regularised_sd(sd, difference, n))``; NaN when n < 2.

    Near 0 % or 100 % the observed SD shrinks with the observed difference, so a t-based TOST
    on the boundary of the margin is liberal (22 % "consistent" at 5 items against 5 %); adding
    the pseudo-items' spread to the data's own keeps it at or below its level (see
    ``benchmarks/simulate_stats.py``), at the price of some items.
    """
    floor = regularised_sd(sd, difference, n)
    return math.nan if math.isnan(floor) else max(sd, floor)


def smoothed_counts(b: int, c: int, n: int) -> tuple[int, int, int]:
    """Discordant counts and pairs with the same two pseudo-pairs added: ``(b+1, c+1, n+2)``.

    Used for the score-based TOST and non-inferiority test on the one-response path, where an
    all-concordant table (b = c = 0) otherwise shows equivalence from 25 items although that
    outcome has probability 0.9**25 = 0.07 at a true difference of 0.10.
    """
    return (b + PSEUDO_ITEMS, c + PSEUDO_ITEMS, n + 2 * PSEUDO_ITEMS)
