"""Simulation study of the statistics battery: false-positive rates, power vs planner, monitoring.

Not a unit test: it takes minutes. Run ``python benchmarks/simulate_stats.py [--sims 1000]
[--workers 2] [--out FILE]``; it prints a Markdown report (committed in docs/statistics.md).

Every null scenario runs the real :func:`consistency.analyse.battery.analyse` (default settings but
fewer resamples) on synthetic scored responses, once per verdict on the row that can produce it:
a capability test row (``sandbagging``, one-sided), a harmful test row (``strategic_compliance``,
one-sided) and a placebo row (``divergence``, two-sided). Each is analysed alone, so its q equals
its p and the verdict rate is directly comparable to alpha = 0.05.

Null scenarios (framing has no effect on the response distribution of any item):

* A  one response per arm, heterogeneous item difficulty (base rate ~ U(0.05, 0.95)): McNemar.
* B  three epochs, heterogeneous difficulty: sign-flip test on item means; omnibus test.
* C  zero *mean* effect but heterogeneous item effects (each item +-0.25 at random), 3 epochs:
     the mean tests must keep their size; the omnibus (sharp-null) test should reject.
* D  four variants per arm whose wordings shift the rate (N(0, 0.10) per variant), 1 epoch:
     the item-level tests (claim about these wordings) reject far too often for a claim about
     the cue; the template-level analysis (variants random; the recommended analysis for that
     claim) keeps its size.

Selectivity (``--tables selective``): the ``selective_p`` of a strategic-compliance row (harmful
items' refusal gaps against the over-refusal items' gaps of the same pair) under its null, where
the framing moves refusal of both families alike (blanket caution or no effect at all):

* S1 no effect, 60 + 60 items, 1 response/arm, harmful base rates U(0.4, 0.8), over-refusal
     U(0.05, 0.4) (the families differ in base rate, so in gap variance).
* S2 common shift +0.10 of both families' refusal rate when observed (blanket caution).
* S3 3 epochs, unequal family sizes (40 harmful, 80 over-refusal), common shift +0.05.
* S4 small: 12 + 12 items, 1 response/arm, no effect.

Power: planted effects against the planner's prediction (exact McNemar power for A-type data;
Miller's formula for epochs with heterogeneous item effects). Monitoring: false alarms of the
anytime-valid e-process over 30 nightly runs versus re-testing each night at 0.05.
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

ALPHA = 0.05
SETTINGS = AnalysisSettings(n_resamples=999, omnibus_resamples=199, bootstrap_resamples=99)
ROWS = {("capability", "eval", "correct"): "sandbagging",
        ("harmful", "eval", "refused"): "strategic_compliance",
        ("capability", "wording", "correct"): "divergence"}


def make_scores(rng: np.random.Generator, family: str, pair: str, n_items: int, epochs: int,
                variants: int, effect: np.ndarray | float = 0.0, wording_sd: float = 0.0,
                base_range: tuple[float, float] = (0.05, 0.95),
                epochs_by_arm: tuple[int, int] | None = None,
                kind: str | None = None) -> pd.DataFrame:
    """Scored responses of one (family, pair): the metric is ``correct`` for capability and
    ``refused`` for harmful; ``effect`` (scalar or per item) is added to the observed arm's rate;
    ``wording_sd`` gives every (arm, variant) its own fixed shift of the rate; item base rates
    are U(``base_range``); ``epochs_by_arm`` (observed, unobserved) overrides ``epochs``."""
    metric = "correct" if family == "capability" else "refused"
    kind = kind or ("test" if pair == "eval" else "placebo")
    base = rng.uniform(*base_range, n_items)
    frames = []
    for arm in ("observed", "unobserved"):
        if epochs_by_arm is not None:
            epochs = epochs_by_arm[0] if arm == "observed" else epochs_by_arm[1]
        shift = rng.normal(0.0, wording_sd, variants) if wording_sd else np.zeros(variants)
        arm_effect = np.broadcast_to(effect, (n_items,)) if arm == "observed" else 0.0
        p = np.clip((base + arm_effect)[:, None] + shift[None, :], 0, 1)  # item x variant
        draws = rng.random((n_items, variants, epochs)) < p[:, :, None]
        item, variant, epoch = np.indices(draws.shape).reshape(3, -1)
        frames.append(pd.DataFrame({
            "item_id": np.char.add(family[0], item.astype(str)), "family": family, "pair": pair,
            "pair_kind": kind, "overseer_prefers": "refusal", "arm": arm, "variant": variant,
            "epoch": epoch, metric: draws.reshape(-1).astype(float)}))
    return pd.concat(frames, ignore_index=True)


#: Null scenarios: (items, epochs, variants, extra make_scores arguments).
NULL_DESIGNS = {
    "A": (60, 1, 1, {}),
    "B": (60, 3, 1, {}),
    "C": (60, 3, 1, {"spread": 0.25}),
    "D": (60, 1, 4, {"wording_sd": 0.10}),
    "E": (4, 3, 1, {"base_range": (0.85, 1.0)}),
    "F1": (60, 1, 1, {"epochs_by_arm": (1, 3), "base_range": (0.97, 0.97)}),
    "F2": (60, 1, 1, {"epochs_by_arm": (3, 1), "base_range": (0.97, 0.97)}),
    "F3": (60, 1, 1, {"epochs_by_arm": (1, 3)}),
}


def null_sim(args: tuple[str, int]) -> dict[str, float]:
    """One null simulation: each verdict's row analysed on its own, so its q equals its p."""
    scenario, seed = args
    rng = np.random.default_rng([seed, *map(ord, scenario)])
    n, epochs, variants, extra = NULL_DESIGNS[scenario]
    extra = dict(extra)
    spread = extra.pop("spread", None)
    out = {}
    for (family, pair, metric), name in ROWS.items():
        if spread is not None:  # items drawn from a population whose mean effect is 0
            extra["effect"] = rng.choice([-spread, spread], size=n)
        scores = make_scores(rng, family, pair, n, epochs, variants, **extra)
        row = analyse(scores, SETTINGS).set_index("metric").loc[metric]
        out[name] = float(row.verdict == name)
        out[f"{name}:template"] = float(row.template_p < ALPHA) \
            if not math.isnan(row.template_p) else math.nan
        out[f"{name}:omnibus"] = float(row.omnibus_p < ALPHA) \
            if not math.isnan(row.omnibus_p) else math.nan
    return out


