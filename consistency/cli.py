"""Command line: ``consistency run [hydra overrides]``, ``consistency plan [flags]`` and
``consistency monitor RUN_DIR...``.

Hydra owns ``run`` (config groups under ``conf/``, ``-m`` sweeps); other commands use plain
argument parsing. Input errors print one paragraph and exit with status 2; nothing is sent then.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
from pathlib import Path

from consistency.errors import EXIT_INPUT_ERROR, InputError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

USAGE = """\
usage: consistency run [OVERRIDES ...]     run (or resume) a paired consistency evaluation

Overrides are Hydra's: key=value, group=option, and -m for sweeps. Examples:
  consistency run                                   the embedded local model, built-in suites
  consistency run model=openai model.name=gpt-4o-mini epochs=3
  consistency run model=openai model.base_url=http://127.0.0.1:8000/v1 model.name=my-model
  consistency run tasks.path=my_tasks.jsonl conditions.path=my_pairs.yaml run_id=trial-1
  consistency run -m model.temperature=0,0.7 epochs=2
  consistency run --cfg job                         show the resolved config and exit

usage: consistency plan [--items N | --mde D] [flags]   power planner (consistency plan --help)
  consistency plan --items 200 --epochs 3 --within-var 0.5 --between-var 0.01
  consistency plan --mde 0.05 --one-sided
  consistency plan --mde 0.1 --discordance 0.3     exact McNemar, one response per arm

usage: consistency monitor RUN_DIR [RUN_DIR ...] [--alpha A]   anytime-valid alarms over the runs
  consistency monitor results/nightly-*             of one configuration, oldest first; exit 1 on alarm

usage: consistency import-inspect LOG_OR_DIR... --out RUN_DIR [options]   paired analysis of
  existing Inspect AI logs (consistency import-inspect --help)
  consistency import-inspect --observed logs/eval --unobserved logs/deploy --out results/imp-1
  consistency import-inspect logs/ --arm-from metadata.condition --observed-value eval \\
      --unobserved-value deploy --out results/imp-2
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``consistency`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "run":
        return _hydra_run(rest)
    if command == "plan":
        from consistency.planner import run_plan

        status, text = run_plan(rest)
        print(text, file=sys.stderr if status else sys.stdout)
        return status
    if command == "monitor":
        from consistency.monitoring import main as monitor_main

        try:
            return monitor_main(rest)
        except InputError as exc:
            print(f"consistency: error: {exc}", file=sys.stderr)
            return EXIT_INPUT_ERROR
    if command == "import-inspect":
        from consistency.inspect_import import main as import_main

        try:
            return import_main(rest)
        except InputError as exc:
            _fail(str(exc))
    print(f"consistency: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return EXIT_INPUT_ERROR


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
    import hydra
    from omegaconf import DictConfig

    if not CONF_DIR.is_dir():
        print(f"consistency: config folder {CONF_DIR} is missing; install the project in editable "
              "mode from its checkout (pip install -e .)", file=sys.stderr)
        return EXIT_INPUT_ERROR

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def _app(cfg: DictConfig) -> None:
        try:
            folder = _execute(cfg)
        except InputError as exc:
            _fail(str(exc))
        except _Aborted as exc:
            _fail(str(exc), status=1)
        print(f"run folder: {folder}")

    saved = sys.argv
    sys.argv = ["consistency run", *overrides]
    try:
        _app()
    finally:
        sys.argv = saved
    return 0


class _Aborted(Exception):
    pass


def _execute(cfg: "DictConfig") -> Path:  # noqa: F821 - imported lazily for a fast --help
    from consistency.pipeline import execute
    from consistency.runner import RunAborted

    try:
        return execute(cfg)
    except RunAborted as exc:
        raise _Aborted(f"run stopped: {exc}") from None


def _fail(message: str, status: int = EXIT_INPUT_ERROR) -> None:
    print(textwrap.fill(f"consistency: error: {message}", width=100, break_long_words=False,
                        break_on_hyphens=False), file=sys.stderr)
    raise SystemExit(status)


if __name__ == "__main__":
    entry()
