# Two commands on a fresh machine with nothing but Python:
#   make demo   set up .venv, ingest the sample catalogue, run the main job
#   make test   set up .venv, lint, type-check, run every test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/polyrank demo --catalog data/catalog.jsonl

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m evals.bench

clean:
	rm -rf $(VENV) .polyrank .pytest_cache .mypy_cache .ruff_cache
