"""Command line: ``consistency run [hydra overrides]``, ``consistency plan [flags]``,
``consistency monitor RUN_DIR...``, ``consistency report RUN_DIR...``,
``consistency compare BASELINE CANDIDATE``, ``consistency view RUN``, ``consistency list``,
``consistency init DIR`` and ``consistency --version``.

Hydra owns ``run`` (config groups under ``conf/``, ``-m`` sweeps); other commands use plain
argument parsing. Input errors print one paragraph and exit with status 2; nothing is sent then.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
import threading
from pathlib import Path

from consistency.common.errors import EXIT_INPUT_ERROR, InputError
from consistency.run.outcome import EXIT_UNTESTED
from consistency.common.sanitise import for_terminal

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

USAGE = """\
usage: consistency run [OVERRIDES ...]     run (or resume) a paired consistency evaluation
  (consistency run --help describes every config group and key)

Overrides are Hydra's: key=value, group=option, and -m for sweeps. Examples:
  consistency run                                   the embedded local model, built-in suites
  consistency run model=openai model.name=gpt-4o-mini epochs=3
  consistency run model=openai model.base_url=http://127.0.0.1:8000/v1 model.name=my-model
  consistency run tasks.path=my_tasks.jsonl conditions.path=my_pairs.yaml run_id=trial-1
  consistency run -m model.temperature=0,0.7 epochs=2
  consistency run --cfg job                         show the resolved config and exit
  consistency run model=openai --dry-run            print the plan (requests, tokens, cost), send
                                                    nothing (also: runner.dry_run=true)
Exit status: 0 tested, 1 stopped (resume with the same run_id), 2 bad input, 4 finished but
nothing tested (summary.json headline 'untested', e.g. every request failed).

usage: consistency plan [--items N | --mde D] [flags]   power planner (consistency plan --help)
  consistency plan --items 200 --epochs 3 --within-var 0.5 --between-var 0.01
  consistency plan --mde 0.05 --one-sided
  consistency plan --mde 0.1 --discordance 0.3     exact McNemar, one response per arm

usage: consistency monitor RUN_DIR [RUN_DIR ...] [--alpha A] [--inference population|item-set]
       [--window N] [--json]      anytime-valid alarms over the runs of one configuration
  consistency monitor results/nightly-*             in finish order; exit 1 on a behaviour row's alarm

usage: consistency report RUN_OR_SWEEP_DIR [...] [--out DIR] [--format md,latex,html,csv,png,svg,pdf]
  consistency report results --out paper/         tables, forest plot and HTML over many runs
  consistency report --history results/nightly-*  each row's effect over time, with monitoring

usage: consistency compare BASELINE CANDIDATE [--fail-on change|VERDICT|headline,...] [--alpha A]
       [--json FILE]
  consistency compare results/last-week results/tonight   exit 3 when a behaviour row's effect
                                                          changed (Holm over those rows)

usage: consistency view RUN_DIR [--serve]     open a run's report.html (served on 127.0.0.1
  when no browser can be opened)

usage: consistency list [pairs|families|designs|metrics]   what a study can be built from

usage: consistency init DIR                 write a runnable study (tasks, pairs, config) to DIR
  cd DIR && consistency run --config-dir . --config-name study

usage: consistency --version

usage: consistency import-inspect LOG_OR_DIR... --out RUN_DIR [options]   paired analysis of
  existing Inspect AI logs (consistency import-inspect --help)
  consistency import-inspect --observed logs/eval --unobserved logs/deploy --out results/imp-1
  consistency import-inspect logs/ --arm-from metadata.condition --observed-value eval \\
      --unobserved-value deploy --out results/imp-2

usage: consistency import-bench-af ENV_DIR... --out SUITE.jsonl [--polarity ENV=LETTER]
  [--own-framings]   Bench-AF environment folders as a task suite with per-item arms
