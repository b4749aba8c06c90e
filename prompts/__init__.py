"""Prompt templates as files: ``<name>.j2`` with a sibling ``<name>.yaml`` (name, version,
purpose, output schema).

Usage::

    prompts = PromptSet.load()                    # the shipped templates
    prompts = PromptSet.load("my_prompts/")       # a user's folder: sandboxed
    text = prompts["rerank"].render(query=..., ...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from agent.errors import ConfigError

__all__ = ["BUILTIN_DIR", "PromptSet", "PromptTemplate", "data", "environment"]

BUILTIN_DIR = Path(__file__).parent
REQUIRED = ("system", "rerank")
OPTIONAL = ("followup",)


_UNSAFE_IN_DATA = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
)


def data(value: Any) -> str:
    """``value`` as one line of JSON that no text inside it can break out of.

    The ``data`` filter of every template: catalogue titles, requests, preferences and
    history come from outside, so a title holding ``</candidates>`` or a newline and a
    fake ``[c1]`` row stays inside its JSON string (newlines are ``\\n``; ``<`` ``>`` and
    Unicode line separators are escaped), and ids are only ever the ``id`` fields.
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_UNSAFE_IN_DATA)


def environment(folder: Path, *, sandboxed: bool) -> jinja2.Environment:
    """The one Jinja environment: strict, trimmed; sandboxed for user folders."""
    cls = SandboxedEnvironment if sandboxed else jinja2.Environment
    env = cls(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["data"] = data
    return env


@dataclass(frozen=True)
class PromptTemplate:
    """One template and its metadata."""

    name: str
    version: str
    purpose: str
    template: jinja2.Template
    output_schema: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``, recorded in every result and eval run."""
        return f"{self.name}@{self.version}"

    def render(self, **variables: Any) -> str:
        try:
            return self.template.render(**variables)
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"template {self.ref}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise ConfigError(f"template {self.ref} failed to render: {exc}") from exc


@dataclass(frozen=True)
class PromptSet:
    """The templates an agent renders, loaded from one folder."""

    folder: Path
    templates: dict[str, PromptTemplate]

    def __getitem__(self, name: str) -> PromptTemplate:
        return self.templates[name]

    def get(self, name: str) -> PromptTemplate | None:
        """An optional template, or ``None`` when the folder lacks it."""
        return self.templates.get(name) or (
            PromptSet.load().templates.get(name) if self.folder != BUILTIN_DIR else None
        )

    @classmethod
    def load(cls, folder: str | Path | None = None) -> PromptSet:
        """Load ``system`` and ``rerank`` from ``folder`` (default: the shipped ones).

        Raises:
            ConfigError: a template or its metadata is missing or malformed.
        """
        path = Path(folder) if folder else BUILTIN_DIR
        sandboxed = folder is not None and path.resolve() != BUILTIN_DIR.resolve()
        env = environment(path, sandboxed=sandboxed)
        templates: dict[str, PromptTemplate] = {}
        for name in (*REQUIRED, *OPTIONAL):
            meta_path = path / f"{name}.yaml"
            if not (path / f"{name}.j2").is_file() or not meta_path.is_file():
                if name in OPTIONAL:
                    continue
                raise ConfigError(f"{path}: needs {name}.j2 and {name}.yaml")
            try:
                meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
                template = env.get_template(f"{name}.j2")
            except (yaml.YAMLError, jinja2.TemplateSyntaxError) as exc:
                raise ConfigError(f"{meta_path.with_suffix('.j2')}: {exc}") from exc
            if "version" not in meta:
                raise ConfigError(f"{meta_path}: field 'version' is required")
            templates[name] = PromptTemplate(
                name=str(meta.get("name", name)),
                version=str(meta["version"]),
                purpose=str(meta.get("purpose", "")),
                template=template,
                output_schema=meta.get("output_schema")
                if isinstance(meta.get("output_schema"), dict)
                else None,
                meta=meta,
            )
        return cls(folder=path, templates=templates)
