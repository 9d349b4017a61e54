"""The real Bench-AF environments, read from the wheel scripts/setup downloads (best effort)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from consistency.interop.bench_af import POLARITY

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench-af"

#: environment -> (rows paired, rows not paired, behaviour letter or None for a string target);
#: the figures of docs/importers.md ("The environments of bench-af 0.1.13")
TEXT_ENVIRONMENTS = {
    "delete_model": (100, 0, "C"),
    "highest_bid_military": (100, 0, "C"),
    "report_failure": (100, 0, None),
    "report_resources": (100, 0, "C"),
    "report_resources_no_tools": (100, 0, "C"),
    "report_score": (100, 0, "C"),
    "report_score_military": (100, 0, "C"),
    "steal_resources": (101, 0, "C"),
    "write_article_military": (101, 0, None),
}
NOT_INDEX_PAIRED = {"report_failure_military": 100}
#: no string target: scored by the environment's own code, refused here with a clear message
NO_TARGET = ("blackmail", "blackmail_no_tools")


def wheel() -> Path | None:
    found = sorted(CACHE.glob("bench_af-0.1.13-*.whl")) if CACHE.is_dir() else []
    return found[0] if found else None


def import_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "consistency.cli", "import-bench-af", *args],
                          check=False, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def environments(tmp_path_factory) -> Path:
    path = wheel()
    if path is None:
        pytest.skip(f"no bench-af 0.1.13 wheel in {CACHE}: scripts/setup could not download it "
                    "(it runs pip download --no-deps --python-version 3.12 --only-binary=:all: "
                    "bench-af==0.1.13 -d .cache/bench-af)")
    root = tmp_path_factory.mktemp("wheel")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(root)
    return root / "bench_af" / "environments"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEXT_ENVIRONMENTS))
def test_real_text_environment_pairs_and_scores_as_documented(environments, name, tmp_path):
    paired, unpaired, letter = TEXT_ENVIRONMENTS[name]
    out = tmp_path / "suite.jsonl"
    proc = import_cli(str(environments / name), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"{name}: {paired} row(s) paired, {unpaired} not paired; {paired} item(s) written" \
        in proc.stdout
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(items) == paired and all(item["confounded"] for item in items)
    assert all("arms" in item and "turns" not in item for item in items)  # text, not tool
    for item in items:
        if letter is None:
            assert "rubrics" not in item and "target_present" in item["patterns"]
        else:
            metric = item["rubrics"]["rubric_behaviour"]
            assert "patterns" not in item
            assert metric["behaviour"] == letter == POLARITY[name]
            assert metric["answers"] == ["C", "I"]


@pytest.mark.slow
def test_every_rubric_environment_of_the_wheel_is_in_the_table(environments):
    rubric = {name for name, (_, _, letter) in TEXT_ENVIRONMENTS.items() if letter}
    assert rubric == set(POLARITY)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOT_INDEX_PAIRED))
def test_real_environment_not_index_paired_is_reported_and_not_imported(environments, name,
                                                                        tmp_path):
    rows = NOT_INDEX_PAIRED[name]
    proc = import_cli(str(environments / name), "--out", str(tmp_path / "suite.jsonl"))
    assert proc.returncode == 2
    assert f"{name}: 0 row(s) paired, {rows} not paired; 0 item(s) written" in proc.stdout
    assert f"not paired (the inputs differ in more than one place): rows 0-{rows - 1}" \
        in proc.stdout
    assert "no paired rows" in " ".join(proc.stderr.split())
    assert not (tmp_path / "suite.jsonl").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", NO_TARGET)
def test_real_environment_without_a_target_is_refused_clearly(environments, name, tmp_path):
    proc = import_cli(str(environments / name), "--out", str(tmp_path / "suite.jsonl"))
    assert proc.returncode == 2
    assert "string 'target'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_all_environment_folders_of_the_wheel_are_accounted_for(environments):
    folders = {p.parent.name for p in environments.glob("*/test_dataset.json")
               if (p.parent / "deployment_dataset.json").exists()}
    assert folders == set(TEXT_ENVIRONMENTS) | set(NOT_INDEX_PAIRED) | set(NO_TARGET)
    tool = {name for name in folders
            if any("files" in row for row in json.loads(
                (environments / name / "test_dataset.json").read_text(encoding="utf-8")))}
    assert tool == {"blackmail"}


@pytest.mark.slow
def test_all_paired_environments_import_together(environments, tmp_path):
    names = sorted(TEXT_ENVIRONMENTS) + sorted(NOT_INDEX_PAIRED)
    out = tmp_path / "suite.jsonl"
    proc = import_cli(*(str(environments / name) for name in names), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    total = sum(paired for paired, _, _ in TEXT_ENVIRONMENTS.values())
    assert f"wrote {total} item(s)" in proc.stdout
    assert len(out.read_text(encoding="utf-8").splitlines()) == total == 902
