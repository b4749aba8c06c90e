"""Ranking metrics. Relevance metrics come from ``ir-measures`` (trec_eval's definitions);
consistency, bias and diversity metrics are written here and pinned by hand-computed tests.

Relevance (per case and language): nDCG@k (linear gains, as trec_eval), MRR (first item
with grade >= 1), recall@k.

Consistency (between the rankings of one request in two languages), on item *groups* so the
same book in Spanish and in English counts as the same item:

- RBO: rank-biased overlap, extrapolated variant ``RBO_ext`` (Webber et al. 2010, eq. 32)
  with persistence ``p`` (default 0.9), for two lists of equal depth.
- RankC: Qi et al. 2023, ``sum_j w_j * P@j`` with ``w_j = e^(N-j) / sum_k e^(N-k)`` and
  ``P@j = |top_j(a) & top_j(b)| / j``.
- Jaccard@k and top-1 agreement.

Every metric a suite may name is a :class:`Metric` (name, scope, compute) in one registry;
the built-ins at the end of this module register through :func:`register_metric`, as a
user's metric does (one file: a function and the call).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from polyrank.retrieval import StoreReader

__all__ = [
    "STRUCTURAL_REPAIRS",
    "CaseContext",
    "Metric",
    "PairContext",
    "RequestContext",
    "Scope",
    "check_metric",
    "get_metric",
    "jaccard_at_k",
    "kendall_tau",
    "metric_names",
    "metrics",
    "rank_c",
    "rbo",
    "register_metric",
    "relevance_metrics",
    "sensible_at_3",
    "top1_agreement",
    "unregister_metric",
]


def relevance_metrics(
    ranking: Sequence[str], labels: Mapping[str, int], k: int
) -> dict[str, float]:
    """nDCG@k, MRR and recall@k of ``ranking`` (best first) against graded ``labels``."""
    import ir_measures
    from ir_measures import RR, R, nDCG

    qrels = {"q": {doc: int(grade) for doc, grade in labels.items()}}
    run = {"q": {doc: float(len(ranking) - i) for i, doc in enumerate(ranking)}}
    if not run["q"]:
        return {f"ndcg@{k}": 0.0, "mrr": 0.0, f"recall@{k}": 0.0}
    measures = [nDCG @ k, RR, R @ k]
    values = ir_measures.calc_aggregate(measures, qrels, run)
    return {
        f"ndcg@{k}": float(values[nDCG @ k]),
        "mrr": float(values[RR]),
        f"recall@{k}": float(values[R @ k]),
    }


def rbo(a: Sequence[str], b: Sequence[str], p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap of two rankings of the same depth (1 = identical)."""
    depth = min(len(a), len(b))
    if depth == 0:
        return 1.0 if len(a) == len(b) else 0.0
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    overlap = 0
    total = 0.0
    for d in range(1, depth + 1):
        x, y = a[d - 1], b[d - 1]
        if x == y:
            overlap += 1
        else:
            overlap += (x in seen_b) + (y in seen_a)
        seen_a.add(x)
        seen_b.add(y)
        total += (overlap / d) * p**d
    return float((overlap / depth) * p**depth + (1 - p) / p * total)


def rank_c(a: Sequence[str], b: Sequence[str]) -> float:
    """RankC consistency of two rankings (softmax-weighted precision at each depth)."""
    n = min(len(a), len(b))
    if n == 0:
        return 1.0
    weights = [math.exp(n - j) for j in range(1, n + 1)]
    norm = sum(weights)
    score = 0.0
    for j in range(1, n + 1):
        score += weights[j - 1] / norm * len(set(a[:j]) & set(b[:j])) / j
    return score


