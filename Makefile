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
	$(BIN)/python -m runops.launcher

## The whole suite: service layer, pages (AppTest) and browser tests (Debian Chromium)
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

## Everything but the browser tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not browser"

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

## All benchmarks of bench/, one table
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache
