"""The HTML report renders in a real browser (Debian's chromium, headless)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent._cli import main
from tests.conftest import FIXTURES

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("chromium not installed (make test installs it)")
    return path


@pytest.mark.browser
def test_html_report_renders_in_chromium(chromium: str, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    code = main(
        [
            "eval",
            str(FIXTURES / "mini_suite.yaml"),
            "--store",
            str(tmp_path / "s"),
            "--html",
            str(html),
        ]
    )
    assert code == 0
    profile = tmp_path / "profile"
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*base, "--dump-dom", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "polyrank eval · mini · PASS" in dom
    heatmap = dom[dom.index('id="heatmap"') : dom.index("</table>", dom.index('id="heatmap"'))]
    assert len(re.findall(r"<tr>", heatmap)) == 1 + 2  # header + one row per case
    assert 'id="case-boots"' in dom and 'lang="ja"' in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,900", html.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a page, not a blank
