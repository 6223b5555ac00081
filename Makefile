# The README's two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test soak lint unit integration browser-deps redis-server bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/breaking-push serve

# redis-server for the tests that start, stop and restart their own private Redis.
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

# Debian's chromium for the browser tests (Playwright's own download cannot work here).
browser-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install redis-server browser-deps lint
	$(BIN)/pytest -m "not soak"

# Floods and fuzzing (bounded, loopback only): minutes, not part of `make test`.
soak: install redis-server
	$(BIN)/pip install --quiet -e '.[soak]'
	$(BIN)/pytest -m soak

bench: install redis-server
	$(BIN)/pip install --quiet -e '.[bench]' && $(BIN)/python -m bench.run --full

bench-quick: install redis-server
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
