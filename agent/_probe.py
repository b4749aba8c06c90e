"""``polyrank probe --model SPEC``: check a model before trusting it with rankings.

A few built-in requests in several languages, each over its own small candidate set (one
or two items clearly fit the request), shown in two shuffled orders. It reports what the
server took (structured-output mode, context size, slots), whether the replies were valid,
whether the model picks items or positions, whether its reasons are in the request's
language and its own words, tokens and latency per request, and a verdict:
``use it``, ``use it for reasons only`` or ``use the local ranker``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from polyrank.agent._llm import ChatModel, chat_model
from polyrank.agent._profile import UserContext
from polyrank.agent._ranking import RankRequest
from polyrank.agent._reading import ReadingCheck
from polyrank.agent._rerank import LLMRanker, RerankConfig
from polyrank.agent._server import Verdict, forget_verdict, remember_verdict
from polyrank.prompts import PromptSet
from polyrank.retrieval import Candidate, is_in_language

__all__ = ["ProbeReport", "probe", "run"]

K = 3
#: Repairs that make a reply invalid (beyond filling in the order of what was not asked).
INVALID = ("invalid_output", "truncated", "missing_id", "invented_id", "duplicate_id", "salvaged")

#: (language, request, relevant titles, other titles): each title is also its text's start.
_REQUESTS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "es",
        "Quiero aprender a cocinar pasta italiana",
        ("Pasta fresca: recetas de la nonna", "La cocina italiana paso a paso"),
        ("Botas de montaña impermeables", "Historia de la astronomía", "Guía de jardinería",
         "Auriculares inalámbricos", "Novela negra en Madrid", "Curso de guitarra flamenca"),
    ),
    (
        "en",
        "a gift for a friend who loves hiking",
        ("Waterproof hiking boots", "Trekking poles, carbon, pair"),
        ("A history of jazz piano", "Espresso machine", "Sci-fi film collection",
         "Watercolour paint set", "Beginner's chess book", "Silk scarf"),
    ),
    (
        "ja",
        "家で作れるラーメンのレシピ本",
        ("はじめての手作りラーメン", "家庭で作る本格ラーメンのレシピ"),
        ("登山用ヘッドランプ", "ピアノ名曲集", "宇宙映画ベスト", "日本の歴史入門",
         "ヨガマット", "子ども向け絵本"),
    ),
    (
        "de",
        "Ein spannender Krimi für den Urlaub",
        ("Mord am Bodensee: ein Krimi", "Der stille Kommissar: Kriminalroman"),
        ("Kochbuch für Vegetarier", "Wanderkarte Alpen", "Gartenschere aus Stahl",
         "Einführung in die Physik", "Yoga für Anfänger", "Kinderlieder zum Mitsingen"),
    ),
)  # fmt: skip


def _candidates(
    number: int, language: str, good: Sequence[str], other: Sequence[str]
) -> list[Candidate]:
    items = [
        Candidate(
            id=f"p{number}-{i}",
            group=f"p{number}-{i}",
            score=0.5,
            title=title,
            description=f"{title}.",
            language=language,
            domain="products",
            attributes={"price": 10.0 + 7 * i, "currency": "EUR"},
        )
        for i, title in enumerate([*good, *other])
    ]
    random.Random(number).shuffle(items)  # the relevant items are not shown first
    return items


@dataclass
class RequestFigures:
    language: str
    query: str
    valid: bool
    failure: str | None
    hits: int
    model_reasons: int
    reasons_in_language: int
    latency_ms: float
    calls: int
    prompt_tokens: int
    completion_tokens: int


@dataclass
class ProbeReport:
    """What :func:`probe` found (``summary`` prints it)."""

    model: str
    mode: str
    context: int | None
    slots: int | None
    server: str
    requests: list[RequestFigures] = field(default_factory=list)
    reading: dict[str, float | int] = field(default_factory=dict)
    position_following: str | None = None
    copying: str | None = None

    @property
    def validity(self) -> float:
        return sum(r.valid for r in self.requests) / max(1, len(self.requests))

    @property
    def hit_rate(self) -> float:
        """Share of the top K that are items fitting the request (chance: 2 of 8)."""
        return sum(r.hits for r in self.requests) / max(1, K * len(self.requests))

    @property
    def reason_language(self) -> float:
        """Share of the shown reasons that the model wrote in the request's language."""
        return sum(r.reasons_in_language for r in self.requests) / max(1, K * len(self.requests))

    @property
    def why(self) -> str:
        """The verdict's reason, in one line (empty for "use it")."""
        if self.verdict == "use it":
            return ""
        answered = sum(r.failure is None for r in self.requests)
        if answered * 2 < len(self.requests) or self.validity < 0.5:
            return f"valid replies {self.validity:.0%} of {len(self.requests)} requests"
        ranks = self.position_following or (
            f"fitting items in its top {K} {self.hit_rate:.0%} (chance 25%)"
            if self.hit_rate < 0.5
            else ""
        )
        explains = self.copying or (
            f"reasons in the request's language {self.reason_language:.0%}"
            if self.reason_language < 0.8
            else ""
        )
        return "; ".join(p for p in (ranks, explains) if p)

    @property
    def verdict(self) -> str:
        answered = sum(r.failure is None for r in self.requests)
        if answered * 2 < len(self.requests) or self.validity < 0.5:
            return "use the local ranker"
        ranks = self.position_following is None and self.hit_rate >= 0.5
        explains = self.copying is None and self.reason_language >= 0.8
        if ranks and explains:
            return "use it"
        if explains:
            return "use it for reasons only"
        return "use the local ranker"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "mode": self.mode,
            "context": self.context,
            "slots": self.slots,
            "server": self.server,
            "validity": round(self.validity, 3),
            "hit_rate": round(self.hit_rate, 3),
            "reason_language": round(self.reason_language, 3),
            "reading": self.reading,
            "position_following": self.position_following,
            "copying": self.copying,
            "verdict": self.verdict,
            "why": self.why,
            "requests": [vars(r) for r in self.requests],
        }

    def summary(self) -> str:
        r = self.reading
        lines = [
            f"model {self.model}: {self.server or 'server unknown'}, "
            f"context {self.context or 'unknown'}, slots {self.slots or 'unknown'}, "
            f"structured output: {self.mode}",
            f"valid replies        {self.validity:.0%} of {len(self.requests)} requests",
            f"fitting items in top {K}  {self.hit_rate:.0%} (chance 25%)",
            f"across shuffles      same positions {float(r.get('same_positions', 0)):.0%}, "
            f"same items {float(r.get('same_items', 0)):.0%}",
            f"reasons in language  {self.reason_language:.0%}; copied "
            f"{float(r.get('copied', 0)):.0%} of {r.get('reasons', 0)}",
        ]
        for q in self.requests:
            lines.append(
                f"  {q.language}  {q.latency_ms / 1000:6.1f} s  {q.calls} calls  "
                f"{q.prompt_tokens} prompt + {q.completion_tokens} completion tokens"
                + (f"  ({q.failure})" if q.failure else "")
            )
        why = self.why
        lines.append(f"verdict: {self.verdict}" + (f" ({why})" if why else ""))
        return "\n".join(lines)


