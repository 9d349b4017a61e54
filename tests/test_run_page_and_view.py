"""Every run folder holds its own report.html, the run's last line names it, and
``consistency view`` shows it: in a browser, or served on 127.0.0.1 when none can be opened."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import run_cli
from provider_server import ProviderServer, answer_key_policy, cue_present

from consistency.publish.run_page import page_for


def _run(suite, tmp_path: Path, quiet: bool = False):
    evaluated = cue_present("evaluation")
    policy = answer_key_policy(suite.answers, suite.harmful, correct_when=lambda r: not evaluated(r))
    with ProviderServer(policy) as server:
        result = run_cli("model=openai", "model.name=scripted",
                         f"model.base_url={server.openai_base_url}", f"tasks.path={suite.tasks}",
                         f"conditions.path={suite.conditions}", "tasks.limit=10",
                         f"runner.quiet={str(quiet).lower()}", results=tmp_path / "results")
    assert result.status == 0, result.stderr
    return result


@pytest.fixture
def finished_run(suite, tmp_path):
    return _run(suite, tmp_path)


def test_a_run_writes_a_self_contained_report_html_and_its_last_line_names_it(finished_run):
    page = finished_run.folder / "report.html"
    html = page.read_text()
    assert "<html" in html.lower() and "eval_vs_deploy" in html
    assert "data:image/png;base64," in html  # the forest plot travels inside the page
    assert "<script src=" not in html and '<link rel="stylesheet" href=' not in html
    last = finished_run.stdout.strip().splitlines()[-1]
    assert str(page) in last and "consistency view" in last
    # the plot is embedded: the run folder gains no image files
    assert not list(finished_run.folder.glob("forest.*"))


def test_view_serves_the_page_on_loopback_when_no_browser_can_be_opened(finished_run):
    # no display and no console browser: Python's webbrowser finds nothing to open
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                            "BROWSER", "TERM")}
    proc = subprocess.Popen([sys.executable, "-m", "consistency.cli", "view",
                             str(finished_run.folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert "no browser could be opened" in first, (first, proc.stderr.read())
        url = next(w for w in second.split() if w.startswith("http://127.0.0.1:"))
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        assert body == (finished_run.folder / "report.html").read_text()
        # the rest of the run folder (responses, config) is not served
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "config.yaml", timeout=10)
        assert err.value.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_view_opens_the_page_with_the_browser_python_finds(finished_run, tmp_path):
    # BROWSER names the command webbrowser runs; this one records the URL it is given
    record = tmp_path / "opened.txt"
    fake = tmp_path / "browser.sh"
    fake.write_text(f'#!/bin/sh\necho "$1" > {record}\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "consistency.cli", "view",
                           str(finished_run.folder)], capture_output=True, text=True,
                          env=env | {"BROWSER": str(fake)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "opened" in proc.stdout
    assert record.read_text().strip() == (finished_run.folder / "report.html").resolve().as_uri()


def test_view_of_a_folder_that_is_no_run_is_an_input_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "consistency.cli", "view", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "not a finished run folder" in " ".join(proc.stderr.split())


def test_view_writes_the_page_of_a_run_that_predates_it(finished_run):
    page = finished_run.folder / "report.html"
    page.unlink()
    assert page_for(finished_run.folder) == page and page.is_file()


def test_a_pair_named_null_reaches_the_page_and_the_report_as_its_name(suite, tmp_path):
    # "null" is a valid pair name; pandas' CSV reader would take it for a missing value
    suite.conditions.write_text(suite.conditions.read_text().replace("name: wording",
                                                                     "name: \"null\""))
    result = _run(suite, tmp_path, quiet=True)
    html = (result.folder / "report.html").read_text()
    assert 'data-pair="null"' in html
    proc = subprocess.run([sys.executable, "-m", "consistency.cli", "report",
                           str(result.folder), "--out", str(tmp_path / "out"), "--format", "md"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| null |" in (tmp_path / "out" / "report.md").read_text().replace("null †", "null")