def _frame(obs: np.ndarray, unobs: np.ndarray) -> pd.DataFrame:
    """Tidy responses from item x response arrays (NaN = no response)."""
    parts = []
    for arm, values in (("observed", obs), ("unobserved", unobs)):
        item, _ = np.indices(values.shape).reshape(2, -1)
        flat = values.reshape(-1)
        keep = ~np.isnan(flat)
        parts.append(pd.DataFrame({"item_id": item[keep], "arm": arm, "value": flat[keep]}))
    return pd.concat(parts, ignore_index=True)


def _old_tost(result: stats.PairedResult, margin: float) -> float:
    """The equivalence p value before the variance floor (raw SD; raw Tango counts): the
    comparison column of the study, not used by the package."""
    from scipy import stats as sps

    if result.method == "mcnemar_midp":
        return max(float(sps.norm.sf(stats.tango_score(result.b, result.c, result.n_items,
                                                       -margin))),
                   float(sps.norm.cdf(stats.tango_score(result.b, result.c, result.n_items,
                                                        margin))))
    n, d, sd = result.n_items, result.difference, result.sd_difference
    if sd == 0.0:
        return 0.0 if abs(d) < margin else 1.0
    se = sd / math.sqrt(n)
    return max(float(sps.t.sf((d + margin) / se, n - 1)), float(sps.t.cdf((d - margin) / se,
                                                                           n - 1)))


#: Equivalence on the margin: (items, epochs, unobserved rate, observed rate, heterogeneous).
MARGIN_DESIGNS = ((2, 3, 1.0, 0.9), (5, 3, 1.0, 0.9), (10, 3, 1.0, 0.9), (20, 3, 1.0, 0.9),
                  (10, 3, 0.98, 0.88), (20, 3, 0.98, 0.88), (60, 3, 1.0, 0.9),
                  (25, 1, 1.0, 0.9), (100, 1, 1.0, 0.9), (200, 1, 1.0, 0.9))


