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
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np

__all__ = [
    "Metric",
    "check_metric",
    "jaccard_at_k",
    "kendall_tau",
    "metric_names",
    "metrics",
    "rank_c",
    "rbo",
    "register_metric",
    "relevance_metrics",
    "top1_agreement",
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


@dataclass(frozen=True)
class Metric:
    """A metric an expectation may name.

    ``name`` ends in ``@k`` when it is computed at the suite's ``k`` only (``ndcg@k`` is
    ``ndcg@5`` in a suite with ``k: 5``). ``scope``: ``language`` metrics are means over a
    case's languages; ``consistency`` ones compare each language with the reference.
    """

    name: str
    description: str
    scope: Literal["language", "consistency"] = "language"

    def at(self, k: int) -> str:
        """The name an expectation uses in a suite with this ``k``."""
        return f"{self.name[:-2]}@{k}" if self.name.endswith("@k") else self.name


_METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, description: str, scope: Literal["language", "consistency"] = "language"
) -> Metric:
    """Register a metric name (what ``polyrank eval`` computes and expectations check)."""
    metric = Metric(name, description, scope)
    _METRICS[name] = metric
    return metric


def metrics() -> list[Metric]:
    """Every registered metric, by name."""
    return [_METRICS[name] for name in sorted(_METRICS)]


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


for _name, _text in (
    ("ndcg@k", "nDCG at the suite's k, linear gains (trec_eval)"),
    ("mrr", "reciprocal rank of the first relevant item"),
    ("recall@k", "share of the relevant items in the top k"),
    ("reason_language", "share of reasons written in the request's language"),
    ("validity", "1 when the model's reply was usable as answered (no structural repair)"),
    ("fallback_rate", "1 when the local ranker had to answer for the LLM"),
    ("latency_ms", "milliseconds per request, retrieval to answer"),
    ("tokens", "prompt + completion tokens per request"),
    ("cost", "USD per request at the configured prices"),
    ("position_tau", "Kendall tau of output vs retrieval order (1: the order was copied)"),
    ("intra_list_distance", "mean cosine distance between the recommended items"),
    ("language_spread", "distinct item languages / items"),
    ("domain_spread", "distinct domains / items"),
):
    register_metric(_name, _text)
for _name, _text in (
    ("consistency.rbo", "rank-biased overlap with the reference language's ranking"),
    ("consistency.rankc", "RankC agreement with the reference language's ranking"),
    ("consistency.jaccard", "Jaccard@k with the reference language's ranking"),
    ("consistency.top1", "same first item as the reference language"),
):
    register_metric(_name, _text, "consistency")
