# manufacturing.platform — developer entry points. `make help` lists them.
#   make demo   converge the platform into the local cloud (sets everything up first)
#   make test   lint + sanity + unit + integration tests against the local cloud (sets everything up first)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV       ?= .venv
PY         := $(VENV)/bin/python
TSDB_DIR   := localcloud/timescaledb
CTL        := $(PY) localcloud/ctl.py
PYTEST_ARGS ?=

# Tools from the venv come first; Ansible then runs modules with the venv's interpreter
# (inventories/hosts.yml sets ansible_python_interpreter to ansible_playbook_python).
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv npm setup local-up local-down local-status demo audit test check lint sanity pytest unit integration \
        molecule build clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt scripts/find-python
	@python=$$(scripts/find-python); \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  echo "creating $(VENV) with $$python"; rm -rf $(VENV); "$$python" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

venv: $(VENV)/.installed ## Create .venv (Python >= 3.12) with the pinned requirements

$(TSDB_DIR)/node_modules/.installed: $(TSDB_DIR)/package.json $(TSDB_DIR)/package-lock.json
	npm ci --prefix $(TSDB_DIR) --no-audit --no-fund --loglevel=error
	@touch $@

npm: $(TSDB_DIR)/node_modules/.installed ## Install the local TimescaleDB server (npm ci, from the lockfile)

setup: venv npm

local-up: setup ## Start the local cloud (moto, PostgreSQL+TLS, TimescaleDB, Kafka broker); reuses running services
	$(CTL) up

local-down: ## Stop what local-up started (by PID); data is kept (ctl.py down --purge removes it)
	@if [ -x $(PY) ]; then $(CTL) down; fi

local-status: ## Print each local endpoint and its health
	$(CTL) status

demo: local-up ## Converge the platform into the local cloud (env=local) and print a summary
	ansible-playbook site.yml -e env=local
	$(PY) scripts/summary.py --env local

AUDIT_VENV ?= .venv-audit

$(AUDIT_VENV)/.installed: requirements-audit.txt scripts/find-python
	@python=$$(scripts/find-python); rm -rf $(AUDIT_VENV); "$$python" -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements-audit.txt
	@touch $@

audit: local-up $(AUDIT_VENV)/.installed ## Converge env=local, then scan it with Prowler (security/prowler-mutelist.yaml); fails on any un-muted FAIL
	ansible-playbook site.yml -e env=local
	$(PY) scripts/audit.py --prowler $(AUDIT_VENV)/bin/prowler --summary-json $${LOCALCLOUD_DIR:-.localcloud}/audit/summary.json

# make test runs the molecule scenarios MOLECULE_JOBS_TEST at a time: pytest has converged the fleet before them, so
# their converges are no-ops that only read (scripts/molecule_all.py).
test: setup ## Everything CI runs: ruff, ansible-lint, ansible-test sanity, pytest, molecule (starts/stops the local cloud)
	$(CTL) run -- $(MAKE) --no-print-directory -k check MOLECULE_JOBS=$(MOLECULE_JOBS_TEST)

check: lint sanity pytest molecule

lint: ## ruff + ansible-lint (production profile)
	ruff check .
	ansible-lint --profile production --offline

sanity: ## ansible-test sanity on the built collection (offline)
	$(PY) scripts/sanity.py

pytest: ## pytest: unit + integration (the local cloud must be up: make local-up)
	$(PY) -m pytest $(PYTEST_ARGS)

unit: ## Unit tests only (no local cloud needed)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

MOLECULE_JOBS      ?= 1
MOLECULE_JOBS_TEST ?= 3

molecule: ## Molecule scenario of every role (converge + idempotence + verify in the local cloud); MOLECULE_JOBS at a time
	$(PY) scripts/molecule_all.py --jobs $(MOLECULE_JOBS)

build: venv ## Build the collection tarball (ansible-galaxy collection build)
	ansible-galaxy collection build --force --output-path .build/

clean: local-down ## Stop the local cloud and remove build artefacts (keeps .venv)
	rm -rf .build .pytest_cache .ruff_cache
