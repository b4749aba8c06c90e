"""What the packages above retrieval (``agent``, ``evals``) use of its parts: YAML, bounded
file reads, tokenizing, word vectors, derived caches, exchange rates, lazy attributes.

They import these from here, never from retrieval's private modules (which may move: the
layering test in ``tests/test_registry.py`` holds them to it). Not a user-facing API.
"""

from __future__ import annotations

from polyrank.retrieval._derived import cache_home, derived_arrays
from polyrank.retrieval._embeddings import word_vectors
from polyrank.retrieval._endpoint import credentials, redact
from polyrank.retrieval._files import MAX_DOCUMENT_BYTES, TooLarge, read_bounded
from polyrank.retrieval._lazy import lazy_attributes
from polyrank.retrieval._lexical import has_spaceless, tokenize
from polyrank.retrieval._prices import RATES_AS_OF, RATES_TO_EUR, convert, to_eur
from polyrank.retrieval._yaml import YAMLError, load_yaml, yaml_problem

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "RATES_AS_OF",
    "RATES_TO_EUR",
    "TooLarge",
    "YAMLError",
    "cache_home",
    "convert",
    "credentials",
    "derived_arrays",
    "has_spaceless",
    "lazy_attributes",
    "load_yaml",
    "read_bounded",
    "redact",
    "to_eur",
    "tokenize",
    "word_vectors",
    "yaml_problem",
]
