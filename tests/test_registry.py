"""Backends are found through entry points (group ``polyrank``), built-ins included, and
the layering of errors and registry runs one way."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from polyrank.retrieval import registry
from tests.conftest import ROOT


def test_built_ins_are_entry_points_of_polyrank_itself() -> None:
    from importlib.metadata import distribution

    declared = {e.name for e in distribution("polyrank").entry_points if e.group == "polyrank"}
    assert {"llm.openai", "embeddings.fusion", "embeddings.e5-small", "store.chroma"} <= declared
    for kind in ("llm", "embeddings", "store"):
        assert registry.names(kind)  # every kind has its backends, found the same way


def test_a_plugin_registers_through_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "polyrank_echo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: polyrank-echo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[polyrank]\nllm.echo = polyrank_echo:make\n")
    (tmp_path / "polyrank_echo.py").write_text(
        "def make(arg=None, **options):\n    return ('echo', arg, sorted(options))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS", None)  # read them again, as a new process
    monkeypatch.setattr(registry, "_REGISTRY", {})
    assert "echo" in registry.names("llm") and "openai" in registry.names("llm")
    assert registry.resolve("llm", "echo:big", timeout=3) == ("echo", "big", ["timeout"])
    registry.register("llm", "echo", lambda arg, **_: "from code")  # code wins
    assert registry.resolve("llm", "echo") == "from code"
    sys.modules.pop("polyrank_echo", None)


TOP_PACKAGES = {"retrieval", "prompts", "agent", "evals"}


def test_lower_layers_never_import_higher_ones() -> None:
    """retrieval <- prompts <- agent <- evals <- polyrank: no module imports a package
    above it. The command line (polyrank._cli, in agent/_top) composes them all, ``polyrank
    eval`` included; was: agent/_cli.py and evals/_cli.py imported each other."""
    above = {"retrieval": {"prompts", "agent", "evals"}, "prompts": {"agent", "evals"},
             "agent": {"evals"}, "evals": set()}  # fmt: skip
    offenders = []
    for package, banned in above.items():
        for path in (ROOT / package).glob("*.py"):
            script = path.name == "__main__.py"  # run, never imported
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    name = node.module
                elif isinstance(node, ast.Import):
                    name = node.names[0].name
                else:
                    continue
                parts = name.split(".")
                top = parts[1] if parts[0] == "polyrank" and len(parts) > 1 else parts[0]
                if top in banned:
                    offenders.append(f"{path.relative_to(ROOT)} imports {top}")
                if parts[0] == "polyrank" and top not in TOP_PACKAGES and not script:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name} (the top)")
    assert offenders == []


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (top level or inside functions)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


#: agent modules of other work in flight that still import retrieval's private modules
#: (they move to polyrank.retrieval / polyrank.retrieval.support with that work).
PENDING_PRIVATE: set[str] = set()


def test_agent_uses_only_what_retrieval_exports() -> None:
    """Was: agent imported eight of retrieval's private modules. Now what it needs is
    exported by polyrank.retrieval, or polyrank.retrieval.support for helpers."""
    offenders = {
        f"{path.name} imports {name}"
        for path in (ROOT / "agent").glob("*.py")
        if path.name not in PENDING_PRIVATE
        for name in _imports(path)
        if name.startswith("polyrank.retrieval._")
    }
    assert offenders == set()
    still = {
        path.name
        for path in (ROOT / "agent").glob("*.py")
        if any(n.startswith("polyrank.retrieval._") for n in _imports(path))
    }
    assert still <= PENDING_PRIVATE  # the list only shrinks
