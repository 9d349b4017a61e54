"""Rebuild the screenshots in ``docs/img/``: the HTML report of one run (first screen and an
item's drill-down), the report over a 3-run sweep, and the forest plots of both, rendered by
headless Chromium.

The runs are real runs of ``consistency run`` against scripted models served by the loopback
test server (tests/provider_server.py) through the official OpenAI SDK, as in
``docs/example_report.py``: a single run of a model that answers a third of the capability items
wrongly when told it is evaluated, then one ``-m`` sweep over three model names (framing-blind,
sandbagging, strategically complying) and ``consistency report`` over the sweep.

    PYTHONPATH=. python docs/screenshots.py [OUT_DIR]     # default: docs/img

Needs Chromium (``CHROMIUM`` or ``chromium`` / ``chromium-browser`` / ``google-chrome`` on the
PATH); it only opens local files (no network).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "docs"))

from example_report import scripted  # noqa: E402
from publishing_support import run, write_corpus  # noqa: E402

#: file name -> what it shows (README and docs link these names)
SHOTS = {
    "report-run.png": "first screen of a run's report.html",
    "report-drilldown.png": "an item's drill-down in a run's report.html",
    "forest-run.png": "the forest plot of one run",
    "report-sweep.png": "first screen of the report over a 3-run sweep",
    "forest-sweep.png": "the forest plot of the 3-run sweep",
}
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium to drive: ``$CHROMIUM``, else the first browser of :data:`_BROWSERS` found."""
    given = os.environ.get("CHROMIUM")
    if given:
        return given if shutil.which(given) else None
    return next((path for name in _BROWSERS if (path := shutil.which(name))), None)


def screenshot(chromium: str, url: str, out: Path, size: tuple[int, int], profile: Path) -> Path:
    """One headless screenshot of ``url`` (a file:// URL) at ``size`` pixels."""
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-extensions", "--hide-scrollbars",
         "--force-device-scale-factor=1", f"--user-data-dir={profile}",
         f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=3000",
         f"--screenshot={out}", url],
        check=True, capture_output=True, timeout=180, stdin=subprocess.DEVNULL)
    if not out.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot for {url}")
    return out


def by_model(policies: dict) -> object:
    """One policy per model name: the sweep's jobs differ only in ``model.name``."""
    def policy(req):
        return policies[req.model](req)

    return policy


def drill_down_page(page: Path, item: str, out: Path) -> Path:
    """A copy of ``page`` that shows one drill-down item, opened, at the top of the page.

    Headless Chromium's ``--screenshot`` draws a page scrolled away from its top as a blank
    image, so the page's own ``#open=ITEM`` (which scrolls to the item) cannot be used; the
    copy runs the page's script as it is, then keeps only that item in the body, styled by the
    page's own CSS."""
    keep = (f'<script>(function () {{ var t = document.getElementById("{item}"); if (!t) return;'
            ' t.open = true; var h = document.createElement("h2"); h.textContent = "Items";'
            ' document.body.replaceChildren(h, t); })();</script>')
    html = page.read_text(encoding="utf-8")
    at = html.rfind("</body>")
    out.write_text(html[:at] + keep + html[at:] if at >= 0 else html + keep, encoding="utf-8")
    return out


def svg_size(svg: Path, pad: int = 16) -> tuple[int, int]:
    """The pixel size of a matplotlib SVG (its width and height are in points)."""
    head = svg.read_text(encoding="utf-8")[:2000]
    width = re.search(r'width="([\d.]+)pt"', head)
    height = re.search(r'height="([\d.]+)pt"', head)
    if not (width and height):
        return 900, 900
    return (round(float(width.group(1)) * 4 / 3) + pad, round(float(height.group(1)) * 4 / 3) + pad)


def first_disagreeing_item(page: Path) -> str:
    """The element id of the first drill-down item whose arms disagree."""
    match = re.search(r'<details class="item" id="(item-\d+)"[^>]*data-disagree="yes"',
                      page.read_text(encoding="utf-8"))
    return match.group(1) if match else "item-1"


def build(out: Path, chromium: str) -> list[Path]:
    """Make the runs, the reports and every screenshot of :data:`SHOTS` in ``out``."""
    work = Path(tempfile.mkdtemp(prefix="screenshots-"))
    try:
        corpus = write_corpus(work / "corpus", n=30)
        single = work / "single"
        run(scripted(corpus, sandbag_every=3), corpus, single, "run_id=sandbagging-model",
            "model.name=sandbagging-model", "checks.manipulation=true")
        run_folder = single / "sandbagging-model"
        models = {"steady-model": scripted(corpus),
                  "sandbagging-model": scripted(corpus, sandbag_every=3),
                  "complying-model": scripted(corpus, comply_every=2)}
        sweep = work / "sweep"
        run(by_model(models), corpus, sweep, "-m", f"model.name={','.join(models)}")
        reports = {}
        for name, source in (("run", run_folder), ("sweep", sweep)):
            reports[name] = work / f"report-{name}"
            subprocess.run([sys.executable, "-m", "consistency.cli", "report", str(source),
                            "--out", str(reports[name])], check=True, capture_output=True,
                           timeout=300)
        out.mkdir(parents=True, exist_ok=True)
        profile = work / "profile"
        page = run_folder / "report.html"
        item = first_disagreeing_item(page)
        drill = drill_down_page(page, item, work / "drill-down.html")
        forests = {name: reports[name] / "forest.svg" for name in reports}
        shots = [
            (page.resolve().as_uri(), "report-run.png", (1280, 900)),
            (drill.resolve().as_uri(), "report-drilldown.png", (1280, 900)),
            (forests["run"].resolve().as_uri(), "forest-run.png", svg_size(forests["run"])),
            ((reports["sweep"] / "report.html").resolve().as_uri(), "report-sweep.png",
             (1280, 900)),
            (forests["sweep"].resolve().as_uri(), "forest-sweep.png", svg_size(forests["sweep"])),
        ]
        return [screenshot(chromium, url, out / name, size, profile)
                for url, name, size in shots]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img"
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium found (set CHROMIUM or install chromium); no screenshot made",
              file=sys.stderr)
        return 3
    for path in build(out, chromium):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
