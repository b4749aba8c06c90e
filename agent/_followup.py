"""Follow-ups in a conversation: "more like 2", "cheaper", "not in Spanish", "only films".

Without an LLM, phrases in 20 languages (``locales/followups.yaml``: en es fr de it pt ja
zh ko ru ar hi tr nl pl sv vi id th el) are understood, with or without accents, ranks in
digits or words ("il terzo", "3番目", "第三个", "세 번째", "cái thứ hai", "อันที่สาม"); with
an LLM the follow-up is turned into the same structured :class:`FollowUp` (validated by
pydantic), and the phrase table answers when the model does not. A message no table reads
but that looks like a follow-up ("#2", a bare rank, "more expensive", Czech "levnější":
:func:`looks_like_follow_up`) is reported as not understood by the chat instead of being
run as a new request.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from polyrank.agent._llm import Message
from polyrank.agent._locale import in_language
from polyrank.agent._locale import table as locale_table
from polyrank.agent._ranking import Ranking
from polyrank.retrieval.support import has_spaceless

if TYPE_CHECKING:
    from polyrank.agent._rerank import LLMRanker

__all__ = [
    "FollowUp",
    "fold",
    "followup_languages",
    "interpret",
    "interpret_with_llm",
    "looks_like_follow_up",
]

KINDS = (
    "more_like", "exclude", "cheaper", "something_else", "not_language", "only_language",
    "only_domain",
)  # fmt: skip
#: A message the tables do not read counts as an unread follow-up only when it is this
#: short: follow-ups are a few words ("#2 pls", "levnější?", "ne 2"), the requests that
#: name a number ("top 5 films for a rainy day", "3000円以下のプレゼント") are longer or
#: name no rank. In words; in characters (spaces left out) for Chinese, Japanese, Korean
#: and Thai.
SHORT_WORDS = 4
SHORT_CHARS = 10
#: A bare number is a rank ("2", "nie 2") up to this; "1984" or "2046" is a request.
MAX_BARE_RANK = 20


class FollowUp(BaseModel):
    """What a message changes about the last request. ``kind="new"``: a new request."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["new", "refine"] = "refine"
    query: str | None = Field(default=None, description="new request text, if it changes")
    more_like: int | None = Field(default=None, ge=1, description="rank in the last answer")
    exclude_ranks: list[int] = Field(default_factory=list)
    cheaper: bool = False
    something_else: bool = False
    only_domains: list[str] = Field(default_factory=list)
    only_languages: list[str] = Field(default_factory=list)
    exclude_languages: list[str] = Field(default_factory=list)

    def describe(self, language: str = "en") -> str:
        """What this follow-up changes, in ``language`` (``locales/notes.yaml``; English
        where a language has no notes)."""
        from polyrank.agent._local import domain_name, language_name

        note = notes(language)
        parts = []
        if self.more_like:
            parts.append(note["more_like"].format(n=self.more_like))
        if self.exclude_ranks:
            parts.append(
                note["without"].format(ranks=", ".join(f"#{n}" for n in self.exclude_ranks))
            )
        if self.cheaper:
            parts.append(note["cheaper"])
        if self.something_else:
            parts.append(note["something_else"])
        if self.only_domains:
            what = ", ".join(domain_name(d, language) for d in self.only_domains)
            parts.append(note["only"].format(what=what))
        for key, codes in (("only_in", self.only_languages), ("not_in", self.exclude_languages)):
            if codes:
                names = ", ".join(language_name(c, language) for c in codes)
                parts.append(note[key].format(languages=names))
        if self.query and self.kind == "refine":
            parts.append(note["now"].format(query=self.query))
        return "; ".join(parts) or note["new"]


def notes(language: str) -> dict[str, str]:
    """The chat's notes in ``language``, English where it has none."""
    return in_language("notes", language)


# -- folding: what "with or without accents" means ------------------------------------
#: Marks dropped after a letter of these scripts: Latin, Greek, Cyrillic ("é", "ü", "ё",
#: "й") and Arabic (vowel marks, shadda, hamza on alef). Kana voicing marks, Hangul and
#: Thai vowel and tone marks are kept: they change the word.
_DROP_MARKS_BELOW = "\u0530"
_ARABIC = ("\u0600", "\u06ff")
_NUKTA = "\u093c"
_FOLD = str.maketrans(
    {
        "ı": "i",  # Turkish dotless i, typed as i without a Turkish keyboard
        "ł": "l",  # Polish, and Vietnamese "đ": letters with a stroke, no mark to drop
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ى": "ي",  # alef maksura and ya are typed for each other
        "ة": "ه",  # ta marbuta typed as ha
        "ـ": None,  # tatweel
        "ँ": "ं",  # chandrabindu typed as anusvara ("पाँच"/"पांच")
        "’": "'",
    }
)


