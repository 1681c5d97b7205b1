# StreamHub: `make up` starts the all-in-one node, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/streamhub/web/static/vendor
STAMP := $(VENV)/.installed

.PHONY: up test install lint typecheck bench-latency clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml package.json package-lock.json
	$(BIN)/pip install -q -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/hls.js/dist/hls.min.js $(VENDOR)/hls.min.js
	touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/streamhub migrate
	$(BIN)/streamhub up

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -ra

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

bench-latency: install
	$(BIN)/python bench/latency/run.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