"""

#: What ``consistency run --dry-run`` stands for.
DRY_RUN_OVERRIDE = "runner.dry_run=true"

#: Commands with plain argument parsing: module and function called with the arguments.
_PLAIN_COMMANDS = {"monitor": ("consistency.analyse.monitoring", "main"),
                   "report": ("consistency.publish.report_command", "main"),
                   "view": ("consistency.publish.run_page", "main"),
                   "list": ("consistency.publish.catalogue", "main"),
                   "init": ("consistency.design.scaffold", "main"),
                   "compare": ("consistency.publish.compare", "main"),
                   "import-bench-af": ("consistency.interop.bench_af", "main")}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``consistency`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if args[0] in ("--version", "-V", "version"):
        from consistency import __version__

        print(f"consistency {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command == "run":
        if (rest and rest[0] == "help") or any(arg in ("-h", "--help") for arg in rest):
            from consistency.publish.run_help import run_help

            print(run_help())
            return 0
        return _hydra_run(rest)
    if command == "plan":
        from consistency.analyse.planner import run_plan

        status, text = run_plan(rest)
        print(text, file=sys.stderr if status else sys.stdout)
        return status
    if command in _PLAIN_COMMANDS:
        import importlib

        module, function = _PLAIN_COMMANDS[command]
        try:
            return getattr(importlib.import_module(module), function)(rest)
        except InputError as exc:
            print(for_terminal(f"consistency: error: {exc}"), file=sys.stderr)
            return EXIT_INPUT_ERROR
    if command == "import-inspect":
        from consistency.interop.inspect_import import main as import_main

        try:
            return import_main(rest)
        except InputError as exc:
            _fail(str(exc))
    print(textwrap.fill(for_terminal(f"consistency: error: {unknown_command(command)}"),
                        width=100, break_long_words=False), file=sys.stderr)
    return EXIT_INPUT_ERROR


COMMANDS = ("run", "plan", "monitor", "report", "compare", "view", "list", "init",
            "import-inspect", "import-bench-af")


def unknown_command(command: str) -> str:
    """One paragraph for a misspelt subcommand: the nearest command when one is close, and the
    list of all of them."""
    import difflib

    near = difflib.get_close_matches(command, COMMANDS, n=1, cutoff=0.6)
    hint = f"did you mean '{near[0]}'? " if near else ""
    return (f"unknown command {command!r}; {hint}commands: {', '.join(COMMANDS)} "
            "(consistency --help shows their usage)")


def entry() -> None:
    """Console-script entry (``consistency``, ``python -m consistency.cli``): :func:`main`, then a
    prompt exit when that is safe.

    When :func:`main` returns, every output file is written and closed and the journal committed,
    so the interpreter's teardown (freeing the module state of pandas, scipy and Hydra: about
    0.3 s of every run, measured with ``benchmarks/bench_runner.py``) does nothing for the user.
    The process then flushes standard output and error and exits at once. Not after a sweep on
    the joblib launcher: its worker processes are stopped by the ordinary teardown, and skipping
    it would leave them holding the terminal's output open for minutes. Errors (``SystemExit``
    from an input error, a traceback from a bug) take the ordinary way out.
    """
    status = main()
    if "joblib" in sys.modules or threading.active_count() > 1:
        raise SystemExit(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _hydra_run(overrides: list[str]) -> int:
    """``consistency run``: Hydra composes the config against the schemas of
    :mod:`consistency.design.config`; a config it cannot compose (misspelt key, wrong type, unknown
    option) is an input error, exit 2, not Hydra's exit 1 (which means a stopped run here)."""
    import hydra
    from omegaconf import DictConfig

    from consistency.design.config import config_error

    if not CONF_DIR.is_dir():
        print(f"consistency: config folder {CONF_DIR} is missing; install the project in editable "
              "mode from its checkout (pip install -e .)", file=sys.stderr)
        return EXIT_INPUT_ERROR

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def _app(cfg: DictConfig) -> None:
        _redact_sweep_record()
        from consistency.design.sweep_ids import job_header, job_run_id

        swept = job_run_id(cfg.run_id)  # a sweep's jobs resume by ids derived from overrides
        if swept is not None:
            cfg.run_id = swept
            print(for_terminal(f"{job_header()} (run {swept})"), flush=True)
        try:
            folder = _execute(cfg)
        except InputError as exc:
            _fail(str(exc))
        except _Aborted as exc:
            _fail(str(exc), status=1)
        if folder is None:  # a dry run: the plan is printed, nothing was sent
            print("dry run: nothing was sent and no run folder was created")
            return
        print(for_terminal(f"run folder: {folder}"))
        print(for_terminal(f"report: {folder / 'report.html'} (consistency view {folder})"))
        _gate_untested(folder, str(cfg.run_id))

    saved, saved_full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    # --dry-run is ours, not Hydra's: the same as the override runner.dry_run=true
    overrides = [DRY_RUN_OVERRIDE if arg == "--dry-run" else arg for arg in overrides]
    sys.argv = ["consistency run", *[literal_run_id(arg) for arg in overrides]]
    # Hydra's documented switch to raise instead of printing and exiting 1: we decide the status.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    _UNTESTED.clear()
    try:
        _app()
    except Exception as exc:  # noqa: BLE001 - config problems exit 2; anything else re-raises
        message = config_error(exc)
        if message is None:
            raise
        _fail(message)
    finally:
        sys.argv = saved
        if saved_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full_error
    return EXIT_UNTESTED if _UNTESTED else 0


