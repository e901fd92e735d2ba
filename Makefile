# azr: one-command setup, run, test, lint. Every target sets itself up when needed.
#
#   make run     the main job: local self-play against the executor and buffer services
#   make up      the services as hardened containers (gVisor), detached; `make down` stops them
#   make test    the whole test suite (what CI runs)
#   make lint    ruff + mypy
#
# torch: TORCH_SPEC from PyPI by default (on Linux x86_64 PyPI's torch is a CUDA 12 build; these
# development machines take a CPU wheel from their local disk). A chosen build:
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128   # CUDA 12.8 (match your driver)
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu     # CPU only, ~200 MB not ~3 GB

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.azr-installed
PACKAGES := proto services/executor services/buffer trainer
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
PYTEST_ARGS ?=

# Tests never reach a model hub.
TEST_ENV := HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TRL_EXPERIMENTAL_SILENCE=1 TOKENIZERS_PARALLELISM=false

.PHONY: setup run test test-unit test-integration test-security test-security-nonroot lint format openapi up down bench clean browser-ready
.PHONY: wheels wheels-trainer base-image images images-services images-trainer image-postgres compose-ready test-compose

setup: $(STAMP)

# Reinstalls only when a pyproject.toml changed (or the venv is new): `make test` twice
# in a row installs nothing the second time.
$(STAMP): $(PYPROJECTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo ">> installing $(TORCH_SPEC) and the four azr packages into $(VENV)"
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q $(foreach p,$(PACKAGES),-e ./$(p)[dev])
	@# Test-only: veRL's sandbox-fusion reward code; its own dependencies (torch, ray...) unwanted.
	$(PY) -m pip install -q --no-deps "verl==0.9.1"
	@touch $(STAMP)

run: setup
	$(VENV)/bin/azr run

# The whole suite, compose e2e included (compose-ready installs Docker and builds the images),
# then the security suite once more with the executor as an unprivileged user (deploy/k8s-nonroot).
test: setup compose-ready browser-ready
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)
	scripts/test-security-nonroot.sh -q

test-unit: setup
	$(TEST_ENV) $(PY) -m pytest tests/unit tests/proto $(PYTEST_ARGS)

