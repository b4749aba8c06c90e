"""Catalogue files: JSONL, one item a line, validated whole before anything is written."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from agent.errors import CatalogError, LineProblem
from retrieval._language import detect_language

__all__ = ["Item", "content_hash", "load_catalog"]

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
LanguageCode = Annotated[str, StringConstraints(to_lower=True, pattern=r"^[a-z]{2}$")]
RegionCode = Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{2}$")]

_DOMAIN = re.compile(r"^[a-z][a-z_-]*$")


class Item(BaseModel):
    """One catalogue item (BRIEF section 4)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: NonEmpty
    title: NonEmpty
    description: NonEmpty
    language: LanguageCode | None = None
    domain: Annotated[str, StringConstraints(to_lower=True, pattern=_DOMAIN.pattern)]
    tags: tuple[NonEmpty, ...] = ()
    regions: tuple[RegionCode, ...] = ()
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict)
    group: NonEmpty | None = None

    @property
    def group_key(self) -> str:
        """The group id, or the item's own id when it stands alone."""
        return self.group or self.id

    def passage(self) -> str:
        """The text that is embedded for retrieval."""
        tags = f" ({', '.join(self.tags)})" if self.tags else ""
        return f"{self.title}{tags}. {self.description}"


def content_hash(item: Item) -> str:
    """A stable hash of everything stored for ``item``; unchanged hash, no re-embedding."""
    payload = json.dumps(item.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(line)"


def load_catalog(path: str | Path) -> list[Item]:
    """Read and validate a whole catalogue file.

    Items without ``language`` get the detected one.

    Raises:
        CatalogError: listing every bad line (line number, field, reason); nothing is
            returned, so nothing is written.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError(str(path), [LineProblem(0, "file", "no such file")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(str(path), [LineProblem(0, "file", str(exc))]) from exc

    items: list[Item] = []
    problems: list[LineProblem] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(number, "json", f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(raw, dict):
            problems.append(LineProblem(number, "json", "expected a JSON object"))
            continue
        try:
            item = Item.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(LineProblem(number, _field_name(error["loc"]), error["msg"]))
            continue
        if item.id in first_line_of:
            problems.append(
                LineProblem(
                    number,
                    "id",
                    f"duplicate id {item.id!r} (first on line {first_line_of[item.id]})",
                )
            )
            continue
        first_line_of[item.id] = number
        if item.language is None:
            guess = detect_language(f"{item.title}. {item.description}")
            if guess is None:
                problems.append(LineProblem(number, "language", "absent and not detectable"))
                continue
            item = item.model_copy(update={"language": guess.code})
        items.append(item)
    if problems:
        raise CatalogError(str(path), problems)
    return items
