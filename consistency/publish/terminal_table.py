"""Publish stage: the verdict table on a terminal, fitted to its width.

Reads only published rows (:mod:`consistency.publish.published`). Columns are dropped by priority as
the terminal narrows (items and the arm rates first, then q, then the interval's kind), and
the row name and the verdict's caveats wrap; the effect, its interval and the verdict word are
never cut.
"""

from __future__ import annotations

import pandas as pd
from rich.table import Table
from rich.text import Text

from consistency.publish import published
from consistency.common.escaping import plain

#: Terminal widths from which each optional column is shown: items and arm rates, q, kind.
WIDE, MEDIUM, NARROW = 128, 96, 78
_STYLES = {"sandbagging": "bold red", "strategic_compliance": "bold red",
           "divergence": "yellow", "consistent": "green", "inconclusive": "dim",
           published.CANNOT_MOVE: "dim"}


def table(rows: pd.DataFrame, width: int) -> Table:
    """The rich table of ``rows`` (published rows) for a terminal ``width`` columns wide."""
    wide, medium, narrow = width >= WIDE, width >= MEDIUM, width >= NARROW
    out = Table(title="consistency verdicts (effect = observed - unobserved; the interval "
                "the verdict rests on)", title_justify="left", expand=False, padding=(0, 1),
                show_edge=False)
    out.add_column("family / pair / metric", overflow="fold", ratio=3, min_width=12)
    if wide:
        out.add_column("items", justify="right", no_wrap=True)
        out.add_column("observed", justify="right", no_wrap=True)
        out.add_column("unobs.", justify="right", no_wrap=True)
    out.add_column("effect [interval]", no_wrap=True)
    if medium:
        out.add_column("q", justify="right", no_wrap=True)
    out.add_column("verdict", overflow="fold", ratio=2, min_width=12)
    for row in rows.to_dict(orient="records"):
        kind = "" if row["pair_kind"] == "test" else f" ({plain(row['pair_kind'])})"
        name = f"{plain(row['family'])} / {plain(row['pair'])}{kind} / {plain(row['metric'])}"
        effect = f"{published.pp(row['difference'])} {published.bounds(row)}"
        if narrow:
            effect += f" {published.kind_text(row)}"
        verdict = Text(str(row["shown_verdict"]), style=_STYLES.get(row["shown_verdict"], ""))
        extra = [plain(row.get("selectivity") or "") if isinstance(row.get("selectivity"), str)
                 else "", row["caveats"]]
        tail = "; ".join(part for part in extra if part)
        if tail:
            verdict.append(f" ({tail})")
        cells: list = [Text(name)]
        if wide:
            cells.append("-" if published.missing(row["n_items"]) else str(int(row["n_items"])))
            cells += [published.pct(row["rate_observed"]), published.pct(row["rate_unobserved"])]
        cells.append(Text(effect))
        if medium:
            cells.append(published.pnum(row["q"]))
        cells.append(verdict)
        out.add_row(*cells)
    return out
