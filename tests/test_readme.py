"""The README's Python examples run (against the sample catalogue, in a scratch folder)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path: Path, sample_store_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks
    (tmp_path / "data").symlink_to(ROOT / "data")
    (tmp_path / ".polyrank").mkdir()
    # Start from the session's ingested store so the example's ingest is the no-op re-run.
    subprocess.run(
        ["cp", "-r", str(sample_store_path), str(tmp_path / ".polyrank" / "store")], check=True
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for code in blocks:
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        assert "ranker: local fallback: False" in out.stdout
        assert "Python desde cero" in out.stdout or "programar" in out.stdout
