# runops: the two commands are `make dashboard` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dashboard test test-fast lint format bench install clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Serve the dashboard (starts the embedded Prefect server with demo data unless PREFECT_API_URL is set)
dashboard: $(STAMP)
	$(BIN)/runops dashboard

# Tests spend most of their time waiting on servers, workers and browsers: three processes in
# parallel, each with its own Prefect server (and dashboard, for the browser tests).
PARALLEL ?= -n 3

## The whole suite: service layer, pages (AppTest) and browser tests (Debian Chromium)
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q $(PARALLEL)

## Everything but the browser tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(PARALLEL) -m "not browser"

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests (apt-get)…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Every benchmark of bench/ on SQLite, PostgreSQL and PostgreSQL + Redis (1 and 2 API workers):
## one table, written to bench/RESULTS.md (about 45 minutes on 2 quiet cores here)
bench: $(STAMP) services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache

.PHONY: services test-postgres test-scaled

## Debian's PostgreSQL and Redis, for the PostgreSQL and scaled-out suites (apt-get, only when missing)
services:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		echo "Installing$$missing for the database suites (apt-get)…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# What does not depend on the server's database, `make test` covers: the launcher (its own embedded
# SQLite server), the CLI's Ctrl-C/kill tests (the job store is local) and the real-worker retry.
BACKEND_SKIP := --ignore=tests/runops/dev/test_launcher.py --ignore=tests/runops/cli/test_cli_jobs.py \
	--ignore=tests/runops/features/retry/test_retry_worker.py

## Service layer and pages against a Prefect server on PostgreSQL (a throwaway cluster)
test-postgres: $(STAMP) services
	RUNOPS_TEST_BACKEND=postgres $(BIN)/python -m pytest -q $(PARALLEL) $(BACKEND_SKIP) tests/infra_tests tests/runops tests/pages

## Service layer against the scaled-out Prefect: 2 API workers on PostgreSQL + Redis, services apart
test-scaled: $(STAMP) services
	RUNOPS_TEST_BACKEND=scaled $(BIN)/python -m pytest -q $(PARALLEL) $(BACKEND_SKIP) tests/infra_tests tests/runops
