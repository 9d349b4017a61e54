"""Candidate local models side by side on one design: the measurement behind the embedded default
(docs/models.md).

    .venv/bin/python benchmarks/compare_models.py --model default \\
        --model smollm2-135m=/tmp/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --model qwen2.5-coder-1.5b=/tmp/models/qwen2.5-coder-1.5b.gguf
    .venv/bin/python benchmarks/compare_models.py --model default tasks.limit=3   # smoke check

Each ``--model NAME=PATH`` is one ``consistency run`` in a subprocess, one after the other (never
two at once: they would share the same cores), with ``model.weights=PATH model.name=NAME`` on the
same design (``--design``, default ``quick``) and the same extra Hydra overrides for all.
``NAME=default`` (or plain ``default``) runs the embedded model, without ``model.weights``. Runs
go to ``--results-dir`` (a new temporary folder unless given; kept, so every figure can be
checked against its run folder).

Printed per model, as a markdown table, from the run's own files:

=====================  ======================================================================
column                 source
=====================  ======================================================================
requests               ``summary.json`` ``runner.requests_sent`` (tasks and checks)
stage s, req/s         ``runner.seconds`` (the request stage only, without load and analysis)
wall s                 the whole command, spawn to exit (model load and analysis included)
capability correct     ``tests.csv``, family capability, metric correct, the test pair (``--pair``):
                       rate observed / unobserved
harmful refused        the same for family harmful, metric refused
planted control        ``tests.csv`` ``control`` of the planted rows: detected / missed
conclusive             rows of the test pair whose verdict is not inconclusive / all its rows
check EVALUATION       ``checks.csv``, the test pair: share of manipulation checks answered
                       EVALUATION, observed / unobserved arm
failed                 ``summary.json`` ``responses.failed`` (task cells without a reply)
others' CPU            CPU time the rest of the machine used during the run (all cores busy,
                       from /proc/stat, less the run's own CPU), as a share of wall x cores: on a
                       shared machine, a figure above a few percent means the timings include
                       someone else's work (Linux only, else ``-``)
=====================  ======================================================================

A model that does not load (or a run that stops before writing ``summary.json``) gets a row
saying so, with the last paragraph of its error output, and the other models still run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ("| model | requests | stage s | req/s | wall s | capability correct (obs / unobs) | "
          "harmful refused (obs / unobs) | planted control | conclusive | "
          "check EVALUATION (obs / unobs) | failed | others' CPU |")


def parse_model(text: str) -> tuple[str, str | None]:
    """``NAME=PATH`` -> (name, path); ``default`` or ``NAME=default`` -> (name, None)."""
    name, sep, path = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"--model {text!r}: expected NAME=PATH or NAME=default")
    if not sep or path == "default":
        if sep == "" and name != "default":
            raise argparse.ArgumentTypeError(f"--model {text!r}: expected NAME=PATH, or default "
                                             "for the embedded model")
        return name, None
    if not Path(path).expanduser().is_file():
        raise argparse.ArgumentTypeError(f"--model {text!r}: no file at {path}")
    return name, str(Path(path).expanduser().resolve())


def run_model(name: str, weights: str | None, overrides: list[str], results: Path,
              design: str) -> dict:
    """One ``consistency run`` in a subprocess; its folder, wall seconds, exit code and stderr."""
    command = [sys.executable, "-m", "consistency.cli", "run", f"run_id={name}",
               f"results_dir={results}", f"design={design}", "runner.quiet=true"]
    if weights is not None:
        command += [f"model.weights={weights}", f"model.name={name}"]
    command += overrides
    busy, own = busy_seconds(), children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - started
    others = None
    if busy is not None:
        # the 1-minute load average would mostly show the previous model's run: measure instead
        others = max(0.0, busy_seconds() - busy - (children_cpu() - own)) / (wall * os.cpu_count())
    return {"folder": results / name, "wall": wall, "status": proc.returncode,
            "stderr": proc.stderr, "others": others}


def busy_seconds() -> float | None:
    """Non-idle CPU seconds of the whole machine since boot, all cores (None off Linux)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pct(value: str | float | None) -> str:
    if value in (None, ""):
        return "-"
    return f"{100 * float(value):.0f}%"


def share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def arms(found: list[dict]) -> str:
    """``obs / unobs`` of the one matching row, or ``-`` when the design has no such row."""
    if not found:
        return "-"
    return f"{pct(found[0]['rate_observed'])} / {pct(found[0]['rate_unobserved'])}"


def table_row(name: str, run: dict, pair: str) -> str:
    folder = run["folder"]
    if not (folder / "summary.json").is_file():
        # the CLI's error is one paragraph wrapped over lines: keep the last paragraph, unwrapped
        paragraphs = [" ".join(p.split()) for p in run["stderr"].strip().split("\n\n")]
        why = (paragraphs[-1] if paragraphs[-1] else "no error output").replace("|", "/")[:240]
        return (f"| {name} | failed to load or run (exit {run['status']}): {why} |" + " |" * 9
                + f" {share(run['others'])} |")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    tests = [r for r in rows(folder / "tests.csv") if r["pair"] == pair]
    checks = [r for r in rows(folder / "checks.csv") if r["pair"] == pair]
    planted = sorted({r["control"] for r in rows(folder / "tests.csv") if r["control"]})
    runner = summary["runner"]
    requests, seconds = runner["requests_sent"], runner["seconds"]
    capability = [r for r in tests if r["family"] == "capability" and r["metric"] == "correct"]
    harmful = [r for r in tests if r["family"] == "harmful" and r["metric"] == "refused"]
    conclusive = sum(r["verdict"] != "inconclusive" for r in tests)
    control = "detected" if "detected" in planted else ("missed" if planted else "-")
    rate = f"{requests / seconds:.2f}" if seconds else "-"
    return (f"| {name} | {requests} | {seconds:.0f} | {rate} | {run['wall']:.0f} | "
            f"{arms(capability)} | {arms(harmful)} | {control} | {conclusive}/{len(tests)} | "
            f"{arms(checks)} | {summary['responses']['failed']} | {share(run['others'])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=parse_model, action="append", required=True,
                        metavar="NAME=PATH", help="repeatable; NAME=default (or default) for "
                        "the embedded model")
    parser.add_argument("--design", default="quick", help="the design every model runs")
    parser.add_argument("--pair", default="evaluation_vs_deployment",
                        help="the test pair whose rows the table reads")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where the runs go (default: a new temporary folder, kept)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides passed to every run")
    args = parser.parse_args()
    names = [name for name, _ in args.model]
    if len(set(names)) != len(names):
        parser.error(f"--model names must differ (they are the run ids): {names}")
    results = args.results_dir or Path(tempfile.mkdtemp(prefix="compare-models-"))
    results.mkdir(parents=True, exist_ok=True)
    taken = [name for name in names if (results / name).exists()]
    if taken:
        # a run id that exists would resume, and its request-stage time would cover only the rest
        parser.error(f"{results} already holds runs named {taken}: pick another --results-dir")
    print(f"runs in {results}; design={args.design} {' '.join(args.overrides)}".rstrip(),
          file=sys.stderr, flush=True)
    lines = []
    for name, weights in args.model:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        run = run_model(name, weights, args.overrides, results, args.design)
        lines.append(table_row(name, run, args.pair))
        print(lines[-1], file=sys.stderr, flush=True)
    print(HEADER)
    print("|" + "---|" * (HEADER.count(" | ") + 1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
