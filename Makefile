# A4CO developer commands. Every target installs what it needs first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install generate validate check lint lint-rules breaking breaking-rules typecheck run test test-unit test-contract test-integration test-e2e test-slow test-contract-fuzz bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## generate: regenerate generated/ from contracts/ (deterministic; commit the result)
generate: install
	$(PY) -m codegen generate

## validate: validate every contract (meta-schemas, $refs, examples, catalog checks)
validate: install
	$(PY) -m codegen validate

## check: validate contracts and fail with a diff when generated/ is stale
check: install
	$(PY) -m codegen check

## lint: the contracts' lint rules, ruff lint and format check, mypy --strict
lint: install
	$(PY) -m codegen validate
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy codegen runtime generated services

## lint-rules: print the contract lint rules (id, level, default, categories, purpose)
lint-rules: install
	$(PY) -m codegen lint-rules

## breaking: breaking changes of contracts/ against BASE (default: the merge-base with main)
BASE ?= $(shell git merge-base HEAD main 2>/dev/null || echo HEAD)
breaking: install
	$(PY) -m codegen breaking --base $(BASE)

## breaking-rules: print the breaking-change rules (id, level, default, categories, purpose)
breaking-rules: install
	$(PY) -m codegen breaking --list

typecheck: install
	$(VENV)/bin/mypy codegen runtime generated services

## run: start NATS, PostgreSQL, Redis and the services (a process each); Ctrl-C stops all
run: install
	$(PY) -m runtime.launcher $(SERVICES)

## test: the whole suite (unit, contract, integration on real servers it starts itself)
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-contract: install
	$(PY) -m pytest tests/contract $(PYTEST_ARGS)

## test-contract-fuzz: Schemathesis fuzzing and stateful phases on every service (slow; CI runs them in `make test` too)
test-contract-fuzz: install
	$(PY) -m pytest tests/contract/test_schemathesis.py -m slow $(PYTEST_ARGS)

test-integration: install
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

## test-slow: only the slow fault tests (CI runs them as part of `make test` too)
test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

## bench: the benchmarks (figures go to docs/benchmarks.md by hand)
bench: install
	$(PY) bench/bench_bus.py
	$(PY) bench/bench_saga.py

clean:
	rm -rf .a4co .pytest_cache .mypy_cache .ruff_cache
