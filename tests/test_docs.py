"""The documentation site builds with no warning (a broken link, a missing anchor or a page
left out of the nav fails `mkdocs build --strict`), and the README's links reach files."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.extras import needs_extra
from tests.script_runs import PROJECT_ROOT


@needs_extra("docs")
def test_the_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "api" / "index.html").read_text()
    assert "CropSequenceClassifier" in api and "CropSequenceDataModule" in api


def test_the_readme_links_reach_files():
    readme = (PROJECT_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert "docs/generalization.md" in local
    missing = [target for target in local if not (PROJECT_ROOT / target).is_file()]
    assert not missing, f"README links to files that do not exist: {missing}"
