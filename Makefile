# Every target runs inside one virtualenv at .venv/, created and filled on demand
# from pyproject.toml and requirements/*.txt; npm tools live in tools/node/.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := tools/node/node_modules/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true

.PHONY: venv system-deps generate check-generated lint-spec clients clients-all lint typecheck lint-imports \
	docs test demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/generate.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt -e '.[cli,emulator,copy]'
	touch $@

$(NODE_STAMP): tools/node/package.json tools/node/package-lock.json
	cd tools/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

generate: $(STAMP)
	$(BIN)/python tools/generate.py

check-generated: $(STAMP)
	$(BIN)/python tools/check_generated.py

lint-spec: $(STAMP) $(NODE_STAMP)
	$(BIN)/openapi-spec-validator openapi/registry-v1.yaml
	tools/node/node_modules/.bin/redocly lint --config openapi/redocly.yaml openapi/registry-v1.yaml
	$(BIN)/openapi-spec-validator openapi/oci-distribution.yaml
	tools/node/node_modules/.bin/redocly lint --config openapi/redocly.yaml openapi/oci-distribution.yaml

clients: $(STAMP) $(NODE_STAMP)
	$(BIN)/python clients/build.py typescript go

clients-all: $(STAMP) $(NODE_STAMP)
	$(BIN)/python clients/build.py typescript go java rust

lint: $(STAMP)
	$(BIN)/ruff check overlay tests tools clients bench
	$(BIN)/ruff format --check overlay tests tools clients bench

typecheck: $(STAMP)
	$(BIN)/mypy overlay/docker_registry_v1

# The layers and forbidden imports in pyproject.toml's [tool.importlinter] contracts.
lint-imports: $(STAMP)
	PYTHONPATH=overlay:generated $(BIN)/lint-imports --no-cache --no-logo

# skopeo, podman and the other programs the suite drives, installed with apt-get when
# missing and root; under CI=true a missing one fails the run instead of skipping tests.
system-deps:
	tools/install-system-deps.sh

# The API reference from the docstrings; --strict turns every warning into a failure.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

# The clients are built (and smoke-run) before pytest, and only when their specs or
# sources changed (build/clients/<language>/.fingerprint); tests/spec/test_clients.py runs
# the compiled programs again with right and wrong expectations (and builds them itself
# when pytest runs alone).
test: system-deps lint-spec check-generated lint typecheck lint-imports docs $(NODE_STAMP)
	$(BIN)/python clients/build.py --if-changed typescript go
	PYTHONPATH=tests $(BIN)/python tests/v2/referrers_server.py
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python -m docker_registry_v1.demo

# nginx (Debian) serves the throughput cases; `make test` runs only the smoke version,
# against the emulator, and never installs it.
bench: $(STAMP)
	bench/install-nginx.sh
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build tools/node/node_modules
