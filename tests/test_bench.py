from __future__ import annotations

from pathlib import Path

import pytest

from evals.bench import bench_agent, main


def test_agent_bench_reports_its_figures(use_store_path: Path) -> None:
    figures = bench_agent(str(use_store_path), rounds=2)
    assert set(figures) == {
        "scripted_llm_ms_median",
        "local_ms_median",
        "prompt_tokens_per_candidate",
        "system_prompt_tokens",
    }
    assert all(value > 0 for value in figures.values())


def test_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["nonsense"])
    assert info.value.code == 2 and "unknown benchmark nonsense" in capsys.readouterr().err
