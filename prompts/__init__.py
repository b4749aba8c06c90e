"""Prompt templates as files: ``<name>.j2`` with a sibling ``<name>.yaml`` (name, version,
purpose, output schema).

Usage::

    prompts = PromptSet.load()                    # the shipped templates
    prompts = PromptSet.load("my_prompts/")       # a user's folder: sandboxed
    text = prompts["rerank"].render(query=..., ...)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from polyrank.retrieval._yaml import YAMLError, load_yaml
from polyrank.retrieval.errors import ConfigError

__all__ = ["BUILTIN_DIR", "PromptSet", "PromptTemplate", "data", "environment"]

BUILTIN_DIR = Path(__file__).parent
REQUIRED = ("system", "rerank")
OPTIONAL = ("followup", "reask", "reasons", "explain")


_UNSAFE_IN_DATA = {
    "<": "\\u003c", ">": "\\u003e", "\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"
}  # fmt: skip
#: A search finds the few unsafe characters faster than ``str.translate`` walks every one
#: (translate took 0.23 ms of each 20-candidate prompt).
_UNSAFE = re.compile("[" + "".join(_UNSAFE_IN_DATA) + "]")


def data(value: Any) -> str:
    """``value`` as one line of JSON that no text inside it can break out of.

    The ``data`` filter of every template: catalogue titles, requests, preferences and
    history come from outside, so a title holding ``</candidates>`` or a newline and a
    fake ``[c1]`` row stays inside its JSON string (newlines are ``\\n``; ``<`` ``>`` and
    Unicode line separators are escaped), and ids are only ever the ``id`` fields.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _UNSAFE.sub(lambda m: _UNSAFE_IN_DATA[m.group()], text)


_WORD = re.compile(r"^[^\W_][\w-]{0,31}$")


def word(value: Any) -> str:
    """``value`` as it is when it is one short word (a scene, a domain, a locale), else
    as :func:`data` writes it: a validated profile renders as before, anything else
    cannot leave its line."""
    text = str(value)
    return text if _WORD.match(text) else data(text)


#: Bounds on rendering a user's template: a prompt larger than this many characters, or
#: rendering longer than this many seconds, is a ConfigError (a user folder rendered a 45 MB
#: prompt; "x" * 10**8 a 100 MB string).
MAX_PROMPT_CHARS = 1_000_000
MAX_RENDER_SECONDS = 5.0
_MAX_EXPONENT = 1024


class _FolderLoader(jinja2.FileSystemLoader):
    """Loads templates from one folder only: a link to a file outside it is refused."""

    def __init__(self, folder: Path) -> None:
        super().__init__(str(folder), followlinks=False)
        self.folder = folder.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self.folder):
            raise ConfigError(
                f"{filename}: the template links outside its folder {self.folder}; "
                "copy the file into the folder instead"
            )
        return source, filename, uptodate


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox for user folders, with ``*`` and ``**`` bounded in size."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_PROMPT_CHARS
                ):
                    raise SecurityError("repetition result is too large")
        return super().call_binop(context, operator, left, right)


def environment(folder: Path, *, sandboxed: bool) -> jinja2.Environment:
    """The one Jinja environment: strict, trimmed; sandboxed and bounded for user folders."""
    cls = _BoundedSandbox if sandboxed else jinja2.Environment
    env = cls(
        loader=_FolderLoader(folder),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["data"] = data
    env.filters["word"] = word
    return env


@dataclass(frozen=True)
class PromptTemplate:
    """One template and its metadata."""

    name: str
    version: str
    purpose: str
    template: jinja2.Template
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``, recorded in every result and eval run."""
        return f"{self.name}@{self.version}"

    def render(self, **variables: Any) -> str:
        """The rendered text; every failure, and output past the bounds, is ConfigError."""
        started = time.monotonic()
        parts: list[str] = []
        size = 0
        try:
            for part in self.template.generate(**variables):
                parts.append(part)
                size += len(part)
                if size > MAX_PROMPT_CHARS:
                    raise ConfigError(
                        f"template {self.ref} renders more than {MAX_PROMPT_CHARS:,} characters"
                    )
                if time.monotonic() - started > MAX_RENDER_SECONDS:
                    raise ConfigError(
                        f"template {self.ref} took longer than {MAX_RENDER_SECONDS:g} s to render"
                    )
        except ConfigError:
            raise
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"template {self.ref}: {exc.message}") from exc
        except Exception as exc:  # a user template can raise anything: RecursionError, ...
            raise ConfigError(f"template {self.ref} failed to render: {exc!r}") from exc
        return "".join(parts)


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
            if not meta_path.resolve().is_relative_to(path.resolve()):
                raise ConfigError(f"{meta_path}: links outside its folder {path.resolve()}")
            try:
                meta = load_yaml(meta_path.read_text(encoding="utf-8")) or {}
                template = env.get_template(f"{name}.j2")
            except (YAMLError, jinja2.TemplateSyntaxError) as exc:
                raise ConfigError(f"{meta_path.with_suffix('.j2')}: {exc}") from exc
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{meta_path.with_suffix('.j2')}: cannot read: {exc}") from exc
            if not isinstance(meta, dict) or "version" not in meta:
                raise ConfigError(f"{meta_path}: field 'version' is required")
            if "output_schema" in meta:
                raise ConfigError(
                    f"{meta_path}: output_schema is not a template setting: the reply's shape "
                    "is fixed by the code that parses it (its JSON Schema is derived from that "
                    "model and sent with every request); remove the field"
                )
            templates[name] = PromptTemplate(
                name=str(meta.get("name", name)),
                version=str(meta["version"]),
                purpose=str(meta.get("purpose", "")),
                template=template,
                meta=meta,
            )
        return cls(folder=path, templates=templates)
