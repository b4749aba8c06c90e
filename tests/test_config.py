"""One configuration, built once at the edge; a CLI whose exit code tells the truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyrank._cli import EXIT_FALLBACK, main
from polyrank.agent import ConfigError
from polyrank.agent._config import Settings
from polyrank.agent.registry import resolve


def test_options_win_over_the_environment_and_errors_name_their_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLYRANK_MODEL", "openai:from-env")
    monkeypatch.setenv("POLYRANK_CACHE", "/tmp/elsewhere")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    settings = Settings.load()
    assert settings.model == "openai:from-env" and settings.cache == Path("/tmp/elsewhere")
    assert "model" in settings.model_fields_set and settings.key() == "sk-env"
    assert Settings.load(model="local", timeout=None).model == "local"  # None: not given
    monkeypatch.delenv("POLYRANK_MODEL")
    assert "model" not in Settings.load().model_fields_set  # the suite's model stays
    with pytest.raises(ConfigError, match=r"--max-tokens=3: Input should be greater"):
        Settings.load(max_tokens=3)
    monkeypatch.setenv("POLYRANK_TIMEOUT", "-1")
    with pytest.raises(ConfigError, match=r"POLYRANK_TIMEOUT='-1'"):
        Settings.load()


def test_openai_embeddings_use_the_key_and_never_a_placeholder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Was: ``--embeddings openai:…`` sent the key "unused" even with OPENAI_API_KEY set."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    # the environment is read at the edge (Settings), never by the library itself
    edge = Settings.load().credentials()
    embedder = resolve("embeddings", "openai:text-embedding-3-small", **edge)
    assert embedder._client.openai_api_key.get_secret_value() == "sk-real"
    given = resolve("embeddings", "openai:m", **Settings.load(api_key="sk-given").credentials())
    assert given._client.openai_api_key.get_secret_value() == "sk-given"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="neither an API key nor a base URL"):
        resolve("embeddings", "openai:m")


def test_an_llm_that_fails_is_a_warning_and_exit_3_unless_allowed(
    small_use_store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: exit 0 with the cause only in the table caption."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    command = ["recommend", "boots", "--model", "openai:m", "--timeout", "2",
               "--store", small_use_store, "--json"]  # fmt: skip
    assert main(command) == EXIT_FALLBACK == 3
    out, err = capsys.readouterr()
    assert '"fallback": true' in out  # the answer is still printed
    assert err.count("polyrank: warning: the LLM failed (LLMError:") == 1
    assert "the local ranker answered" in err
    assert main([*command, "--allow-fallback"]) == 0
    assert "warning" in capsys.readouterr().err
    assert main(["recommend", "boots", "--store", small_use_store, "--json"]) == 0
    assert capsys.readouterr().err == ""  # the local ranker by choice is no fallback


def test_a_chat_model_built_in_code_reads_the_openai_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Was (after the library stopped reading the environment): Agent(model="openai:...")
    with OPENAI_API_KEY set said to set OPENAI_API_KEY. The SDK's convention holds again."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    chat = resolve("llm", "openai:gpt-4o-mini")
    assert chat.api_key == "sk-from-env"
    assert resolve("llm", "openai:m", api_key="sk-given").api_key == "sk-given"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="neither an API key nor a base URL"):
        resolve("llm", "openai:m")
