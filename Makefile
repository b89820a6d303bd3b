# A4CO developer commands. Every target installs what it needs first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install generate validate check lint lint-rules breaking breaking-rules typecheck run demo status dlq test test-unit test-contract test-integration test-e2e test-slow test-chaos test-contract-fuzz test-api bench bench-platform clean

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
	$(VENV)/bin/mypy a4co codegen runtime generated services

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
	$(VENV)/bin/mypy a4co codegen runtime generated services

## run: start NATS, PostgreSQL, Redis and the services (a process each), print the URLs; Ctrl-C stops all
run: install
	@test -f storefront/dist/storefront/app.js || $(MAKE) --no-print-directory storefront \
		|| echo "note: the storefront could not be built (above); the platform runs without it"
	$(PY) -m a4co.cli up $(if $(REPLICAS),--replicas $(REPLICAS)) $(SERVICES)

## demo: N orders (default 100) through the gateway of the running platform, or of one it starts
N ?= 100
demo: install
	$(PY) -m a4co.cli demo --start -n $(N)

## status: consumer lag per durable, outbox backlog per service, sagas by step
status: install
	$(PY) -m a4co.cli status

## dlq: list the dead letters (redrive one with `.venv/bin/a4co dlq redrive <seq>`)
dlq: install
	$(PY) -m a4co.cli dlq list $(if $(SERVICE),--service $(SERVICE))

## test: the whole suite (unit, contract, integration on real servers it starts itself) but the
## chaos scenarios (`make test-chaos`); installs TypeScript, Chromium and promtool first, which
## the SDK, browser and alert-rule tests need
test: install install-node install-browser install-prometheus
	$(PY) -m pytest -m "not chaos" $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-contract: install install-node install-prometheus
	$(PY) -m pytest tests/contract $(PYTEST_ARGS)

## test-contract-fuzz: Schemathesis fuzzing and stateful phases on every service (slow; CI runs them in `make test` too)
test-contract-fuzz: install
	$(PY) -m pytest tests/contract/test_schemathesis.py -m slow $(PYTEST_ARGS)

## test-api: Schemathesis' CLI with every check on every OpenAPI document, through the gateway of a platform it starts (ST_EXAMPLES per operation, default 10)
ST_EXAMPLES ?= 10
test-api: install
	$(PY) -m tests.contract.cli.run --max-examples $(ST_EXAMPLES)

test-integration: install
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

## test-slow: only the slow fault tests (CI runs them as part of `make test` too)
test-slow: install
	$(PY) -m pytest -m "slow and not chaos" $(PYTEST_ARGS)

## test-chaos: faults (a cluster node, a stream leader, an order process, PostgreSQL) during a burst of orders on a 3-node NATS cluster; prints a table per fault (A4CO_CHAOS_RATE, A4CO_CHAOS_SECONDS)
test-chaos: install
	$(PY) -m pytest tests/chaos -m chaos -s $(PYTEST_ARGS)

## bench: the benchmarks (figures go to docs/benchmarks.md by hand)
bench: install
	$(PY) bench/bench_bus.py
	$(PY) bench/bench_saga.py
	$(PY) bench/bench_auth.py
	$(PY) bench/bench_search.py
	$(PY) bench/bench_gateway.py
	$(PY) bench/bench_dlq.py
	$(PY) bench/bench_tracing.py
	$(PY) bench/bench_relay.py
	$(PY) bench/bench_inbox.py

## bench-platform: all 18 services under orders at rising rates: latency, the knee, CPU, bus and database cost per order (BENCH_ARGS='--rates 5,10,15 --seconds 15')
BENCH_ARGS ?=
bench-platform: install
	$(PY) bench/bench_platform.py $(BENCH_ARGS)

## install-node: TypeScript 5 into .a4co/node (once; needs node and npm, such as Debian's nodejs and npm)
NODE_DIR := .a4co/node
TSC      := $(NODE_DIR)/node_modules/.bin/tsc
.PHONY: install-node storefront
install-node: $(TSC)

$(TSC):
	@command -v npm >/dev/null || { echo "npm is missing: install node and npm (apt-get install -y nodejs npm)"; exit 1; }
	npm install --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error typescript@5

## storefront: compile storefront/app.ts and the TypeScript SDK to storefront/dist/ (ES modules)
storefront: install-node
	$(TSC) -p storefront

## install-browser: Debian's chromium for the browser tests (tests/browser/), unless it is there
.PHONY: install-browser
install-browser:
	@test -x /usr/bin/chromium || { \
	  test "$$(id -u)" = 0 || { echo "the browser tests need Debian's chromium: run 'sudo make install-browser' once"; exit 1; }; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

## install-prometheus: Debian's prometheus (promtool, for the alert rules' tests; `a4co up` runs it)
## and prometheus-postgres-exporter (PostgreSQL's figures), unless they are there
.PHONY: install-prometheus
install-prometheus:
	@command -v promtool >/dev/null && command -v prometheus-postgres-exporter >/dev/null || { \
	  test "$$(id -u)" = 0 || { echo "the alert rules' tests need Debian's prometheus and prometheus-postgres-exporter: run 'sudo make install-prometheus' once"; exit 1; }; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus prometheus-postgres-exporter; }

clean:
	rm -rf .a4co .pytest_cache .mypy_cache .ruff_cache