def jaccard_at_k(a: Sequence[str], b: Sequence[str], k: int) -> float:
    sa, sb = set(a[:k]), set(b[:k])
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def top1_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return 1.0 if a and b and a[0] == b[0] else 0.0


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-a between two score sequences (1 = same order, -1 = reversed)."""
    n = len(x)
    if n < 2:
        return 0.0
    concordant = discordant = 0
    for i, j in combinations(range(n), 2):
        s = (x[i] - x[j]) * (y[i] - y[j])
        concordant += s > 0
        discordant += s < 0
    return (concordant - discordant) / (n * (n - 1) / 2)


def intra_list_distance(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance of unit vectors (0 = all the same)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sims = vectors @ vectors.T
    mean_sim = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return float(1.0 - mean_sim)


# -- the metric registry -------------------------------------------------------------------

#: Where a metric is computed. ``request``: once per case and language (a suite's
#: expectation checks the mean over the case's languages); ``languages``: once per
#: non-reference language against the reference language's ranking (names start with
#: ``consistency.``); ``case``: once per case, from all its languages.
Scope = Literal["request", "languages", "case"]
SCOPES: tuple[str, ...] = ("request", "languages", "case")

#: Repairs that mean the model's answer was not usable as it came.
STRUCTURAL_REPAIRS = (
    "invalid_output",
    "truncated",
    "salvaged",
    "invented_id",
    "duplicate_id",
    "missing_id",
)


@dataclass(frozen=True)
class RequestContext:
    """What a ``request`` metric sees: one case's request in one language.

    ``case`` is the :class:`polyrank.evals.Case`, ``recommendation`` the
    :class:`polyrank.agent.Recommendation` (items and trace), ``store`` the suite's
    :class:`polyrank.retrieval.StoreReader`.
    """

    case: Any
    language: str
    recommendation: Any
    k: int
    store: StoreReader | None = None

    @property
    def labels(self) -> Mapping[str, int]:
        """The case's graded labels (item ids or groups)."""
        return dict(self.case.relevant)

    @cached_property
    def keys(self) -> list[str]:
        """The ranking as label keys: an item's id, or its group when a label names that."""
        labels = self.labels
        return [i.id if i.id in labels else i.group for i in self.recommendation.items]

    @cached_property
    def grades(self) -> list[int]:
        """The grade of each ranked item, best first (0 when unlabelled)."""
        labels = self.labels
        return [int(labels.get(key, 0)) for key in self.keys]

    @cached_property
    def relevance(self) -> dict[str, float]:
        """nDCG@k, MRR and recall@k at once (one ir-measures call for the three)."""
        return relevance_metrics(self.keys, self.labels, self.k) if self.labels else {}


@dataclass(frozen=True)
class PairContext:
    """What a ``languages`` metric sees: the reference language's ranking and another's,
    as item groups (the same book in two languages is one group)."""

    reference: Sequence[str]
    other: Sequence[str]
    k: int
    rbo_p: float = 0.9


@dataclass(frozen=True)
class CaseContext:
    """What a ``case`` metric or a ``python`` assertion sees: one case in all its
    languages. ``languages``: :class:`polyrank.evals.LanguageResult` by language;
    ``consistency``: the ``languages`` metrics by non-reference language."""

    case: Any
    languages: Mapping[str, Any]
    consistency: Mapping[str, Mapping[str, float]]
    k: int


@dataclass(frozen=True)
class Metric:
    """A metric an expectation may name: a name, a scope and a compute function.

    ``name`` ends in ``@k`` when it is computed at the suite's ``k`` (``ndcg@k`` is
    ``ndcg@5`` in a suite with ``k: 5``). ``compute`` takes the scope's context
    (:class:`RequestContext`, :class:`PairContext` or :class:`CaseContext`) and returns a
    number, or ``None`` where the metric does not apply (no labels, one item).
    """

    name: str
    compute: Callable[[Any], float | None]
    scope: Scope = "request"
    description: str = ""

    def at(self, k: int) -> str:
        """The name an expectation uses in a suite with this ``k``."""
        return f"{self.name[:-2]}@{k}" if self.name.endswith("@k") else self.name

    @property
    def short(self) -> str:
        """A ``languages`` metric's key in a case's consistency table (``rbo``)."""
        return self.name.removeprefix("consistency.")


_METRICS: dict[str, Metric] = {}