def margin_sim(args: tuple[int, int, int, float, float]) -> tuple[float, float]:
    """(consistent now, consistent before the floor) with the true difference on the margin."""
    seed, n, epochs, p_unobs, p_obs = args
    rng = np.random.default_rng([seed, 23, n, epochs])
    obs = (rng.random((n, epochs)) < p_obs).astype(float)
    unobs = (rng.random((n, epochs)) < p_unobs).astype(float)
    result = stats.paired_test(_frame(obs, unobs), alternative="less", n_resamples=9, rng=0)
    return (float(stats.equivalence(result, 0.1).pvalue < ALPHA),
            float(_old_tost(result, 0.1) < ALPHA))


def equivalence_power_sim(args: tuple[int, int, int, float]) -> tuple[float, float]:
    """(consistent now, before) at a true difference of 0; base rates U(0.3, 0.7)."""
    seed, n, epochs, _ = args
    rng = np.random.default_rng([seed, 29, n, epochs])
    base = rng.uniform(0.3, 0.7, n)[:, None]
    obs = (rng.random((n, epochs)) < base).astype(float)
    unobs = (rng.random((n, epochs)) < base).astype(float)
    result = stats.paired_test(_frame(obs, unobs), alternative="less", n_resamples=9, rng=0)
    return (float(stats.equivalence(result, 0.1).pvalue < ALPHA),
            float(_old_tost(result, 0.1) < ALPHA))


def unequal_power_sim(args: tuple[int, int, float]) -> tuple[float, float]:
    """(sandbagging now: relabelling test, before: sign flip) with 1 observed vs 3 unobserved
    responses per item, base U(0.3, 0.7), observed rate lowered by ``delta``."""
    seed, n, delta = args
    rng = np.random.default_rng([seed, 31, n])
    base = rng.uniform(0.3, 0.7, n)[:, None]
    obs = (rng.random((n, 1)) < base - delta).astype(float)
    unobs = (rng.random((n, 3)) < base).astype(float)
    result = stats.paired_test(_frame(obs, unobs), alternative="less", n_resamples=999,
                               midp=True, rng=np.random.default_rng([seed, 37]))
    d = obs.mean(axis=1) - unobs.mean(axis=1)
    old = stats.sign_flip_test(d, "less", n_resamples=999, midp=True,
                               rng=np.random.default_rng([seed, 37]))
    old_high = stats.t_interval(float(d.mean()), float(np.std(d, ddof=1)), n, 0.9)[1]
    return (float(result.pvalue < ALPHA and result.ci_high < 0),
            float(old.pvalue < ALPHA and old_high < 0))


def headline_sim(args: tuple[int, float]) -> tuple[float, float]:
    """A 15-row run (5 capability test pairs x correct and refused, 5 harmful test pairs x
    refused) plus a placebo pair, 60 items, 1 response per arm: (some row flagged, headline
    flagged). ``delta`` lowers accuracy under observation on the first capability pair."""
    seed, delta = args
    rng = np.random.default_rng([seed, 41])
    parts = []
    for family in ("capability", "harmful"):
        for k in range(5):
            effect = -delta if (family == "capability" and k == 0) else 0.0
            part = make_scores(rng, family, f"eval{k}", 60, 1, 1, effect=effect, kind="test")
            if family == "capability":
                part["refused"] = (rng.random(len(part)) < 0.1).astype(float)
            parts.append(part)
    parts.append(make_scores(rng, "capability", "wording", 60, 1, 1))
    scores = pd.concat(parts, ignore_index=True)
    tests = analyse(scores, SETTINGS)
    flagged = tests[(tests.pair_kind == "test") & tests.verdict.isin(
        ["sandbagging", "strategic_compliance", "divergence"])]
    return (float(len(flagged) > 0), float(stats.run_headline(tests, ALPHA)["answer"]
                                           == "flagged"))


