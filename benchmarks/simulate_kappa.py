"""Coverage of the Cohen's kappa interval for judge agreement, at small n and low prevalence.

Not a unit test. Run ``python benchmarks/simulate_kappa.py [--sims 200] [--out FILE]``; it
prints a Markdown table (committed as ``simulate_kappa_output.md``, summarised in
docs/statistics.md).

Two raters with the same prevalence ``pi`` and true kappa ``k`` (cells ``pi^2 + k pi (1 - pi)``,
``pi (1 - pi)(1 - k)`` twice, ``(1 - pi)^2 + k pi (1 - pi)``), ``n`` double-rated items. For each
sample where kappa is defined: does the interval hold ``k``? Compared: the profile-likelihood
interval of :func:`consistency.analyse.stats.cohens_kappa` (now) and the Wald interval from the
large-sample variance as statsmodels computes it (``statsmodels.stats.inter_rater.cohens_kappa``,
the independent reference). "undefined" is the share of samples where kappa is undefined (both
raters constant), where the report says so instead of a number.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.analyse.stats.agreement import cohens_kappa  # noqa: E402

CELLS = [(n, pi, k) for n in (20, 50) for pi in (0.05, 0.2, 0.5) for k in (0.6,)]


def ratings(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    both, first, second, neither = table
    a = np.repeat([1, 1, 0, 0], [both, first, second, neither])
    b = np.repeat([1, 0, 1, 0], [both, first, second, neither])
    return a, b


def cell(n: int, pi: float, k: float, sims: int) -> tuple[float, float, float, float]:
    """(undefined share, profile coverage, Wald coverage, mean profile width)."""
    rng = np.random.default_rng([n, int(100 * pi), int(100 * k)])
    agree_pos = pi * pi + k * pi * (1 - pi)
    split = pi * (1 - pi) * (1 - k)
    probs = [agree_pos, split, split, 1 - agree_pos - 2 * split]
    undefined = covered = wald = width = 0
    for _ in range(sims):
        table = rng.multinomial(n, probs)
        result = cohens_kappa(*ratings(table))
        if math.isnan(result.kappa):
            undefined += 1
            continue
        covered += result.ci_low <= k <= result.ci_high
        width += result.ci_high - result.ci_low
        ref = sm_kappa(np.array([[table[0], table[1]], [table[2], table[3]]]))
        wald += ref["kappa_low"] <= k <= ref["kappa_upp"]
    defined = max(sims - undefined, 1)
    return undefined / sims, covered / defined, wald / defined, width / defined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start = time.time()
    lines = ["### Judge agreement: coverage of the kappa interval (nominal 0.95)", "",
             f"{args.sims} samples per cell; coverage among samples where kappa is defined.", "",
             "| pairs | prevalence | true kappa | undefined | profile likelihood (now) | "
             "Wald, statsmodels | mean width (now) |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n, pi, k in CELLS:
        undefined, profile, wald, width = cell(n, pi, k, args.sims)
        lines.append(f"| {n} | {pi} | {k} | {undefined:.3f} | {profile:.3f} | {wald:.3f} | "
                     f"{width:.2f} |")
        print(lines[-1], flush=True)  # progress: rows as they come
    lines += ["", f"({time.time() - start:.0f} s; `python benchmarks/simulate_kappa.py "
              f"--sims {args.sims}`)", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
