# The README's two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs the runtime lock only; `make test` and `make lint` add the dev lock.
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
PROJECTS := pyproject.toml clients/python/pyproject.toml clients/js/package.json
JS := clients/js
JS_STAMP := $(JS)/node_modules/.installed
# Same arguments for `make lock` and the test that checks the lock files are current.
LOCK_ARGS := --generate-hashes --universal --python-version 3.11 --quiet \
	--no-emit-package breaking-push --no-emit-package breaking-push-client \
	--custom-compile-command "make lock"

.PHONY: install install-runtime run test soak lint js-deps lock lock-check browser-deps redis-server \
	nginx bench bench-quick clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Locked third-party packages first (hashes checked, nothing resolved), then this repository's
# two distributions from their paths, the client before the server that depends on it.
$(RUNTIME_STAMP): $(VENV)/bin/python requirements/runtime.txt $(PROJECTS)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e clients/python -e .
	$(BIN)/pip check || { echo "the lock files are stale: run make lock"; exit 1; }
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements/dev.txt
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e clients/python -e '.[dev]'
	$(BIN)/pip check || { echo "the lock files are stale: run make lock"; exit 1; }
	touch $@

install-runtime: $(RUNTIME_STAMP)

install: $(DEV_STAMP) js-deps

run: install-runtime
	$(BIN)/breaking-push serve

# TypeScript (declarations from the JSDoc, for `npm pack`), pinned by clients/js/package-lock.json.
$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	cd $(JS) && npm ci --no-audit --no-fund --silent
	touch $@

js-deps: $(JS_STAMP)

# Re-pin after a dependency change in either pyproject (requirements/README.md); UPGRADE=1 moves
# every pin to the newest allowed version.
# uv at the version the dev extras pin: a stale lock must not stop the lock from being remade.
lock: $(VENV)/bin/python
	$(BIN)/pip install --quiet "$$(grep -o 'uv==[0-9.]*' pyproject.toml)"
	$(BIN)/uv pip compile requirements/runtime.in $(LOCK_ARGS) $(if $(UPGRADE),--upgrade) \
		-o requirements/runtime.txt
	$(BIN)/uv pip compile requirements/dev.in $(LOCK_ARGS) $(if $(UPGRADE),--upgrade) \
		-o requirements/dev.txt

# Compiles both lock files afresh into a temporary directory and fails if either differs from
# the committed one: the pyprojects changed without `make lock` (tests/integration/test_packaging.py).
lock-check:
	@tmp=$$(mktemp -d) && cp requirements/runtime.txt requirements/dev.txt $$tmp/ \
	&& $(BIN)/uv pip compile requirements/runtime.in $(LOCK_ARGS) -o $$tmp/runtime.txt \
	&& $(BIN)/uv pip compile requirements/dev.in $(LOCK_ARGS) -o $$tmp/dev.txt \
	&& diff -u requirements/runtime.txt $$tmp/runtime.txt \
	&& diff -u requirements/dev.txt $$tmp/dev.txt; status=$$?; rm -rf $$tmp; exit $$status

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

# Floods, faults and fuzzing (bounded in count and time, loopback only): minutes, not part of
# `make test` (pyproject's addopts leave the soak marker out of a plain pytest run).
soak: install redis-server
	$(BIN)/pip install --quiet -e '.[soak]'
	$(BIN)/pytest -m soak -s
	$(BIN)/python -m bench.floods

bench: install redis-server
	$(BIN)/pip install --quiet -e '.[bench]' && $(BIN)/python -m bench.run --full

bench-quick: install redis-server
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) $(JS)/node_modules $(JS)/types .mypy_cache .pytest_cache .ruff_cache
