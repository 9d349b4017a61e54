"""``consistency import-inspect``: existing Inspect AI logs -> an ordinary run folder.

An Inspect user who ran a task under two conditions (or with two models) gets the paired battery
and its verdicts without re-running anything. The logs are read through Inspect's own log API
(:mod:`consistency.interop.inspect_reader`, under the interpreter that has ``inspect_ai``); the user's
mapping turns samples into cells (:mod:`consistency.interop.inspect_mapping`); then the stages of a native
run take over (:func:`consistency.analyse.battery.analyse`, :mod:`consistency.publish.report`), so ``report``,
``compare`` and ``monitor`` read the folder as they read any other.

Run folder: ``config.yaml`` (the import options), ``environment.json``, ``responses.parquet``,
``scores.parquet`` (matched samples only: exactly what was analysed), ``tests.csv``,
``summary.json`` (with an ``import`` section: source logs, Inspect versions, tasks, models, the
mapping, unmatched samples), ``report.md``, and ``unmatched.csv`` when some samples had no
counterpart. There is no ``journal.sqlite``: nothing was requested.

Metric roles: every imported metric is ``accuracy`` unless ``--role`` says otherwise, so on the
default family ``capability`` a score lower under the observed arm is tested one-sided as
sandbagging; on a family this package does not know (``--family models``, say) every metric is
tested two-sided (divergence). See :func:`consistency.analyse.flags.declared_direction`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from consistency.interop import inspect_mapping as mapping_rules
from consistency.common.errors import InputError
from consistency.analyse.flags import ROLES
from consistency.interop.inspect_environment import TESTED_INSPECT  # noqa: F401  (re-exported)
from consistency.interop.inspect_mapping import ImportMapping

READER = Path(__file__).resolve().parent / "inspect_reader.py"
CHECKOUT_VENV = Path(__file__).resolve().parents[2] / ".venv-inspect" / "bin" / "python"
PAIR_KINDS = ("test", "placebo", "planted")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="consistency import-inspect",
        description="Paired analysis of existing Inspect AI logs: writes a run folder.")
    p.add_argument("logs", nargs="*", metavar="LOG_OR_DIR",
                   help="Inspect logs (.eval/.json) or folders of them, with --arm-from")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to create")
    p.add_argument("--observed", nargs="+", default=[], metavar="LOG_OR_DIR")
    p.add_argument("--unobserved", nargs="+", default=[], metavar="LOG_OR_DIR")
    p.add_argument("--arm-from", metavar="metadata.KEY|task_arg.KEY")
    p.add_argument("--observed-value", metavar="V")
    p.add_argument("--unobserved-value", metavar="W")
    p.add_argument("--pair", default="inspect", help="pair name (default: inspect)")
    p.add_argument("--pair-from", metavar="FIELD")
    p.add_argument("--variant-from", metavar="FIELD")
    p.add_argument("--family", default="capability", help="item family (default: capability)")
    p.add_argument("--family-from", metavar="FIELD")
    p.add_argument("--pair-kind", default="test", choices=PAIR_KINDS)
    p.add_argument("--overseer-prefers", default="refusal", choices=("refusal", "compliance"))
    p.add_argument("--scorer", action="append", default=[], metavar="NAME",
                   help="import only this scorer (repeatable; default: every score_*)")
    p.add_argument("--role", action="append", default=[], metavar="[METRIC=]ROLE",
                   help=f"metric role, one of {', '.join(ROLES)} (default: accuracy)")
    p.add_argument("--metrics", metavar="FILE.json",
                   help="action metrics computed from each sample's tool calls, in the scenario "
                        "metric schema (docs/agentic.md); reads whole samples")
    p.add_argument("--text", action="store_true",
                   help="read whole samples to keep each completion's text (slower)")
    p.add_argument("--analysis", action="append", default=[], metavar="KEY=VALUE",
                   help="analysis setting, as analysis.KEY of consistency run (e.g. alpha=0.01)")
    p.add_argument("--inspect-python", metavar="PATH",
                   help="interpreter that can import inspect_ai (default: this one if it can, "
                        "else .venv-inspect/ of the checkout)")
    p.add_argument("--jobs", type=int, default=0, metavar="N",
                   help="processes reading logs at once (default: one per core)")
    p.add_argument("--quiet", action="store_true", help="no verdict table on the terminal")
    return p


def main(argv: list[str]) -> int:
    """Parse, read, map, analyse, write. Input errors raise :class:`InputError` (exit 2)."""
    args = parser().parse_args(argv)
    mapping, sources = _mapping(args)
    settings = _settings(args.analysis)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise InputError("the run folder already exists and is not empty; run folders are never "
                         "overwritten: choose a new --out", where=str(out))
    for path in sources:
        if not Path(path).exists():
            raise InputError("no such file or folder", where=path)
    actions = None
    if args.metrics:
        from consistency.interop.inspect_actions import load_metrics

        actions = load_metrics(args.metrics)
    python = inspect_python(args.inspect_python)
    fields = [f for f in (mapping.arm_from, mapping.pair_from, mapping.variant_from,
                          mapping.family_from) if f and f.startswith("metadata.")]
    if args.jobs < 0:
        raise InputError("must be a whole number >= 1 (or 0: one per core)", where="--jobs")
    jobs = args.jobs or os.cpu_count() or 1
    logs, samples, keys, reader_version = read_logs(python, sources, fields, args.text, jobs,
                                                    trace=actions is not None)
    from consistency.interop.inspect_run import write_run

    write_run(out, logs, samples, keys, mapping, settings,
              {"reader_inspect_version": reader_version, "inspect_python": python,
               "options": _options(args)}, quiet=args.quiet, actions=actions)
    from consistency.publish.run_page import write_run_page

    page = write_run_page(out)
    if not args.quiet:
        print(f"run folder: {out}")
        print(f"report: {page} (consistency view {out})")
    return 0


def _mapping(args: argparse.Namespace) -> tuple[ImportMapping, list[str]]:
    two_sets = bool(args.observed or args.unobserved)
    if two_sets == bool(args.arm_from):
        raise InputError("say which samples are which arm in one way: --observed LOGS "
                         "--unobserved LOGS, or LOGS --arm-from FIELD --observed-value V "
                         "--unobserved-value W", where="import-inspect")
    if two_sets:
        if not (args.observed and args.unobserved) or args.logs:
            raise InputError("with --observed and --unobserved, give both, and no other logs",
                             where="--observed/--unobserved")
        sources = [*args.observed, *args.unobserved]
        arms = ("observed",) * len(args.observed) + ("unobserved",) * len(args.unobserved)
    else:
        if not args.logs or args.observed_value is None or args.unobserved_value is None:
            raise InputError("--arm-from needs logs and both --observed-value and "
                             "--unobserved-value", where="--arm-from")
        if args.observed_value == args.unobserved_value:
            raise InputError("the observed and unobserved values must differ",
                             where="--observed-value")
        sources, arms = list(args.logs), ("",) * len(args.logs)
    for option, spec in (("--arm-from", args.arm_from), ("--pair-from", args.pair_from),
                         ("--variant-from", args.variant_from),
                         ("--family-from", args.family_from)):
        if spec:
            mapping_rules.check_field(spec, option)
    return ImportMapping(
        sources=arms, arm_from=args.arm_from, observed_value=args.observed_value,
        unobserved_value=args.unobserved_value, pair=args.pair, pair_from=args.pair_from,
        variant_from=args.variant_from, family=args.family, family_from=args.family_from,
        pair_kind=args.pair_kind, overseer_prefers=args.overseer_prefers,
        scorers=tuple(args.scorer), roles=_roles(args.role)), sources


def _roles(specs: list[str]) -> dict[str, str]:
    """``{"*": role}`` for a bare ROLE, ``{metric: role}`` for METRIC=ROLE."""
    roles = {}
    for spec in specs:
        metric, _, role = spec.rpartition("=")
        if role not in ROLES:
            raise InputError(f"role {role!r} must be one of {', '.join(ROLES)}", where="--role")
        roles[metric or "*"] = role
    return roles


def _settings(pairs: list[str]) -> Any:
    from consistency.design.settings import analysis_settings

    section = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"{pair!r} must be KEY=VALUE", where="--analysis")
        section[key] = yaml.safe_load(value)
    return analysis_settings(section)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if v not in (None, [], False)}


# ------------------------------------------------------------------------------ the reader
def inspect_python(given: str | None) -> str:
    """The interpreter that reads the logs: ``--inspect-python``, else ``CONSISTENCY_INSPECT_
    PYTHON``, else this one if it imports ``inspect_ai``, else the checkout's ``.venv-inspect``."""
    given = given or os.environ.get("CONSISTENCY_INSPECT_PYTHON")
    if given:
        if not Path(given).exists():
            raise InputError("no such interpreter", where="--inspect-python")
        return given
    if importlib.util.find_spec("inspect_ai") is not None:
        return sys.executable
    if CHECKOUT_VENV.exists():
        return str(CHECKOUT_VENV)
    raise InputError("Inspect AI is not installed here: install it (pip install -e .[inspect], "
                     "or a venv of its own: python -m venv .venv-inspect && .venv-inspect/bin/pip "
                     "install inspect-ai) and pass that interpreter with --inspect-python",
                     where="--inspect-python")


