# Every target bootstraps .venv from pyproject.toml when it is missing or older than it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= .demo

.PHONY: venv demo sandbox test lint bench mutation clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cmsync needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sandbox]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo: the sandbox, a simulated business, the daemon and the dashboard, live (q quits)
demo: $(STAMP)
	$(BIN)/cmsync demo --dir $(DEMO_DIR)

## make sandbox: only the sandbox (local ChartMogul + Salesforce); prints how to reach it
sandbox: $(STAMP)
	$(BIN)/cmsync sandbox --dir $(DEMO_DIR)

## make test: the test suite (unit, sandbox, integration), a test module per worker on four workers:
## the suite mostly waits on sockets and subprocesses, so four workers fit even on two cores
test: $(STAMP)
	$(BIN)/pytest -n 4 --dist loadfile

## make lint: ruff (lint + format), mypy strict, and the layer contracts
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cmsync state tui
	$(BIN)/lint-imports

## make bench: the speed, economy and memory benchmarks (README: Performance); not part of test
bench: $(STAMP)
	$(BIN)/python -m bench

## make mutation: mutmut over the pure core's lifecycle, matching and incremental reads, then
## the score per module (README: Tests); three to five minutes, not part of test
mutation: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/python -m bench.mutation

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache mutants
