# azure-pred-maint-ops: one command per task, the same locally and in CI. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
RUN := $(UV) run --locked --no-sync
export UV_PYTHON := 3.11
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup validators azurite demo test test-fast lint mypy bench validate clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@scripts/bootstrap-uv.sh $(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --all-groups
	@touch $@

setup: $(VENV)/.synced ## create the locked environment (.venv) from uv.lock

# Deployment-asset validators (checkov, helm-python-sdk, kubernetes-validate, actionlint, shellcheck,
# hadolint, yamllint) in their own locked environment: checkov's bc-python-hcl2 breaks python-hcl2.
# The next major azurerm schema (deprecation report of infra/checks/tf_schema.py) needs its own.
VALIDATORS := tools/validators/.venv
SCHEMA_NEXT := tools/validators/next/.venv
$(VALIDATORS)/.synced: $(UV) tools/validators/pyproject.toml tools/validators/uv.lock
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(VALIDATORS) $(UV) sync --locked --project tools/validators
	@touch $@

$(SCHEMA_NEXT)/.synced: $(UV) tools/validators/next/pyproject.toml tools/validators/next/uv.lock
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(SCHEMA_NEXT) $(UV) sync --locked --project tools/validators/next
	@touch $@

# Azurite (the Azure Storage emulator, npm, locked by tools/azurite/package-lock.json): the ingest
# workers' tests run the blob checkpoint store and the offline day files against it on loopback.
AZURITE := tools/azurite/node_modules/.bin/azurite-blob
$(AZURITE): tools/azurite/package.json tools/azurite/package-lock.json
	cd tools/azurite && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

azurite: $(AZURITE) ## install Azurite for the ingest tests (needs Node 20 and npm)

validators: $(VALIDATORS)/.synced $(SCHEMA_NEXT)/.synced ## create the validators' locked environments (tools/validators/.venv, tools/validators/next/.venv)

validate: setup validators ## validate the deployment assets offline (Terraform, chart, workflows, Dockerfiles, YAML)
	$(RUN) python -m infra.checks.tf_graph infra
	$(RUN) python -m infra.checks.tf_schema infra
	$(RUN) python -m infra.checks.tf_azure_rules infra
	$(RUN) pytest tests/assets

demo: setup ## run the whole local loop: simulate, train, serve, drift, retrain, report
	$(RUN) predmaint demo

test: setup validators azurite ## run every test (unit, integration with Redis, asset validation, end to end)
	$(RUN) pytest

test-fast: setup ## unit tests only
	$(RUN) pytest -m "not integration and not assets and not e2e"

lint: setup mypy ## ruff and mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .

# The packages are checked strictly (pyproject's [tool.mypy]); tests, benchmarks and the repo's own
# tools are type-checked too, with the test-only relaxations in pyproject's overrides.
MYPY_PACKAGES := core features simulator aml service scoring drift functions ingest predmaint
mypy: setup ## type-check the packages (strict), the tests, benchmarks and tools
	$(RUN) mypy $(MYPY_PACKAGES)
	$(RUN) mypy --explicit-package-bases tests bench tools infra/checks

bench: setup ## run every benchmark side by side and print the figures for the README
	$(RUN) python -m bench

clean: ## remove local state (.predmaint) and every environment (.venv, .tools, the validators')
	rm -rf .predmaint .venv .tools $(VALIDATORS) $(SCHEMA_NEXT)
