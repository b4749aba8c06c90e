"""Options and values (issue 19): every bad value is named as the caller's mistake,
never a traceback or a wrong diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyrank._cli import main
from polyrank.agent.errors import ConfigError
from tests.conftest import FIXTURES


@pytest.mark.parametrize("value", ["inf", "1e300", "nan", "-1"])
def test_an_impossible_timeout_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: POLYRANK_TIMEOUT=inf or 1e300 accepted, then every call an OverflowError."""
    from polyrank.agent._config import Settings

    monkeypatch.setenv("POLYRANK_TIMEOUT", value)
    with pytest.raises(ConfigError, match="POLYRANK_TIMEOUT"):
        Settings.load()


@pytest.mark.parametrize("spec", ["chroma://[::1", "chroma://127.0.0.1:99999", "chroma://h:abc"])
def test_a_bad_server_spec_is_a_config_error(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: ValueError tracebacks."""
    assert main(["search", "x", "--store", spec]) == 1
    err = capsys.readouterr().err
    assert "bad Chroma server spec" in err and "Traceback" not in err


def test_a_huge_k_is_an_option_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Was: --k 99999999999999999999 reported as a damaged store ("run --repair")."""
    with pytest.raises(SystemExit) as caught:
        main(["search", "x", "--k", "99999999999999999999"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "must be at most 10000" in err and "repair" not in err


@pytest.mark.parametrize(
    "content",
    [
        '{"entries": {"k": {"cases": {"c": {"en": {"metrics": {}}}}}}}',
        '{"entries": {"k": 5}}',
        '{"entries": []}',
        '{"entries": {"k": {"cases": {"c": {"en": {"ranking": 7}}}}}}',
    ],
)
def test_a_malformed_baseline_is_named(tmp_path: Path, content: str) -> None:
    """Was: KeyError, TypeError and AttributeError tracebacks."""
    from polyrank.evals._baseline import _read

    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="not a polyrank baseline"):
        _read(path)


def test_a_malformed_baseline_through_eval_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "b.json"
    baseline.write_text(json.dumps({"entries": {"x": {"cases": {"c": "no"}}}}))
    code = main(
        ["eval", str(FIXTURES / "mini_suite.yaml"), "--store", str(tmp_path / "s"),
         "--baseline", str(baseline)]
    )  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "not a polyrank baseline" in err and "Traceback" not in err


def test_demo_with_a_bad_catalogue_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: an empty store bound to fusion was created while the error said "nothing
    was written"."""
    store = tmp_path / "s"
    code = main(["demo", "--catalog", str(FIXTURES / "bad_catalog.jsonl"), "--store", str(store)])
    assert code == 1
    assert "nothing was written" in capsys.readouterr().err
    assert not store.exists()


@pytest.mark.parametrize(
    ("options", "named"),
    [({"region": "Germany"}, "did you mean 'DE'"), ({"languages": ["klingon"]}, "klingon"),
     ({"exclude_languages": "xx"}, "unknown language 'xx'")],
)  # fmt: skip
def test_filters_are_validated_where_they_are_built(options: dict[str, object], named: str) -> None:
    """Was: Filters(region="Germany") or languages=("klingon",) silently matched nothing."""
    from pydantic import ValidationError

    from polyrank.retrieval import Filters

    with pytest.raises(ValidationError, match=named):
        Filters(**options)  # type: ignore[arg-type]
    assert Filters(region="de", languages="EN").region == "DE"


def test_a_suite_with_a_bad_region_names_the_case(tmp_path: Path) -> None:
    import shutil

    from polyrank.evals._suite import load_suite

    shutil.copy(FIXTURES / "small_catalog.jsonl", tmp_path)
    text = (FIXTURES / "mini_suite.yaml").read_text()
    bad = text.replace("filters: {domains: [books]}", "filters: {domains: [books], region: X1}")
    (tmp_path / "s.yaml").write_text(bad)
    with pytest.raises(ConfigError, match=r"region.*unknown region 'X1'"):
        load_suite(tmp_path / "s.yaml")
