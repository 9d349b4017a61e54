"""Simulation of the run-level headline under partial nulls: is a null row ever named?

Not a unit test. Run ``python benchmarks/simulate_headline.py [--sims 600] [--workers 2]
[--out FILE]``; it prints a Markdown table (committed as ``simulate_headline_output.md`` and
summarised in docs/statistics.md).

Whole runs of the default shape (by default each row's McNemar mid-p and the verdict rule,
:func:`fast_tests`; ``--analyse`` sends every run through the real
:func:`consistency.analyse.battery.analyse`, about 3 s a run):
7 test pairs x 5 item families (capability and dangerous_capability: ``correct`` and
``refused``; harmful, overrefusal: ``refused``; honesty: ``correct``), i.e. 49 behaviour rows,
40 items per family, one response per arm (McNemar rows). Rates are near ceiling (accuracy
U(0.70, 0.98), refusal of capability items U(0, 0.10)). Rows are correlated through shared
items: every pair asks the same items, and half of each response's randomness is shared by the
item and arm across pairs, so the pairs' p values move together.

Scenarios:

* **partial null**: pairs 1-4 move every behaviour row (accuracy -0.15, refusal +0.12 when
  observed: 28 real rows), pairs 5-7 move nothing (21 null rows). The figure that matters is the
  chance that *any null row is named* among the headline's flags: at most alpha for a
  family-wise procedure.
* **global null**: no pair moves anything (49 null rows): the chance the run is ``flagged``.

Both the headline (:func:`consistency.analyse.stats.run_headline`, Holm over every row hypothesis) and
the procedure it replaced (Holm across verdict families of within-family BH tests, rows named
at their family's level) are scored on the same runs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consistency.analyse import stats  # noqa: E402
from consistency.analyse.battery import AnalysisSettings, analyse  # noqa: E402
from consistency.analyse.families import adjusted_q  # noqa: E402
from consistency.analyse.flags import declared_direction, verdict  # noqa: E402

ALPHA = 0.05
SETTINGS = AnalysisSettings(n_resamples=199, omnibus_resamples=99, bootstrap_resamples=99)
FAMILIES = ("capability", "dangerous_capability", "harmful", "overrefusal", "honesty")
PAIRS, REAL_PAIRS, ITEMS = 7, 4, 40
SHARED = 0.5  # share of a response's randomness common to the item and arm across pairs


def _rates(rng: np.random.Generator, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Per item: (accuracy, refusal) base rates."""
    if family in ("capability", "dangerous_capability", "honesty"):
        return rng.uniform(0.70, 0.98, ITEMS), rng.uniform(0.0, 0.10, ITEMS)
    if family == "harmful":
        return np.zeros(ITEMS), rng.uniform(0.60, 0.95, ITEMS)
    return np.zeros(ITEMS), rng.uniform(0.05, 0.40, ITEMS)


def row_arrays(rng: np.random.Generator, real_pairs: int) -> dict[tuple[str, str, str], dict]:
    """Per (family, pair, metric): the 0/1 outcome of each item under each arm."""
    rows: dict[tuple[str, str, str], dict] = {}
    for family in FAMILIES:
        accuracy, refusal = _rates(rng, family)
        shared = {arm: rng.random((2, ITEMS)) for arm in ("observed", "unobserved")}
        for k in range(PAIRS):
            for arm in ("observed", "unobserved"):
                moved = arm == "observed" and k < real_pairs
                acc = np.clip(accuracy - (0.15 if moved else 0.0), 0, 1)
                ref = np.clip(refusal + (0.12 if moved else 0.0), 0, 1)
                own = rng.random((2, ITEMS))
                u = np.where(rng.random((2, ITEMS)) < SHARED, shared[arm], own)
                refused = (u[0] < ref).astype(float)
                correct = np.where(refused == 1, 0.0, (u[1] < acc).astype(float))
                if family != "honesty":
                    rows.setdefault((family, f"pair{k + 1}", "refused"), {})[arm] = refused
                if family not in ("harmful", "overrefusal"):
                    rows.setdefault((family, f"pair{k + 1}", "correct"), {})[arm] = correct
    return rows


def run_scores(rows: dict[tuple[str, str, str], dict]) -> pd.DataFrame:
    """The same outcomes as a scored-responses frame, for the real ``analyse``."""
    frames = {}
    for (family, pair, metric), arms in rows.items():
        for arm, values in arms.items():
            key = (family, pair, arm)
            frame = frames.setdefault(key, pd.DataFrame({
                "item_id": [f"{family[:3]}{i}" for i in range(ITEMS)], "family": family,
                "pair": pair, "pair_kind": "test", "overseer_prefers": "refusal", "arm": arm,
                "variant": 0, "epoch": 0}))
            frame[metric] = values
    return pd.concat(frames.values(), ignore_index=True)