def register_metric(
    name: str | Metric,
    compute: Callable[[Any], float | None] | None = None,
    *,
    scope: Scope = "request",
    description: str = "",
) -> Metric:
    """Register a metric: ``polyrank eval`` computes it and expectations may name it.

    Usage::

        register_metric("title_len", lambda ctx: len(ctx.recommendation.items[0].title))

    The built-in metrics are registered the same way (end of this module). A metric of a
    name already registered replaces it.

    Raises:
        ValueError: a bad name, scope or compute function.
    """
    if isinstance(name, Metric):
        metric = name
    else:
        if compute is None:
            raise ValueError(f"metric {name!r} needs a compute function")
        metric = Metric(name, compute, scope, description)
    if not callable(metric.compute):
        raise ValueError(f"metric {metric.name!r}: compute must be callable")
    if metric.scope not in SCOPES:
        raise ValueError(
            f"metric {metric.name!r}: unknown scope {metric.scope!r} (one of {', '.join(SCOPES)})"
        )
    if not re.fullmatch(r"[A-Za-z][\w.-]*(@(k|\d+))?", metric.name):
        raise ValueError(f"metric name {metric.name!r}: letters, digits, '_.-', optional @k")
    if (metric.scope == "languages") != metric.name.startswith("consistency."):
        raise ValueError(
            f"metric {metric.name!r}: a 'languages' metric is named consistency.NAME, and only it"
        )
    _METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests, notebooks); unknown names are ignored."""
    _METRICS.pop(name, None)


def metrics(scope: Scope | None = None) -> list[Metric]:
    """Every registered metric (of ``scope``), by name."""
    return [_METRICS[n] for n in sorted(_METRICS) if scope is None or _METRICS[n].scope == scope]


def get_metric(name: str, k: int) -> Metric:
    """The metric an expectation's ``name`` means in a suite with this ``k``."""
    check_metric(name, k)
    return next(m for m in _METRICS.values() if m.at(k) == name)


def metric_names(k: int) -> list[str]:
    """The metric names an expectation may use in a suite with this ``k``."""
    return sorted(m.at(k) for m in _METRICS.values())


def check_metric(name: str, k: int) -> None:
    """Raise ValueError when ``name`` is not a metric a suite with this ``k`` computes."""
    known = metric_names(k)
    if name in known:
        return
    base, at, depth = name.partition("@")
    if at and f"{base}@k" in _METRICS:
        raise ValueError(
            f"{name!r} is not computed: the suite's k is {k}, so write '{base}@{k}' "
            f"(or raise defaults.k to {depth})"
        )
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown metric {name!r}{hint} (known: {', '.join(known)})")


# -- built-in metrics: registered as a user's would be --------------------------------------


def _relevance(key: str) -> Callable[[RequestContext], float | None]:
    def compute(ctx: RequestContext) -> float | None:
        relevance = ctx.relevance
        return relevance.get(key.replace("@k", f"@{ctx.k}")) if relevance else None

    return compute


def _reason_language(ctx: RequestContext) -> float:
    from polyrank.retrieval import is_in_language

    reasons = [i.reason for i in ctx.recommendation.items]
    if not reasons:
        return 1.0
    return sum(is_in_language(r, ctx.language) for r in reasons) / len(reasons)


def _validity(ctx: RequestContext) -> float:
    # Valid means usable as answered: no repair beyond putting ids in order (a reply that
    # lists 2 of 20 ids, invents or repeats ids, or had to be salvaged or re-asked is not).
    trace = ctx.recommendation.trace
    invalid = sum(trace.repairs.get(kind, 0) for kind in STRUCTURAL_REPAIRS)
    return 0.0 if trace.fallback or invalid else 1.0


def _model_reasons(ctx: RequestContext) -> float | None:
    # The share of the shown reasons the LLM wrote (as answered or re-asked); the others
    # are the local ranker's templates. None when no LLM was asked (a local run).
    trace = ctx.recommendation.trace
    if not trace.prompt_template and not trace.fallback:
        return None
    items = ctx.recommendation.items
    own = set(trace.model_reasons)
    return sum(i.id in own for i in items) / len(items) if items else 0.0


