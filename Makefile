# paysaga: `make run` starts the whole stack locally, `make test` runs every check.
# The first use creates .venv and installs the project; editing pyproject.toml re-installs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= .paysaga
# Extra flags for `paysaga dev`, e.g. make run ARGS="--api-port 9000"
ARGS   ?=
# Flags for `paysaga bench`, e.g. make bench BENCH_ARGS="--rate 20 --duration 60 --baseline"
BENCH_ARGS ?= --find-max --baseline
# Flags for `paysaga chaos`
CHAOS_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint fmt clean clean-data bench chaos

help:
	@echo "make run         start Temporal, sandbox gateway, worker and API (Ctrl-C stops)"
	@echo "make test        make lint + the whole pytest suite"
	@echo "make bench       paysaga vs no-op baselines, rate stepped up (--find-max); exits 1 on a missed target"
	@echo "                 ten minutes held, p99 and RSS flat: make bench BENCH_ARGS=\"--long-run 600\""
	@echo "make chaos       payments while processes are killed and the gateway fails, verified"
	@echo "make lint        ruff check + ruff format --check + the import contracts"
	@echo "make fmt         ruff format + ruff check --fix"
	@echo "make clean       remove caches and build output (keeps .venv and $(DATA))"
	@echo "make clean-data  remove the local stack's data ($(DATA): payments, Temporal history)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

# Migrations first: PAYSAGA_DATABASE_URL's database when it is set (the stack uses it
# too), else the SQLite file in $(DATA).
run: $(STAMP)
	$(BIN)/paysaga db upgrade --database-url "$${PAYSAGA_DATABASE_URL:-sqlite:///$(DATA)/paysaga.db}"
	$(BIN)/paysaga dev --data-dir $(DATA) $(ARGS)

bench: $(STAMP)
	$(BIN)/paysaga bench $(BENCH_ARGS)

chaos: $(STAMP)
	$(BIN)/paysaga chaos $(CHAOS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

clean-data:
	rm -rf $(DATA)
