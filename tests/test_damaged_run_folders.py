"""``report``, ``compare`` and ``monitor`` on a damaged or hostile run folder: one paragraph
naming the file and exit 2, never a traceback, never the alarm status 1, and nothing in a
file is ever executed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from publishing_support import cli, honest, run, write_corpus

MARKER = "consistency-pwned-marker"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One real finished run (loopback server, official SDK), copied by each test."""
    root = tmp_path_factory.mktemp("damaged")
    corpus = write_corpus(root / "corpus", n=6)
    run(honest(corpus), corpus, root / "results", "run_id=good", "model.name=m")
    return root / "results" / "good"


def nested(depth: int = 100_000) -> str:
    return '{"run_id": "bad", "model": "openai:m", "deep": ' + "[" * depth + "]" * depth + "}"


DAMAGE = {
    "scores.parquet": lambda path: path.write_bytes(path.read_bytes()[:200]),
    "summary.json": lambda path: path.write_text(nested()),
    "tests.csv": lambda path: path.write_bytes(b"\xff\xfe\x00garbage\x00" * 50),
    "environment.json": lambda path: path.write_text("[" * 100_000),
    "responses.parquet": lambda path: path.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1"),
}


def foreign_scores(path: Path) -> None:
    """A valid Parquet file, but not a run's scores."""
    import pandas as pd

    pd.DataFrame({"something": [1, 2]}).to_parquet(path)


def hostile_config(path: Path, marker: Path) -> None:
    path.write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n"
                    f"epochs: !!python/object/apply:builtins.print ['{MARKER}']\n")


def damaged(finished: Path, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "bad"
    shutil.copytree(finished, folder)
    if name == "config.yaml":
        hostile_config(folder / name, tmp_path / MARKER)
    elif name == "foreign scores.parquet":
        foreign_scores(folder / "scores.parquet")
    else:
        DAMAGE[name](folder / name)
    return folder


def assert_one_paragraph(proc, name: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Error:" not in proc.stderr.split("error:", 1)[0]
    message = " ".join(proc.stderr.split())
    assert message.startswith("consistency: error:") and name in message, message
    assert MARKER not in proc.stdout + proc.stderr


FILES = ["scores.parquet", "config.yaml", "summary.json", "tests.csv", "environment.json",
         "foreign scores.parquet"]


@pytest.mark.parametrize("name", [*FILES, "responses.parquet"])
def test_report_names_the_damaged_file_and_exits_2(finished, tmp_path, name):
    folder = damaged(finished, tmp_path, name)
    proc = cli("report", str(folder), "--out", str(tmp_path / "out"), "--format", "md,html")
    assert_one_paragraph(proc, name.split()[-1])
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_compare_names_the_damaged_file_and_exits_2(finished, tmp_path, name, side):
    folder = damaged(finished, tmp_path, name)
    pair = (folder, finished) if side == "baseline" else (finished, folder)
    proc = cli("compare", *map(str, pair))
    assert_one_paragraph(proc, name.split()[-1])
    assert not (tmp_path / MARKER).exists()


@pytest.mark.parametrize("name", ["scores.parquet", "summary.json", "foreign scores.parquet"])
def test_monitor_on_a_damaged_file_exits_2_not_its_alarm_status(finished, tmp_path, name):
    folder = damaged(finished, tmp_path, name)
    proc = cli("monitor", str(finished), str(folder))
    assert_one_paragraph(proc, name.split()[-1])


def test_the_undamaged_run_is_reported_compared_and_monitored(finished, tmp_path):
    assert cli("report", str(finished), "--out", str(tmp_path / "out"),
               "--format", "md").returncode == 0
    assert cli("compare", str(finished), str(finished)).returncode == 0
    assert cli("monitor", str(finished)).returncode == 0