def _position_tau(ctx: RequestContext) -> float:
    trace = ctx.recommendation.trace
    position = {cid: n for n, cid in enumerate(trace.candidate_ids)}
    inputs = [position.get(i.id, len(position)) for i in ctx.recommendation.items]
    return kendall_tau(inputs, list(range(len(inputs))))


def _intra_list_distance(ctx: RequestContext) -> float | None:
    if ctx.store is None:
        return None
    vectors = ctx.store.vectors([i.id for i in ctx.recommendation.items])
    if len(vectors) < 2:
        return None
    matrix = np.vstack([v / (np.linalg.norm(v) or 1.0) for v in vectors.values()])
    return intra_list_distance(matrix)


def _spread(attribute: str) -> Callable[[RequestContext], float]:
    def compute(ctx: RequestContext) -> float:
        items = ctx.recommendation.items
        return len({getattr(i, attribute) for i in items}) / max(1, len(items))

    return compute


def _cost(ctx: RequestContext) -> float | None:
    cost = ctx.recommendation.trace.cost
    return None if cost is None else float(cost)


def sensible_at_3(ctx: RequestContext) -> float | None:
    """1 when the top item has grade >= 2 and at least two of the top 3 have grade >= 2
    (the first answers make sense to a person), else 0; ``None`` for an unlabelled case."""
    if not ctx.labels:
        return None
    top = ctx.grades[:3]
    return 1.0 if top and top[0] >= 2 and sum(g >= 2 for g in top) >= 2 else 0.0


for _metric in (
    Metric("ndcg@k", _relevance("ndcg@k"), description="nDCG at the suite's k, linear gains"),
    Metric("mrr", _relevance("mrr"), description="reciprocal rank of the first relevant item"),
    Metric("recall@k", _relevance("recall@k"), description="share of the relevant in the top k"),
    Metric("sensible@3", sensible_at_3, description=sensible_at_3.__doc__ or ""),
    Metric("reason_language", _reason_language, description="share of reasons in its language"),
    Metric("validity", _validity, description="1 when the reply was usable as answered"),
    Metric(
        "model_reasons",
        _model_reasons,
        description="share of the shown reasons the LLM wrote (the rest: the local ranker's)",
    ),
    Metric(
        "fallback_rate",
        lambda ctx: 1.0 if ctx.recommendation.trace.fallback else 0.0,
        description="1 when the local ranker had to answer for the LLM",
    ),
    Metric(
        "latency_ms",
        lambda ctx: float(ctx.recommendation.trace.latency_ms.get("total", 0.0)),
        description="milliseconds per request, retrieval to answer",
    ),
    Metric(
        "tokens",
        lambda ctx: float(
            ctx.recommendation.trace.usage.prompt_tokens
            + ctx.recommendation.trace.usage.completion_tokens
        ),
        description="prompt + completion tokens per request",
    ),
    Metric("cost", _cost, description="USD per request at the configured prices (absent: unknown)"),
    Metric("position_tau", _position_tau, description="Kendall tau of output vs retrieval order"),
    Metric("intra_list_distance", _intra_list_distance, description="mean cosine distance"),
    Metric("language_spread", _spread("language"), description="distinct item languages / items"),
    Metric("domain_spread", _spread("domain"), description="distinct domains / items"),
    Metric(
        "consistency.rbo",
        lambda c: rbo(c.reference, c.other, c.rbo_p),
        "languages",
        "rank-biased overlap with the reference language's ranking",
    ),
    Metric(
        "consistency.rankc",
        lambda c: rank_c(c.reference, c.other),
        "languages",
        "RankC agreement with the reference language's ranking",
    ),
    Metric(
        "consistency.jaccard",
        lambda c: jaccard_at_k(c.reference, c.other, c.k),
        "languages",
        "Jaccard@k with the reference language's ranking",
    ),
    Metric(
        "consistency.top1",
        lambda c: top1_agreement(c.reference, c.other),
        "languages",
        "same first item as the reference language",
    ),
):
    register_metric(_metric)
