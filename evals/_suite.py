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
          - {type: ndcg@5, threshold: 0.6, thresholds: {ja: 0.4}}   # per language
          - {type: contains, value: [Python, パイソン], threshold: 0.5}  # on reasons
          - {type: python, value: "checks.py:first_is_a_book"}      # a CaseContext in
          - {type: latency, threshold: 3000}                        # ms, every request
    plugins: [my_metrics.py]          # imported first: a suite's own register_metric calls

``polyrank eval core`` finds a shipped suite by name (:func:`find_suite`); the schema
(:func:`suite_schema`) is generated from these models, shorthand and metric names included.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from polyrank.agent._profile import UserProfile, load_profile
from polyrank.agent.errors import ConfigError
from polyrank.retrieval import Filters
from polyrank.retrieval.support import TooLarge, YAMLError, load_yaml, read_bounded, yaml_problem

__all__ = [
    "Case",
    "Defaults",
    "Expectation",
    "Suite",
    "find_suite",
    "load_suite",
    "shipped_suites",
    "suite_schema",
]

_EXPR = re.compile(r"^\s*([\w.@-]+)\s*(>=|<=|==|>|<)\s*([-\d.]+)\s*$")


Op = Literal[">=", "<=", "==", ">", "<"]


class Expectation(BaseModel):
    """One assertion: a metric compared with a threshold, or an assertion type.

    String shorthand: ``"ndcg@5 >= 0.6"``. Metric names are those registered
    (:func:`polyrank.evals.metric_names`): ``ndcg@K``, ``mrr``, ``recall@K``, ``sensible@3``,
    ``reason_language``, ``validity``, ``fallback_rate``, ... (means over the case's
    languages), ``consistency.rbo``, ``consistency.rankc``, ``consistency.jaccard``,
    ``consistency.top1`` (means over the non-reference languages against the reference).

    Assertion types (:data:`polyrank.evals._assertions.ASSERTIONS`): ``not_in_top`` (none of
    ``value`` in the top ``threshold``), ``contains`` / ``not-contains`` (reasons
    contain one of ``value``; ``threshold``: the share of reasons that must, default 1),
    ``python`` (``value``: ``module:function`` or ``file.py:function``, given a
    :class:`polyrank.evals.CaseContext`, returns a bool or a number checked against ``threshold``,
    default ``>= 1``), ``latency`` (ms) and ``cost`` (USD): every request at most
    ``threshold``.

    ``thresholds``: per-language thresholds (``{ja: 0.4}``); with them each language is
    checked on its own, the ones not listed at ``threshold``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="a metric name or an assertion type")
    threshold: float | None = None
    op: Op | None = Field(default=None, description="default >=; <= for latency and cost")
    value: list[str] | None = None
    thresholds: dict[str, float] | None = Field(
        default=None, description="per-language thresholds, e.g. {ja: 0.4}"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _EXPR.match(data)
            if not match:
                raise ValueError(f"cannot read expectation {data!r}; write e.g. 'ndcg@5 >= 0.6'")
            return {"type": match[1], "op": match[2], "threshold": float(match[3])}
        if isinstance(data, dict) and isinstance(data.get("value"), str):
            return {**data, "value": [data["value"]]}
        return data

    @model_validator(mode="after")
    def _check(self) -> Expectation:
        from polyrank.evals._assertions import ASSERTIONS

        kind = ASSERTIONS.get(self.type)
        if kind is not None:
            kind.check(self)
        elif self.threshold is None:
            raise ValueError(f"{self.type}: a metric needs a threshold")
        elif self.value is not None:
            raise ValueError(f"{self.type}: a metric takes no value")
        for code in self.thresholds or {}:
            if not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(f"thresholds: {code!r} is not an ISO 639-1 language code")
        return self

    @property
    def comparison(self) -> Op:
        """The operator: ``op``, else ``<=`` for ``latency``/``cost`` and ``>=`` else."""
        return self.op or ("<=" if self.type in ("latency", "cost") else ">=")

    def limit(self, language: str | None = None) -> float:
        """The threshold (of ``language`` when it has its own)."""
        if language is not None and self.thresholds and language in self.thresholds:
            return self.thresholds[language]
        return 1.0 if self.threshold is None else self.threshold

    def holds(self, observed: float, language: str | None = None) -> bool:
        threshold = self.limit(language)
        return {
            ">=": observed >= threshold - 1e-9,
            "<=": observed <= threshold + 1e-9,
            "==": abs(observed - threshold) < 1e-9,
            ">": observed > threshold,
            "<": observed < threshold,
        }[self.comparison]

    def __str__(self) -> str:
        if self.type == "not_in_top":
            return f"not_in_top {int(self.limit())}: {', '.join(self.value or [])}"
        if self.type in ("contains", "not-contains", "python"):
            text = f"{self.type} {', '.join(repr(v) for v in self.value or [])}"
            if self.type != "not-contains" and self.threshold is not None:
                text += f" {self.comparison} {self.threshold:g}"
        else:
            text = f"{self.type} {self.comparison} {self.limit():g}"
        if self.thresholds:
            text += " (" + ", ".join(f"{k}: {v:g}" for k, v in self.thresholds.items()) + ")"
        return text

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The object form, or the string shorthand, with the metric names enumerated."""
        from polyrank.evals._assertions import ASSERTIONS
        from polyrank.evals._metrics import metrics

        reference = handler(core_schema)
        target = handler.resolve_ref_schema(reference)
        fixed = sorted([m.name for m in metrics() if not m.name.endswith("@k")])
        at_k = sorted(m.name[:-2] for m in metrics() if m.name.endswith("@k"))
        at_k_names = "|".join(re.escape(n) for n in at_k)
        names = "|".join([*(re.escape(n) for n in fixed), f"({at_k_names})@[0-9]+"])
        obj = dict(target)
        obj["properties"] = {
            **obj["properties"],
            "value": {"anyOf": [{"type": "string"}, obj["properties"]["value"]]},
            "type": {
                "description": "a metric name or an assertion type",
                "anyOf": [
                    {"enum": sorted([*fixed, *ASSERTIONS])},
                    {"type": "string", "pattern": f"^({at_k_names})@[0-9]+$"},
                ],
            },
        }
        shorthand = {
            "type": "string",
            "description": "shorthand: 'METRIC OP NUMBER', e.g. 'ndcg@5 >= 0.6'",
            "pattern": rf"^\s*({names})\s*(>=|<=|==|>|<)\s*-?[0-9.]+\s*$",
        }
        target.clear()
        target.update({"anyOf": [shorthand, obj], "description": obj.get("description", "")})
        obj.pop("description", None)
        return reference


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
    plugins: list[str] = Field(
        default_factory=list,
        description="modules or .py files (next to the suite) imported before the suite is "
        "checked: where a suite's own metrics register (evals.register_metric)",
    )
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
    """Read and validate a suite; paths in it are relative to the suite file. A bare
    name (``core``) is the shipped suite of that name.

    Raises:
        ConfigError: naming the file, the case and the field.
    """
    path = find_suite(path)
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
    base = path.parent
    for plugin in suite.plugins:  # metrics a suite brings register before they are checked
        _import_plugin(plugin, base, path)
    problems = []
    for where, expect, languages in _expectations(suite):
        try:
            _check_expectation(expect, suite.defaults.k, base, languages)
        except (ValueError, ConfigError) as exc:
            problems.append(f"  {path}: {where}: {expect}: {exc}")
    if problems:
        raise ConfigError(f"{path}: invalid suite\n" + "\n".join(problems))
    catalog = (base / suite.catalog).resolve()
    if not catalog.is_file():
        raise ConfigError(f"{path}: catalog: no such file {suite.catalog!r}")
    users: dict[str, UserProfile] = {}
    for name, value in suite.users.items():
        users[name] = value if isinstance(value, UserProfile) else load_profile(base / value)
    return LoadedSuite(path=path, suite=suite, catalog=catalog, users=users)


