"""The eval harness end to end: suites, exit codes, baselines, reports, the shipped suite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from polyrank._cli import main
from polyrank.agent.testing import ScriptedOpenAIServer, retrieval_order_step
from polyrank.evals._suite import load_suite, suite_schema
from tests.conftest import FIXTURES, ROOT

CORE = ROOT / "evals" / "suites" / "core.yaml"
MINI = FIXTURES / "mini_suite.yaml"


@pytest.fixture
def mini_store(tmp_path: Path) -> str:
    return str(tmp_path / "mini-store")


@pytest.fixture
def core_store(sample_store_path: Path, tmp_path: Path) -> str:
    """A copy of the session's ingested sample store, so the suite's ingest is a no-op."""
    copy = tmp_path / "core-store"
    shutil.copytree(sample_store_path, copy)
    return str(copy)


def run_eval(*args: str) -> int:
    return main(["eval", *args])


def test_shipped_suite_meets_the_brief() -> None:
    loaded = load_suite(CORE)
    cases = loaded.suite.cases
    languages = {lang for c in cases for lang in c.variants}
    assert len(cases) >= 40
    assert sum(len(c.variants) >= 5 for c in cases) >= 40  # the consistency cases
    # requests as users typed them, 3+ ways; the fresh ones (written blind: fresh-*, and
    # the second tune set fresh2-*) 1-3 ways
    blind = ("fresh-", "fresh2-")
    assert all(len(c.variants) >= 3 for c in cases if not c.name.startswith(blind))
    fresh = [c for c in cases if c.name.startswith(blind)]
    assert len(fresh) >= 60 and not any(c.filters != type(c.filters)() for c in fresh)
    assert len(languages) >= 10 and {"zh", "ja", "ko", "ru", "ar"} <= languages
    assert {c.system for c in cases} == {
        "cross-lingual",
        "llm-relevance",
        "cross-cultural",
        "cross-scenario",
        "cross-domain",
    }
    assert all(c.relevant and max(c.relevant.values()) >= 2 for c in cases)  # graded labels


def test_shipped_schema_file_is_current() -> None:
    shipped = json.loads((ROOT / "evals" / "suites" / "suite.schema.json").read_text())
    assert shipped == suite_schema()


@pytest.mark.slow
def test_core_suite_passes_with_the_local_ranker(
    core_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    code = run_eval(
        str(CORE),
        "--store",
        core_store,
        "--json",
        str(out / "r.json"),
        "--md",
        str(out / "r.md"),
        "--html",
        str(out / "r.html"),
    )
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    report = json.loads((out / "r.json").read_text())
    assert report["passed"] and report["model"] == "local"
    assert report["overall"]["requests"] == sum(
        len(c.variants) for c in load_suite(CORE).suite.cases
    )
    assert {"ndcg@5", "consistency.rbo", "reason_language"} <= set(report["summary"]["ja"])
    assert "| ar |" in (out / "r.md").read_text()
    assert 'id="heatmap"' in (out / "r.html").read_text()


@pytest.mark.slow
@pytest.mark.http
def test_core_suite_passes_with_a_scripted_llm_and_reruns_for_free(
    core_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # the reply cache lives under ./.polyrank
    with ScriptedOpenAIServer(default=retrieval_order_step) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        args = [str(CORE), "--store", core_store, "--model", "openai:scripted"]
        assert run_eval(*args, "--json", "first.json") == 0, capsys.readouterr().out
        calls = len(server.requests)
        assert calls >= 200
        assert run_eval(*args) == 0
        assert len(server.requests) == calls  # every reply came from the cache
    report = json.loads((tmp_path / "first.json").read_text())
    assert report["template"] == "rerank@4" and report["overall"]["fallback_rate"] == 0.0
    assert report["overall"]["position_tau"] == 1.0  # this model copies the input order


def test_mini_suite_expectations_and_exit_zero(mini_store: str, tmp_path: Path) -> None:
    code = run_eval(str(MINI), "--store", mini_store, "--json", str(tmp_path / "m.json"))
    report = json.loads((tmp_path / "m.json").read_text())
    assert code == 0
    boots = report["cases"][0]
    assert set(boots["consistency"]) == {"de", "ja"}  # against the reference (en)
    assert boots["consistency"]["de"]["top1"] == 1.0
    assert [e["passed"] for e in boots["expectations"]] == [True, True]


def _write_suite(tmp_path: Path, mutate: Any) -> Path:
    data = yaml.safe_load(MINI.read_text())
    data["catalog"] = str(FIXTURES / "small_catalog.jsonl")
    mutate(data)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def test_an_unknown_metric_or_k_is_a_suite_error_not_a_failed_expectation(
    mini_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was: 'ndgc@3 >= 0.5' or 'ndcg@10' in a k=3 suite failed as an expectation (exit
    100, observed None), after the whole run."""

    def typos(data: dict[str, Any]) -> None:
        data["cases"][0]["expect"] += ["ndgc@3 >= 0.5", "ndcg@10 >= 0.5"]
        data["defaults"]["expect"] = ["consistency.rb0 >= 0.1"]

    path = _write_suite(tmp_path, typos)
    assert run_eval(str(path), "--store", mini_store) == 1
    err = capsys.readouterr().err
    assert "cases[0] (boots).expect: ndgc@3 >= 0.5: unknown metric 'ndgc@3'; did you mean " \
        "'ndcg@3'?" in err  # fmt: skip
    assert "'ndcg@10' is not computed: the suite's k is 3, so write 'ndcg@3'" in err
    assert "defaults.expect: consistency.rb0 >= 0.1: unknown metric" in err
    assert not Path(mini_store).exists()  # refused before any work


