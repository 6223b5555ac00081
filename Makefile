# The README's two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test soak lint unit integration browser-deps redis-server nginx bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/breaking-push serve

# redis-server for the tests that start, stop and restart their own private Redis, and
# openssl for the certificates of the TLS one.
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
	@command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl; }

# nginx runs deploy/nginx.conf in front of test nodes (tests/integration/test_deploy_nginx.py).
nginx:
	@command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx; }

# Debian's chromium for the browser tests (Playwright's own download cannot work here),
# and axe-core, the accessibility checker they inject, into the gitignored node_modules/.
AXE_CORE_VERSION := 4.11.0
AXE := node_modules/axe-core/axe.min.js

browser-deps: $(AXE)
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

$(AXE):
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
	npm install --no-save --no-package-lock --no-audit --no-fund --prefix . axe-core@$(AXE_CORE_VERSION)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install redis-server nginx browser-deps lint
	$(BIN)/pytest

# Long fault runs (each bounded in count and time), left out of `make test`.
soak: install redis-server
	$(BIN)/pytest -m soak -s tests/faults

bench: install redis-server
	$(BIN)/pip install --quiet -e '.[bench]' && $(BIN)/python -m bench.run --full

bench-quick: install redis-server
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
