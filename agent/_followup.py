"""Follow-ups in a conversation: "more like 2", "cheaper", "not in Spanish", "only films".

Without an LLM, phrases in 7 languages (``locales/followups.yaml``) are understood; with an
LLM the follow-up is turned into the same structured :class:`FollowUp` (validated by
pydantic), and the phrase table answers when the model does not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent._llm import Message
from agent._locale import in_language
from agent._locale import table as locale_table
from agent._ranking import Ranking

if TYPE_CHECKING:
    from agent._rerank import LLMRanker

__all__ = ["FollowUp", "followup_languages", "interpret", "interpret_with_llm"]

KINDS = (
    "more_like", "exclude", "cheaper", "something_else", "not_language", "only_language",
    "only_domain",
)  # fmt: skip


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
        from agent._local import domain_name, language_name

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


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    compiled: dict[str, dict[str, Any]] = {}
    for language, entry in locale_table("followups").items():
        compiled[language] = {
            **entry,
            **{k: [re.compile(p, re.IGNORECASE) for p in entry.get(k, [])] for k in KINDS},
        }
    return compiled


def followup_languages() -> list[str]:
    """Languages whose follow-up phrases are understood without an LLM."""
    return sorted(_table())


def _match_language(text: str, language: str) -> FollowUp | None:
    entry = _table()[language]
    names: dict[str, str] = {k.lower(): v for k, v in entry["languages"].items()}
    domains: dict[str, str] = {k.lower(): v for k, v in entry["domains"].items()}
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
                if kind == "more_like":
                    result.more_like = int(groups["n"])
                elif kind == "exclude":
                    result.exclude_ranks.append(int(groups["n"]))
                elif kind == "cheaper":
                    result.cheaper = True
                elif kind == "something_else":
                    result.something_else = True
                elif kind in ("not_language", "only_language"):
                    code = names.get(groups["lang"].lower())
                    if code is None:
                        continue
                    target = (
                        result.exclude_languages
                        if kind == "not_language"
                        else (result.only_languages)
                    )
                    target.append(code)
                elif kind == "only_domain":
                    domain = domains.get(groups["domain"].lower())
                    if domain is None:
                        continue
                    result.only_domains.append(domain)
                consumed.append((m.start(), m.end()))
                matched = True
    return result if matched else None


def interpret(text: str, language: str | None = None) -> FollowUp:
    """Read a follow-up without an LLM; an unrecognised message is a new request.

    The phrases of ``language`` are tried first, then those of every other language.
    """
    order = [language] if language in _table() else []
    order += [code for code in _table() if code not in order]
    for code in order:
        found = _match_language(text, code)
        if found is not None:
            return found
    return FollowUp(kind="new", query=text)


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
