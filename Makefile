# Task runner. `make` runs the tests and the linter; `make run` builds the graph and serves it.
VENV ?= .venv
PY := $(VENV)/bin/python
KGPUB := $(VENV)/bin/kgpub
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := check
.PHONY: check install build run serve test lint format coverage namespace bench clean

check: test lint

# a virtual environment with the project and its dev tools; npm assets when the project has any
$(STAMP): pyproject.toml $(wildcard package-lock.json)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	touch $@

install: $(STAMP)

build: install
	$(KGPUB) build

run: build
	$(KGPUB) serve

serve: install
	$(KGPUB) serve

test: install
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
