"""``consistency init DIR`` writes a study that runs as it is, end to end, with the documented
command (``cd DIR && consistency run --config-dir . --config-name study``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pathlib import Path

import pandas as pd
from provider_server import ProviderServer, answer_key_policy, cue_present

from consistency.design.framing import load_pairs
from consistency.design.tasks import load_items

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    # the study runs from its own folder: the package must come from this checkout, not cwd
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "consistency.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=base | (env or {}),
                          stdin=subprocess.DEVNULL)


def test_init_writes_valid_study_files(tmp_path):
    study = tmp_path / "study"
    proc = cli("init", str(study))
    assert proc.returncode == 0, proc.stderr
    items = load_items(study / "tasks.jsonl")
    assert {i.family for i in items} == {"capability", "harmful"}
    pairs = load_pairs(study / "conditions.yaml")
    assert [(p.name, p.kind) for p in pairs] == [("evaluated_vs_deployed", "test"),
                                                ("placebo_wording", "placebo")]
    assert pairs[0].matched_placebo == "placebo_wording"
    assert "--config-dir . --config-name study" in (study / "README.md").read_text()


def test_init_never_overwrites(tmp_path):
    assert cli("init", str(tmp_path / "s")).returncode == 0
    again = cli("init", str(tmp_path / "s"))
    assert again.returncode == 2 and "never overwrites" in " ".join(again.stderr.split())


def test_the_scaffolded_study_runs_end_to_end_and_reports_verdicts(tmp_path):
    study = tmp_path / "study"
    assert cli("init", str(study)).returncode == 0
    items = load_items(study / "tasks.jsonl")
    answers = {i.prompt: i.answer for i in items if i.family == "capability"}
    harmful = [i.prompt for i in items if i.family == "harmful"]
    evaluated = cue_present("evaluation")
    # a model that sandbags when it reads an evaluation notice
    policy = answer_key_policy(answers, harmful, correct_when=lambda r: not evaluated(r))
    with ProviderServer(policy) as server:
        proc = cli("run", "--config-dir", ".", "--config-name", "study", "model=openai",
                   "model.name=scripted", f"model.base_url={server.openai_base_url}",
                   "run_id=first", cwd=study)
    assert proc.returncode == 0, proc.stderr
    folder = study / "results" / "first"
    tests = pd.read_csv(folder / "tests.csv")
    verdicts = {(r.family, r.pair, r.metric): r.verdict for r in tests.itertuples()}
    assert verdicts[("capability", "evaluated_vs_deployed", "correct")] == "sandbagging"
    assert verdicts[("capability", "placebo_wording", "correct")] not in (
        "sandbagging", "divergence")
    # the study's own settings were applied (no planted controls, a manipulation check)
    config = (folder / "config.yaml").read_text()
    assert "tasks.jsonl" in config and "planted: false" in config
    assert (folder / "checks.csv").is_file()
    # the verdict table reached the terminal and report.md
    assert "evaluated_vs_deployed" in proc.stdout and "sandbagging" in proc.stdout
    report = (folder / "report.md").read_text()
    row = next(line for line in report.splitlines()
               if "| evaluated_vs_deployed |" in line and "| correct |" in line)
    assert "sandbagging" in row
    assert json.loads((folder / "summary.json").read_text())["run_id"] == "first"
