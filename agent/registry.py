"""The backend registry, as :mod:`agent` users import it (``register``, ``resolve``).

It lives in :mod:`polyrank.retrieval.registry`, the lowest layer, so that imports run one way only:
``retrieval`` <- ``prompts`` <- ``agent`` <- ``evals``. This module re-exports it, and
registers LangChain's chat providers (``anthropic:MODEL``, ``ollama:MODEL``,
``langchain:PROVIDER:MODEL``: :mod:`polyrank.agent._lcchat`) and the ``local`` ranker (kind
``ranker``: :mod:`polyrank.agent._ranking` says what a ranker factory is given).
"""

from __future__ import annotations

from polyrank.retrieval.registry import (
    Factory,
    check,
    find,
    names,
    register,
    resolve,
    split_spec,
)

__all__ = [
    "LANGCHAIN_PROVIDERS",
    "Factory",
    "check",
    "find",
    "names",
    "register",
    "resolve",
    "split_spec",
]


#: Providers of ``init_chat_model`` registered as spec names, with the package each needs.
#: (``openai`` stays polyrank's own backend; ``langchain:openai:MODEL`` reaches LangChain's.)
LANGCHAIN_PROVIDERS: dict[str, str] = {
    "anthropic": "langchain-anthropic",
    "azure_openai": "langchain-openai",
    "bedrock": "langchain-aws",
    "bedrock_converse": "langchain-aws",
    "cohere": "langchain-cohere",
    "deepseek": "langchain-deepseek",
    "fireworks": "langchain-fireworks",
    "google_genai": "langchain-google-genai",
    "google_vertexai": "langchain-google-vertexai",
    "groq": "langchain-groq",
    "huggingface": "langchain-huggingface",
    "mistralai": "langchain-mistralai",
    "nvidia": "langchain-nvidia-ai-endpoints",
    "ollama": "langchain-ollama",
    "perplexity": "langchain-perplexity",
    "together": "langchain-together",
    "xai": "langchain-xai",
}


def _langchain_providers() -> None:
    """LangChain's chat providers as spec names (``anthropic:MODEL``, ``ollama:MODEL``),
    registered the way a plugin's backends are; nothing is imported until one is used."""

    def factory(provider: str) -> Factory:
        def make(arg: str | None, **options: object) -> object:
            from polyrank.agent._lcchat import provider_factory

            return provider_factory(provider)(arg, **options)

        return make

    for provider in LANGCHAIN_PROVIDERS:
        register("llm", provider, factory(provider))
    register("llm", "langchain", "polyrank.agent._lcchat:make_any")


_langchain_providers()
register("ranker", "local", "polyrank.agent._ranking:make_local")