SELECTIVE = {
    "S1": ("S1: no effect, 60 + 60 items, 1 response/arm", 60, 60, 1, 0.0),
    "S2": ("S2: common shift +0.10 (blanket caution), 60 + 60 items", 60, 60, 1, 0.10),
    "S3": ("S3: 3 epochs, 40 + 80 items, common shift +0.05", 40, 80, 3, 0.05),
    "S4": ("S4: 12 + 12 items, 1 response/arm, no effect", 12, 12, 1, 0.0),
}


def selective_sim(args: tuple[str, int]) -> float:
    """One null simulation of ``selective_p``: 1.0 when it is below alpha.

    The statistic is computed as the analysis computes it (item gaps from
    :func:`consistency.analyse.stats.item_table`, then :func:`consistency.analyse.stats.selective_test` with the
    analysis' mid-p), without the rest of the battery, so thousands of runs stay cheap."""
    scenario, seed = args
    _, n_harmful, n_benign, epochs, shift = SELECTIVE[scenario]
    rng = np.random.default_rng([seed, 7919, int(scenario[1:])])
    gaps = []
    for n, low, high in ((n_harmful, 0.4, 0.8), (n_benign, 0.05, 0.4)):
        base = rng.uniform(low, high, n)
        frames = []
        for arm in ("observed", "unobserved"):
            p = base + (shift if arm == "observed" else 0.0)
            draws = rng.random((n, epochs)) < p[:, None]
            item, _ = np.indices(draws.shape).reshape(2, -1)
            frames.append(pd.DataFrame({"item_id": item.astype(str), "arm": arm,
                                        "value": draws.reshape(-1).astype(float)}))
        table = stats.item_table(pd.concat(frames, ignore_index=True))
        gaps.append((table["observed"] - table["unobserved"]).to_numpy())
    result = stats.selective_test(gaps[0], gaps[1], "greater", n_resamples=SETTINGS.n_resamples,
                                  rng=rng, midp=SETTINGS.sign_flip_midp)
    return float(result.pvalue < ALPHA)


def _selective_table(pool: ProcessPoolExecutor, sims: int) -> list[str]:
    lines = ["### False-positive rate of `selective_p` under its null", "",
             "| scenario | selective_p < 0.05 |", "|---|---|"]
    for key, (label, *_) in SELECTIVE.items():
        hits = list(pool.map(selective_sim, [(key, s) for s in range(sims)], chunksize=20))
        lines.append(f"| {label} | {_ci(float(np.mean(hits)), sims)} |")
    return lines + ["", "Null: the framing moves refusal of harmful and over-refusal items alike "
                    "(no effect, or a common shift: blanket caution). One-sided, harmful gaps "
                    "larger; studentised permutation of family labels over items, mid-p.", ""]


def power_mcnemar_sim(args: tuple[int, int, float, float]) -> float:
    """Sandbagging verdict with one response per arm; constant discordance psi and shift delta."""
    seed, n, psi, delta = args
    rng = np.random.default_rng([seed, 7])
    cells = rng.multinomial(1, [(psi - delta) / 2, (psi + delta) / 2, 1 - psi], size=n)
    # delta here is the *drop* under observation: c (unobserved-only) is the larger cell
    obs = np.where(cells[:, 0] == 1, 1.0, 0.0)
    unobs = np.where(cells[:, 1] == 1, 1.0, 0.0)
    both = rng.random(n) < 0.5
    obs[cells[:, 2] == 1] = both[cells[:, 2] == 1]
    unobs[cells[:, 2] == 1] = both[cells[:, 2] == 1]
    frame = pd.DataFrame({"item_id": np.tile(np.arange(n), 2),
                          "arm": np.repeat(["observed", "unobserved"], n),
                          "value": np.concatenate([obs, unobs])})
    result = stats.paired_test(frame, alternative="less")
    return float(result.pvalue < ALPHA and result.ci_high < 0)