def fold(text: str) -> str:
    """``text`` as the phrase tables match it: NFKC (full-width digits are digits, "№" is
    "No"), accents and Arabic vowel marks dropped ("più" = "piu", "أرخص" = "ارخص"), Hindi
    without nukta, Turkish "ı" as "i", Polish "ł" and Vietnamese "đ" as "l" and "d" ("đắt
    quá" = "dat qua"). Case is kept (patterns ignore it)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text)):
        if unicodedata.combining(ch) and out:
            base = out[-1]
            if base < _DROP_MARKS_BELOW or _ARABIC[0] <= base <= _ARABIC[1] or ch == _NUKTA:
                continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).translate(_FOLD)


def _key(word: str) -> str:
    return fold(word).lower()


def _alternation(words: Iterable[str]) -> str:
    """A regex matching any of ``words``; a word ending in ``*`` is a stem."""
    keys = sorted({_key(w) for w in words}, key=lambda k: (-len(k), k))
    return "|".join(re.escape(k[:-1]) + r"\w*" if k.endswith("*") else re.escape(k) for k in keys)


def _lookup(table: Mapping[str, Any], found: str) -> Any:
    """``table``'s value for the matched text ``found``: an exact key, else the longest
    stem (a key ending in ``*``) that starts it."""
    key = _key(found)
    if key in table:
        return table[key]
    stems = [k for k in table if k.endswith("*") and key.startswith(k[:-1])]
    return table[max(stems, key=len)] if stems else None


_PLACEHOLDER = re.compile(r"<([A-Z]+)>")


def _compile(pattern: str, entry: Mapping[str, Any]) -> re.Pattern[str]:
    macros = entry.get("macros", {})
    pattern = _PLACEHOLDER.sub(lambda m: macros.get(m.group(1), m.group(0)), pattern)
    groups = {
        "N": r"(?P<n>\d+|" + _alternation(entry.get("numbers", {})) + ")",
        "LANG": "(?P<lang>" + _alternation(entry["languages"]) + ")",
        "DOMAIN": "(?P<domain>" + _alternation(entry["domains"]) + ")",
    }
    pattern = _PLACEHOLDER.sub(lambda m: groups[m.group(1)], pattern)
    return re.compile(fold(pattern), re.IGNORECASE)


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    compiled: dict[str, dict[str, Any]] = {}
    for language, entry in locale_table("followups").items():
        if language.startswith("_"):
            continue
        compiled[language] = {
            **{k: [_compile(p, entry) for p in entry.get(k, [])] for k in KINDS},
            **{
                name: {_key(k): v for k, v in entry.get(name, {}).items()}
                for name in ("languages", "domains", "numbers")
            },
        }
    return compiled


@dataclass(frozen=True)
class _Unread:
    ranks: list[re.Pattern[str]]
    cues: list[re.Pattern[str]]
    articles: frozenset[str]
    negations: frozenset[str]
    numbers: dict[str, int]  # every table's rank words (stems end in "*")


@functools.cache
def _unread() -> _Unread:
    section = locale_table("followups")["_unread"]
    numbers: dict[str, int] = {}
    for entry in _table().values():
        for word, value in entry["numbers"].items():
            numbers.setdefault(word, int(value))
    return _Unread(
        ranks=[re.compile(fold(p), re.IGNORECASE) for p in section["ranks"]],
        cues=[re.compile(fold(p), re.IGNORECASE) for p in section["cues"]],
        articles=frozenset(_key(w) for w in section["articles"]),
        negations=frozenset(_key(w) for w in section["negations"]),
        numbers=numbers,
    )


def followup_languages() -> list[str]:
    """Languages whose follow-up phrases are understood without an LLM."""
    return sorted(_table())


def _rank(entry: Mapping[str, Any], found: str | None) -> int | None:
    if found is None:
        return 1  # "not this one": the item the answer puts first
    if found.isdigit():
        return int(found)
    value = _lookup(entry["numbers"], found)
    return None if value is None else int(value)


def _match_language(text: str, language: str) -> FollowUp | None:
    entry = _table()[language]
    result = FollowUp()
    matched = False
    consumed: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:  # a span already used by an earlier kind
        return not any(m.start() < end and start < m.end() for start, end in consumed)

    for kind in KINDS:
        for pattern in entry[kind]:
            for m in pattern.finditer(text):
                if not free(m):
                    continue
                groups = m.groupdict()
                if kind in ("more_like", "exclude"):
                    rank = _rank(entry, groups.get("n"))
                    if rank is None:
                        continue
                    if kind == "more_like":
                        result.more_like = rank
                    elif rank not in result.exclude_ranks:
                        result.exclude_ranks.append(rank)
                elif kind == "cheaper":
                    result.cheaper = True
                elif kind == "something_else":
                    result.something_else = True
                elif kind in ("not_language", "only_language"):
                    code = _lookup(entry["languages"], groups["lang"])
                    if code is None:
                        continue
                    target = (
                        result.exclude_languages
                        if kind == "not_language"
                        else (result.only_languages)
                    )
                    if code not in target:
                        target.append(code)
                if groups.get("domain"):  # "only films", or "only films in French"
                    domain = _lookup(entry["domains"], groups["domain"])
                    if domain is None:
                        continue
                    if domain not in result.only_domains:
                        result.only_domains.append(domain)
                elif kind == "only_domain":
                    continue
                consumed.append((m.start(), m.end()))
                matched = True
    return result if matched else None


def interpret(text: str, language: str | None = None) -> FollowUp:
    """Read a follow-up without an LLM; an unrecognised message is a new request.

    The phrases of ``language`` are tried first, then those of every other language.
    """
    folded = fold(text)
    order = [language] if language in _table() else []
    order += [code for code in _table() if code not in order]
    for code in order:
        found = _match_language(folded, code)
        if found is not None:
            return found
    return FollowUp(kind="new", query=text)


def _short(text: str) -> bool:
    words = text.split()
    if has_spaceless(text):
        return len("".join(words)) <= SHORT_CHARS
    return len(words) <= SHORT_WORDS


def looks_like_follow_up(text: str, shown: int = MAX_BARE_RANK) -> bool:
    """Whether a message that :func:`interpret` read as a new request looks like a
    follow-up all the same: short, and naming a rank ("#2", "No. 3", "3番目", "2" alone,
    "nie 2", "il terzo" with ``shown`` items on screen) or a cue of ``_unread`` ("more
    expensive", "levnější", "billigere").

    A request is never short *and* made of those: "top 5 films" and "Rocky 2" name no rank,
    "3000円以下" is a price, "1984" is no rank, "Seven" is a film when five items are shown.
    """
    folded = fold(text).strip()
    if not folded or not _short(folded):
        return False
    unread = _unread()
    if any(p.search(folded) for p in (*unread.ranks, *unread.cues)):
        return True
    words = re.findall(r"\w+", folded.lower())
    digits = [w for w in words if w.isdigit()]
    if len(digits) == 1:  # "2", "2?", "nie 2"; not "Rocky 2"
        others = [w for w in words if not w.isdigit()]
        rank = int(digits[0])
        return 1 <= rank <= min(shown, MAX_BARE_RANK) and set(others) <= unread.negations
    rest = [w for w in words if w not in unread.articles]  # "il terzo", "the third"
    if len(rest) != 1 or digits:
        return False
    value = _lookup(unread.numbers, rest[0])
    return value is not None and 1 <= value <= min(shown, MAX_BARE_RANK)


def interpret_with_llm(
    ranker: LLMRanker,
    text: str,
    *,
    last_query: str,
    last_titles: Sequence[str],
    language: str,
    template: Any,
) -> tuple[FollowUp | None, Ranking]:
    """Ask the model to turn the message into a :class:`FollowUp`, through the LLM ranker's
    loop (cache, deadline, retries, re-asks with the error quoted); ``None`` if it cannot
    (the phrase table answers then). The :class:`Ranking` (empty) records what it cost and
    the prompt, or the failure."""
    prompt = template.render(
        text=text, last_query=last_query, titles=list(last_titles), language=language
    )
    messages: list[Message] = [{"role": "user", "content": prompt}]
    return ranker.ask(messages, FollowUp)
