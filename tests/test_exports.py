"""Public API: every name in __all__ exists, and nothing private leaks."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["agent", "retrieval", "evals"])
def test_all_names_exist_and_are_public(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    for name in module.__all__:
        assert not name.startswith("_")
        assert getattr(module, name) is not None


def test_agent_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, agent, retrieval, evals; print('chromadb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
