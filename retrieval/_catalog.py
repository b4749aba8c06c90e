"""Catalogue files: JSONL, one item a line, validated whole before anything is written."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from polyrank.retrieval._files import MAX_CATALOG_LINE_BYTES, TooLarge
from polyrank.retrieval._language import detect_language
from polyrank.retrieval.errors import CatalogError, ConfigError, LineProblem

__all__ = ["Item", "content_hash", "language_code", "load_catalog", "region_code"]

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
LanguageCode = Annotated[str, StringConstraints(to_lower=True, pattern=r"^[a-z]{2}$")]
RegionCode = Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{2}$")]

_DOMAIN = re.compile(r"^[a-z][a-z_-]*$")
#: Largest price accepted (any currency): beyond it a number is a mistake, and float
#: conversion of huge integers overflows in the price filters.
MAX_PRICE = 1e12


@functools.cache
def _language_codes() -> frozenset[str]:
    """ISO 639-1 codes CLDR knows (babel), so "zz" or "xx" is refused."""
    from babel import Locale

    names: Iterable[Any] = Locale("en").languages.keys()
    return frozenset(str(code) for code in names if len(str(code)) == 2)


@functools.cache
def _region_codes() -> dict[str, str]:
    """Two-letter region codes CLDR knows, by code."""
    from babel import Locale

    names: dict[Any, Any] = dict(Locale("en").territories.items())
    return {str(c): str(n) for c, n in names.items() if len(str(c)) == 2 and str(c).isalpha()}


def _suggest(value: str, codes: dict[str, str]) -> str:
    """ "; did you mean 'DE' (Germany)?" from a code or an English name, else ""."""
    import difflib

    by_name = {n.casefold(): c for c, n in codes.items()}
    if value.casefold() in by_name:
        code = by_name[value.casefold()]
        return f"; did you mean {code!r} ({codes[code]})?"
    close = difflib.get_close_matches(value.casefold(), list(by_name), n=1, cutoff=0.75)
    if close:
        code = by_name[close[0]]
        return f"; did you mean {code!r} ({codes[code]})?"
    return ""


def language_code(value: str) -> str:
    """``value`` as a known ISO 639-1 code; ``ConfigError`` with a suggestion otherwise."""
    code = value.strip().lower()
    if code in _language_codes():
        return code
    from babel import Locale

    names = {c: str(Locale("en").languages.get(c, c)) for c in _language_codes()}
    raise ConfigError(
        f"unknown language {value!r}: use an ISO 639-1 code such as 'en', 'de', 'ja'"
        + _suggest(value, names)
    )


def region_code(value: str) -> str:
    """``value`` as a known two-letter region code; ``ConfigError`` with a suggestion."""
    code = value.strip().upper()
    if code in _region_codes():
        return code
    raise ConfigError(
        f"unknown region {value!r}: use a two-letter code such as 'DE', 'JP', 'BR'"
        + _suggest(value, _region_codes())
    )


class Item(BaseModel):
    """One catalogue item (format: README, "Catalogue format")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: NonEmpty
    title: NonEmpty
    description: str = ""
    language: LanguageCode | None = None
    domain: Annotated[str, StringConstraints(to_lower=True, pattern=_DOMAIN.pattern)]
    tags: tuple[NonEmpty, ...] = ()
    regions: tuple[RegionCode, ...] = ()
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict)
    group: NonEmpty | None = None

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and value not in _language_codes():
            raise ValueError(f"unknown language code {value!r} (ISO 639-1, e.g. 'en', 'de')")
        return value

    @field_validator("attributes")
    @classmethod
    def _finite_numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, number in value.items():
            if isinstance(number, bool) or not isinstance(number, int | float):
                continue
            if isinstance(number, float) and not math.isfinite(number):
                raise ValueError(f"{key}: {number} is not a number")
            if abs(number) > MAX_PRICE:
                raise ValueError(f"{key}: out of range (at most {MAX_PRICE:.0e})")
            if key == "price" and number < 0:
                raise ValueError(f"price: {number} is negative")
        return value

    @property
    def group_key(self) -> str:
        """The group id, or the item's own id when it stands alone."""
        return self.group or self.id

    def passage(self) -> str:
        """The text that is embedded for retrieval."""
        tags = f" ({', '.join(self.tags)})" if self.tags else ""
        description = self.description.strip()
        return f"{self.title}{tags}. {description}" if description else f"{self.title}{tags}"


def content_hash(item: Item) -> str:
    """A stable hash of everything stored for ``item``; unchanged hash, no re-embedding."""
    payload = json.dumps(item.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(line)"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number")


_TOO_LONG = f"longer than {MAX_CATALOG_LINE_BYTES // 2**20} MiB; the file was not read further"


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines (without their ends), each at most MAX_CATALOG_LINE_BYTES long.

    Lines end at "\\n" only: U+2028, U+2029 and U+0085 inside a JSON string are text, not
    line breaks (str.splitlines would split there and shift every later line number).

    Raises:
        TooLarge: with the number of the line that is longer (nothing past it is read).
    """
    with path.open("rb") as handle:
        for number, line in enumerate(
            iter(lambda: handle.readline(MAX_CATALOG_LINE_BYTES + 1), b""), start=1
        ):
            if len(line) > MAX_CATALOG_LINE_BYTES:
                raise TooLarge(str(number))
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            yield line.removesuffix(b"\n")


def load_catalog(path: str | Path) -> list[Item]:
    """Read and validate a whole catalogue file.

    Items without ``language`` get the detected one.

    Raises:
        CatalogError: listing every bad line (line number, field, reason); nothing is
            returned, so nothing is written.
    """
    path = Path(path)
    items: list[Item] = []
    problems: list[LineProblem] = []
    first_line_of: dict[str, int] = {}
    try:
        lines = list(_lines(path))
    except FileNotFoundError as exc:
        raise CatalogError(str(path), [LineProblem(0, "file", "no such file")]) from exc
    except OSError as exc:
        raise CatalogError(str(path), [LineProblem(0, "file", str(exc))]) from exc
    except TooLarge as exc:
        raise CatalogError(str(path), [LineProblem(int(str(exc)), "line", _TOO_LONG)]) from exc
    for number, chunk in enumerate(lines, start=1):
        try:
            line = chunk.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError as exc:
            problems.append(
                LineProblem(number, "encoding", f"not UTF-8 (byte {exc.start + 1} of the line)")
            )
            continue
        if not line.strip():
            continue
        try:
            raw = json.loads(line, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(number, "json", f"not valid JSON ({exc.msg})"))
            continue
        except RecursionError:
            problems.append(LineProblem(number, "json", "nested too deeply"))
            continue
        except ValueError as exc:  # NaN/Infinity; integers past Python's digit limit
            problems.append(LineProblem(number, "json", str(exc).split(";")[0]))
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
    logging.getLogger("polyrank.retrieval.catalog").info("%s: %d items", path, len(items))
    return items
