# ticketdb: `make demo` to see it work, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TICKETS ?= 1000000

.PHONY: venv demo test test-unit test-fast lint bench stress clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

## demo: a throwaway server, deployed, with sample data and the reports
demo: venv
	$(PY) deploy.py sandbox

## lint: ruff over the Python, sqlfluff over every SQL file
lint: venv
	$(PY) -m ruff check .
	$(PY) deploy.py lint

## test: lint, then the whole suite against a throwaway server
test: lint
	$(PY) -m pytest

## test-unit: the unit tier, no server needed (seconds)
test-unit: venv
	$(PY) -m pytest tests/unit

## test-fast: every tier but the tests marked slow (the inner loop)
test-fast: venv
	$(PY) -m pytest -m "not slow"

## bench: the benchmarks of bench/README.md (TICKETS=... to change the dataset)
bench: venv
	$(PY) bench/run.py --tickets $(TICKETS)
	$(PY) bench/vip.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info bench/results