def probe(model: ChatModel, *, deadline: float = 120.0, context: int | None = None) -> ProbeReport:
    """Ask ``model`` the built-in requests, each in two shuffled orders, and judge it
    (``context``: the server's context size when it does not say)."""
    chat = chat_model(model)
    config = RerankConfig(
        passes=2, reason_reasks=0, deadline=deadline, seed=7, check_reading=False,
        context_window=context or RerankConfig.context_window,
    )  # fmt: skip
    total = ReadingCheck()
    figures: list[RequestFigures] = []
    for number, (language, query, good, other) in enumerate(_REQUESTS):
        candidates = _candidates(number, language, good, other)
        ranker = LLMRanker(
            chat, PromptSet.load(), explain=lambda r, cs, c: {x.id: "" for x in cs}, config=config
        )
        started = time.perf_counter()
        ranking = ranker.rank(
            RankRequest(query, language, k=K, passes=2),
            candidates,
            UserContext(user_id="", languages=(language,)),
        )
        elapsed = (time.perf_counter() - started) * 1000
        total.absorb(ranker.reading)
        relevant = {c.id for c in candidates if c.title in good}
        titles = [c.title for c in candidates]
        own = [
            reason
            for c, reason in zip(ranking.items, ranking.reasons, strict=True)
            if c.id not in ranking.filled and reason.strip()
        ]
        figures.append(
            RequestFigures(
                language=language,
                query=query,
                valid=ranking.failure is None and not any(ranking.repairs.get(k) for k in INVALID),
                failure=ranking.failure,
                hits=sum(c.id in relevant for c in ranking.items),
                model_reasons=len(own),
                reasons_in_language=sum(is_in_language(x, language, titles) for x in own),
                latency_ms=round(elapsed, 1),
                calls=ranking.usage.llm_calls,
                prompt_tokens=ranking.usage.prompt_tokens,
                completion_tokens=ranking.usage.completion_tokens,
            )
        )
    limits = chat.limits()
    return ProbeReport(
        model=chat.spec,
        mode=str(chat.params.get("json_mode", "json_schema (or the provider's own)")),
        context=limits.context,
        slots=limits.slots,
        server=limits.server,
        requests=figures,
        reading=total.figures(),
        position_following=total.position_following(),
        copying=total.copying(),
    )


def run(args: Any) -> int:
    """The ``probe`` command: exit 0 when the verdict is "use it", else 3 (as a fallback)."""
    import datetime
    import json

    from polyrank.agent._options import EXIT_FALLBACK, EXIT_OK, settings_of
    from polyrank.agent.errors import ConfigError
    from polyrank.agent.registry import find, resolve

    settings = settings_of(args)
    kind, _, _ = find(("ranker", "llm"), settings.model, "model")
    if kind != "llm":
        raise ConfigError("probe needs a model: --model openai:MODEL (or POLYRANK_MODEL)")
    chat: ChatModel = resolve("llm", settings.model, **settings.llm_settings().options())
    base_url = chat.params.get("base_url")
    server = base_url if isinstance(base_url, str) else None
    if getattr(args, "forget", False):
        dropped = forget_verdict(server, chat.spec)
        print(f"{'forgot' if dropped else 'no'} verdict on {chat.spec} at {server or 'its API'}")
        return EXIT_OK
    report = probe(chat, deadline=settings.timeout, context=settings.context)
    verdict = Verdict(report.verdict, report.why, datetime.date.today().isoformat())
    remember_verdict(server, chat.spec, verdict)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(report.summary())
        if server and verdict.not_reading:
            print(
                f"remembered: {chat.spec} at {server} is not asked to rank until it is "
                "probed again (polyrank probe --forget drops this)"
            )
    ok = report.verdict == "use it" or getattr(args, "allow_fallback", False)
    return EXIT_OK if ok else EXIT_FALLBACK
