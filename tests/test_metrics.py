"""Metric formulas pinned against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polyrank.evals._metrics import (
    intra_list_distance,
    jaccard_at_k,
    kendall_tau,
    rank_c,
    rbo,
    relevance_metrics,
    top1_agreement,
)


def test_relevance_metrics_match_hand_computation() -> None:
    # ranking b, x, a with grades a=2, b=1, c=0 (trec_eval: linear gains, log2 discount)
    m = relevance_metrics(["b", "x", "a"], {"a": 2, "b": 1, "c": 0}, k=3)
    dcg = 1 / math.log2(2) + 0 + 2 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx(dcg / idcg)
    assert m["mrr"] == 1.0  # b has grade 1: relevant
    assert m["recall@3"] == 1.0
    m = relevance_metrics(["x", "y", "a", "b"], {"a": 1, "b": 1}, k=3)
    assert m["mrr"] == pytest.approx(1 / 3)
    assert m["recall@3"] == pytest.approx(0.5)


def test_relevance_metrics_of_empty_ranking() -> None:
    assert relevance_metrics([], {"a": 1}, k=5) == {"ndcg@5": 0.0, "mrr": 0.0, "recall@5": 0.0}


def test_rbo_extremes_and_a_hand_computed_case() -> None:
    assert rbo(list("abcde"), list("abcde")) == pytest.approx(1.0)
    assert rbo(list("abc"), list("xyz")) == pytest.approx(0.0)
    # a,b vs b,a with p = 0.5: X1 = 0, X2 = 2
    # RBO_ext = X2/2 * p^2 + (1-p)/p * (X1/1 * p + X2/2 * p^2) = 0.25 + 1 * 0.25 = 0.5
    assert rbo(["a", "b"], ["b", "a"], p=0.5) == pytest.approx(0.5)
    # top-weighted: a swap at the top costs more than a swap at the bottom
    assert rbo(list("bacde"), list("abcde")) < rbo(list("abced"), list("abcde"))


def test_rank_c_hand_computed() -> None:
    # N = 2: w = (e, 1) / (e + 1); P@1 = 0 (a vs b), P@2 = 1
    assert rank_c(["a", "b"], ["b", "a"]) == pytest.approx(1 / (math.e + 1))
    assert rank_c(list("abc"), list("abc")) == pytest.approx(1.0)
    assert rank_c(list("abc"), list("xyz")) == pytest.approx(0.0)


def test_jaccard_and_top1() -> None:
    assert jaccard_at_k(list("abcd"), list("abxy"), 4) == pytest.approx(2 / 6)
    assert jaccard_at_k(list("abcd"), list("dcba"), 2) == 0.0
    assert top1_agreement(["a", "b"], ["a", "c"]) == 1.0
    assert top1_agreement(["a"], ["b"]) == 0.0


def test_kendall_tau() -> None:
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)


def test_intra_list_distance() -> None:
    same = np.array([[1.0, 0.0], [1.0, 0.0]])
    orthogonal = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert intra_list_distance(same) == pytest.approx(0.0)
    assert intra_list_distance(orthogonal) == pytest.approx(1.0)