def _expectations(suite: Suite) -> list[tuple[str, Expectation, set[str] | None]]:
    """Every expectation, where it is, and the languages of its case (``None``: all)."""
    found: list[tuple[str, Expectation, set[str] | None]] = [
        ("defaults.expect", e, None) for e in suite.defaults.expect
    ]
    for n, case in enumerate(suite.cases):
        where = f"cases[{n}] ({case.name}).expect"
        found += [(where, e, set(case.variants)) for e in case.expect]
    return found


def _check_expectation(expect: Expectation, k: int, base: Path, languages: set[str] | None) -> None:
    """Refuse what would only fail after the whole run: an unknown metric or ``@K``, a
    function that does not import, per-language thresholds for languages the case lacks
    or for a metric of the whole case."""
    from polyrank.evals._assertions import ASSERTIONS, load_function
    from polyrank.evals._metrics import get_metric

    if expect.type == "python":
        load_function((expect.value or [""])[0], base)
    elif (
        expect.type not in ASSERTIONS
        and get_metric(expect.type, k).scope == "case"
        and expect.thresholds
    ):
        raise ValueError(f"{expect.type} is one number per case: no per-language thresholds")
    unknown = sorted(set(expect.thresholds or {}) - (languages or set(expect.thresholds or {})))
    if unknown:
        raise ValueError(f"thresholds for languages the case has no variant in: {unknown}")


def _import_plugin(plugin: str, base: Path, suite: Path) -> None:
    """Import a suite's plugin: a module name, or a ``.py`` file next to the suite."""
    import importlib

    from polyrank.evals._assertions import _load_file

    try:
        if plugin.endswith(".py"):
            _load_file((base / plugin).resolve())
        else:
            importlib.import_module(plugin)
    except Exception as exc:
        raise ConfigError(f"{suite}: plugins: cannot import {plugin!r}: {exc!r}") from exc


#: Where ``polyrank eval NAME`` finds a shipped suite.
SHIPPED = Path(__file__).parent / "suites"


def shipped_suites() -> list[str]:
    """The names of the suites shipped with polyrank (``polyrank eval core``)."""
    return sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def find_suite(name_or_path: str | Path) -> Path:
    """A suite file: the path as given, else the shipped suite of that name.

    Raises:
        ConfigError: neither a file nor a shipped suite, naming the shipped ones.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    text = str(name_or_path)
    if "/" not in text and "\\" not in text and not text.endswith((".yaml", ".yml")):
        shipped = SHIPPED / f"{text}.yaml"
        if shipped.is_file():
            return shipped
        raise ConfigError(
            f"{text!r}: no such suite file, and no shipped suite of that name "
            f"(shipped: {', '.join(shipped_suites())})"
        )
    return path