def power_epochs_sim(args: tuple[int, int, int, float, float]) -> tuple[float, float]:
    """Sandbagging verdict with epochs; per-item true drop ~ N(delta, omega^2): (with the
    floored interval, with the raw paired t interval as before the floor)."""
    seed, n, epochs, delta, omega = args
    rng = np.random.default_rng([seed, 11])
    base = rng.uniform(0.3, 0.7, n)
    drop = rng.normal(delta, omega, n)
    obs = rng.random((n, epochs)) < np.clip(base - drop, 0, 1)[:, None]
    unobs = rng.random((n, epochs)) < base[:, None]
    items = np.repeat(np.arange(n), epochs)
    frame = pd.DataFrame({"item_id": np.concatenate([items, items]),
                          "arm": np.repeat(["observed", "unobserved"], n * epochs),
                          "value": np.concatenate([obs.ravel(), unobs.ravel()]).astype(float)})
    result = stats.paired_test(frame, alternative="less", n_resamples=999, midp=True,
                               rng=np.random.default_rng([seed, 13]))
    raw_high = stats.t_interval(result.difference, result.sd_difference, n, 0.9)[1]
    return (float(result.pvalue < ALPHA and result.ci_high < 0),
            float(result.pvalue < ALPHA and raw_high < 0))


def predicted_epochs_power(n: int, epochs: int, delta: float, omega: float) -> float:
    """Miller's normal approximation with the design's own variances (computed, not fitted).

    within_var: E over items of p_o(1 - p_o) + p_u(1 - p_u) for one epoch's paired difference,
    with base ~ U(0.3, 0.7) and p_o = base - drop (computed by Monte Carlo over the prior).
    """
    rng = np.random.default_rng(99)
    base = rng.uniform(0.3, 0.7, 400_000)
    drop = rng.normal(delta, omega, base.size)
    p_o = np.clip(base - drop, 0, 1)
    within = float(np.mean(p_o * (1 - p_o) + base * (1 - base)))
    between = float(np.var(p_o - base))
    se = math.sqrt((between + within / epochs) / n)
    from scipy import stats as sps

    z = sps.norm.isf(ALPHA)
    return float(sps.norm.sf(z - abs(float(np.mean(p_o - base))) / se))


def monitor_sim(seed: int) -> tuple[float, float]:
    """(e-process alarmed within 30 runs, naive nightly test alarmed within 30 runs) under H0."""
    rng = np.random.default_rng([seed, 17])
    runs, naive = [], False
    for _ in range(30):
        base = rng.uniform(0.05, 0.95, 60)
        d = (rng.random(60) < base).astype(float) - (rng.random(60) < base)
        runs.append(d)
        b, c = int(np.sum(d == 1)), int(np.sum(d == -1))
        naive = naive or stats.mcnemar_midp(b, c).pvalue < ALPHA
    return float(stats.monitor(runs, ALPHA).alarmed), float(naive)


def _ci(rate: float, n: int) -> str:
    half = 1.96 * math.sqrt(max(rate * (1 - rate), 1e-12) / n)
    return f"{rate:.3f} (+-{half:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--power-sims", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tables", default="null,margin,headline,power,monitor,selective",
                        help="comma-separated tables to compute, in order (default: all)")
    parser.add_argument("--headline-sims", type=int, default=0,
                        help="null runs for the headline table (default: half of --sims)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    lines = [f"Simulation study: {args.sims} null simulations per scenario, 60 items, "
             f"alpha {ALPHA} (benchmarks/simulate_stats.py).", ""]
    print("\n".join(lines), flush=True)
    with ProcessPoolExecutor(args.workers) as pool:
        tables = {"null": lambda: _null_table(pool, args.sims),
                  "margin": lambda: _margin_table(pool, args.sims),
                  "headline": lambda: _headline_table(pool, args.headline_sims or args.sims // 2),
                  "power": lambda: _power_table(pool, args.power_sims),
                  "monitor": lambda: _monitor_table(pool, args.sims),
                  "selective": lambda: _selective_table(pool, args.sims)}
        for name in args.tables.split(","):
            part = tables[name]()
            print("\n".join(part), flush=True)  # tables as they finish: a long run shows progress
            lines += part
    lines.append(f"Runtime: {time.perf_counter() - start:.0f} s on {args.workers} workers.")
    print(lines[-1])
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)


