"""Eval suites: YAML validated by pydantic (``extra="forbid"``), with a JSON Schema.

A suite::

    $schema: ./schema.json            # editors complete fields (polyrank eval --schema)
    name: core
    catalog: ../../data/catalog.jsonl # relative to the suite file
    users: {ana: ../../data/users/ana.yaml}
    defaults: {k: 5, model: local, passes: 1}
    cases:
      - name: learn-programming
        user: ana
        variants: {es: "Quiero aprender a programar", en: "I want to learn to code"}
        reference: es                 # default: the first variant
        relevant: {bk-python: 3, bk-es-103: 2}
        filters: {domains: [books]}
        expect:
          - "ndcg@5 >= 0.5"
          - {type: consistency.rbo, threshold: 0.6}
          - {type: not_in_top, value: [fm-heist], threshold: 3}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agent._profile import UserProfile, load_profile
from agent.errors import ConfigError
from evals._metrics import check_metric
from retrieval import Filters
from retrieval._files import TooLarge, read_bounded
from retrieval._yaml import YAMLError, load_yaml, yaml_problem

__all__ = ["Case", "Defaults", "Expectation", "Suite", "load_suite", "suite_schema"]

_EXPR = re.compile(r"^\s*([\w.@-]+)\s*(>=|<=|==|>|<)\s*([-\d.]+)\s*$")


class Expectation(BaseModel):
    """One assertion: a metric compared with a threshold, or ``not_in_top``.

    String shorthand: ``"ndcg@5 >= 0.6"``. Metric names: ``ndcg@K``, ``mrr``, ``recall@K``,
    ``reason_language``, ``validity``, ``fallback_rate`` (means over the case's languages),
    ``consistency.rbo``, ``consistency.rankc``, ``consistency.jaccard``,
    ``consistency.top1`` (means over the non-reference languages against the reference).
    ``not_in_top``: none of ``value`` (ids or groups) in the top ``threshold`` anywhere.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    threshold: float
    op: Literal[">=", "<=", "==", ">", "<"] = ">="
    value: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _EXPR.match(data)
            if not match:
                raise ValueError(f"cannot read expectation {data!r}; write e.g. 'ndcg@5 >= 0.6'")
            return {"type": match[1], "op": match[2], "threshold": float(match[3])}
        return data

    @model_validator(mode="after")
    def _check(self) -> Expectation:
        if self.type == "not_in_top" and not self.value:
            raise ValueError("not_in_top needs value: [ids]")
        return self

    def holds(self, observed: float) -> bool:
        return {
            ">=": observed >= self.threshold - 1e-9,
            "<=": observed <= self.threshold + 1e-9,
            "==": abs(observed - self.threshold) < 1e-9,
            ">": observed > self.threshold,
            "<": observed < self.threshold,
        }[self.op]

    def __str__(self) -> str:
        if self.type == "not_in_top":
            return f"not_in_top {int(self.threshold)}: {', '.join(self.value or [])}"
        return f"{self.type} {self.op} {self.threshold:g}"


class Case(BaseModel):
    """One request in several languages, with graded labels and expectations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[\w.-]+$")
    system: str | None = Field(
        default=None,
        description="which system it exercises: cross-lingual, -cultural, -scenario, -domain",
    )
    user: str | None = None
    variants: dict[str, str] = Field(min_length=1)
    reference: str | None = None
    relevant: dict[str, int] = Field(default_factory=dict)
    filters: Filters = Field(default_factory=Filters)
    expect: list[Expectation] = Field(default_factory=list)

    @field_validator("variants")
    @classmethod
    def _languages(cls, value: dict[str, str]) -> dict[str, str]:
        for code, text in value.items():
            if not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(f"{code!r} is not an ISO 639-1 language code")
            if not text.strip():
                raise ValueError(f"variant {code!r} is empty")
        return value

    @model_validator(mode="after")
    def _reference(self) -> Case:
        if self.reference is not None and self.reference not in self.variants:
            raise ValueError(f"reference {self.reference!r} is not one of the variants")
        return self

    @property
    def reference_language(self) -> str:
        return self.reference or next(iter(self.variants))


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(default=5, ge=1, le=50)
    model: str = "local"
    passes: int = Field(default=1, ge=1, le=20)
    candidates: int = Field(default=20, ge=1, le=200)
    rbo_p: float = Field(default=0.9, gt=0, lt=1)
    regression_tolerance: float = Field(default=0.05, ge=0)
    expect: list[Expectation] = Field(
        default_factory=list, description="expectations every case must also meet"
    )


class Suite(BaseModel):
    """A prompt regression suite."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: str | None = Field(default=None, alias="$schema")
    #: A slug: it names the suite's store folder (``.polyrank/eval/NAME``), so no path.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
    description: str = ""
    catalog: str
    users: dict[str, str | UserProfile] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        seen: set[str] = set()
        for case in self.cases:
            if case.name in seen:
                raise ValueError(f"case name {case.name!r} is used twice")
            seen.add(case.name)
            if case.user is not None and case.user not in self.users:
                raise ValueError(f"case {case.name!r}: unknown user {case.user!r}")
        return self


def suite_schema() -> dict[str, Any]:
    """The JSON Schema of a suite file (for the ``$schema`` line)."""
    schema = Suite.model_json_schema(by_alias=True)
    schema["$id"] = "https://polyrank.dev/schema/suite.json"
    return schema


def _where(data: Any, loc: tuple[int | str, ...]) -> str:
    """``case 'x', field`` for an error location inside the cases list."""
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        cases = data.get("cases") if isinstance(data, dict) else None
        name = None
        if isinstance(cases, list) and loc[1] < len(cases) and isinstance(cases[loc[1]], dict):
            name = cases[loc[1]].get("name")
        rest = ".".join(str(p) for p in loc[2:]) or "(case)"
        return f"case {name or '#' + str(loc[1] + 1)!r}, {rest}"
    return ".".join(str(p) for p in loc) or "(suite)"


class LoadedSuite(BaseModel):
    """A suite with its paths resolved and its users loaded."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    suite: Suite
    catalog: Path
    users: dict[str, UserProfile]


def load_suite(path: str | Path) -> LoadedSuite:
    """Read and validate a suite; paths in it are relative to the suite file.

    Raises:
        ConfigError: naming the file, the case and the field.
    """
    path = Path(path)
    try:
        data = load_yaml(read_bounded(path).decode("utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such suite file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    except (OSError, TooLarge) as exc:
        raise ConfigError(f"{path}: cannot read the suite: {exc}") from exc
    except YAMLError as exc:
        raise ConfigError(f"{path}: {yaml_problem(exc)}") from exc
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {path}: {_where(data, e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid suite\n" + "\n".join(lines)) from exc
    problems = []
    for where, expect in _expectations(suite):
        if expect.type == "not_in_top":
            continue
        try:  # a metric the registry knows, computed at the suite's k
            check_metric(expect.type, suite.defaults.k)
        except ValueError as exc:
            problems.append(f"  {path}: {where}: {expect}: {exc}")
    if problems:
        raise ConfigError(f"{path}: invalid suite\n" + "\n".join(problems))
    base = path.parent
    catalog = (base / suite.catalog).resolve()
    if not catalog.is_file():
        raise ConfigError(f"{path}: catalog: no such file {suite.catalog!r}")
    users: dict[str, UserProfile] = {}
    for name, value in suite.users.items():
        users[name] = value if isinstance(value, UserProfile) else load_profile(base / value)
    return LoadedSuite(path=path, suite=suite, catalog=catalog, users=users)


def _expectations(suite: Suite) -> list[tuple[str, Expectation]]:
    found = [("defaults.expect", e) for e in suite.defaults.expect]
    for n, case in enumerate(suite.cases):
        found += [(f"cases[{n}] ({case.name}).expect", e) for e in case.expect]
    return found


def write_schema(path: str | Path) -> None:
    Path(path).write_text(json.dumps(suite_schema(), indent=2) + "\n", encoding="utf-8")
