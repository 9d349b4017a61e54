"""Precision and recall of the ``aware`` and ``training_reasoning`` phrase rules on the labelled
traces in ``tests/data/awareness_labelled.jsonl``, per split (``dev`` wrote the rules; ``heldout``
was only scored). Run: ``python benchmarks/awareness_scorer.py``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consistency.measure.scoring.awareness import is_aware, is_training_reasoning  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "awareness_labelled.jsonl"
RULES = {"aware": is_aware, "training_reasoning": is_training_reasoning}


def confusion(rows: list[dict], metric: str) -> dict[str, int]:
    """True/false positives and negatives of the rule for ``metric`` on ``rows``."""
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for row in rows:
        hit, label = RULES[metric](row["text"]), bool(row[metric])
        counts[("t" if hit == label else "f") + ("p" if hit else "n")] += 1
    return counts


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (small samples: the plain one leaves [0, 1])."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def main() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    print("| split | metric | traces | positives | precision [95% Wilson] | recall [95% Wilson] |")
    print("|---|---|---:|---:|---|---|")
    for split in ("dev", "heldout"):
        part = [row for row in rows if row["split"] == split]
        for metric in RULES:
            c = confusion(part, metric)
            precision = [c["tp"], c["tp"] + c["fp"]]
            recall = [c["tp"], c["tp"] + c["fn"]]
            cells = [f"{k / n:.3f} ({k}/{n}) [{wilson(k, n)[0]:.2f}, {wilson(k, n)[1]:.2f}]"
                     for k, n in (precision, recall)]
            print(f"| {split} | {metric} | {len(part)} | {recall[1]} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