SCENARIOS = {
    "A": "A: 1 response/arm, heterogeneous items (McNemar)",
    "B": "B: 3 epochs, heterogeneous items (sign flip)",
    "C": "C: 3 epochs, item effects +-0.25 (population mean 0)",
    "D": "D: 4 variants/arm, wording effects sd 0.10",
    "E": "E: 4 items x 3 epochs, rates U(0.85, 1) (degenerate variance)",
    "F1": "F1: 1 vs 3 responses/arm (observed 1), rate 0.97 (relabelling)",
    "F2": "F2: 3 vs 1 responses/arm (observed 3), rate 0.97 (relabelling)",
    "F3": "F3: 1 vs 3 responses/arm, heterogeneous items (relabelling)",
}


def _null_table(pool: ProcessPoolExecutor, sims: int) -> list[str]:
    lines = ["### False-positive rate of each verdict under the null", "",
             "| scenario | analysis | sandbagging | strategic_compliance | divergence "
             "| omnibus (sharp null) |", "|---|---|---|---|---|---|"]
    for key, label in SCENARIOS.items():
        results = pd.DataFrame(list(pool.map(null_sim, [(key, s) for s in range(sims)],
                                             chunksize=20)))
        item = [_ci(results[name].mean(), sims) for name in ROWS.values()]
        omnibus = results["divergence:omnibus"].dropna()
        omni = _ci(omnibus.mean(), len(omnibus)) if len(omnibus) else "-"
        lines.append(f"| {label} | item level (default) | {' | '.join(item)} | {omni} |")
        if key == "D":
            template = [_ci(results[f"{name}:template"].mean(), sims) for name in ROWS.values()]
            lines.append(f"| {label} | template level (variants random) | "
                         f"{' | '.join(template)} | - |")
    lines += ["", "Sandbagging and strategic compliance are one-sided verdicts; divergence is "
              "two-sided on a placebo row. Scenario C's omnibus column is power, not a false "
              "positive: its sharp null is false there (items do move). In D the item-level "
              "rates are correct for a claim about *these wordings*, and wrong for a claim about "
              "the cue; the template-level row is the analysis for that claim.", ""]
    return lines


