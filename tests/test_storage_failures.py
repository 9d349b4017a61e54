"""A run folder that stops taking writes mid-run (disk full, turned read-only) ends with one
paragraph saying so and how to resume (exit 1, no traceback), and the resume requests only the
cells without a stored response.

Disk full is real: the run folder is on a small tmpfs that the test server fills up in the
middle of the run (needs root to mount; skipped otherwise). Read-only is real too: as root,
a read-only bind mount is laid over the run folder mid-run (files the run already holds open
stay writable, as with any remount; new files cannot be created); as another user, the folder's
write permission is removed (chmod), which root would ignore.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from provider_server import ProviderServer, answer_key_policy
from runner_support import journal_rows

KEY = {"OPENAI_API_KEY": "sk-" + "test-storage-0123456789"}
CELLS = 40  # 2 capability + 2 harmful items under the suite's 10 framings


def _can_mount(tmp: Path) -> bool:
    if os.geteuid() != 0:
        return False
    point = tmp / "probe-mount"
    point.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)],
                        capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", str(point)], check=True)
    return ok


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs, unmounted after the test."""
    if not _can_mount(tmp_path):
        pytest.skip("needs root and mount(8) for a small real file system")
    point = tmp_path / "disk"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point)], check=True)
    yield point
    subprocess.run(["umount", "-l", str(point)], check=False)


def run(server, suite, results: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",
                                                           "ANTHROPIC_API_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "consistency.cli", "run", "model=openai", "model.name=scripted",
         f"model.base_url={server.openai_base_url}", f"tasks.path={suite.tasks}",
         f"conditions.path={suite.conditions}", "tasks.limit=2", "controls.planted=false",
         "checks.manipulation=false", f"results_dir={results}", "run_id=run",
         "runner.quiet=true", "runner.max_connections=2", "model.max_retries=0", *extra],
        capture_output=True, text=True, env=env | KEY, timeout=300, stdin=subprocess.DEVNULL)


def after(n: int, action, policy):
    """``policy``, but ``action()`` runs once, when the n-th request arrives."""
    count, lock = [0], threading.Lock()

    def wrapped(req):
        with lock:
            count[0] += 1
            if count[0] == n:
                action()
        return policy(req)

    return wrapped


def fill(folder: Path) -> None:
    """Write until the file system refuses: ENOSPC."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def assert_stopped_with_a_message(proc, cause: str) -> None:
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert message.startswith("consistency: error: run stopped: cannot write to the run folder")
    assert cause in message and "run_id=run" in message and "resume" in message


def test_a_disk_that_fills_up_mid_run_stops_with_a_message_and_resumes(suite, small_disk):
    results = small_disk / "results"
    policy = answer_key_policy(suite.answers, suite.harmful)
    with ProviderServer(after(10, lambda: fill(small_disk), policy)) as server:
        stopped = run(server, suite, results)
        first = server.request_count
    assert_stopped_with_a_message(stopped, "no space left on the device")
    stored = {cell for cell, status, _ in journal_rows(results / "run") if status != "error"}
    assert 0 < len(stored) < CELLS and first < CELLS
    (small_disk / "filler").unlink()
    with ProviderServer(policy) as server:
        resumed = run(server, suite, results)
        second = server.request_count
    assert resumed.returncode == 0, resumed.stderr
    assert second == CELLS - len(stored)
    assert len(journal_rows(results / "run")) == CELLS


def _make_read_only(folder: Path) -> None:
    if os.geteuid() == 0:  # root ignores permissions: a read-only mount over the folder
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
    else:
        folder.chmod(0o555)


def _make_writable(folder: Path) -> None:
    if os.geteuid() == 0:
        while subprocess.run(["mountpoint", "-q", str(folder)]).returncode == 0:
            subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o755)


@pytest.fixture
def read_only_later(tmp_path):
    """``make(folder)`` turns ``folder`` read-only; undone (and unmounted) after the test."""
    if os.geteuid() == 0 and not _can_mount(tmp_path):
        pytest.skip("as root, only a read-only mount makes a folder read-only")
    made: list[Path] = []

    def make(folder: Path) -> None:
        _make_read_only(folder)
        made.append(folder)

    yield make
    for folder in made:
        _make_writable(folder)


def test_a_folder_turned_read_only_mid_run_stops_with_a_message_and_resumes(
        suite, tmp_path, read_only_later):
    results = tmp_path / "results"
    policy = answer_key_policy(suite.answers, suite.harmful)
    folder = results / "run"
    with ProviderServer(after(10, lambda: read_only_later(folder), policy)) as server:
        stopped = run(server, suite, results)
        first = server.request_count
    assert_stopped_with_a_message(
        stopped, "the file system is read-only" if os.geteuid() == 0 else "permission denied")
    assert first == CELLS  # the journal (open before) took every response; the outputs did not
    assert not (folder / "summary.json").exists()
    _make_writable(folder)
    with ProviderServer(policy) as server:
        resumed = run(server, suite, results)
        second = server.request_count
    assert resumed.returncode == 0, resumed.stderr
    assert second == 0
    assert (folder / "summary.json").is_file()
