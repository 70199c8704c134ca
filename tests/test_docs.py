"""The docs site builds with `mkdocs build --strict` (as `make docs` does): a broken link, an anchor that does not
exist, a page missing from the nav or a figure file a page includes but no bench wrote fails the test suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_docs_site_builds_strictly(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "operators" / "configuration.html").is_file()


def test_every_included_figure_file_exists_and_says_where_it_comes_from():
    included = set()
    for page in (ROOT / "docs").rglob("*.md"):
        included |= set(re.findall(r'--8<-- "(figures/[^"]+)"', page.read_text(encoding="utf-8")))
    assert included, "no page includes a figure file"
    for name in sorted(included):
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        bench = Path(name).stem
        assert f"make bench BENCH={bench}" in text, f"docs/{name} does not name the bench that produces it"


def test_readme_is_short_and_links_into_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), f"README links to {link}, which does not exist"