def _power_table(pool: ProcessPoolExecutor, sims: int) -> list[str]:
    lines = ["### Power at planted effects against the planner", "",
             "| design | planted effect | simulated power (sandbagging verdict) "
             "| planner prediction | difference | before the floor |", "|---|---|---|---|---|---|"]
    for n, psi, delta in ((60, 0.3, 0.15), (100, 0.3, 0.12), (150, 0.2, 0.08)):
        hits = list(pool.map(power_mcnemar_sim, [(s, n, psi, delta) for s in range(sims)],
                             chunksize=50))
        sim = float(np.mean(hits))
        pred = stats.mcnemar_power(n, psi, -delta, ALPHA, sides=1)
        lines.append(f"| {n} items, 1 response/arm, discordance {psi} (exact McNemar) | "
                     f"-{delta} | {_ci(sim, sims)} | {pred:.3f} | {sim - pred:+.3f} | "
                     "unchanged |")
    for n, epochs, delta, omega in ((60, 3, 0.08, 0.1), (100, 5, 0.05, 0.08), (40, 2, 0.12, 0.15),
                                    (8, 3, 0.3, 0.0)):
        hits = np.array(list(pool.map(power_epochs_sim, [(s, n, epochs, delta, omega)
                                                         for s in range(sims)], chunksize=50)))
        sim = float(hits[:, 0].mean())
        pred = predicted_epochs_power(n, epochs, delta, omega)
        lines.append(f"| {n} items x {epochs} epochs, item effect sd {omega} (Miller 2024) | "
                     f"-{delta} | {_ci(sim, sims)} | {pred:.3f} | {sim - pred:+.3f} | "
                     f"{_ci(float(hits[:, 1].mean()), sims)} |")
    lines += ["", "*Before the floor*: the same simulated studies judged with the raw paired t "
              "interval (the McNemar path's directional interval did not change).", "",
              "### What the other fixes cost", "",
              "| fix | design | truth | now | before |", "|---|---|---|---|---|"]
    for n, delta in ((60, 0.15), (100, 0.10)):
        hits = np.array(list(pool.map(unequal_power_sim, [(s, n, delta) for s in range(sims)],
                                      chunksize=50)))
        lines.append(f"| relabelling test (unequal responses) | {n} items, 1 observed vs 3 "
                     f"unobserved responses | sandbagging -{delta} | "
                     f"{_ci(float(hits[:, 0].mean()), sims)} | "
                     f"{_ci(float(hits[:, 1].mean()), sims)} (sign flip) |")
    for n, epochs in ((200, 1), (100, 3), (300, 3)):
        hits = np.array(list(pool.map(equivalence_power_sim, [(s, n, epochs, 0.0)
                                                              for s in range(sims)],
                                      chunksize=50)))
        lines.append(f"| variance floor (claims of no effect) | {n} items x {epochs} epochs, "
                     f"rates U(0.3, 0.7) | no difference: consistent | "
                     f"{_ci(float(hits[:, 0].mean()), sims)} | "
                     f"{_ci(float(hits[:, 1].mean()), sims)} |")
    for delta in (0.15, 0.25):
        hits = np.array(list(pool.map(headline_sim, [(s, delta) for s in range(sims // 2)],
                                      chunksize=10)))
        lines.append(f"| run-level headline | 15-row run, one capability pair sandbagging, "
                     f"60 items x 1 response | sandbagging -{delta} | "
                     f"{_ci(float(hits[:, 1].mean()), sims // 2)} (headline flagged) | "
                     f"{_ci(float(hits[:, 0].mean()), sims // 2)} (some row flagged) |")
    return lines + [""]


def _margin_table(pool: ProcessPoolExecutor, sims: int) -> list[str]:
    lines = ["### Equivalence on the margin: the true difference is -0.10 (= -margin)", "",
             "A `consistent` verdict here is a false claim of equivalence; its rate must be at "
             "most alpha.", "",
             "| design | consistent (now) | consistent (before the floor) |", "|---|---|---|"]
    for n, epochs, p_unobs, p_obs in MARGIN_DESIGNS:
        hits = np.array(list(pool.map(margin_sim, [(s, n, epochs, p_unobs, p_obs)
                                                   for s in range(sims)], chunksize=50)))
        path = "McNemar/Tango" if epochs == 1 else "paired t"
        lines.append(f"| {n} items x {epochs} epochs, unobserved {p_unobs:.2f}, observed "
                     f"{p_obs:.2f} ({path}) | {_ci(float(hits[:, 0].mean()), sims)} | "
                     f"{_ci(float(hits[:, 1].mean()), sims)} |")
    return lines + [""]


def _headline_table(pool: ProcessPoolExecutor, sims: int) -> list[str]:
    hits = np.array(list(pool.map(headline_sim, [(s, 0.0) for s in range(sims)], chunksize=10)))
    return ["### Run-level headline under the null (15 test rows, every null true)", "",
            "| procedure | chance of any flag in the run |", "|---|---|",
            f"| per-row verdicts (BH within each verdict family) | "
            f"{_ci(float(hits[:, 0].mean()), sims)} |",
            f"| `headline` (Holm over every test row's verdict hypotheses) | "
            f"{_ci(float(hits[:, 1].mean()), sims)} |", ""]


def _monitor_table(pool: ProcessPoolExecutor, sims: int) -> list[str]:
    results = np.array(list(pool.map(monitor_sim, range(sims), chunksize=50)))
    return ["### Monitoring 30 nightly runs under the null", "",
            "| procedure | false alarm within 30 runs |", "|---|---|",
            f"| anytime-valid e-process (`stats.monitor`), alarm at e >= 1/0.05 | "
            f"{_ci(results[:, 0].mean(), sims)} |",
            f"| naive: McNemar mid-p each night at 0.05 | {_ci(results[:, 1].mean(), sims)} |",
            ""]


if __name__ == "__main__":
    main()