test-integration: setup browser-ready
	$(TEST_ENV) $(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-security: setup
	$(TEST_ENV) $(PY) -m pytest tests/security $(PYTEST_ARGS)

# The security suite with the executor running as uid 10001 (user namespaces; needs root to
# drop to that user, and Debian's python3.11).
test-security-nonroot: setup
	scripts/test-security-nonroot.sh $(PYTEST_ARGS)

# Debian's chromium, for the report's browser test (installed once with apt).
browser-ready:
	@scripts/ensure-chromium.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy proto/azr_proto services/executor/azr_executor services/buffer/azr_buffer trainer/azr_trainer

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

openapi: setup
	$(PY) scripts/export_openapi.py

# Detached; waits for both services, prints their URLs and the token; a failed start is taken down.
up: images-services
	scripts/up.sh

down:
	scripts/compose.sh --profile postgres --profile trainer down

bench: setup
	@for b in bench/[!_]*.py; do echo ">> $$b"; $(PY) $$b || exit 1; done

# -- containers -----------------------------------------------------------------------------
# Images build from a wheelhouse made here, so the build itself needs no network (air-gapped
# users run `make wheels` where they have an index and carry wheelhouse/ over).
# AZR_BASE_IMAGE: the base of every image. The default is built locally with debootstrap
# (no registry needed); with a registry, `make images AZR_BASE_IMAGE=python:3.11-slim`.
AZR_BASE_IMAGE ?= azr-base:bookworm
export AZR_BASE_IMAGE
WHEELHOUSE := wheelhouse
SERVICE_PACKAGES := ./proto ./services/executor ./services/buffer
DOCKER_BUILD := docker build --network=none --build-arg BASE_IMAGE=$(AZR_BASE_IMAGE)
# $(call build_image,TAG,DOCKERFILE,PATHS): the build context is exactly PATHS (a tar on stdin), not
# the whole checkout: a cached build then takes under a second instead of sending the trainer's
# wheels (GBs) to every build. (`docker compose build` uses the checkout and .dockerignore.)
build_image = tar -c $(2) $(3) | $(DOCKER_BUILD) -q -f $(2) -t $(1) -
COMMON_CONTEXT := wheelhouse/azr

# wheelhouse/requirements/IMAGE.txt: the runtime requirements of each image, read from the
# pyproject.toml files and rewritten only when they differ, so an edit that does not change them
# (a dev extra, a description) rebuilds no wheelhouse and no dependency layer (GNU make compares
# mtimes after the recipe ran). The Dockerfiles install their dependency layer from these.
REQS := $(WHEELHOUSE)/requirements
define write_requirements
	@mkdir -p $(REQS)
	@$(PY) deploy/docker/deps.py $(2) > $(1).tmp
	@if cmp -s $(1).tmp $(1); then rm $(1).tmp; else mv $(1).tmp $(1); echo ">> $(1) changed"; fi
endef
$(REQS)/executor.txt: proto/pyproject.toml services/executor/pyproject.toml deploy/docker/deps.py | $(STAMP)
	$(call write_requirements,$@,$(filter %.toml,$^))
$(REQS)/buffer.txt: proto/pyproject.toml services/buffer/pyproject.toml deploy/docker/deps.py | $(STAMP)
	$(call write_requirements,$@,$(filter %.toml,$^))
$(REQS)/trainer.txt: proto/pyproject.toml trainer/pyproject.toml deploy/docker/deps.py | $(STAMP)
	$(call write_requirements,$@,$(filter %.toml,$^))

# wheelhouse/deps: third-party wheels of the services, rebuilt only when their requirements change.
# wheelhouse/azr: our own wheels (reproducible bytes, so unchanged code keeps the layer cached).
$(WHEELHOUSE)/deps/.stamp: $(REQS)/executor.txt $(REQS)/buffer.txt
	@echo ">> wheelhouse/deps: dependencies of the services"
	$(PY) -m pip install -q "setuptools>=68"
	$(PY) -m pip wheel -q --wheel-dir $(WHEELHOUSE)/deps $(addprefix -r ,$^)
	@touch $@

# No build isolation: the venv's setuptools builds them (an isolated build env costs a minute).
# Rebuilt only when a file of these packages changed.
package_files = $(shell find $(1) -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' -not -path '*/build/*' -not -name '*.pyc')
$(WHEELHOUSE)/azr/.stamp: $(call package_files,proto services/executor services/buffer) $(WHEELHOUSE)/deps/.stamp
	@# Old versions' wheels must not stay beside the new ones (the images install azr_*.whl).
	rm -f $(WHEELHOUSE)/azr/*.whl
	SOURCE_DATE_EPOCH=315532800 $(PY) -m pip wheel -q --no-deps --no-build-isolation --wheel-dir $(WHEELHOUSE)/azr $(SERVICE_PACKAGES)
	@touch $@

wheels: $(WHEELHOUSE)/azr/.stamp

# The trainer's dependencies (torch, TRL, transformers...): large, so only for images-trainer, and
# rebuilt only when its requirements change. Its own wheel goes to wheelhouse/azr-trainer, so a
# trainer code change does not touch the service images' layers.
$(WHEELHOUSE)/trainer-deps/.stamp: $(REQS)/trainer.txt
	@echo ">> wheelhouse/trainer-deps: dependencies of the trainer ($(TORCH_SPEC))"
	$(PY) -m pip wheel -q --wheel-dir $(WHEELHOUSE)/trainer-deps -r $< "$(TORCH_SPEC)"
	@touch $@

$(WHEELHOUSE)/azr-trainer/.stamp: $(call package_files,trainer) $(WHEELHOUSE)/trainer-deps/.stamp
	rm -f $(WHEELHOUSE)/azr-trainer/*.whl
	SOURCE_DATE_EPOCH=315532800 $(PY) -m pip wheel -q --no-deps --no-build-isolation --wheel-dir $(WHEELHOUSE)/azr-trainer ./trainer
	@touch $@

wheels-trainer: wheels $(WHEELHOUSE)/azr-trainer/.stamp

base-image:
	@if [ "$(AZR_BASE_IMAGE)" = azr-base:bookworm ]; then scripts/build-base-image.sh; fi

images-services: wheels base-image
	$(call build_image,azr-executor:local,services/executor/Dockerfile,$(COMMON_CONTEXT) \
		wheelhouse/deps $(REQS)/executor.txt deploy/compose/tcp_relay.py)
	$(call build_image,azr-buffer:local,services/buffer/Dockerfile,$(COMMON_CONTEXT) \
		wheelhouse/deps $(REQS)/buffer.txt)

images-trainer: wheels-trainer base-image
	$(call build_image,azr-trainer:local,trainer/Dockerfile,$(COMMON_CONTEXT) \
		wheelhouse/trainer-deps wheelhouse/azr-trainer $(REQS)/trainer.txt)

# PostgreSQL (compose profile `postgres`) from Debian's packages, installed offline on the local
# base image: scripts/fetch-debs.sh downloads on the host what the base lacks (once per base).
# AZR_POSTGRES_BASE_IMAGE (default AZR_BASE_IMAGE): a Debian bookworm image, such as the local base
# or python:3.11-slim (the .deb set is resolved against its own dpkg status).
AZR_POSTGRES_BASE_IMAGE ?= $(AZR_BASE_IMAGE)
image-postgres: base-image
	scripts/fetch-debs.sh $(WHEELHOUSE)/debs/postgres $(AZR_POSTGRES_BASE_IMAGE) postgresql-15
	$(call build_image,azr-postgres:local,deploy/postgres/Dockerfile,wheelhouse/debs/postgres \
		deploy/postgres/entrypoint.sh) --build-arg BASE_IMAGE=$(AZR_POSTGRES_BASE_IMAGE)

images: images-services images-trainer image-postgres

# Docker Engine + runsc + Compose installed and running, every image built (the service images,
# PostgreSQL and the trainer: the e2e tests run all three profiles). Unchanged inputs rebuild
# nothing: the wheelhouses and the .deb set are stamped, the image layers cached. On a machine where
# Docker cannot be installed this fails, unless AZR_SKIP_COMPOSE=1 (then the e2e tests skip,
# saying so). CI never sets it.
compose-ready: setup
	@if [ "$${AZR_SKIP_COMPOSE:-0}" = 1 ]; then \
		echo ">> AZR_SKIP_COMPOSE=1: not preparing Docker; the compose e2e tests will be skipped"; \
	else \
		scripts/ensure-docker.sh && $(MAKE) --no-print-directory images; \
	fi

test-compose: setup compose-ready
	$(TEST_ENV) $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(WHEELHOUSE)
