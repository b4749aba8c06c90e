"""Public API: every name in __all__ exists, and nothing private leaks."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "package", ["polyrank", "polyrank.agent", "polyrank.retrieval", "polyrank.evals"]
)
def test_all_names_exist_and_are_public(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    for name in module.__all__:
        assert not name.startswith("_")
        assert getattr(module, name) is not None


def test_agent_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, polyrank, polyrank.agent, polyrank.retrieval, polyrank.evals;"
        " print('chromadb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_only_polyrank_is_imported_at_the_top() -> None:
    """Was: the packages were the top-level names agent, retrieval, evals and prompts (all
    taken on PyPI). Everything loads under polyrank.* now, the CLI and the shipped suite too."""
    import subprocess
    import sys

    code = (
        "import sys, polyrank, polyrank._cli, polyrank.evals._cli\n"
        "import polyrank.agent.llamaindex\n"
        "from polyrank.evals import load_suite\n"
        "load_suite('core')\n"
        "print(sorted({'agent', 'retrieval', 'evals', 'prompts'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
