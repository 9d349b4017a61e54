"""Finding one's way: ``--version``, ``list``, ``run --help`` in this project's words, and a
did-you-mean for a misspelt command."""

from __future__ import annotations

import subprocess
import sys

from consistency import __version__
from consistency.publish.catalogue import family_rows, pair_rows
from consistency.design.tasks import builtin_items


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "consistency.cli", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_version_prints_the_package_version():
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"consistency {__version__}"


def test_a_misspelt_command_names_the_nearest_one_and_exits_2():
    proc = cli("reprot", "results")
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 2
    assert "unknown command 'reprot'; did you mean 'report'?" in message
    assert "Traceback" not in proc.stderr


def test_a_command_far_from_any_gets_the_list_without_a_guess():
    proc = cli("frobnicate")
    assert proc.returncode == 2 and "did you mean" not in proc.stderr
    assert "commands: run, plan" in " ".join(proc.stderr.split())


def test_list_shows_pairs_with_family_and_kind_and_families_with_item_counts():
    proc = cli("list")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for section in ("Pairs", "Task families", "Designs", "Metrics"):
        assert section in out
    # a placebo is listed under the family of the test pair it is matched to
    placebo = next(line for line in out.splitlines() if line.startswith("placebo_wording "))
    assert placebo.split()[1:3] == ["placebo", "evaluation_vs_deployment"]
    counts = {}
    for item in builtin_items():
        counts[item.family] = counts.get(item.family, 0) + 1
    for family, count in counts.items():
        line = next(line for line in out.splitlines() if line.startswith(family + " "))
        assert line.split()[1] == str(count)
    assert any(line.startswith("quick ") and "model=local" in line for line in out.splitlines())
    assert any(line.split()[:2] == ["correct", "accuracy"] for line in out.splitlines())


def test_list_reads_a_users_own_files(tmp_path):
    tasks = tmp_path / "t.jsonl"
    tasks.write_text('{"id": "a", "family": "harmful", "prompt": "Do a bad thing."}\n'
                     '{"id": "b", "family": "harmful", "prompt": "Do another bad thing."}\n')
    assert family_rows(str(tasks)) == [{"family": "harmful", "items": "2",
                                        "metrics": "refused, aware, training_reasoning",
                                        "kinds": ""}]
    assert all(row["kind"] != "planted" for row in pair_rows(None)[:2])


def test_list_of_an_unknown_section_is_an_input_error():
    proc = cli("list", "pears")
    assert proc.returncode == 2 and "unknown section(s) pears" in proc.stderr


def test_run_help_describes_groups_and_keys_from_the_config_comments():
    proc = cli("run", "--help")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # not Hydra's generic page
    assert "Powered by Hydra" not in out and "== Config ==" not in out
    for group in ("model=local|openai|anthropic", "runner=default|batch", "checks", "analysis"):
        assert f"\n{group}\n" in out
    # every key with its default, and the meaning written above its field in config.py
    assert "  model.threads = null  [model=local]" in out
    assert "CPU threads for llama.cpp" in out
    assert "  analysis.equivalence_margin = 0.1" in out
    assert "TOST equivalence margin" in out
    assert "  epochs = 1" in out
    assert max(map(len, out.splitlines())) <= 100


def test_run_help_after_overrides_is_still_this_projects_help():
    proc = cli("run", "model=openai", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: consistency run")