def read_logs(python: str, sources: list[str], fields: list[str], text: bool = False,
              jobs: int = 1, trace: bool = False
              ) -> tuple[list[dict], pd.DataFrame, list[str], str]:
    """(logs, samples frame, metadata keys seen, reader's Inspect version) for ``sources``, read
    in one pass (``jobs`` logs at a time); every unreadable path is reported at once."""
    logs, rows, keys, errors, version = [], [], set(), [], ""
    source_of: dict[int, int] = {}
    for record in _reader_records(python, sources, fields, text, jobs, trace):
        kind = record.pop("kind")
        if kind == "sample":
            rows.append(_flat(record, source_of[record["log"]]))
        elif kind == "reader":
            version = record["inspect_version"]
        elif kind == "error":
            errors.append(f"{record['path']} ({record['message']})")
        elif kind == "log":
            source_of[record["log"]] = record["source"]
            logs.append(record)
        elif kind == "keys":
            keys.update(record["metadata_keys"])
    if errors:
        raise InputError("not an Inspect log that Inspect can read: " + "; ".join(errors)
                         + ". Give .eval or .json logs written by Inspect, or folders of them",
                         where="logs")
    return logs, pd.DataFrame(rows), sorted(keys), version


def _flat(record: dict, source: int) -> dict:
    row = {"log": record["log"], "source": source, "id": record["id"],
           "epoch": record["epoch"], "error": record["error"], "limit": record["limit"],
           "input_tokens": record["input_tokens"], "output_tokens": record["output_tokens"],
           "text": record.get("text", "")}
    if "trace" in record:
        row["trace"] = record["trace"]
    row.update({f"field:{k}": v for k, v in record["fields"].items()})
    row.update(record["scores"])
    return row


def _reader_records(python: str, paths: list[str], fields: list[str], text: bool, jobs: int,
                    trace: bool = False) -> Iterator[dict]:
    args = ([f"--field={f}" for f in fields] + (["--text"] if text else [])
            + (["--trace"] if trace else [])
            + [f"--jobs={jobs}", "--", *paths])
    if python == sys.executable and importlib.util.find_spec("inspect_ai") is not None:
        from consistency.interop.inspect_reader import records

        yield from records(paths, fields, text, jobs, trace)
        return
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([python, str(READER), *args], stdout=subprocess.PIPE,
                                stderr=err, text=True, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        for line in proc.stdout:
            yield json.loads(line)
        status = proc.wait()
        if status:
            err.seek(0)
            message = " ".join(err.read().split())[-600:]
            raise InputError(f"the log reader failed under {python} (exit {status}): {message}. "
                             "The interpreter must have inspect_ai installed",
                             where="--inspect-python")
