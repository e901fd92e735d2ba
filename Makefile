# azr: one-command setup, run, test, lint. Every target sets itself up when needed.
#
#   make run     the main job: local self-play against the executor and buffer services
#   make test    the whole test suite (what CI runs)
#   make lint    ruff + mypy
#
# GPU users: make setup TORCH_SPEC='torch==2.13.0' (or any spec that fits their CUDA).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.azr-installed
PACKAGES := proto services/executor services/buffer trainer
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
PYTEST_ARGS ?=

# Tests never reach a model hub.
TEST_ENV := HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TRL_EXPERIMENTAL_SILENCE=1 TOKENIZERS_PARALLELISM=false

.PHONY: setup run test test-unit test-integration test-security lint format openapi up bench clean

setup: $(STAMP)

# Reinstalls only when a pyproject.toml changed (or the venv is new): `make test` twice
# in a row installs nothing the second time.
$(STAMP): $(PYPROJECTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo ">> installing $(TORCH_SPEC) and the four azr packages into $(VENV)"
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q $(foreach p,$(PACKAGES),-e ./$(p)[dev])
	@touch $(STAMP)

run: setup
	$(VENV)/bin/azr run

test: setup
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup
	$(TEST_ENV) $(PY) -m pytest tests/unit tests/proto $(PYTEST_ARGS)

test-integration: setup
	$(TEST_ENV) $(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-security: setup
	$(TEST_ENV) $(PY) -m pytest tests/security $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy proto/azr_proto services/executor/azr_executor services/buffer/azr_buffer trainer/azr_trainer

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

openapi: setup
	$(PY) scripts/export_openapi.py

up:
	docker compose up

bench: setup
	@for b in bench/*.py; do echo ">> $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
