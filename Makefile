# Two commands on a fresh machine with nothing but Python:
#   make demo   set up .venv, ingest the sample catalogue, run the main job
#   make test   set up .venv, lint, type-check, run every test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium eval

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/polyrank demo --catalog data/catalog.jsonl

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The HTML report test drives Debian's headless chromium; install it when missing (CI is root).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "note: could not install chromium; the browser test skips outside CI"

test: lint chromium
	$(BIN)/pytest

eval: $(STAMP)
	mkdir -p reports
	$(BIN)/polyrank eval evals/suites/core.yaml --json reports/core.json --md reports/core.md --html reports/core.html

bench: $(STAMP)
	$(BIN)/python -m evals.bench

clean:
	rm -rf $(VENV) .polyrank .pytest_cache .mypy_cache .ruff_cache