def test_every_computed_metric_is_registered(mini_store: str, tmp_path: Path) -> None:
    from polyrank.evals._metrics import metric_names

    assert run_eval(str(MINI), "--store", mini_store, "--json", str(tmp_path / "m.json")) == 0
    report = json.loads((tmp_path / "m.json").read_text())
    computed = {m for c in report["cases"] for lang in c["languages"].values()
                for m in lang["metrics"]}  # fmt: skip
    computed |= {f"consistency.{m}" for c in report["cases"]
                 for v in c["consistency"].values() for m in v}  # fmt: skip
    assert computed and computed <= set(metric_names(3))


def test_failed_expectation_exits_100(
    mini_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_suite(tmp_path, lambda d: d["cases"][0]["expect"].append("mrr > 1"))
    assert run_eval(str(path), "--store", mini_store) == 100
    assert "`boots`: mrr > 1 (observed 1.0)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["cases"].append(dict(d["cases"][0])), "case name 'boots' is used twice"),
        (lambda d: d["cases"][1].update(user="nobody"), "unknown user 'nobody'"),
        (lambda d: d["cases"][0].update(colour="red"), "case 'boots', colour: Extra inputs"),
        (lambda d: d["cases"][0]["expect"].append("ndcg@3 is high"), "cannot read expectation"),
        (lambda d: d["cases"][0]["variants"].update(english="x"), "not an ISO 639-1"),
        (
            lambda d: d["cases"][0]["relevant"].update({"no-such-item": 2}),
            "case 'boots', relevant: 'no-such-item'",
        ),
    ],
)
def test_bad_suites_exit_1_naming_case_and_field(
    mutate: Any,
    message: str,
    mini_store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _write_suite(tmp_path, mutate)
    assert run_eval(str(path), "--store", mini_store) == 1
    err = capsys.readouterr().err
    assert message in err and "suite.yaml" in err and "Traceback" not in err


@pytest.mark.http
def test_baseline_reports_moves_and_gates_regressions(
    mini_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def reversed_step(body: dict[str, Any]) -> dict[str, Any]:
        step = retrieval_order_step(body)
        ranking = json.loads(step["content"])["ranking"]
        return {"content": json.dumps({"ranking": ranking[::-1]}, ensure_ascii=False)}

    baseline = tmp_path / "baseline.json"
    path = _write_suite(tmp_path, lambda d: [c.update(expect=[]) for c in d["cases"]])
    args = [
        str(path),
        "--store",
        mini_store,
        "--model",
        "openai:scripted",
        "--no-cache",
        "--baseline",
        str(baseline),
    ]
    with ScriptedOpenAIServer(default=retrieval_order_step) as good:
        monkeypatch.setenv("OPENAI_BASE_URL", good.base_url)
        assert run_eval(*args, "--update-baseline") == 0
        assert run_eval(*args) == 0  # same behaviour: no regression
    stored = json.loads(baseline.read_text())
    assert list(stored["entries"]) == ["mini|rerank@4|openai:scripted"]
    capsys.readouterr()
    with ScriptedOpenAIServer(default=reversed_step) as bad:
        monkeypatch.setenv("OPENAI_BASE_URL", bad.base_url)
        assert run_eval(*args, "--md", str(tmp_path / "r.md")) == 100
    out = capsys.readouterr().out
    assert "regression(s) beyond 0.05" in out
    assert "case boots, en: g1-en 1→out" in out
    assert "## polyrank eval: mini — FAIL" in out
    assert "**boots, en: ndcg@3 1.00→" in out


def test_repeat_reports_stability(mini_store: str, tmp_path: Path) -> None:
    code = run_eval(
        str(MINI), "--store", mini_store, "--repeat", "2", "--json", str(tmp_path / "m.json")
    )
    report = json.loads((tmp_path / "m.json").read_text())
    assert code == 0 and report["repeat"] == 2
    assert report["cases"][0]["stability"] == {"top1": 1.0, "rbo": 1.0}  # the local ranker


def test_schema_flag_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval("--schema") == 0
    schema = json.loads(capsys.readouterr().out)
    assert "cases" in schema["properties"] and "$schema" in schema["properties"]


@pytest.mark.http
def test_eval_of_your_own_templates_is_keyed_by_their_version(
    mini_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "my-prompts"
    shutil.copytree(ROOT / "prompts", mine, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    meta = mine / "rerank.yaml"
    meta.write_text(meta.read_text().replace("version: 1", "version: 2"))
    with ScriptedOpenAIServer(default=retrieval_order_step) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        code = run_eval(
            str(MINI),
            "--store",
            mini_store,
            "--model",
            "openai:scripted",
            "--prompts",
            str(mine),
            "--no-cache",
            "--json",
            str(tmp_path / "r.json"),
            "--baseline",
            str(tmp_path / "b.json"),
            "--update-baseline",
        )
    assert code == 0
    assert json.loads((tmp_path / "r.json").read_text())["template"] == "rerank@4"
    assert list(json.loads((tmp_path / "b.json").read_text())["entries"]) == [
        "mini|rerank@4|openai:scripted"
    ]


def test_the_summary_is_rendered_on_a_terminal_and_markdown_when_piped(
    mini_store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: raw Markdown (pipes and dashes) on a terminal too."""
    import sys

    assert run_eval(str(MINI), "--store", mini_store) == 0
    piped = capsys.readouterr().out
    assert "| --- |" in piped and piped.startswith("## polyrank eval: mini")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert run_eval(str(MINI), "--store", mini_store) == 0
    shown = capsys.readouterr().out
    assert "| --- |" not in shown and "## " not in shown
    assert "polyrank eval: mini" in shown and ("━" in shown or "─" in shown)  # a drawn table


def _stored_ids(folder: Path) -> set[str]:
    from polyrank.retrieval import Store

    with Store.open(str(folder), create=False) as store:
        return set(store.ids())


def test_the_eval_store_follows_the_suite_catalogue_and_is_one_per_suite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: an item deleted from the suite's catalogue stayed in the eval store (and was
    still ranked); two suites named alike shared one store."""
    monkeypatch.chdir(tmp_path)
    lines = (FIXTURES / "small_catalog.jsonl").read_text().splitlines()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(MINI, tmp_path / name / "mini_suite.yaml")
    (tmp_path / "a" / "small_catalog.jsonl").write_text("\n".join(lines) + "\n")
    without_m1 = [line for line in lines if '"id": "m1"' not in line]
    (tmp_path / "b" / "small_catalog.jsonl").write_text("\n".join(without_m1) + "\n")
    assert run_eval(str(tmp_path / "a" / "mini_suite.yaml")) == 0
    assert run_eval(str(tmp_path / "b" / "mini_suite.yaml")) == 0
    stores = sorted((tmp_path / ".polyrank" / "eval").iterdir())
    assert len(stores) == 2
    assert sorted(len(_stored_ids(s)) for s in stores) == [6, 7]
    (tmp_path / "a" / "small_catalog.jsonl").write_text("\n".join(without_m1) + "\n")
    assert run_eval(str(tmp_path / "a" / "mini_suite.yaml")) == 0
    assert all("m1" not in _stored_ids(s) for s in stores)


@pytest.mark.http
def test_the_share_of_shown_reasons_the_model_wrote_is_reported(
    mini_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The model's first pick has its own reason, the others none: the local ranker's
    templates fill those in, and the eval counts 1 of 3 shown reasons as the model's."""

    def first_reason_only(body: dict[str, Any]) -> dict[str, Any]:
        ranking = json.loads(retrieval_order_step(body)["content"])["ranking"]
        ranking = [ranking[0], *({"id": e["id"], "reason": ""} for e in ranking[1:])]
        return {"content": json.dumps({"ranking": ranking}, ensure_ascii=False)}

    monkeypatch.chdir(tmp_path)
    path = _write_suite(tmp_path, lambda d: [c.update(expect=[]) for c in d["cases"]])
    args = [str(path), "--store", mini_store, "--no-cache"]
    with ScriptedOpenAIServer(default=first_reason_only) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        code = run_eval(*args, "--model", "openai:scripted", "--json", "llm.json", "--md", "r.md")
        assert code == 0, capsys.readouterr().out
    report = json.loads(Path("llm.json").read_text())
    requests = [r for c in report["cases"] for r in c["languages"].values()]
    assert len(requests) == 5
    shown = sum(len(r["reasons"]) for r in requests)
    assert shown > 5 and all(r["model_reasons"] == 1 for r in requests)
    assert all(r["metrics"]["model_reasons"] == round(1 / len(r["reasons"]), 6) for r in requests)
    overall = report["overall"]
    assert (overall["model_reasons"], overall["reasons_shown"]) == (5, shown)
    assert overall["model_reason_share"] == round(5 / shown, 4)
    assert f"shown reasons the model wrote: 5 of {shown}" in Path("r.md").read_text()
    assert run_eval(*args, "--json", "local.json") == 0  # no model asked: no share
    local = json.loads(Path("local.json").read_text())
    assert local["overall"]["model_reason_share"] is None
    assert all("model_reasons" not in r["metrics"] for c in local["cases"]
               for r in c["languages"].values())  # fmt: skip
