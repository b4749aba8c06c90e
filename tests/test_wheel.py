"""The built wheel, installed without the repository (issues 20 and 21): one top-level name,
every data file shipped, and the commands working from an empty folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

#: What a source checkout holds besides the sources; never copied into the build.
SKIP = (".git", ".venv", ".polyrank", "build", "*.egg-info", "__pycache__", "*_cache", "reports")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources (the build leaves nothing in the checkout)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*SKIP))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         str(source), "-w", str(work / "dist")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = (work / "dist").glob("polyrank-*.whl")
    return built


def test_the_wheel_installs_one_top_level_name_with_its_data(wheel: Path) -> None:
    """Was: agent, retrieval, evals and prompts at the top (all four taken on PyPI:
    installing openai/evals after polyrank overwrote evals/__init__.py)."""
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = "-".join(wheel.name.split("-")[:2]) + ".dist-info"
    assert {name.split("/")[0] for name in names} == {"polyrank", dist_info}
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["polyrank"]
    for shipped in (
        "polyrank/__init__.py",
        "polyrank/__main__.py",
        "polyrank/agent/locales/intents.yaml",
        "polyrank/agent/sample/catalog.jsonl",
        "polyrank/agent/sample/users/ana.yaml",
        "polyrank/evals/suites/core.yaml",
        "polyrank/evals/suites/suite.schema.json",
        "polyrank/evals/templates/report.html.j2",
        "polyrank/prompts/rerank.j2",
        "polyrank/prompts/rerank.yaml",
    ):
        assert shipped in names, shipped
    for package in ("polyrank", "polyrank/agent", "polyrank/retrieval", "polyrank/evals"):
        assert f"{package}/py.typed" in names
    assert not [n for n in names if n.startswith("polyrank/tests") or "/_top/" in n]


def test_the_installed_wheel_works_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    """Installed into a folder of its own (its dependencies are this environment's), run from
    an empty folder: the package is the wheel's copy, not the checkout, and the shipped
    catalogue, suite and templates are found."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "POLYRANK_EMBEDDINGS": "use-m3"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=empty, env=env, capture_output=True, text=True, timeout=300
        )

    where = run("-c", "import polyrank, polyrank.evals; print(polyrank.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(target)
    version = run("-m", "polyrank", "--version")
    assert version.returncode == 0 and version.stdout.startswith("polyrank ")
    code = (
        "from polyrank import Agent\n"
        "from polyrank.agent.sample import CATALOG, user\n"
        "agent = Agent(store='store', embeddings='use-m3')\n"
        "agent.ingest(CATALOG)\n"
        "rec = agent.recommend('Quiero aprender a programar', user=user('ana'), k=3)\n"
        "print(rec.items[0].id, len(rec.items), rec.trace.ranker)\n"
    )
    rec = run("-c", code)
    assert rec.returncode == 0, rec.stderr
    first, count, ranker = rec.stdout.split()
    assert count == "3" and first.startswith("bk-") and ranker.startswith("local")
    assert not (ROOT / "store").exists() and (empty / "store").is_dir()
