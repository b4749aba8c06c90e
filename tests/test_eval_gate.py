"""The eval harness as a CI gate: fallbacks, the schema, the metric registry, assertion
types, suites by name, --metric and the exit-code override (issue 20)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from polyrank._cli import main
from polyrank.evals._metrics import _METRICS, RequestContext, register_metric, sensible_at_3
from polyrank.evals._suite import load_suite, suite_schema
from tests.conftest import FIXTURES, ROOT

MINI = FIXTURES / "mini_suite.yaml"
SHIPPED = sorted((ROOT / "evals" / "suites").glob("*.yaml"))


@pytest.fixture
def registry() -> Iterator[None]:
    """The metric registry as it was, after the test."""
    before = dict(_METRICS)
    yield
    _METRICS.clear()
    _METRICS.update(before)


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "mini-store")


def suite_file(tmp_path: Path, mutate: Any = None, name: str = "suite.yaml") -> Path:
    data = yaml.safe_load(MINI.read_text())
    data["catalog"] = str(FIXTURES / "small_catalog.jsonl")
    if mutate is not None:
        mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def report_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# -- fallback fails the gate ----------------------------------------------------------------


def test_a_run_whose_answers_came_from_the_fallback_fails_unless_allowed(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: PASS, exit 0, nothing on stderr, with fallback rate 1.0 (the model was down)."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    args = [str(MINI), "--store", store, "--model", "openai:gpt-4o-mini", "--timeout", "1",
            "--no-cache", "--json", str(tmp_path / "r.json")]  # fmt: skip
    assert main(["eval", *args]) == 3
    captured = capsys.readouterr()
    assert "polyrank eval: error: the LLM failed in 5 of 5 requests" in captured.err
    assert "LLMError" in captured.err and "--allow-fallback" in captured.err
    assert "## polyrank eval: mini — FAIL" in captured.out
    assert "### Fell back to the local ranker: 5 request(s)" in captured.out
    assert "- `boots`, de: LLMError: " in captured.out
    report = report_of(tmp_path / "r.json")
    assert report["passed"] is False and report["overall"]["fallback_rate"] == 1.0
    assert {(f["case"], f["language"]) for f in report["fallbacks"]} == {
        ("boots", "en"), ("boots", "de"), ("boots", "ja"), ("books", "en"), ("books", "de")
    }  # fmt: skip
    assert all(f["reason"].startswith("LLMError: ") for f in report["fallbacks"])

    assert main(["eval", *args, "--allow-fallback"]) == 0
    captured = capsys.readouterr()
    assert "polyrank eval: warning: the LLM failed in 5 of 5 requests" in captured.err
    assert "## polyrank eval: mini — PASS" in captured.out
    assert "allowed (--allow-fallback)" in captured.out


def test_the_local_ranker_is_no_fallback(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(MINI), "--store", store]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "Fell back" not in captured.out


# -- the schema -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*SHIPPED, MINI], ids=lambda p: p.name)
def test_every_shipped_suite_validates_against_the_generated_schema(path: Path) -> None:
    """Was: 151 errors on core.yaml ('ndcg@5 >= 0.90' is not of type 'object')."""
    schema = json.loads((ROOT / "evals" / "suites" / "suite.schema.json").read_text())
    assert schema == suite_schema()  # the file is generated from the models
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(
        yaml.safe_load(path.read_text(encoding="utf-8")))]  # fmt: skip
    assert errors == []


def test_the_schema_enumerates_metrics_and_the_assertion_forms() -> None:
    validator = jsonschema.Draft202012Validator(suite_schema())
    base = yaml.safe_load(MINI.read_text())

    def errors(*expect: Any) -> int:
        data = {**base, "cases": [{**base["cases"][0], "expect": list(expect)}]}
        return len(list(validator.iter_errors(data)))

    assert errors("ndcg@10 >= 0.5", "sensible@3 >= 0.5", "consistency.rbo >= 0.6") == 0
    assert errors({"type": "contains", "value": ["Buch"], "threshold": 0.5}) == 0
    assert errors({"type": "python", "value": "checks.py:fine"}) == 0
    assert errors({"type": "ndcg@5", "threshold": 0.6, "thresholds": {"ja": 0.4}}) == 0
    assert errors({"type": "latency", "threshold": 2000}, {"type": "cost", "threshold": 0.01}) == 0
    assert errors("ndgc@5 >= 0.5") == 1  # a typo in the shorthand
    assert errors({"type": "nope", "threshold": 1}) == 1
    assert errors({"type": "contains", "value": ["x"], "colour": "red"}) == 1


# -- metrics: objects in one registry ---------------------------------------------------------


def test_a_registered_metric_is_computed_and_checked_end_to_end(
    registry: None, store: str, tmp_path: Path
) -> None:
    """Was: after register_metric('title_len', ...) 'title_len >= 0' observed None, failed."""
    from polyrank import evals
    from polyrank.agent import Settings

    evals.register_metric(
        "title_len", lambda ctx: float(len(ctx.recommendation.items[0].title)), scope="request"
    )
    evals.register_metric("languages_seen", lambda ctx: float(len(ctx.languages)), scope="case")
    path = suite_file(tmp_path, lambda d: d["cases"][0]["expect"].extend(
        ["title_len >= 1", "languages_seen == 3"]))  # fmt: skip
    run = evals.run_suite(
        evals.load_suite(path), evals.RunOptions(settings=Settings.load(), store=store)
    )
    boots = run.cases[0]
    assert boots.expectations[2]["passed"] and boots.expectations[2]["observed"] > 1
    assert boots.expectations[3] == {
        "expect": "languages_seen == 3", "observed": 3.0, "passed": True
    }  # fmt: skip
    assert boots.metrics == {"languages_seen": 3.0}
    assert run.summary["ja"]["title_len"] > 1 and run.passed


def test_a_suite_brings_its_own_metric_in_one_file(
    registry: None, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_metrics.py").write_text(
        "from polyrank.evals import register_metric\n"
        "register_metric('reasons_long', lambda ctx: float(min(len(i.reason) for i in "
        "ctx.recommendation.items)))\n"
    )

    def mutate(data: dict[str, Any]) -> None:
        data["plugins"] = ["my_metrics.py"]
        data["cases"][0]["expect"].append("reasons_long >= 5")

    path = suite_file(tmp_path, mutate)
    out = tmp_path / "r.json"
    assert main(["eval", str(path), "--store", store, "--json", str(out)]) == 0
    expectations = report_of(out)["cases"][0]["expectations"]
    assert expectations[-1]["expect"] == "reasons_long >= 5" and expectations[-1]["passed"]


def test_a_metric_needs_a_compute_function_and_a_known_scope(registry: None) -> None:
    with pytest.raises(ValueError, match="needs a compute function"):
        register_metric("x")
    with pytest.raises(ValueError, match="unknown scope 'everywhere'"):
        register_metric("x", lambda ctx: 1.0, scope="everywhere")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"consistency\.NAME"):
        register_metric("agree", lambda ctx: 1.0, scope="languages")


def test_a_failing_metric_names_itself_and_the_case(
    registry: None, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_metric("broken", lambda ctx: 1 / 0)
    assert main(["eval", str(suite_file(tmp_path)), "--store", store]) == 1
    err = capsys.readouterr().err
    assert "metric 'broken' failed on case 'boots', en: ZeroDivisionError" in err
    assert "Traceback" not in err


class _Item:
    def __init__(self, key: str) -> None:
        self.id = self.group = key


class _Rec:
    def __init__(self, *keys: str) -> None:
        self.items = [_Item(k) for k in keys]


class _Case:
    relevant = {"a": 3, "b": 2, "c": 1}  # noqa: RUF012


@pytest.mark.parametrize(
    ("ranking", "expected"),
    [
        (["a", "b", "x"], 1.0),  # top grade 3, two of three >= 2
        (["b", "x", "a"], 1.0),
        (["a", "c", "x"], 0.0),  # only one of the top 3 is >= 2
        (["c", "a", "b"], 0.0),  # the top item is not >= 2
        (["x", "a", "b"], 0.0),
        (["a"], 0.0),  # one item cannot make two
        ([], 0.0),
    ],
)
def test_sensible_at_3(ranking: list[str], expected: float) -> None:
    ctx = RequestContext(case=_Case(), language="en", recommendation=_Rec(*ranking), k=5)
    assert sensible_at_3(ctx) == expected


def test_sensible_at_3_is_in_the_summary(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    assert main(["eval", str(MINI), "--store", store, "--json", str(out)]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if "| language" in line)
    assert "| ndcg@3 | sensible@3 |" in header
    report = report_of(out)
    # books: b2, b1 (both grade 3) in en and de; boots en: g1 (3), b2 (1), b1 (0)
    assert report["cases"][1]["languages"]["de"]["metrics"]["sensible@3"] == 1.0
    assert report["cases"][0]["languages"]["en"]["metrics"]["sensible@3"] == 0.0
    assert report["summary"]["de"]["sensible@3"] == 0.5  # the mean over cases, like ndcg


# -- assertion types --------------------------------------------------------------------------


def _outcomes(store: str, tmp_path: Path, *expect: Any) -> list[dict[str, Any]]:
    path = suite_file(tmp_path, lambda d: d["cases"][0].update(expect=list(expect)))
    out = tmp_path / "r.json"
    main(["eval", str(path), "--store", store, "--json", str(out)])
    return list(report_of(out)["cases"][0]["expectations"])


def test_contains_and_not_contains_on_reasons(store: str, tmp_path: Path) -> None:
    got = _outcomes(
        store,
        tmp_path,
        {"type": "contains", "value": ["Buch", "book", "本"], "threshold": 0.6},
        {"type": "contains", "value": ["Buch", "book", "本"]},  # every reason: no
        {"type": "not-contains", "value": ["Buch"]},
        {"type": "not-contains", "value": ["kaufen!!"]},
    )
    assert got[0]["passed"] and got[0]["observed"] == pytest.approx(6 / 9, abs=1e-3)
    assert not got[1]["passed"]
    assert not got[2]["passed"] and got[2]["observed"][0].startswith("de #")
    assert "Buch" in got[2]["observed"][0]
    assert got[3] == {"expect": "not-contains 'kaufen!!'", "observed": [], "passed": True}


def test_python_assertion_with_a_function_path(store: str, tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        "def boots_first(ctx):\n"
        "    return all(r.groups[0] == 'g1' for r in ctx.languages.values())\n"
        "def share_first(ctx):\n"
        "    return sum(r.groups[0] == 'g1' for r in ctx.languages.values()) / 3\n"
    )
    got = _outcomes(
        store,
        tmp_path,
        {"type": "python", "value": "checks.py:boots_first"},
        {"type": "python", "value": "checks.py:share_first", "threshold": 0.5},
        {"type": "python", "value": "checks.py:share_first", "op": ">", "threshold": 1},
    )
    assert [g["passed"] for g in got] == [True, True, False]
    assert got[1]["observed"] == 1.0


def test_a_python_path_that_does_not_import_is_refused_before_the_run(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = suite_file(tmp_path, lambda d: d["cases"][0]["expect"].append(
        {"type": "python", "value": "checks.py:nothing"}))  # fmt: skip
    assert main(["eval", str(path), "--store", store]) == 1
    err = capsys.readouterr().err
    assert "cases[0] (boots).expect: python 'checks.py:nothing'" in err
    assert "cannot import 'checks.py'" in err and not Path(store).exists()


def test_latency_and_cost_assertions(store: str, tmp_path: Path) -> None:
    got = _outcomes(
        store,
        tmp_path,
        {"type": "latency", "threshold": 600_000},
        {"type": "latency", "threshold": 0},
        {"type": "cost", "threshold": 0},  # the local ranker costs nothing
    )
    assert [g["passed"] for g in got] == [True, False, True]
    assert got[0]["expect"] == "latency <= 600000" and got[1]["observed"] > 0


def test_per_language_thresholds(store: str, tmp_path: Path) -> None:
    # boots, ndcg@3: en 1.0, de 1.0, ja 0.96
    got = _outcomes(
        store,
        tmp_path,
        {"type": "ndcg@3", "threshold": 0.99, "thresholds": {"ja": 0.9}},
        {"type": "ndcg@3", "threshold": 0.99},  # the mean, 0.988, is below
        {"type": "ndcg@3", "threshold": 0.9, "thresholds": {"ja": 0.99}},
    )
    assert [g["passed"] for g in got] == [True, False, False]
    assert got[0]["observed"] == {"en": 1.0, "de": 1.0, "ja": 0.9639}
    assert got[0]["expect"] == "ndcg@3 >= 0.99 (ja: 0.9)"


def test_thresholds_for_a_language_the_case_lacks_are_refused(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = suite_file(tmp_path, lambda d: d["cases"][0]["expect"].append(
        {"type": "mrr", "threshold": 0.5, "thresholds": {"ko": 0.2}}))  # fmt: skip
    assert main(["eval", str(path), "--store", store]) == 1
    assert "languages the case has no variant in: ['ko']" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"type": "contains"}, "contains needs value"),
        ({"type": "latency"}, "latency needs threshold"),
        ({"type": "not-contains", "value": ["x"], "threshold": 1}, "not-contains takes no"),
        ({"type": "python", "value": "no_colon"}, "python needs value: 'module:function'"),
        ({"type": "mrr"}, "mrr: a metric needs a threshold"),
    ],
)
def test_bad_assertions_name_the_field(
    expect: dict[str, Any],
    message: str,
    store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = suite_file(tmp_path, lambda d: d["cases"][0]["expect"].append(expect))
    assert main(["eval", str(path), "--store", store]) == 1
    err = capsys.readouterr().err
    assert message in err and "case 'boots'" in err and "Traceback" not in err


# -- the command line -------------------------------------------------------------------------


def test_a_shipped_suite_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_suite("core").path == ROOT / "evals" / "suites" / "core.yaml"
    assert main(["eval", "nope-suite"]) == 1
    err = capsys.readouterr().err
    assert "'nope-suite': no such suite file, and no shipped suite of that name" in err
    assert "(shipped: core, holdout)" in err


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("nope", "--metric: unknown metric 'nope'"),
        ("ndcg@10", "'ndcg@10' is not computed: the suite's k is 3"),
        ("consistency.rbo", "--metric 'consistency.rbo' is not one number per case and language"),
    ],
)
def test_the_heatmap_metric_is_checked_before_the_run(
    metric: str, message: str, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "r.html"
    assert main(["eval", str(MINI), "--store", store, "--html", str(html),
                 "--metric", metric]) == 1  # fmt: skip
    assert message in capsys.readouterr().err
    assert not html.exists() and not Path(store).exists()


def test_the_exit_code_of_a_failed_expectation_can_be_changed(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = suite_file(tmp_path, lambda d: d["cases"][0]["expect"].append("mrr > 1"))
    assert main(["eval", str(path), "--store", store]) == 100
    assert main(["eval", str(path), "--store", store, "--failed-exit-code", "7"]) == 7
    monkeypatch.setenv("POLYRANK_FAILED_EXIT_CODE", "0")
    assert main(["eval", str(path), "--store", store]) == 0
    assert main(["eval", str(path), "--store", store, "--failed-exit-code", "9"]) == 9
    monkeypatch.setenv("POLYRANK_FAILED_EXIT_CODE", "many")
    capsys.readouterr()
    assert main(["eval", str(path), "--store", store]) == 1
    assert "POLYRANK_FAILED_EXIT_CODE='many': not a whole number" in capsys.readouterr().err


def test_progress_starts_once_the_suite_store_is_built(store: str) -> None:
    """Was: an unlabelled 0% while the suite's store was built; now the first call says
    the store is ready, so the bar can name the two phases."""
    from polyrank.agent import Settings
    from polyrank.evals import RunOptions, run_suite

    calls: list[tuple[int, int, bool]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total, Path(store).exists()))

    run_suite(load_suite(MINI), RunOptions(settings=Settings.load(), store=store), progress)
    assert calls[0] == (0, 5, True) and calls[-1] == (5, 5, True) and len(calls) == 6
