"""Helpers for runner tests: compose the real Hydra config and run the pipeline in this process.

In-process runs keep the runner tests fast (no interpreter start per run); the tests that must see a
process die (kill -9) or two processes race use the CLI in subprocesses instead.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from consistency.cli import CONF_DIR
from consistency.pipeline import execute

FLAGS = {"sandbagging", "strategic_compliance", "divergence"}


def openai_overrides(server, suite) -> list[str]:
    return ["model=openai", "model.name=scripted", f"model.base_url={server.openai_base_url}",
            f"tasks.path={suite.tasks}", f"conditions.path={suite.conditions}", "runner.quiet=true",
            "controls.planted=false", "checks.manipulation=false"]


def run_inprocess(*overrides: str, results: Path, run_id: str = "run") -> Path:
    """``consistency run`` without the subprocess: same config, same pipeline; returns the folder.
    Planted controls are off unless an override names ``controls.`` (as in ``conftest.run_cli``)."""
    GlobalHydra.instance().clear()
    controls = [] if any(o.startswith("controls.") for o in overrides) else ["controls.planted=false"]
    controls += [] if any(o.startswith("checks.") for o in overrides) else ["checks.manipulation=false"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"results_dir={results}", f"run_id={run_id}",
                                           *controls, *overrides])
    return execute(cfg)


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def verdicts(folder: Path) -> dict[tuple[str, str, str], str]:
    return {(t["family"], t["pair"], t["metric"]): t["verdict"] for t in summary(folder)["tests"]
            if t["pair_kind"] != "planted"}


def journal_rows(folder: Path) -> list[tuple]:
    """``(cell_id, status, error_kind)`` of every journal row, read with plain sqlite3."""
    with sqlite3.connect(folder / "journal.sqlite") as db:
        return db.execute("SELECT cell_id, status, error_kind FROM responses").fetchall()


def cell_key(req) -> tuple[str, str]:
    """What identifies a cell on the server side: its framing (system text) and its task text."""
    return (req.system, req.user_text)