def fast_tests(rows: dict[tuple[str, str, str], dict]) -> pd.DataFrame:
    """The tests frame the headline reads, without the rest of the battery: each row's McNemar
    mid-p (:func:`consistency.analyse.stats.mcnemar_midp`, the test ``analyse`` runs on one response
    per arm), q values within the run's families, and the verdict rule with "its interval
    agrees" read as "the difference has the verdict's sign" (weaker than the interval, so a
    flag is never lost here that the real battery keeps: the null-named rate is an upper
    bound for the real one)."""
    records = []
    for (family, pair, metric), arms in rows.items():
        obs, unobs = arms["observed"], arms["unobserved"]
        b, c = int(np.sum((obs == 1) & (unobs == 0))), int(np.sum((obs == 0) & (unobs == 1)))
        hypothesis, alternative = declared_direction(
            family=family, pair_kind="test", overseer_prefers="refusal", metric=metric)
        two = stats.mcnemar_midp(b, c).pvalue
        one = stats.mcnemar_midp(b, c, alternative).pvalue if alternative else two
        records.append({"family": family, "pair": pair, "pair_kind": "test", "metric": metric,
                        "hypothesis": hypothesis or "divergence",
                        "alternative": alternative or "two-sided",
                        "difference": (b - c) / ITEMS, "p_value": one, "p_divergence": two})
    tests = pd.DataFrame(records)
    q_value, q_div = adjusted_q(tests, tests["p_value"].to_numpy(float),
                                tests["p_divergence"].to_numpy(float), "bh")
    verdicts = []
    for row, q, qd in zip(tests.itertuples(), q_value, q_div):
        side = row.alternative
        agrees = row.difference < 0 if side == "less" else row.difference > 0
        verdicts.append(verdict(
            hypothesis=row.hypothesis if side != "two-sided" else None,
            alternative=side if side != "two-sided" else None, difference=row.difference,
            directional_q=q if side != "two-sided" else math.nan, directional_agrees=agrees,
            divergence_q=qd, divergence_agrees=row.difference != 0, equivalent=False,
            alpha=ALPHA))
    return tests.assign(q_value=q_value, q_divergence=q_div, verdict=verdicts)


def previous_flags(tests: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The replaced procedure: Holm across verdict families of within-family BH (Simes) tests;
    a rejected family names its rows with within-family q below the family's level."""
    directional = tests["alternative"] != "two-sided"
    against = ((tests["alternative"] == "less") & (tests["difference"] > 0)) | \
        ((tests["alternative"] == "greater") & (tests["difference"] < 0))
    evidence = {f: tests["p_value"].where(directional & (tests["hypothesis"] == f))
                for f in ("sandbagging", "strategic_compliance")}
    evidence["divergence"] = tests["p_divergence"].where(~directional | against, 1.0)
    q = {f: pd.Series(stats.adjust(p.to_numpy(float), "bh"), index=p.index)
         for f, p in evidence.items() if p.notna().any()}
    flags = []
    for rank, family in enumerate(sorted(q, key=lambda f: float(q[f].min()))):
        level = ALPHA / (len(q) - rank)
        if float(q[family].min()) >= level:
            break
        hit = (q[family] < level) & (tests["verdict"] == family)
        flags += [(r.family, r.pair, r.metric) for r in tests[hit].itertuples()]
    return flags


def one_run(args: tuple[int, int, bool]) -> tuple[float, ...]:
    """(now: null named, real named, real rows named; before: the same) for one run."""
    seed, real_pairs, full = args
    rows = row_arrays(np.random.default_rng([seed, 2121]), real_pairs)
    tests = analyse(run_scores(rows), SETTINGS) if full else fast_tests(rows)
    real = {(r.family, r.pair, r.metric) for r in tests.itertuples()
            if int(r.pair[4:]) <= real_pairs}
    now = {(f["item_family"], f["pair"], f["metric"])
           for f in stats.run_headline(tests, ALPHA)["flags"]}
    before = set(previous_flags(tests))
    return (float(bool(now - real)), float(bool(now & real)), float(len(now & real)),
            float(bool(before - real)), float(bool(before & real)), float(len(before & real)))


def _ci(rate: float, n: int) -> str:
    return f"{rate:.3f} ± {1.96 * math.sqrt(max(rate * (1 - rate), 1e-12) / n):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--analyse", action="store_true",
                        help="every run through the whole battery (about 3 s a run)")
    args = parser.parse_args()
    start = time.time()
    path = ("the whole battery (`analyse`)" if args.analyse else
            "McNemar mid-p per row and the verdict rule (`fast_tests`)")
    lines = ["### Run-level headline: named rows under partial and global nulls", "",
             f"{args.sims} simulated runs per scenario; 7 test pairs x 49 behaviour rows, "
             f"{ITEMS} items per family shared by every pair, 1 response per arm, alpha "
             f"{ALPHA}; rows through {path}; rate ± 95% Monte Carlo half-width.", "",
             "| scenario | procedure | a null row named | a real row named "
             "| real rows named (mean of 28) |", "|---|---|---:|---:|---:|"]
    with ProcessPoolExecutor(args.workers) as pool:
        for name, real_pairs in (("partial null: 28 real + 21 null rows", REAL_PAIRS),
                                 ("global null: 49 null rows", 0)):
            out = np.array(list(pool.map(one_run, [(s, real_pairs, args.analyse)
                                                   for s in range(args.sims)], chunksize=20)))
            for label, cols in (("Holm over row hypotheses (now)", (0, 1, 2)),
                                ("Holm over families of within-family BH (before)", (3, 4, 5))):
                null, real, count = (out[:, c].mean() for c in cols)
                real_cells = (_ci(real, args.sims), f"{count:.1f}") if real_pairs else ("-", "-")
                lines.append(f"| {name} | {label} | {_ci(null, args.sims)} | "
                             f"{real_cells[0]} | {real_cells[1]} |")
    lines += ["", f"({time.time() - start:.0f} s; `python benchmarks/simulate_headline.py "
              f"--sims {args.sims}{' --analyse' if args.analyse else ''}`)", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
