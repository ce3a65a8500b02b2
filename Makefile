# contacts-etl developer entry points. CI runs `make test` (via .ci/run).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,s3,dask]'
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install everything

check: $(STAMP) ## lint, type-check and check the layers (import-linter)
	$(BIN)/ruff format --check etl flows tests bench
	$(BIN)/ruff check etl flows tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) ## set up .venv, run checks and the whole test suite (what CI runs)
	$(MAKE) check
	$(BIN)/python -m pytest -m "not slow" -q -n 4

test-quick: $(STAMP) ## the quick loop: unit, property and sandbox tests (no Prefect, no subprocess)
	$(BIN)/python -m pytest -m "not slow and not integration" -q -n 4

test-slow: $(STAMP) ## the load tests (1M contacts under 429s)
	$(BIN)/python -m pytest -m slow -q

demo: $(STAMP) ## the main job against the local sandbox
	$(BIN)/contacts-etl demo

sandbox: $(STAMP) ## run the Brevo sandbox on 127.0.0.1:8787
	$(BIN)/contacts-etl sandbox --host 127.0.0.1 --port 8787

bench: $(STAMP) ## full-size benchmarks, with dlt as a peer (python -m bench --quick: the short run)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench --json bench/results/full.json

bench-quick: $(STAMP) ## the short benchmark run (about 5 minutes)
	$(BIN)/python -m bench --quick --json bench/results/quick.json

fmt: $(STAMP) ## format and autofix
	$(BIN)/ruff format etl flows tests bench
	$(BIN)/ruff check --fix etl flows tests bench

.PHONY: help venv check test test-quick test-slow demo sandbox bench bench-quick fmt
