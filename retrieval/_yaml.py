"""YAML reading for every package (profiles, suites, prompt metadata, locale tables).

PyYAML's pure-Python loader took 7 ms of each ``recommend`` just to read a five-line
profile; its libyaml binding (in PyYAML's wheels) reads the same in a tenth of that, with
the same errors and marks. The pure-Python loader remains for builds without libyaml.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YAMLError", "load_yaml", "yaml_problem"]

YAMLError = yaml.YAMLError
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``text`` parsed as YAML, safely (plain data only: no Python objects)."""
    return yaml.load(text, Loader=_LOADER)


def yaml_problem(exc: YAMLError) -> str:
    """What is wrong and where (line, column), never the text around it: a profile named
    ``/etc/shadow`` had its lines echoed in the error."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "not valid YAML"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML: {problem}{where}"
