"""Coverage of the item bootstrap interval at small n: percentile, BCa, expanded percentile, t.

Not a unit test. Run ``python benchmarks/simulate_bootstrap.py [--sims 1000] [--out FILE]``; it
prints a Markdown table (committed as ``simulate_bootstrap_output.md``, summarised in
docs/statistics.md).

Per-item differences ``d_i`` of 3 observed and 3 unobserved responses per item; item base rates
U(0.05, 0.95); scenario ``spread``: item effects +-0.25 (population mean about 0); scenario
``shift``: every item -0.10 plus the same spread. The target is the population mean of ``d``
(from 400 000 items). Intervals at 95%, two-sided:

* percentile: :func:`consistency.analyse.stats.bootstrap_interval` with ``expand=False`` (before);
* BCa: ``scipy.stats.bootstrap(method="BCa")``, the independent reference;
* expanded: :func:`consistency.analyse.stats.bootstrap_interval` (now);
* t: the t interval of the mean (``scipy.stats.t``), what the row's own test uses.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.analyse import stats  # noqa: E402

SCENARIOS = {"spread": 0.0, "shift": -0.10}


def differences(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    base = rng.uniform(0.05, 0.95, n)
    moved = np.clip(base + shift + rng.choice([-0.25, 0.25], n), 0, 1)
    return (rng.binomial(3, moved) - rng.binomial(3, base)) / 3


def coverage(n: int, shift: float, sims: int, resamples: int) -> dict[str, float]:
    mu = differences(np.random.default_rng(99), 400_000, shift).mean()
    rng = np.random.default_rng([n, int(1000 * abs(shift))])
    hits = dict.fromkeys(("percentile", "BCa (scipy)", "expanded (now)", "t"), 0)
    for _ in range(sims):
        d = differences(rng, n, shift)
        low, high = stats.bootstrap_interval(d, 0.95, resamples, rng, expand=False)
        hits["percentile"] += low <= mu <= high
        low, high = stats.bootstrap_interval(d, 0.95, resamples, rng)
        hits["expanded (now)"] += low <= mu <= high
        with warnings.catch_warnings():  # degenerate resamples: scipy warns and gives NaN
            warnings.simplefilter("ignore")
            ref = sps.bootstrap((d,), np.mean, n_resamples=resamples, method="BCa",
                                random_state=rng).confidence_interval
        hits["BCa (scipy)"] += bool(ref.low <= mu <= ref.high)
        half = sps.t.isf(0.025, n - 1) * d.std(ddof=1) / math.sqrt(n)
        hits["t"] += d.mean() - half <= mu <= d.mean() + half
    return {k: v / sims for k, v in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=1999)
    parser.add_argument("--sizes", default="8,12,20,40")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start = time.time()
    half = 1.96 * math.sqrt(0.95 * 0.05 / args.sims)
    lines = ["### Item bootstrap: coverage of the population mean difference at small n", "",
             f"{args.sims} samples per cell, {args.resamples} resamples, nominal 0.95 "
             f"(Monte Carlo half-width at 0.95: ±{half:.3f}).", "",
             "| items | scenario | percentile (before) | BCa (scipy) | expanded percentile (now) "
             "| t interval |", "|---:|---|---:|---:|---:|---:|"]
    for n in map(int, args.sizes.split(",")):
        for name, shift in SCENARIOS.items():
            c = coverage(n, shift, args.sims, args.resamples)
            lines.append(f"| {n} | {name} | {c['percentile']:.3f} | {c['BCa (scipy)']:.3f} | "
                         f"{c['expanded (now)']:.3f} | {c['t']:.3f} |")
            print(lines[-1], flush=True)  # progress: rows as they come
    lines += ["", f"({time.time() - start:.0f} s; `python benchmarks/simulate_bootstrap.py "
              f"--sims {args.sims}`)", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
