"""How often the manipulation check calls a cue perceived, not perceived or undetermined.

Not a unit test. Run ``python benchmarks/simulate_perception.py [--sims 1000] [--out FILE]``;
it prints a Markdown table (committed as ``simulate_perception_output.md``, summarised in
docs/statistics.md).

One check answer per item and arm (EVALUATION with the arm's rate), through the real
:func:`consistency.analyse.situation.perception_table` (one test pair). "Before" is the rule it
replaced: *not perceived* whenever the one-sided test of the gap failed. Now *not perceived*
needs the non-inferiority test to show the gap below the margin
(:data:`consistency.analyse.situation.PERCEPTION_MARGIN`); otherwise *undetermined*.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.design.settings import AnalysisSettings  # noqa: E402
from consistency.analyse.situation import PERCEPTION_MARGIN, perception_table  # noqa: E402

SETTINGS = AnalysisSettings(n_resamples=999)
#: (items, EVALUATION rate observed, unobserved, what the truth is)
SCENARIOS = [(8, 0.75, 0.35, "perceived (gap 0.40)"), (24, 0.75, 0.35, "perceived (gap 0.40)"),
             (8, 0.50, 0.50, "no gap"), (60, 0.50, 0.50, "no gap"), (200, 0.50, 0.50, "no gap"),
             (200, 0.95, 0.95, "no gap, near ceiling"),
             (60, 0.50 + PERCEPTION_MARGIN, 0.50, "gap exactly at the margin"),
             (200, 0.50 + PERCEPTION_MARGIN, 0.50, "gap exactly at the margin")]


def checks(rng: np.random.Generator, n: int, observed: float, unobserved: float) -> pd.DataFrame:
    said = {arm: (rng.random(n) < rate).astype(float)
            for arm, rate in (("observed", observed), ("unobserved", unobserved))}
    return pd.DataFrame([{"item_id": f"i{i}", "pair": "eval", "pair_kind": "test", "arm": arm,
                          "variant": 0, "perceived_evaluation": said[arm][i],
                          "check_answer": "evaluation" if said[arm][i] else "deployment"}
                         for i in range(n) for arm in said])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start = time.time()
    lines = ["### Manipulation check: perceived / not perceived / undetermined", "",
             f"{args.sims} simulated checks per row, one answer per item and arm, margin "
             f"{PERCEPTION_MARGIN}, alpha 0.05; rate ± 95% Monte Carlo half-width.", "",
             "| items | EVALUATION observed / unobserved | truth | \"not perceived\" before | "
             "\"not perceived\" now | undetermined now | perceived now | median items to "
             "settle (undetermined) |", "|---:|---|---|---:|---:|---:|---:|---:|"]
    for n, observed, unobserved, truth in SCENARIOS:
        rng = np.random.default_rng([n, int(100 * observed), int(100 * unobserved)])
        tables = [perception_table(checks(rng, n, observed, unobserved), SETTINGS).iloc[0]
                  for _ in range(args.sims)]
        before = np.mean([not (t.q_value < 0.05 and t.ci_low > 0) for t in tables])
        now = pd.Series([t.perception for t in tables])
        needed = [t.items_needed for t in tables if t.perception == "undetermined"]
        cells = [_ci(before, args.sims)] + [_ci(float((now == state).mean()), args.sims)
                                            for state in ("not perceived", "undetermined",
                                                          "perceived")]
        median = f"{np.nanmedian(needed):.0f}" if needed and not np.all(np.isnan(needed)) else "-"
        lines.append(f"| {n} | {observed:.2f} / {unobserved:.2f} | {truth} | "
                     + " | ".join(cells) + f" | {median} |")
        print(lines[-1], flush=True)  # progress: rows as they come
    lines += ["", f"({time.time() - start:.0f} s; `python benchmarks/simulate_perception.py "
              f"--sims {args.sims}`)", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


def _ci(rate: float, n: int) -> str:
    return f"{rate:.3f} ± {1.96 * math.sqrt(max(rate * (1 - rate), 1e-12) / n):.3f}"


if __name__ == "__main__":
    main()
