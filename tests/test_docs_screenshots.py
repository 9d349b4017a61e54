"""``docs/screenshots.py`` makes every screenshot the docs show (the HTML report's first screen,
a drill-down, the forest plots of one run and of a 3-run sweep) from real loopback runs with
headless Chromium, and none of them is blank. Skipped, with the reason printed, without
Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageStat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

from screenshots import SHOTS, find_chromium  # noqa: E402


def test_the_screenshot_script_makes_every_image_and_none_is_blank(tmp_path):
    if find_chromium() is None:
        reason = "Chromium is not installed (set CHROMIUM or install chromium)"
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "screenshots.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=1200, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in SHOTS:
        image = Image.open(tmp_path / name).convert("L")
        assert image.width >= 300 and image.height >= 300, name
        # a blank (one-colour) screenshot has no spread; a page of text and plots has plenty
        assert ImageStat.Stat(image).stddev[0] > 10, name
        assert len(image.getcolors(1 << 20)) > 16, name
        # and ink (dark pixels) on at least 0.5% of the image
        dark = sum(count for count, level in image.getcolors(1 << 20) if level < 100)
        assert dark > 0.005 * image.width * image.height, name


def test_the_docs_link_every_screenshot():
    text = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md",
                                                             *(ROOT / "docs").glob("*.md")])
    for name in SHOTS:
        assert f"img/{name}" in text, name
