# Task runner. `make` runs the tests and the linter; `make run` builds the graph and serves it.
VENV ?= .venv
PY := $(VENV)/bin/python
KGPUB := $(VENV)/bin/kgpub
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := check
.PHONY: check install browser build run serve test lint format coverage namespace bench clean

check: test lint

# a virtual environment with the project and its dev tools; npm assets when the project has any
$(STAMP): pyproject.toml $(wildcard package-lock.json)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	touch $@

install: $(STAMP)

# Debian's Chromium and its driver for the browser test; installed when missing and apt-get can run
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and chromium-driver (apt-get) for the browser test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "note: chromium or chromedriver missing; the browser test will be skipped"; \
	  fi; \
	fi

build: install
	$(KGPUB) build

run: build
	$(KGPUB) serve

serve: install
	$(KGPUB) serve

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

coverage: install
	$(KGPUB) coverage

namespace: install
	$(KGPUB) namespace

bench: install
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache
