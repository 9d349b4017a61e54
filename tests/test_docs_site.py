"""The documentation site (``mkdocs.yml``, ``docs/``) builds in strict mode: a broken link, a
missing image or a page left out of the navigation fails the build, and so this test."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        reason = "mkdocs and mkdocs-material are not installed (pip install -e '.[test]')"
        print(f"SKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(config), "--site-dir", str(site)], capture_output=True, text=True,
                          timeout=300, env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
                          stdin=subprocess.DEVNULL)


def test_the_docs_site_builds_in_strict_mode(tmp_path):
    proc = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, proc.stderr[-4000:]
    for page in ("index.html", "getting-started/index.html", "statistics/index.html",
                 "bad-input/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


def test_a_broken_link_fails_the_build(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "docs", copy / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "getting-started.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [nowhere](no-such-page.md).\n",
                    encoding="utf-8")
    proc = _mkdocs(copy / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stderr


def test_readme_has_one_bad_input_section_and_links_pages_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    assert (readme + pages).count("\n## Bad input\n") <= 1
    import re

    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).is_file(), target