#: Run folders of this sweep that finished without testing anything (see _gate_untested).
_UNTESTED: list[Path] = []


def _gate_untested(folder: Path, run_id: str) -> None:
    """A finished run that tested nothing exits 4 with the reason (:mod:`consistency.run.outcome`).
    In a sweep the other jobs still run; the sweep exits 4 at the end (jobs of the basic
    launcher, which run in this process)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from consistency.run.outcome import untested_message

    message = untested_message(folder, run_id)
    if message is None:
        return
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        print(textwrap.fill(for_terminal(f"consistency: {message}"), width=100,
                            break_long_words=False, break_on_hyphens=False), file=sys.stderr)
        _UNTESTED.append(folder)
        return
    _fail(message, status=EXIT_UNTESTED)


def _redact_sweep_record() -> None:
    """Hydra keeps a copy of a sweep's config (``multirun.yaml`` in the sweep folder), overrides
    included: a ``base_url`` with ``user:password@`` would stay there in clear. Each job rewrites
    it redacted (the same text every time, renamed into place, so parallel jobs agree)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from consistency.common.sanitise import redact

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    record = Path(HydraConfig.get().sweep.dir) / "multirun.yaml"
    try:
        text = record.read_text(encoding="utf-8")
    except OSError:
        return
    clean = redact(text)
    if clean != text:
        tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
        tmp.write_text(clean, encoding="utf-8")
        tmp.replace(record)
_RUN_ID_OVERRIDE = re.compile(r"(\+{0,2}run_id=)(.+)", re.S)


def literal_run_id(arg: str) -> str:
    """``run_id=VALUE`` with VALUE quoted, so Hydra keeps it as typed: unquoted, ``1_000`` would
    become the integer 1000 and ``1e3`` the float 1000.0, naming another folder. ``null``,
    quoted values, interpolations and sweep functions are left as they are; a comma list
    (``-m run_id=a,b``) has each element quoted."""
    match = _RUN_ID_OVERRIDE.fullmatch(arg)
    if not match:
        return arg
    prefix, value = match.groups()
    if value == "null" or value[0] in "'\"" or any(char in value for char in "$()[]{}\\"):
        return arg
    parts = value.split(",")
    if any("'" in part and '"' in part for part in parts):
        return arg
    return prefix + ",".join(f'"{part}"' if "'" in part else f"'{part}'" for part in parts)


class _Aborted(Exception):
    pass


def _execute(cfg: "DictConfig") -> Path | None:  # noqa: F821 - imported lazily for a fast --help
    from consistency.pipeline import execute
    from consistency.run.runner import RunAborted

    try:
        return execute(cfg)
    except RunAborted as exc:
        raise _Aborted(f"run stopped: {exc}") from None


def _fail(message: str, status: int = EXIT_INPUT_ERROR) -> None:
    print(textwrap.fill(for_terminal(f"consistency: error: {message}"), width=100,
                        break_long_words=False, break_on_hyphens=False), file=sys.stderr)
    raise SystemExit(status)


if __name__ == "__main__":
    entry()
