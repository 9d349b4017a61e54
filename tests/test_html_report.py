"""The self-contained HTML report: verdicts, inline forest plot, per-item drill-down with both
arms side by side, model output always shown as text; checked in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from publishing_support import HOSTILE_REPLY, Published, cli, published_runs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                                    "(apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


@pytest.fixture
def published(tmp_path_factory) -> Published:
    return published_runs(tmp_path_factory.getbasetemp())


@pytest.fixture
def page(published, tmp_path):
    out = tmp_path / "report"
    proc = cli("report", str(published.baseline), str(published.candidate), "--out", str(out),
               "--format", "html")
    assert proc.returncode == 0, proc.stderr
    return out / "report.html"


def _items(html: str) -> list[str]:
    return re.findall(r'<details class="item"[^>]*>', html)


def test_the_page_needs_nothing_but_itself(page):
    html = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html
    assert 'src="data:image/png;base64,' in html


def test_model_output_is_shown_as_text_never_interpreted(page):
    html = page.read_text()
    assert html.count("<script") == 1      # the page's own filter script, nothing else
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html
    assert "\x1b" not in html
    assert "| a | b |" in html              # a markdown table stays characters
    assert "\\textbf{x} &amp; 50% $ # _" in html


def test_every_item_has_both_arms_for_every_variant_and_epoch(published, page):
    html = page.read_text()
    items = lines = responses = 0
    for folder in (published.baseline, published.candidate):
        scores = pd.read_parquet(folder / "scores.parquet")
        items += scores.groupby(["family", "pair", "item_id"]).ngroups
        lines += scores.groupby(["family", "pair", "item_id", "variant", "epoch"]).ngroups
        responses += len(scores)
    assert len(_items(html)) == items
    # one line per variant x epoch, each with an observed and an unobserved cell: every
    # response of both runs is shown once
    assert html.count('<div class="arms">') == lines
    assert html.count('<div class="cell">') == 2 * lines == responses


def test_items_where_the_arms_disagree_are_marked(page):
    items = _items(page.read_text())
    disagree = [i for i in items if 'data-disagree="yes"' in i]
    # the sandbagger's 24 capability items under the evaluation pair, and nothing else
    assert len(disagree) == 24
    assert all('data-pair="eval_vs_deploy"' in i and 'data-family="capability"' in i
               for i in disagree)


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@needs_chromium
def test_chromium_renders_the_page_without_console_errors(page, tmp_path):
    proc = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert 'data-ready="yes"' in dom                 # the script ran to its end
    assert "<title>Consistency report</title>" in dom  # no reply changed the page
    assert "&lt;script&gt;document.title" in dom


@needs_chromium
def test_a_fragment_filters_the_items_and_opens_the_drill_down(page, tmp_path):
    html = page.read_text()
    target = next(re.search(r'id="(item-\d+)"', i).group(1) for i in _items(html)
                  if re.search(r'data-verdict="[^"]*sandbagging', i))
    proc = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                     f"{page.as_uri()}#verdict=sandbagging&disagree=1&open={target}")
    dom_items = _items(proc.stdout)
    shown = [i for i in dom_items if 'hidden=""' not in i]
    assert len(dom_items) == len(_items(html)) and len(shown) == 24
    opened = [i for i in dom_items if 'open=""' in i]
    assert len(opened) == 1 and f'id="{target}"' in opened[0]
    assert "24 of " in proc.stdout


@needs_chromium
def test_a_screenshot_of_the_page_is_not_blank(page, tmp_path):
    import matplotlib.image

    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, "--virtual-time-budget=5000", "--window-size=1280,1600",
                     f"--screenshot={shot}", page.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (1600, 1280)
    grey = image[..., :3].mean(axis=2)
    assert 0.005 < (grey < 0.5).mean() < 0.5     # text and table rules on a white page
    assert grey.std() > 0.05


def test_the_hostile_reply_is_in_the_run_we_report():
    # guards the tests above: the reply really holds every construct they check
    assert "<script>" in HOSTILE_REPLY and "\x1b[" in HOSTILE_REPLY and "|---|" in HOSTILE_REPLY
